"""External programs and PCM files for the embedded corpus: every engine, codec and decoder of
the corpus goes through these helpers, so failures name the step and the program."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from deepfake_rl.data.audio_io import SAMPLE_RATE, resample

__all__ = ["SAMPLE_RATE", "FFMPEG", "FFMPEG_BITEXACT", "FFMPEG_PCM16", "FFMPEG_BATCH", "run_tool", "ffmpeg_many",
           "read_audio", "read_output", "run_tool_to_audio", "write_pcm16", "resample", "fit_length", "rms"]

FFMPEG = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-threads", "1"]
FFMPEG_BITEXACT = ["-fflags", "+bitexact", "-flags:a", "+bitexact"]
FFMPEG_PCM16 = ["-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", *FFMPEG_BITEXACT]   # decode to 16 kHz wav
FFMPEG_BATCH = 40   # files per ffmpeg process in ffmpeg_many


def run_tool(cmd: Sequence[str | Path], *, what: str) -> None:
    """Run an external program from an argument list (never a shell) and fail loudly.

    ``what`` names the step or file for the error message, so a failed build says which
    prompt, attack or channel broke rather than only printing an exit status.
    """
    args = [str(c) for c in cmd]
    try:
        proc = subprocess.run(
            args, stdin=subprocess.DEVNULL, capture_output=True, check=False
        )
    except FileNotFoundError as exc:
        raise RuntimeError(f"{what}: program {args[0]!r} is not installed") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()[-800:]
        raise RuntimeError(f"{what}: {Path(args[0]).name} exited with {proc.returncode}: {err}")


def fit_length(wav: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad at the end to exactly ``n`` samples (codec and vocoder frame padding)."""
    wav = np.asarray(wav, dtype=np.float32)
    return wav[:n] if wav.size >= n else np.pad(wav, (0, n - wav.size))


def rms(wav: np.ndarray) -> float:
    """Root mean square in float64 (0 for an empty array)."""
    return float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if wav.size else 0.0


def read_audio(path: Path, *, what: str, raw_rate: int | None = None) -> np.ndarray:
    """Read a wav file (or headerless s16le when ``raw_rate`` is given) as 16 kHz mono float32."""
    try:
        if raw_rate is not None:
            wav = np.fromfile(path, dtype="<i2").astype(np.float32) / 32768.0
            sr = raw_rate
        else:
            wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
            wav = wav.mean(axis=1)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        raise RuntimeError(f"{what}: cannot read audio {path}: {exc}") from exc
    if wav.size == 0:
        raise RuntimeError(f"{what}: {path} holds no audio")
    out = resample(wav, sr)
    if not np.all(np.isfinite(out)):
        raise RuntimeError(f"{what}: {path} decoded to non-finite samples")
    return out


def run_tool_to_audio(
    cmd: Sequence[str | Path], output: Path, *, what: str, raw_rate: int | None = None
) -> np.ndarray:
    """Run a tool that writes ``output`` and return that audio at 16 kHz (the shared path of
    every decoder, TTS engine and codec)."""
    run_tool(cmd, what=what)
    return read_output(output, what=what, raw_rate=raw_rate, tool=Path(str(cmd[0])).name)


def read_output(output: Path, *, what: str, raw_rate: int | None = None, tool: str = "ffmpeg") -> np.ndarray:
    """The audio a tool wrote to ``output`` at 16 kHz; a missing or empty file names the tool."""
    if not output.is_file() or output.stat().st_size == 0:
        raise RuntimeError(f"{what}: {tool} wrote no audio to {output.name}")
    return read_audio(output, what=what, raw_rate=raw_rate)


def write_pcm16(path: Path, wav: np.ndarray, sr: int = SAMPLE_RATE, *, raw: bool = False) -> Path:
    """Write float audio as 16-bit PCM (wav, or headerless s16le for tools like c2enc)."""
    pcm = np.clip(np.round(np.asarray(wav, dtype=np.float64) * 32767.0), -32768, 32767)
    pcm = pcm.astype("<i2")
    if raw:
        pcm.tofile(path)
    else:
        sf.write(str(path), pcm, sr, subtype="PCM_16")
    return path


def ffmpeg_many(jobs: Sequence[tuple[Sequence[str], str | Path, Sequence[str], str | Path]], *, what: str) -> None:
    """Run (input options, input, output options, output) conversions, FFMPEG_BATCH per ffmpeg
    process: its start-up (about 0.1 s of CPU) costs more than coding a short clip. Every output is
    mapped from its own input and coded by its own encoder, so batching does not change the audio."""
    for start in range(0, len(jobs), FFMPEG_BATCH):
        chunk = jobs[start: start + FFMPEG_BATCH]
        cmd: list[str | Path] = list(FFMPEG)
        for in_options, source, _, _ in chunk:
            cmd += [*in_options, "-i", source]
        for index, (_, _, out_options, output) in enumerate(chunk):
            cmd += ["-map", f"{index}:a:0", "-threads", "1", *out_options, output]
        run_tool(cmd, what=what)

