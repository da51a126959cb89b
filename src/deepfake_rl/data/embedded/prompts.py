"""Real (bona fide) human speech of the embedded corpus, read from installed Debian packages.

Sources (all offline, nothing is downloaded):

* the Asterisk IVR prompts ``asterisk-core-sounds-{en,fr,es,it,ru}-g722`` (one professional
  speaker per language, G.722 at 16 kHz) with the transcripts of ``asterisk-core-sounds-<lang>``
  (Russian has no transcript package, so its prompts carry ``text=None``);
* the human test recordings shipped by ``codec2-examples`` (8 kHz, several English speakers,
  no transcripts).

This module also holds the small audio I/O helpers (run an external tool, read/write PCM,
resample) that :mod:`deepfake_rl.data.embedded.attacks` and :mod:`deepfake_rl.data.embedded.channels` reuse, so
every engine and codec goes through one code path.
"""

from __future__ import annotations

import gzip
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from deepfake_rl.data.audio_io import SAMPLE_RATE, resample

__all__ = [
    "SAMPLE_RATE",
    "ASTERISK_ROOT",
    "CODEC2_ROOT",
    "Prompt",
    "list_prompts",
    "list_codec2_recordings",
    "load_prompt",
    "run_tool",
    "run_tool_to_audio",
    "read_audio",
    "write_pcm16",
    "resample",
    "fit_length",
    "rms",
]

ASTERISK_ROOT = Path("/usr/share/asterisk/sounds")
CODEC2_ROOT = Path("/usr/share/codec2")
DOC_ROOT = Path("/usr/share/doc")


@dataclass(frozen=True)
class Prompt:
    """One packaged recording of real human speech."""

    prompt_id: str
    language: str
    speaker: str
    text: str | None
    path: Path
    licence: str


@dataclass(frozen=True)
class _AsteriskVoice:
    speaker: str
    licence: str  # from /usr/share/doc/asterisk-core-sounds-<lang>-g722/copyright


_ASTERISK_VOICES: dict[str, _AsteriskVoice] = {
    "en": _AsteriskVoice("en_US_f_Allison", "CC-BY-SA-3.0 (Allison Smith / Digium)"),
    "fr": _AsteriskVoice("fr_CA_f_June", "CC-BY-SA-3.0 (June Wallack / Digium)"),
    "es": _AsteriskVoice("es_MX_f_Allison", "CC-BY-SA-3.0 (Allison Smith / Digium)"),
    "it": _AsteriskVoice("it_IT_m_Carlo", "CC-BY-3.0 (Carlo Flora)"),
    "ru": _AsteriskVoice("ru_RU_f_IvrvoiceRU", "CC-BY-3.0 (Maxim Topal / ivrvoice.ru)"),
}
_TRANSCRIBED = frozenset({"en", "fr", "es", "it"})
# Tones and effects that exist as files in every language; the transcripts mark them with
# [brackets] or (parentheses), Russian has no transcript so the list is needed there.
_NON_SPEECH_STEMS = frozenset(
    {"ascending-2tone", "descending-2tone", "beep", "beeperr", "tt-monkeys", "confbridge-join"}
)
_SKIPPED_DIRS = ("silence/",)

# Human speech among the codec2-examples files (LGPL-2.1, David Rowe). Left out on purpose:
# all.wav (concatenation of the others), f2400/m2400 (already vocoded), david4/vk2tpm_004
# (modem signals), wia_16kHz (1 s), hts*.raw (duplicates of hts1a/hts2a), sine/test frames.
_CODEC2_SPEECH: tuple[str, ...] = (
    "wav/big_dog.wav",
    "wav/cross.wav",
    "wav/forig.wav",
    "wav/hts1a.wav",
    "wav/hts2a.wav",
    "wav/mmt1.wav",
    "wav/morig.wav",
    "wav/ve9qrp.wav",
    "wav/vk5qi.wav",
    "raw/cq_ref.raw",
    "raw/g3plx.raw",
    "raw/kristoff.raw",
    "raw/speech_orig_16k.wav",
)
_CODEC2_RAW_RATE = 8000
_CODEC2_LICENCE = "LGPL-2.1 (codec2-examples, David Rowe)"

# A stage direction announcing a tone inside the recording: "...pound key. (simple tone sound plays)".
_NON_SPEECH_NOTE = re.compile(r"[(<][^)>]*\b(tone|beep|sound|music|ring|bip|tono|suono)", re.IGNORECASE)
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]+")


# ----------------------------------------------------------------------------- tool helpers


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
    if not output.is_file() or output.stat().st_size == 0:
        raise RuntimeError(f"{what}: {Path(str(cmd[0])).name} wrote no audio to {output.name}")
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


# ----------------------------------------------------------------------------- prompt lists


def _clean_transcript(text: str) -> str | None:
    """Return speakable text, or None for non-speech entries such as ``[beep]``, ``<beep>`` or
    ``(10 seconds of silence)``.

    Inline ``[...]`` either annotates a symbol (``at [@]``: dropped) or marks a spoken word
    (``[temporales]``: kept without brackets); inline ``(...)`` and ``<...>`` are stage
    directions (``Pour (emphase)``) and are dropped, as are ellipses and stray quotes, which
    also crash or confuse some TTS front ends.
    """
    text = text.strip()
    if not text or re.fullmatch(r"\[.*\]|\(.*\)|<.*>", text) or _NON_SPEECH_NOTE.search(text):
        return None
    text = re.sub(r"\[([^\]]*)\]", lambda m: m.group(1) if re.search(r"\w", m.group(1)) else "", text)
    text = re.sub(r"\([^)]*\)|<[^>]*>|\"", " ", text)
    text = re.sub(r"\s*(?:\.{2,}|\u2026)\s*", " ", text)
    text = " ".join(text.split()).strip(" ,;:")
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    return text if re.search(r"\w", text) else None


def _read_transcripts(language: str) -> dict[str, str]:
    """Parse ``stem: text`` lines of core-sounds-<lang>.txt.gz (first occurrence of a stem wins)."""
    package = f"asterisk-core-sounds-{language}"
    path = DOC_ROOT / package / f"core-sounds-{language}.txt.gz"
    if not path.is_file():
        raise FileNotFoundError(
            f"transcripts {path} not found: install the Debian package {package}"
        )
    texts: dict[str, str] = {}
    with gzip.open(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            line = line.strip().lstrip("\ufeff")
            if not line or line.startswith(";") or ":" not in line:
                continue
            stem, text = line.split(":", 1)
            stem = stem.strip()
            cleaned = _clean_transcript(text)
            if stem and cleaned is not None and stem not in texts:
                texts[stem] = cleaned
    return texts


def _is_speech_stem(stem: str) -> bool:
    return stem not in _NON_SPEECH_STEMS and not stem.startswith(_SKIPPED_DIRS)


def _prompt_id(prefix: str, stem: str) -> str:
    """Filesystem-safe id: ``digits/1`` of English becomes ``en-digits-1``."""
    return f"{prefix}-{_SAFE_ID.sub('-', stem.replace('/', '-'))}"


def _unique(prompts: list[Prompt]) -> list[Prompt]:
    """Sort by id and drop later duplicates (``digits/0`` and a top-level ``digits-0`` would
    collide), so ids stay unique and the order is deterministic."""
    seen: dict[str, Prompt] = {}
    for p in sorted(prompts, key=lambda p: (p.prompt_id, str(p.path))):
        seen.setdefault(p.prompt_id, p)
    return list(seen.values())


def list_prompts(language: str, root: Path = ASTERISK_ROOT) -> list[Prompt]:
    """All speech prompts of one Asterisk language, sorted by prompt_id.

    Transcribed languages list the transcript entries whose file exists (stems in
    subdirectories such as ``digits/1`` included, ``silence/`` and tones excluded); Russian
    lists the files themselves with ``text=None``.
    """
    if language not in _ASTERISK_VOICES:
        raise ValueError(f"unknown prompt language {language!r}; known: {sorted(_ASTERISK_VOICES)}")
    voice = _ASTERISK_VOICES[language]
    directory = Path(root) / voice.speaker
    if not directory.is_dir():
        raise FileNotFoundError(
            f"{directory} not found: install the Debian package asterisk-core-sounds-{language}-g722"
        )
    if language in _TRANSCRIBED:
        stems: dict[str, str | None] = dict(_read_transcripts(language))
    else:
        stems = {
            p.relative_to(directory).with_suffix("").as_posix(): None
            for p in directory.rglob("*.g722")
        }
    prompts = [
        Prompt(
            prompt_id=_prompt_id(language, stem),
            language=language,
            speaker=voice.speaker,
            text=text,
            path=directory / f"{stem}.g722",
            licence=voice.licence,
        )
        for stem, text in stems.items()
        if _is_speech_stem(stem) and (directory / f"{stem}.g722").is_file()
    ]
    return _unique(prompts)


def list_codec2_recordings() -> list[Prompt]:
    """The English human recordings shipped by codec2-examples (no transcripts), sorted by id."""
    if not (CODEC2_ROOT / "wav").is_dir():
        raise FileNotFoundError(
            f"{CODEC2_ROOT / 'wav'} not found: install the Debian package codec2-examples"
        )
    prompts = []
    for rel in _CODEC2_SPEECH:
        path = CODEC2_ROOT / rel
        if path.is_file():
            stem = path.stem
            prompts.append(
                Prompt(
                    prompt_id=_prompt_id("c2", stem),
                    language="en",
                    speaker=f"codec2-{stem}",
                    text=None,
                    path=path,
                    licence=_CODEC2_LICENCE,
                )
            )
    return _unique(prompts)


# ----------------------------------------------------------------------------- decoding


def load_prompt(prompt: Prompt) -> np.ndarray:
    """Decode a prompt to 16 kHz mono float32 (not trimmed: see channels.trim_silence)."""
    path = Path(prompt.path)
    what = f"load_prompt({prompt.prompt_id}, {path})"
    if not path.is_file():
        raise RuntimeError(f"{what}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".raw":
        return read_audio(path, what=what, raw_rate=_CODEC2_RAW_RATE)
    if suffix != ".g722":
        return read_audio(path, what=what)
    with tempfile.TemporaryDirectory(prefix="deepfake_rl_") as tmp:
        out = Path(tmp) / "decoded.wav"
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               "-f", "g722", "-i", path, "-ac", "1", "-c:a", "pcm_s16le", out]
        return run_tool_to_audio(cmd, out, what=what)
