"""Reading and writing waveforms: 16 kHz mono float32 everywhere, resampled with soxr.

Every problem names the file: missing, unreadable, empty, non-finite or silent audio would
otherwise surface later as a traceback deep inside torch or, worse, as a silently wrong score.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from deepfake_rl.data.media import AudioError, decode_audio
from deepfake_rl.io_utils import atomic_path

__all__ = ["SAMPLE_RATE", "AudioError", "resample", "to_mono_16k", "check_waveform", "load_audio", "write_wav"]

SAMPLE_RATE = 16000
SILENCE_PEAK = 1e-4  # below this peak amplitude a clip carries no signal


def resample(wav: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Resample with soxr (deterministic, high quality) and return float32."""
    wav = np.asarray(wav, dtype=np.float32)
    if sr_in == sr_out:
        return wav
    return soxr.resample(wav, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


def to_mono_16k(samples: np.ndarray, sample_rate: int, *, source: str = "<array>") -> np.ndarray:
    """Mix down to mono and resample to 16 kHz with soxr (high quality); return float32."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float32)
    elif samples.ndim != 1:
        raise AudioError(f"{source}: expected mono or multi-channel audio, got an array of shape {samples.shape}")
    if sample_rate <= 0:
        raise AudioError(f"{source}: invalid sample rate {sample_rate}")
    return resample(samples, sample_rate) if samples.size else samples


def check_waveform(samples: np.ndarray, *, source: str) -> np.ndarray:
    """Reject empty, non-finite and all-silent clips with a message naming the source."""
    if samples.size == 0:
        raise AudioError(f"{source}: empty audio (zero samples)")
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{source}: audio contains NaN or infinite samples")
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise AudioError(f"{source}: audio is silent (peak below {SILENCE_PEAK:g})")
    return samples


def load_audio(path: str | Path) -> np.ndarray:
    """Read an audio file as checked 16 kHz mono float32 (errors name the file).

    Decoding is `deepfake_rl.data.media.decode_audio`: soundfile for wav/flac, ffmpeg for
    compressed containers (mp3, m4a, mp4, ...: the real corpora) and for wav/flac libsndfile cannot
    parse, the route the corpus import probed them with."""
    samples, sample_rate = decode_audio(path)
    return check_waveform(to_mono_16k(samples, sample_rate, source=str(path)), source=str(path))


def write_wav(path: str | Path, samples: np.ndarray) -> None:
    """Write 16 kHz mono 16-bit PCM atomically (clipped to [-1, 1])."""
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    with atomic_path(path) as temporary:
        sf.write(temporary, clipped, SAMPLE_RATE, subtype="PCM_16", format="WAV")
