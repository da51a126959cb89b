"""Channel and codec processing applied equally to real and fake audio.

A channel is a list of named steps (``["reverb_small", "noise_20db", "opus_24k"]``) applied in
order by :func:`apply_channel`. Every step keeps the clip length (codec delay and padding are
compensated or trimmed) so labels, segment boundaries and real/fake pairs stay aligned, and
every random choice comes from the caller's ``numpy.random.Generator`` so a build is
reproducible from its seed.

Codecs run the Debian ``ffmpeg`` (mp3, opus, aac, g722) or ``sox`` (gsm: it starts ten times
faster than ffmpeg) from argument lists in a private temporary directory.
"""

from __future__ import annotations

import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy import signal

from deepfake_rl.data.embedded.prompts import (
    SAMPLE_RATE,
    fit_length,
    resample,
    rms,
    run_tool,
    run_tool_to_audio,
    write_pcm16,
)

__all__ = [
    "CHANNEL_STEPS",
    "apply_channel",
    "trim_silence",
    "normalise_loudness",
    "parse_noise_step",
    "NOISE_SNR_JITTER_DB",
]

NOISE_SNR_JITTER_DB = 1.0  # "noise_20db" draws its SNR uniformly in 20 +- this
_PEAK_CEILING = 0.99  # loudness normalisation never pushes a peak above this
_TELEPHONE_RATE = 8000
_NOISE_STEP = re.compile(r"noise_(\d+(?:\.\d+)?)db")

Step = Callable[[np.ndarray, np.random.Generator], np.ndarray]


# ----------------------------------------------------------------------------- level & trimming


def _frame_power_db(wav: np.ndarray, frame_length: int, hop: int) -> np.ndarray:
    """Mean power per frame (centred frames, like librosa) in dB."""
    padded = np.pad(wav.astype(np.float64), frame_length // 2)
    if padded.size < frame_length:
        padded = np.pad(padded, (0, frame_length - padded.size))
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop]
    return 10.0 * np.log10(np.maximum(np.mean(frames**2, axis=1), 1e-20))


def trim_silence(wav: np.ndarray, top_db: float = 35.0) -> np.ndarray:
    """Cut leading/trailing frames quieter than ``top_db`` below the loudest frame.

    The same rule must be applied to real prompts and TTS output (make_fake does it for TTS;
    callers do it for real prompts before vocoding), otherwise leading silence length becomes
    a shortcut feature. Equivalent to ``librosa.effects.trim`` with 32 ms frames / 8 ms hop,
    without importing librosa.
    """
    wav = np.asarray(wav, dtype=np.float32)
    if wav.size == 0:
        return wav
    frame_length, hop = 512, 128
    power = _frame_power_db(wav, frame_length, hop)
    loud = np.flatnonzero(power > power.max() - top_db)
    if loud.size == 0:
        return wav[:0]
    start = int(loud[0] * hop)
    end = min(wav.size, int((loud[-1] + 1) * hop))
    return wav[start:end]


def normalise_loudness(wav: np.ndarray, target_dbfs: float = -23.0) -> np.ndarray:
    """Scale to an RMS of ``target_dbfs`` (dB re full scale), lowered if needed so the peak stays
    below 0.99: absolute level should carry no real/fake information."""
    wav = np.asarray(wav, dtype=np.float32)
    level = rms(wav)
    if level < 1e-9:
        return wav.copy()
    gain = 10.0 ** (target_dbfs / 20.0) / level
    peak = float(np.max(np.abs(wav)))
    gain = min(gain, _PEAK_CEILING / peak)
    return (wav * gain).astype(np.float32)


# ----------------------------------------------------------------------------- helpers


def _align_to(decoded: np.ndarray, reference: np.ndarray, max_lag: int = 2048) -> np.ndarray:
    """Remove a codec's constant delay (found by cross-correlation) and fit the length.

    Containers with priming metadata (mp3 LAME tag, ogg pre-skip, mp4 edit list) already
    remove it; this catches whatever a codec or resampler leaves over.
    """
    n = reference.size
    seg = min(n, 5 * SAMPLE_RATE)
    ref = reference[:seg].astype(np.float64)
    dec = decoded[: seg + max_lag].astype(np.float64)
    if seg < 64 or not np.any(ref) or not np.any(dec):
        return fit_length(decoded, n)
    corr = signal.correlate(dec, ref, mode="full", method="fft")
    zero = ref.size - 1
    window = corr[zero : zero + max_lag + 1]
    lag = int(np.argmax(np.abs(window)))
    return fit_length(decoded[lag:], n)


_CommandFor = Callable[[Path, Path], list]
_FFMPEG = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-threads", "1"]
_BITEXACT = ["-fflags", "+bitexact", "-flags:a", "+bitexact"]


def _codec_roundtrip(
    wav: np.ndarray, step: str, rate: int, ext: str, encode: _CommandFor, decode: _CommandFor
) -> np.ndarray:
    """Write ``wav`` at ``rate``, encode to ``coded.<ext>``, decode to wav, return 16 kHz audio
    aligned to and as long as the input. ``encode``/``decode`` build argument lists from
    (input path, output path)."""
    with tempfile.TemporaryDirectory(prefix="deepfake_rl_") as tmp:
        src, coded, out = Path(tmp) / "in.wav", Path(tmp) / f"coded.{ext}", Path(tmp) / "out.wav"
        write_pcm16(src, resample(wav, SAMPLE_RATE, rate), rate)
        run_tool(encode(src, coded), what=f"channel step {step!r} (encode)")
        decoded = run_tool_to_audio(decode(coded, out), out, what=f"channel step {step!r} (decode)")
    return _align_to(decoded, wav)


def _ffmpeg_codec(name: str, codec_args: list[str], ext: str) -> Step:
    """A step that round-trips through an ffmpeg encoder at 16 kHz."""

    def encode(src: Path, coded: Path) -> list:
        return [*_FFMPEG, "-i", src, *codec_args, *_BITEXACT, coded]

    def decode(coded: Path, out: Path) -> list:
        return [*_FFMPEG, "-i", coded, "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", *_BITEXACT, out]

    return lambda wav, rng: _codec_roundtrip(wav, name, SAMPLE_RATE, ext, encode, decode)


# ----------------------------------------------------------------------------- steps


def _gsm(wav: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """GSM 06.10 full rate at 8 kHz through sox (starts ~10x faster than ffmpeg)."""
    return _codec_roundtrip(
        wav, "gsm", _TELEPHONE_RATE, "gsm",
        lambda src, coded: ["sox", "-q", "-D", src, coded],
        lambda coded, out: ["sox", "-q", "-D", coded, "-b", "16", out],
    )


def _mu_law(wav: np.ndarray, mu: float = 255.0) -> np.ndarray:
    """G.711 mu-law companding at 8 bits (quantise in the compressed domain)."""
    x = np.clip(wav, -1.0, 1.0)
    comp = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    comp = np.round(comp * 127.0) / 127.0
    return np.sign(comp) * np.expm1(np.abs(comp) * np.log1p(mu)) / mu


@lru_cache(maxsize=None)
def _sos(kind: str, cutoff: tuple[float, ...], rate: int, order: int) -> np.ndarray:
    edges = cutoff[0] if len(cutoff) == 1 else list(cutoff)
    return signal.butter(order, edges, btype=kind, fs=rate, output="sos")


def _telephone(wav: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Narrow-band telephone: 8 kHz, 300-3400 Hz band-pass, G.711 mu-law, back to 16 kHz."""
    narrow = resample(wav, SAMPLE_RATE, _TELEPHONE_RATE).astype(np.float64)
    narrow = signal.sosfiltfilt(_sos("bandpass", (300.0, 3400.0), _TELEPHONE_RATE, 4), narrow)
    return fit_length(resample(_mu_law(narrow), _TELEPHONE_RATE, SAMPLE_RATE), wav.size)


def _lowpass_4k(wav: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Zero-phase 8th-order Butterworth low-pass at 4 kHz (a band-limited recording chain)."""
    return signal.sosfiltfilt(_sos("lowpass", (4000.0,), SAMPLE_RATE, 8), wav.astype(np.float64))


def _coloured_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """White or pink (1/f power) Gaussian noise, the colour drawn from rng."""
    white = rng.standard_normal(n)
    if rng.random() < 0.5:
        return white
    spec = np.fft.rfft(white)
    f = np.fft.rfftfreq(n)
    f[0] = f[1] if n > 1 else 1.0
    return np.fft.irfft(spec / np.sqrt(f), n)


def parse_noise_step(name: str) -> float | None:
    """Nominal SNR of a ``noise_<N>db`` step name, or None when the name is not one."""
    m = _NOISE_STEP.fullmatch(name)
    return float(m.group(1)) if m else None


def _add_noise(wav: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """Add noise at an SNR drawn in ``snr_db +- NOISE_SNR_JITTER_DB`` (power over the whole
    clip, realised exactly)."""
    target = snr_db + rng.uniform(-NOISE_SNR_JITTER_DB, NOISE_SNR_JITTER_DB)
    noise = _coloured_noise(wav.size, rng)
    p_sig, p_noise = rms(wav) ** 2, rms(noise) ** 2
    if p_sig <= 0.0 or p_noise <= 0.0:
        return wav + 0.0
    return wav + noise * np.sqrt(p_sig / (p_noise * 10.0 ** (target / 10.0)))


def _synthetic_rir(rng: np.random.Generator, rt60: float) -> np.ndarray:
    """Direct path + exponentially decaying Gaussian tail (-60 dB at rt60) after a random
    2-15 ms pre-delay, at a random 0-8 dB direct-to-reverberant ratio."""
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # ln(1000) = 6.9078
    predelay = int(rng.uniform(0.002, 0.015) * SAMPLE_RATE)
    tail[:predelay] = 0.0
    drr_db = rng.uniform(0.0, 8.0)
    tail *= 10.0 ** (-drr_db / 20.0) / max(np.sqrt(np.sum(tail**2)), 1e-12)
    tail[0] = 1.0
    return tail


def _reverb(rt60_range: tuple[float, float]) -> Step:
    """Convolve with a synthetic RIR (direct path at t=0, so no delay) and keep the RMS."""

    def step(wav: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        rir = _synthetic_rir(rng, rng.uniform(*rt60_range))
        wet = signal.fftconvolve(wav.astype(np.float64), rir)[: wav.size]
        rms_in, rms_out = rms(wav), rms(wet)
        return wet * (rms_in / rms_out) if rms_out > 0 else wet

    return step


def _gain(wav: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random gain in [-6, +6] dB; samples beyond full scale clip as a real ADC would."""
    return np.clip(wav * 10.0 ** (rng.uniform(-6.0, 6.0) / 20.0), -1.0, 1.0)


def _loudnorm(wav: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RMS normalisation to -23 dBFS (not EBU R128 gating), peak-limited to 0.99."""
    return normalise_loudness(wav)


def _noise(snr_db: float) -> Step:
    return lambda wav, rng: _add_noise(wav, rng, snr_db)


_STEPS: dict[str, Step] = {
    "mp3_24k": _ffmpeg_codec("mp3_24k", ["-c:a", "libmp3lame", "-b:a", "24k"], "mp3"),
    "mp3_64k": _ffmpeg_codec("mp3_64k", ["-c:a", "libmp3lame", "-b:a", "64k"], "mp3"),
    "opus_12k": _ffmpeg_codec("opus_12k", ["-c:a", "libopus", "-b:a", "12k"], "ogg"),
    "opus_24k": _ffmpeg_codec("opus_24k", ["-c:a", "libopus", "-b:a", "24k"], "ogg"),
    "aac_32k": _ffmpeg_codec("aac_32k", ["-c:a", "aac", "-b:a", "32k"], "m4a"),
    "gsm": _gsm,
    "g722": _ffmpeg_codec("g722", ["-c:a", "g722", "-f", "g722"], "g722"),
    "telephone": _telephone,
    "noise_10db": _noise(10.0),
    "noise_20db": _noise(20.0),
    "noise_30db": _noise(30.0),
    "reverb_small": _reverb((0.15, 0.35)),
    "reverb_large": _reverb((0.6, 1.0)),
    "lowpass_4k": _lowpass_4k,
    "gain": _gain,
    "loudnorm": _loudnorm,
}
CHANNEL_STEPS: tuple[str, ...] = tuple(_STEPS)


def _resolve(name: str) -> Step:
    if name in _STEPS:
        return _STEPS[name]
    snr = parse_noise_step(name)
    if snr is not None:  # any noise_<N>db beyond the listed three
        return _noise(snr)
    raise ValueError(f"unknown channel step {name!r}; known: {', '.join(CHANNEL_STEPS)} (or noise_<N>db)")


def apply_channel(wav: np.ndarray, steps: Sequence[str], rng: np.random.Generator) -> np.ndarray:
    """Apply the named steps in order; the result is 16 kHz mono float32 of the input's length."""
    if isinstance(steps, str):
        raise TypeError("steps must be a sequence of step names, not a string")
    funcs = [(name, _resolve(name)) for name in steps]  # fail before any work on a typo
    out = np.asarray(wav, dtype=np.float32)
    if out.ndim != 1:
        raise ValueError(f"apply_channel expects mono audio, got shape {out.shape}")
    n = out.size
    for name, func in funcs:
        if n == 0:
            break
        out = fit_length(np.asarray(func(out, rng), dtype=np.float32), n)
        if not np.all(np.isfinite(out)):
            raise RuntimeError(f"channel step {name!r} produced non-finite samples")
    return out
