"""Channel and codec processing applied equally to real and fake audio.

A channel is a list of named steps (``["reverb_small", "noise_20db", "opus_24k"]``) applied in
order by :func:`apply_channel`. Every step keeps the clip length (codec delay and padding are
compensated or trimmed) so labels, segment boundaries and real/fake pairs stay aligned, and
every random choice comes from the caller's ``numpy.random.Generator`` so a build is
reproducible from its seed.

Codecs run the Debian ``ffmpeg`` (mp3, opus, aac, g722; many clips per process, see
:func:`apply_channels`) or ``sox`` (gsm: it starts ten times faster than ffmpeg) from argument
lists in a private temporary directory. Noise and music beds are synthesised from the rng.
"""

from __future__ import annotations

import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy import signal

from deepfake_rl.data.embedded.tools import (
    FFMPEG_BITEXACT,
    FFMPEG_PCM16,
    SAMPLE_RATE,
    ffmpeg_many,
    read_output,
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
    "apply_channels",
    "channel_type",
    "NOISE_SNR_JITTER_DB",
]

NOISE_SNR_JITTER_DB = 1.0  # "noise_20db" draws its SNR uniformly in 20 +- this
_PEAK_CEILING = 0.99  # loudness normalisation never pushes a peak above this
_TELEPHONE_RATE = 8000
_NOISE_STEP = re.compile(r"(noise|music)_(\d+(?:\.\d+)?)db")

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


BatchStep = Callable[[Sequence[np.ndarray]], list[np.ndarray]]


def _ffmpeg_codec(name: str, codec_args: list[str], ext: str) -> BatchStep:
    """A step that round-trips clips through an ffmpeg encoder at 16 kHz, many clips per ffmpeg
    process (ffmpeg_many); each clip comes back aligned to and as long as its input."""

    def roundtrip(waves: Sequence[np.ndarray]) -> list[np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="deepfake_rl_") as tmp:
            folder = Path(tmp)
            sources = [write_pcm16(folder / f"in{i}.wav", wav) for i, wav in enumerate(waves)]
            coded = [folder / f"coded{i}.{ext}" for i in range(len(waves))]
            decoded = [folder / f"out{i}.wav" for i in range(len(waves))]
            ffmpeg_many([([], s, [*codec_args, *FFMPEG_BITEXACT], c) for s, c in zip(sources, coded)],
                        what=f"channel step {name!r} (encode)")
            ffmpeg_many([([], c, ["-ac", "1", *FFMPEG_PCM16], d) for c, d in zip(coded, decoded)],
                        what=f"channel step {name!r} (decode)")
            return [_align_to(read_output(d, what=f"channel step {name!r}"), wav) for d, wav in zip(decoded, waves)]

    return roundtrip


# ----------------------------------------------------------------------------- steps


def _gsm(wav: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """GSM 06.10 full rate at 8 kHz through sox (starts ~10x faster than ffmpeg)."""
    with tempfile.TemporaryDirectory(prefix="deepfake_rl_") as tmp:
        src, coded, out = Path(tmp) / "in.wav", Path(tmp) / "coded.gsm", Path(tmp) / "out.wav"
        write_pcm16(src, resample(wav, SAMPLE_RATE, _TELEPHONE_RATE), _TELEPHONE_RATE)
        run_tool(["sox", "-q", "-D", src, coded], what="channel step 'gsm' (encode)")
        decoded = run_tool_to_audio(["sox", "-q", "-D", coded, "-b", "16", out], out,
                                    what="channel step 'gsm' (decode)")
    return _align_to(decoded, wav)


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


def _music(n: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic music bed: one chord per bar (random root, major or minor triad of decaying
    harmonic tones) and a noise-burst beat, tempo 80-140 bpm; all drawn from rng."""
    t = np.arange(n) / SAMPLE_RATE
    beat = 60.0 / rng.uniform(80.0, 140.0)
    music = np.zeros(n)
    for start in range(0, n, int(4 * beat * SAMPLE_RATE)):
        span = slice(start, min(n, start + int(4 * beat * SAMPLE_RATE)))
        local = t[span] - t[start]
        root = int(rng.integers(40, 60))
        for midi in (root, root + (4 if rng.random() < 0.5 else 3), root + 7):
            frequency = 440.0 * 2.0 ** ((midi - 69) / 12.0)
            tone = sum(np.sin(2 * np.pi * h * frequency * local + rng.uniform(0, 2 * np.pi)) / h for h in range(1, 5))
            music[span] += tone * np.exp(-local / (2.0 * beat))
    hits = np.arange(0, n, int(beat * SAMPLE_RATE))
    burst = rng.standard_normal(int(0.05 * SAMPLE_RATE)) * np.exp(-np.arange(int(0.05 * SAMPLE_RATE)) / 160.0)
    for hit in hits:
        piece = burst[: n - hit]
        music[hit: hit + piece.size] += 2.0 * piece
    return music


_BEDS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {"noise": _coloured_noise, "music": _music}


def parse_noise_step(name: str) -> float | None:
    """Nominal SNR of a ``noise_<N>db`` or ``music_<N>db`` step name, or None when the name is not one."""
    m = _NOISE_STEP.fullmatch(name)
    return float(m.group(2)) if m else None


def _add_noise(wav: np.ndarray, rng: np.random.Generator, snr_db: float, bed: str = "noise") -> np.ndarray:
    """Add a noise (or music) bed at an SNR drawn in ``snr_db +- NOISE_SNR_JITTER_DB`` (power over
    the whole clip, realised exactly)."""
    target = snr_db + rng.uniform(-NOISE_SNR_JITTER_DB, NOISE_SNR_JITTER_DB)
    noise = _BEDS[bed](wav.size, rng)
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


def _noise(snr_db: float, bed: str = "noise") -> Step:
    return lambda wav, rng: _add_noise(wav, rng, snr_db, bed)


# ffmpeg codecs: many clips per process (apply_channels); they draw nothing from rng
_BATCHED: dict[str, BatchStep] = {
    "mp3_24k": _ffmpeg_codec("mp3_24k", ["-c:a", "libmp3lame", "-b:a", "24k"], "mp3"),
    "mp3_64k": _ffmpeg_codec("mp3_64k", ["-c:a", "libmp3lame", "-b:a", "64k"], "mp3"),
    "opus_12k": _ffmpeg_codec("opus_12k", ["-c:a", "libopus", "-b:a", "12k"], "ogg"),
    "opus_24k": _ffmpeg_codec("opus_24k", ["-c:a", "libopus", "-b:a", "24k"], "ogg"),
    "aac_32k": _ffmpeg_codec("aac_32k", ["-c:a", "aac", "-b:a", "32k"], "m4a"),
    "g722": _ffmpeg_codec("g722", ["-c:a", "g722", "-f", "g722"], "g722"),
}
_STEPS: dict[str, Step] = {
    **{name: (lambda batch: lambda wav, rng: batch([wav])[0])(batch) for name, batch in _BATCHED.items()},
    "gsm": _gsm,
    "telephone": _telephone,
    "noise_10db": _noise(10.0),
    "noise_20db": _noise(20.0),
    "noise_30db": _noise(30.0),
    "music_10db": _noise(10.0, "music"),
    "music_20db": _noise(20.0, "music"),
    "reverb_small": _reverb((0.15, 0.35)),
    "reverb_large": _reverb((0.6, 1.0)),
    "lowpass_4k": _lowpass_4k,
    "gain": _gain,
    "loudnorm": _loudnorm,
}
CHANNEL_STEPS: tuple[str, ...] = tuple(_STEPS)


def channel_type(step: str) -> str:
    """The kind of processing a step is, its name up to the first underscore: mp3_24k and mp3_64k
    are mp3, noise_10db is noise, reverb_large is reverb (the unit of the corpus roles)."""
    return step.split("_", 1)[0]


def _resolve(name: str) -> Step:
    if name in _STEPS:
        return _STEPS[name]
    m = _NOISE_STEP.fullmatch(name)
    if m:  # any noise_<N>db / music_<N>db beyond the listed ones
        return _noise(float(m.group(2)), m.group(1))
    raise ValueError(f"unknown channel step {name!r}; known: {', '.join(CHANNEL_STEPS)} (or noise_<N>db, "
                     "music_<N>db)")


def _checked(name: str, wav: np.ndarray, n: int) -> np.ndarray:
    out = fit_length(np.asarray(wav, dtype=np.float32), n)
    if not np.all(np.isfinite(out)):
        raise RuntimeError(f"channel step {name!r} produced non-finite samples")
    return out


def apply_channels(waves: Sequence[np.ndarray], chains: Sequence[Sequence[str]],
                   rngs: Sequence[np.random.Generator]) -> list[np.ndarray]:
    """Apply each clip's chain of named steps in order, each clip drawing from its own rng; results
    are 16 kHz mono float32 of the inputs' lengths. The ffmpeg codecs run many clips per process
    (position by position along the chains); a clip's result is the same as alone."""
    if any(isinstance(chain, str) for chain in chains):
        raise TypeError("steps must be a sequence of step names, not a string")
    for chain in chains:
        for name in chain:
            _resolve(name)  # fail before any work on a typo
    outs = [np.asarray(wav, dtype=np.float32) for wav in waves]
    for out in outs:
        if out.ndim != 1:
            raise ValueError(f"apply_channel expects mono audio, got shape {out.shape}")
    for position in range(max((len(chain) for chain in chains), default=0)):
        batched: dict[str, list[int]] = {}
        for index, chain in enumerate(chains):
            if position >= len(chain) or outs[index].size == 0:
                continue
            name = chain[position]
            if name in _BATCHED:
                batched.setdefault(name, []).append(index)
            else:
                outs[index] = _checked(name, _resolve(name)(outs[index], rngs[index]), outs[index].size)
        for name, indices in batched.items():
            for index, coded in zip(indices, _BATCHED[name]([outs[i] for i in indices])):
                outs[index] = _checked(name, coded, outs[index].size)
    return outs


def apply_channel(wav: np.ndarray, steps: Sequence[str], rng: np.random.Generator) -> np.ndarray:
    """Apply the named steps in order; the result is 16 kHz mono float32 of the input's length."""
    if isinstance(steps, str):
        raise TypeError("steps must be a sequence of step names, not a string")
    return apply_channels([wav], [steps], [rng])[0]
