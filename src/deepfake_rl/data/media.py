"""Audio of any container the real corpora ship: header facts and decoded samples.

Two routes, chosen by file suffix:

* ``.wav`` and ``.flac`` go through soundfile (libsndfile): fast header reads, exact frame counts.
  A file with such a suffix that libsndfile cannot parse (e.g. a WAV wrapping an unusual codec)
  falls back to the ffmpeg route instead of being lost.
* everything else (``.mp3``, ``.m4a``, ``.mp4``, ``.aac``, ``.ogg``, ``.opus``, ``.webm``, ...) goes
  through ffprobe (header) and ffmpeg (decoding to 32-bit float PCM on a pipe). Deepfake-Eval-2024
  mixes these containers, some of them video files whose first audio stream is used.

ffmpeg and ffprobe are always run with an argument list (never a shell string) and the path is
passed as an absolute ``file:`` URL, so file names with spaces, quotes, semicolons, a leading dash
or a colon are never interpreted by a shell or as an option or protocol.

This is the bottom of the data path (it imports nothing of the package): audio_io builds the
checked 16 kHz loading on it, the real-corpus loaders (data.corpora) read headers with it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from deepfake_rl.errors import DataError

SOUNDFILE_SUFFIXES: frozenset[str] = frozenset({".wav", ".flac"})
FFMPEG_SUFFIXES: frozenset[str] = frozenset({".mp3", ".m4a", ".mp4", ".aac", ".ogg", ".opus", ".webm"})
AUDIO_SUFFIXES: frozenset[str] = SOUNDFILE_SUFFIXES | FFMPEG_SUFFIXES
FFMPEG_TIMEOUT_S = 600
# Bits per sample of libsndfile subtypes; compressed codecs have no such number (0, as torchaudio reports).
_SUBTYPE_BITS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32, "DOUBLE": 64}


class AudioError(DataError):
    """A clip cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class AudioInfo:
    """What the manifest records about a file, read from its header without decoding it."""

    duration: float      # seconds
    sample_rate: int
    channels: int
    encoding: str        # libsndfile subtype (PCM_16, ...) or ffmpeg codec name (mp3, aac, ...)
    bits_per_sample: int  # 0 for compressed codecs


def _ffmpeg_url(path: Path) -> str:
    """An absolute file: URL: never read as an option (leading '-') or another protocol ('x:')."""
    return "file:" + str(path.absolute())


def _run(tool: str, arguments: list[str], path: Path, *, text: bool) -> subprocess.CompletedProcess:
    """Run ffmpeg/ffprobe with an argument list; every failure becomes an AudioError naming the file."""
    executable = shutil.which(tool)
    if executable is None:
        raise AudioError(f"{path}: {tool} is needed to read this format but is not installed "
                         "(Debian package ffmpeg)")
    try:
        result = subprocess.run([executable, *arguments], capture_output=True, text=text,
                                timeout=FFMPEG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise AudioError(f"{path}: {tool} did not finish within {FFMPEG_TIMEOUT_S} s") from None
    if result.returncode != 0:
        stderr = result.stderr if text else result.stderr.decode("utf-8", "replace")
        detail = stderr.strip()[-300:] or f"exit status {result.returncode}"
        raise AudioError(f"{path}: unreadable audio ({tool}: {detail})")
    return result


def _soundfile_info(path: Path) -> AudioInfo:
    info = sf.info(str(path))
    return AudioInfo(duration=info.frames / info.samplerate, sample_rate=int(info.samplerate),
                     channels=int(info.channels), encoding=str(info.subtype),
                     bits_per_sample=_SUBTYPE_BITS.get(str(info.subtype), 0))


def _ffprobe_info(path: Path) -> AudioInfo:
    """Header of the first audio stream; the container's duration if the stream has none."""
    result = _run("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_entries",
                              "stream=codec_name,sample_rate,channels,duration,bits_per_sample,bits_per_raw_sample"
                              ":format=duration", "-of", "json", _ffmpeg_url(path)], path, text=True)
    try:
        report = json.loads(result.stdout or "{}")
    except json.JSONDecodeError as error:
        raise AudioError(f"{path}: ffprobe printed no readable report ({error})") from None
    streams = report.get("streams") or []
    if not streams:
        raise AudioError(f"{path}: no audio stream")
    stream = streams[0]
    duration = _number(stream.get("duration")) or _number((report.get("format") or {}).get("duration"))
    sample_rate, channels = int(_number(stream.get("sample_rate"))), int(_number(stream.get("channels")))
    if sample_rate <= 0 or channels <= 0:
        raise AudioError(f"{path}: audio stream has no sample rate or channel count in its header")
    bits = int(_number(stream.get("bits_per_raw_sample")) or _number(stream.get("bits_per_sample")))
    return AudioInfo(duration=duration, sample_rate=sample_rate, channels=channels,
                     encoding=str(stream.get("codec_name", "unknown")), bits_per_sample=bits)


def _number(value: object) -> float:
    """ffprobe prints numbers as strings and 'N/A' for unknowns; unknown -> 0."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def probe_audio(path: str | Path) -> AudioInfo:
    """Duration, sample rate, channels, encoding and bit depth from the header (no decoding).

    wav/flac: soundfile (ffprobe if libsndfile cannot parse the file); other suffixes: ffprobe.
    Raises AudioError naming the file if it is missing, unreadable or has no audio stream."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        try:
            return _soundfile_info(path)
        except (sf.LibsndfileError, RuntimeError):
            pass  # not parseable by libsndfile: let ffprobe decide
    return _ffprobe_info(path)


def decode_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode to a mono float32 array at the file's own sample rate: (samples, sample_rate).

    wav/flac are read by soundfile; mp3/m4a/mp4/aac/ogg/opus/webm (and wav/flac that libsndfile
    cannot parse) by ffmpeg, all channels of the first audio stream as 32-bit float PCM on a pipe.
    Channels are averaged here in both routes (not by ffmpeg's downmix matrix), so a stereo file
    gives the same mono signal whichever way it is read."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        try:
            samples, sample_rate = sf.read(str(path), dtype="float32", always_2d=True)
            return samples.mean(axis=1, dtype=np.float32), int(sample_rate)
        except (sf.LibsndfileError, RuntimeError):
            pass
    info = _ffprobe_info(path)
    result = _run("ffmpeg", ["-nostdin", "-v", "error", "-i", _ffmpeg_url(path), "-map", "0:a:0", "-vn",
                             "-f", "f32le", "-acodec", "pcm_f32le", "-ac", str(info.channels),
                             "-ar", str(info.sample_rate), "pipe:1"], path, text=False)
    samples = np.frombuffer(result.stdout, dtype="<f4")
    usable = samples.size - samples.size % info.channels
    return samples[:usable].reshape(-1, info.channels).mean(axis=1, dtype=np.float32), info.sample_rate
