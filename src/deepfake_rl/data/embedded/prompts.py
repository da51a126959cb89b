"""Real (bona fide) human speech of the embedded corpus, read from installed Debian packages.

Sources (all offline, nothing is downloaded):

* the Asterisk IVR prompts ``asterisk-core-sounds-{en,fr,es,it,ru}-g722`` (one professional
  speaker per language, G.722 at 16 kHz) with the transcripts of ``asterisk-core-sounds-<lang>``
  (Russian has no transcript package, so its prompts carry ``text=None``);
* the human test recordings shipped by ``codec2-examples`` (8 kHz, several English speakers,
  no transcripts).

Decoding goes through :mod:`deepfake_rl.data.embedded.tools` (one ffmpeg process for many G.722
prompts), like every engine and codec of the corpus.
"""

from __future__ import annotations

import gzip
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepfake_rl.data.audio_io import SAMPLE_RATE
from deepfake_rl.data.embedded.tools import FFMPEG_PCM16, ffmpeg_many, read_audio, read_output

__all__ = [
    "SAMPLE_RATE",
    "ASTERISK_ROOT",
    "CODEC2_ROOT",
    "Prompt",
    "list_prompts",
    "list_codec2_recordings",
    "load_prompt",
    "load_prompts",
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


def _has_audio(path: Path) -> bool:
    """The file exists and is not empty (the ru package ships a zero-byte is.g722)."""
    return path.is_file() and path.stat().st_size > 0


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
    lists the files themselves with ``text=None``. Empty files are left out.
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
        if _is_speech_stem(stem) and _has_audio(directory / f"{stem}.g722")
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
    return load_prompts([prompt])[0]


def _what(prompt: Prompt) -> str:
    return f"load_prompt({prompt.prompt_id}, {prompt.path})"


def load_prompts(prompts: Sequence[Prompt]) -> list[np.ndarray]:
    """Decode prompts to 16 kHz mono float32, the G.722 ones by batches through one ffmpeg process
    each (its start-up costs more than decoding a prompt); the result does not depend on batching."""
    for prompt in prompts:
        if not Path(prompt.path).is_file():
            raise RuntimeError(f"{_what(prompt)}: file not found")
    waves: dict[int, np.ndarray] = {}
    g722 = [i for i, p in enumerate(prompts) if Path(p.path).suffix.lower() == ".g722"]
    for index, prompt in enumerate(prompts):
        suffix = Path(prompt.path).suffix.lower()
        if suffix == ".raw":
            waves[index] = read_audio(Path(prompt.path), what=_what(prompt), raw_rate=_CODEC2_RAW_RATE)
        elif suffix != ".g722":
            waves[index] = read_audio(Path(prompt.path), what=_what(prompt))
    if g722:
        with tempfile.TemporaryDirectory(prefix="deepfake_rl_") as tmp:
            outputs = [Path(tmp) / f"decoded{i}.wav" for i in g722]
            ffmpeg_many([(["-f", "g722"], prompts[i].path, ["-ac", "1", *FFMPEG_PCM16], out)
                         for i, out in zip(g722, outputs)],
                        what=f"load_prompts({len(g722)} G.722 prompts, {prompts[g722[0]].prompt_id}, ...)")
            for i, out in zip(g722, outputs):
                waves[i] = read_output(out, what=_what(prompts[i]))
    return [waves[i] for i in range(len(prompts))]
