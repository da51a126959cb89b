"""The embedded default corpus: real Debian prompt recordings, fakes made from the same prompts,
and a per-domain channel applied identically to both classes.

A domain recipe (config `corpus.domains.<name>`) says which speakers' prompts it draws (disjoint
fractions of one seeded shuffle per speaker, so domains never share a recording), which attacks
make its fakes, which channel chains it applies, how it splits into train/valid/test and whether
clips are concatenated into long "recordings" (the DFE24 and DEEP-VOICE stand-ins).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from deepfake_rl.data.embedded.attacks import ATTACKS, make_fake
from deepfake_rl.data.audio_io import SAMPLE_RATE, write_wav
from deepfake_rl.data.content_hash import write_domain_hash
from deepfake_rl.data.embedded.channels import apply_channels, normalise_loudness, trim_silence
from deepfake_rl.data.manifest import MANIFEST_NAME, write_manifest
from deepfake_rl.data.embedded.prompts import Prompt, list_codec2_recordings, list_prompts, load_prompts
from deepfake_rl.seeding import rng_for

log = logging.getLogger(__name__)
LEVEL_DBFS = (-30.0, -18.0)   # both classes get a loudness drawn from the same range
PEAK_LIMIT = 0.99
# The asterisk prompts were G.722-coded (7 kHz band) by the package; fakes were not. A fake gets the
# codec its real prompt came through, once, so both classes carry the same codec history and bandwidth.
SOURCE_CODECS: dict[str, tuple[str, ...]] = {".g722": ("g722",)}


def source_codec(prompt: Prompt) -> tuple[str, ...]:
    """The channel steps the real recording went through before we got it."""
    return SOURCE_CODECS.get(prompt.path.suffix, ())


@dataclass(frozen=True)
class Clip:
    """One real item of a domain and its paired fake: one prompt, or a sequence of prompts."""

    index: int
    proportion: str
    prompts: tuple[Prompt, ...]
    pauses: tuple[float, ...]   # seconds of silence after each prompt but the last


def speaker_prompts(speaker: str) -> list[Prompt]:
    """All usable prompts of one source speaker (asterisk language code or 'codec2')."""
    return list_codec2_recordings() if speaker == "codec2" else list_prompts(speaker)


def select_prompts(sources: Sequence[dict[str, Any]], seed: int) -> list[Prompt]:
    """The domain's share of each speaker: a fraction range of a seeded, domain-independent shuffle."""
    chosen: list[Prompt] = []
    for source in sources:
        prompts = speaker_prompts(source["speaker"])
        order = rng_for(seed, "prompts", source["speaker"]).permutation(len(prompts))
        low, high = source["fraction"]
        chosen.extend(prompts[i] for i in order[int(round(low * len(prompts))): int(round(high * len(prompts)))])
    return chosen


def split_counts(total: int, proportions: dict[str, float]) -> dict[str, int]:
    """Largest-remainder allocation of `total` items to proportions, at least one per non-zero part."""
    names = list(proportions)
    raw = np.array([proportions[name] * total for name in names])
    counts = np.floor(raw).astype(int)
    for index in np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]:
        counts[index] += 1
    for index, name in enumerate(names):
        if proportions[name] > 0 and counts[index] == 0 and total >= len(names):
            counts[index] += 1
            counts[int(np.argmax(counts))] -= 1
    return dict(zip(names, counts.tolist()))


def plan_clips(recipe: dict[str, Any], size: str, seed: int, domain: str) -> list[Clip]:
    """Which prompts form each real item, and its train/valid/test part. Deterministic for the seed."""
    prompts = select_prompts(recipe["sources"], seed)
    if not prompts:
        raise ValueError(f"domain {domain!r}: its sources select no prompts")
    rng = rng_for(seed, "plan", domain)
    prompts = [prompts[i] for i in rng.permutation(len(prompts))]
    n_items = recipe["n_real"][size]
    counts = split_counts(n_items, recipe["proportions"])
    long = recipe.get("long_recordings")
    if long is None:
        if n_items > len(prompts):
            log.warning("domain %s: %d real clips asked, %d prompts available", domain, n_items, len(prompts))
            counts = split_counts(len(prompts), recipe["proportions"])
        parts = [name for name, count in counts.items() for _ in range(count)]
        return [Clip(i, part, (prompt,), ()) for i, (part, prompt) in enumerate(zip(parts, prompts))]
    return _plan_recordings(prompts, counts, long, size, rng, domain, recipe["proportions"])


def _plan_recordings(prompts: list[Prompt], counts: dict[str, int], long: dict[str, Any], size: str,
                     rng: np.random.Generator, domain: str, proportions: dict[str, float]) -> list[Clip]:
    """Long recordings: one speaker each (a recording never switches voice or language); every
    speaker's prompts are split between the parts, so no prompt crosses train/valid/test, and each
    part's recordings are shared between its speakers in proportion to their prompts."""
    by_speaker: dict[str, list[Prompt]] = {}
    for prompt in prompts:
        by_speaker.setdefault(prompt.language if prompt.speaker.startswith("codec2") else prompt.speaker,
                              []).append(prompt)
    pools: dict[str, dict[str, list[Prompt]]] = {part: {} for part in counts}
    for speaker, own in by_speaker.items():
        offset = 0
        for part, count in split_counts(len(own), proportions).items():
            pools[part][speaker] = own[offset: offset + count]
            offset += count
    clips: list[Clip] = []
    for part, count in counts.items():
        sizes = {speaker: len(pool) for speaker, pool in pools[part].items() if pool}
        if count and not sizes:
            raise ValueError(f"domain {domain!r}: too few prompts for its {part!r} recordings")
        total = sum(sizes.values())
        per_speaker = split_counts(count, {speaker: n / total for speaker, n in sizes.items()}) if count else {}
        for speaker, recordings in per_speaker.items():
            pool, cursor = pools[part][speaker], 0
            for _ in range(recordings):
                target = rng.uniform(*long["seconds"][size])
                chosen: list[Prompt] = []
                pauses: list[float] = []
                seconds = 0.0
                while seconds < target:
                    if cursor == len(pool):
                        log.warning("domain %s: %s prompts of %s reused in its %s recordings", domain, speaker,
                                    part, part)
                    prompt = pool[cursor % len(pool)]
                    cursor += 1
                    chosen.append(prompt)
                    seconds += prompt_seconds(prompt)
                    pause = rng.uniform(*long["pause"])
                    pauses.append(pause)
                    seconds += pause
                clips.append(Clip(len(clips), part, tuple(chosen), tuple(pauses[:-1])))
    return clips


G722_BYTES_PER_SECOND = 8000   # G.722 at 64 kbit/s


def prompt_seconds(prompt: Prompt) -> float:
    """A prompt's duration without decoding it (for planning recordings of a target length)."""
    if prompt.path.suffix == ".g722":
        return prompt.path.stat().st_size / G722_BYTES_PER_SECOND
    if prompt.path.suffix == ".raw":
        return prompt.path.stat().st_size / (2 * 8000)   # codec2 examples: 8 kHz 16-bit
    return float(sf.info(prompt.path).duration)


def compatible_attacks(attacks: Sequence[str], prompts: Sequence[Prompt]) -> list[str]:
    """Attacks that can fake every prompt of a clip (TTS needs a transcript in a language it reads)."""
    usable = []
    for name in attacks:
        attack = ATTACKS[name]
        if attack.kind == "tts" and any(
            p.text is None or (attack.languages is not None and p.language not in attack.languages) for p in prompts
        ):
            continue
        usable.append(name)
    return usable


def _join(waves: Sequence[np.ndarray], pauses: Sequence[float]) -> np.ndarray:
    pieces: list[np.ndarray] = []
    for index, wave in enumerate(waves):
        pieces.append(wave)
        if index < len(pauses):
            pieces.append(np.zeros(int(round(pauses[index] * SAMPLE_RATE)), dtype=np.float32))
    return np.concatenate(pieces).astype(np.float32)


def _levelled(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A loudness drawn from the same range for both classes."""
    return normalise_loudness(wave, target_dbfs=float(rng.uniform(*LEVEL_DBFS)))


def _peak_limited(wave: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    return (wave * (PEAK_LIMIT / peak) if peak > PEAK_LIMIT else wave).astype(np.float32)


def _row(clip_id: str, label: str, wave: np.ndarray, attack: str, speaker: str, clip: Clip) -> dict[str, Any]:
    return {"ID": clip_id, "Label": label, "Duration": round(len(wave) / SAMPLE_RATE, 4), "SampleRate": SAMPLE_RATE,
            "Path": f"audio/{clip_id}.wav", "Attack": attack, "Speaker": speaker, "Proportion": clip.proportion,
            "AudioChannel": 1, "AudioEncoding": "PCM_16", "AudioBitSample": 16,
            "Language": clip.prompts[0].language}


def _fake(domain: str, recipe: dict[str, Any], clip: Clip, reals: Sequence[np.ndarray],
          rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """The clip's attack (cycling through those that can fake all its prompts) and its fake. A TTS
    engine reads each prompt, joined with the real item's pauses; a vocoder or voice converter
    processes the whole real item, pauses included, as one converted speaker would."""
    attacks = compatible_attacks(recipe["attacks"], clip.prompts)
    if not attacks:
        raise ValueError(f"domain {domain!r}: no attack in {recipe['attacks']} can fake prompt(s) "
                         f"{[p.prompt_id for p in clip.prompts]} (TTS needs a transcript in its language)")
    attack = attacks[clip.index % len(attacks)]
    if ATTACKS[attack].kind == "tts":
        return attack, _join([trim_silence(make_fake(attack, real=None, text=p.text, language=p.language, rng=rng))
                              for p in clip.prompts], clip.pauses)
    language = clip.prompts[0].language
    return attack, trim_silence(make_fake(attack, real=_join(reals, clip.pauses), text=None, language=language, rng=rng))


def _build_items(domain: str, recipe: dict[str, Any], clips: Sequence[Clip], seed: int, audio_dir: Path
                 ) -> list[dict[str, Any]]:
    """Make, process and write the real and fake audio of some clips; their manifest rows."""
    unique = list({p.prompt_id: p for clip in clips for p in clip.prompts}.values())
    real = {p.prompt_id: trim_silence(wave) for p, wave in zip(unique, load_prompts(unique))}
    attacks: list[str] = []
    fakes: list[np.ndarray] = []
    for clip in tqdm(clips, desc=f"corpus {domain}", unit="clip"):
        attack, wave = _fake(domain, recipe, clip, [real[p.prompt_id] for p in clip.prompts],
                             rng_for(seed, domain, str(clip.index)))
        attacks.append(attack)
        fakes.append(wave)
    # a fake gets the codec its real prompts came through (one speaker per item; codecs draw no rng)
    fakes = apply_channels(fakes, [source_codec(clip.prompts[0]) for clip in clips], [np.random.default_rng(0)] * len(clips))
    items = []   # (clip, label, levelled wave, chain, rng)
    for clip, fake in zip(clips, fakes):
        for label, wave in (("real", _join([real[p.prompt_id] for p in clip.prompts], clip.pauses)), ("fake", fake)):
            rng = rng_for(seed, domain, str(clip.index), label)
            chain = recipe["channels"][int(rng.integers(len(recipe["channels"])))]
            items.append((clip, label, _levelled(wave, rng), chain, rng))
    finished = apply_channels([item[2] for item in items], [item[3] for item in items], [item[4] for item in items])
    rows: list[dict[str, Any]] = []
    for (clip, label, _, _, _), wave, attack in zip(items, finished, [a for a in attacks for _ in range(2)]):
        wave = _peak_limited(wave)
        clip_id = f"{domain}_{label}_{clip.index:04d}"
        write_wav(audio_dir / f"{clip_id}.wav", wave)
        speaker = clip.prompts[0].speaker
        if label == "real":
            rows.append(_row(clip_id, label, wave, "-", speaker, clip))
        else:
            rows.append(_row(clip_id, label, wave, attack, speaker if ATTACKS[attack].kind != "tts" else attack, clip))
    return rows


def _clip_order(row: dict[str, Any]) -> tuple[int, bool]:
    """Manifest order: by clip index, the real item first (the same for any number of workers)."""
    return int(row["ID"].rsplit("_", 1)[1]), row["Label"] != "real"


def build_domain(domain: str, recipe: dict[str, Any], *, size: str, seed: int, output_dir: str | Path,
                 workers: int = 1) -> pd.DataFrame:
    """Generate one domain's audio and manifest into output_dir (built aside, then renamed into place).

    Each clip draws its fake from rng (seed, domain, clip) and each class its level and channel
    from rng (seed, domain, clip, label), so a clip does not depend on the others, nor on `workers`
    (processes, each given every workers-th clip); the ffmpeg steps run by batches (decoding,
    source codec, channel codecs)."""
    output_dir = Path(output_dir)
    partial = output_dir.with_name(output_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "audio").mkdir(parents=True)
    clips = plan_clips(recipe, size, seed, domain)
    shares = [clips[start::workers] for start in range(workers) if clips[start::workers]]
    if len(shares) > 1:
        with ProcessPoolExecutor(len(shares), mp_context=multiprocessing.get_context("fork")) as pool:
            parts = list(pool.map(_build_items, *zip(*[(domain, recipe, share, seed, partial / "audio")
                                                       for share in shares])))
    else:
        parts = [_build_items(domain, recipe, clips, seed, partial / "audio")]
    rows = sorted((row for part in parts for row in part), key=_clip_order)
    manifest = pd.DataFrame(rows)
    write_manifest(manifest, partial / MANIFEST_NAME)
    write_domain_hash(partial)
    if output_dir.exists():
        shutil.rmtree(output_dir)
    os.replace(partial, output_dir)
    return manifest
