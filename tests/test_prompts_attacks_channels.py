"""Tests of the embedded corpus sources: real prompts, fake-speech attacks, channel steps.

They run the installed Debian engines and codecs on short clips; a test skips (with the
reason) only when a binary it needs is not installed.
"""

from __future__ import annotations

import re
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from deepfake_rl.data.embedded.attacks import ATTACKS, make_fake
from deepfake_rl.data.embedded.channels import (
    CHANNEL_STEPS,
    apply_channel,
    apply_channels,
    normalise_loudness,
    parse_noise_step,
    trim_silence,
)
from deepfake_rl.data.embedded.prompts import (
    SAMPLE_RATE,
    Prompt,
    list_codec2_recordings,
    list_prompts,
    load_prompt,
    load_prompts,
)
from deepfake_rl.data.embedded.tools import ffmpeg_many

# ----------------------------------------------------------------------------- helpers

_ATTACK_BINARIES = {"codec2": ("c2enc", "c2dec"), "espeak": ("espeak-ng",), "flite": ("flite",),
                    "festival": ("text2wave", "festival"), "sox_pitch": ("sox",), "rubberband": ("ffmpeg",)}
_CHANNEL_BINARIES = {"gsm": ("sox",), "mp3": ("ffmpeg",), "opus": ("ffmpeg",), "aac": ("ffmpeg",), "g722": ("ffmpeg",)}
# Russian has no transcript package: a sentence close to the ru "agent-pass" prompt.
_RU_TEXT = "Пожалуйста, введите пароль и нажмите решётку."


def require(*binaries: str) -> None:
    """Skip (never silently pass) when a Debian binary the test needs is missing."""
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing:
        pytest.skip(f"Debian binary not installed: {', '.join(missing)}")


def _binaries_for(name: str, table: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    return next((bins for prefix, bins in table.items() if name.startswith(prefix)), ())


@lru_cache(maxsize=None)
def prompt(language: str, stem: str = "agent-pass") -> Prompt:
    return {p.prompt_id: p for p in list_prompts(language)}[f"{language}-{stem}"]


@lru_cache(maxsize=None)
def real_clip(language: str = "en") -> np.ndarray:
    """A trimmed real prompt of 2-4 s (decoding needs ffmpeg)."""
    require("ffmpeg")
    return trim_silence(load_prompt(prompt(language)))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def assert_audio(x: np.ndarray) -> None:
    assert isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim == 1
    assert np.all(np.isfinite(x))
    assert rms(x) > 1e-3, "silent output"
    assert np.max(np.abs(x)) <= 1.0


# ----------------------------------------------------------------------------- prompts


def test_list_prompts_english_has_transcripts() -> None:
    prompts = list_prompts("en")
    assert len(prompts) > 400
    ids = [p.prompt_id for p in prompts]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", i) for i in ids)
    assert prompt("en").text == "Please enter your password followed by the pound key."
    assert prompt("en", "digits-1").text.lower().startswith("one")
    assert all(p.text and "[" not in p.text and p.path.is_file() for p in prompts)
    assert not any(p.prompt_id.startswith(("en-silence", "en-beep")) for p in prompts)
    assert {p.speaker for p in prompts} == {"en_US_f_Allison"}
    assert list_prompts("en") == prompts  # deterministic


@pytest.mark.parametrize(
    ("language", "speaker"),
    [("fr", "fr_CA_f_June"), ("es", "es_MX_f_Allison"), ("it", "it_IT_m_Carlo"), ("ru", "ru_RU_f_IvrvoiceRU")],
)
def test_list_prompts_other_languages(language: str, speaker: str) -> None:
    prompts = list_prompts(language)
    assert len(prompts) > 400
    assert {p.speaker for p in prompts} == {speaker} and {p.language for p in prompts} == {language}
    if language == "ru":
        assert all(p.text is None for p in prompts)
        assert not any(p.prompt_id in ("ru-beep", "ru-tt-monkeys") or "silence" in p.prompt_id for p in prompts)
    else:
        assert all(p.text for p in prompts)
    assert all(p.licence.startswith("CC-BY") for p in prompts)


def test_list_prompts_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="asterisk-core-sounds-en-g722"):
        list_prompts("en", root=tmp_path)
    with pytest.raises(ValueError, match="de"):
        list_prompts("de")


def test_load_prompt_decodes_g722() -> None:
    require("ffmpeg")
    p = prompt("en")
    x = load_prompt(p)
    assert_audio(x)
    expected = p.path.stat().st_size / 8000.0  # G.722 is 64 kbit/s
    assert abs(x.size / SAMPLE_RATE - expected) < 0.01 * expected + 0.01


def test_load_prompt_fails_clearly(tmp_path: Path) -> None:
    bogus = tmp_path / "broken.wav"
    bogus.write_bytes(b"not a wav file")
    p = Prompt("x-broken", "en", "nobody", None, bogus, "none")
    with pytest.raises(RuntimeError, match="broken.wav"):
        load_prompt(p)
    with pytest.raises(RuntimeError, match="missing.g722"):
        load_prompt(Prompt("x-missing", "en", "nobody", None, tmp_path / "missing.g722", "none"))


def test_codec2_recordings() -> None:
    recs = list_codec2_recordings()
    assert len(recs) >= 8
    assert all(r.language == "en" and r.text is None and r.prompt_id.startswith("c2-") for r in recs)
    assert not any(re.search(r"sine|testframes|2400|all$", r.prompt_id) for r in recs)
    by_id = {r.prompt_id: r for r in recs}
    for rid in ("c2-hts1a", "c2-kristoff"):  # one wav, one 8 kHz raw
        x = load_prompt(by_id[rid])
        assert_audio(x)
        assert 1.0 < x.size / SAMPLE_RATE < 10.0


# ----------------------------------------------------------------------------- attacks


def test_attack_registry() -> None:
    required = {"world", "griffin_lim", "mlsa", "codec2_700c", "world_vc", "espeak_en-us", "flite_slt",
                "festival_slt_hts", "festival_kal", "piper_joe"}
    assert required <= set(ATTACKS)
    for name, a in ATTACKS.items():
        assert a.name == name and a.kind in {"vocoder", "tts", "vc"} and a.description and a.licence and a.family
        assert (a.languages is None) == (a.kind != "tts")


def _attack_inputs(name: str) -> tuple[np.ndarray, str | None, str]:
    a = ATTACKS[name]
    language = a.languages[0] if a.languages else "en"
    text = _RU_TEXT if language == "ru" else prompt(language).text
    return real_clip(language), text, language


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_output_and_determinism(name: str) -> None:
    require(*_binaries_for(name, _ATTACK_BINARIES))
    real, text, language = _attack_inputs(name)
    fake = make_fake(name, real=real, text=text, language=language, rng=np.random.default_rng(7))
    assert_audio(fake)
    if ATTACKS[name].kind == "tts":
        assert 0.3 < fake.size / real.size < 3.0, f"{fake.size / SAMPLE_RATE:.2f} s vs {real.size / SAMPLE_RATE:.2f} s"
    else:
        assert abs(fake.size - real.size) <= 0.01 * real.size
    again = make_fake(name, real=real, text=text, language=language, rng=np.random.default_rng(7))
    assert np.array_equal(fake, again), "same seed must give bit-identical audio"
    if not name.startswith("codec2"):  # codec2 has no random parameter
        other = make_fake(name, real=real, text=text, language=language, rng=np.random.default_rng(8))
        assert not np.array_equal(fake, other), "the seed should vary the attack"


@pytest.mark.parametrize(
    ("name", "language"), [("flite_slt", "fr"), ("festival_kal", "it"), ("piper_joe", "ru"), ("espeak_fr-fr", "en")]
)
def test_impossible_tts_language_raises(name: str, language: str) -> None:
    with pytest.raises(ValueError, match=re.escape(name)) as err:
        make_fake(name, real=None, text="Bonjour", language=language, rng=np.random.default_rng(0))
    assert repr(language) in str(err.value)


def test_bad_attack_inputs_raise() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="real"):
        make_fake("world", real=None, text="hello", language="en", rng=rng)
    with pytest.raises(ValueError, match="text"):
        make_fake("espeak_en-us", real=None, text=None, language="en", rng=rng)
    with pytest.raises(ValueError, match="unknown attack"):
        make_fake("wavenet", real=None, text="hello", language="en", rng=rng)


# ----------------------------------------------------------------------------- channels


@pytest.mark.parametrize("step", CHANNEL_STEPS)
def test_channel_step(step: str) -> None:
    require(*_binaries_for(step, _CHANNEL_BINARIES))
    x = real_clip()[: 2 * SAMPLE_RATE]
    y = apply_channel(x, [step], np.random.default_rng(3))
    assert y.dtype == np.float32 and y.shape == x.shape and np.all(np.isfinite(y))
    assert np.max(np.abs(y - x)) > 1e-3, "step left the signal unchanged"
    assert np.array_equal(y, apply_channel(x, [step], np.random.default_rng(3)))


@pytest.mark.parametrize("step", ["noise_10db", "noise_20db", "noise_30db", "noise_15db", "music_10db", "music_20db"])
def test_noise_step_realises_snr(step: str) -> None:
    x = real_clip()
    snr = parse_noise_step(step)
    for seed in range(3):
        y = apply_channel(x, [step], np.random.default_rng(seed))
        realised = 20 * np.log10(rms(x) / rms(y - x))
        assert abs(realised - snr) <= 1.0 + 1e-3


def test_channel_chain_and_errors() -> None:
    require("ffmpeg")
    x = real_clip()
    y = apply_channel(x, ["reverb_small", "noise_20db", "opus_24k", "loudnorm"], np.random.default_rng(1))
    assert y.shape == x.shape and np.all(np.isfinite(y))
    assert np.array_equal(apply_channel(x, [], np.random.default_rng(1)), x)
    with pytest.raises(ValueError, match="unknown channel step"):
        apply_channel(x, ["mp3_1k"], np.random.default_rng(1))
    with pytest.raises(TypeError):
        apply_channel(x, "gain", np.random.default_rng(1))  # type: ignore[arg-type]


def test_trim_silence_and_loudness() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    padded = np.concatenate([np.zeros(8000, np.float32), tone, 1e-4 * np.ones(8000, np.float32)])
    trimmed = trim_silence(padded)
    assert abs(trimmed.size - tone.size) <= 512
    quiet = normalise_loudness(0.01 * tone, target_dbfs=-23.0)
    assert abs(20 * np.log10(rms(quiet)) + 23.0) < 0.01
    spiky = np.zeros(SAMPLE_RATE, np.float32)
    spiky[::4000] = 0.5
    assert np.max(np.abs(normalise_loudness(spiky))) <= 0.99 + 1e-6


def test_batched_channels_equal_one_clip_at_a_time() -> None:
    """apply_channels runs the ffmpeg codecs for many clips in one process; each clip must come out
    exactly as apply_channel gives it alone, with the random steps drawn from its own rng."""
    require("ffmpeg", "sox")
    clips = [real_clip("en")[: n * SAMPLE_RATE // 2] for n in (2, 3, 5)] + [real_clip("fr")]
    chains = [["mp3_24k", "noise_20db", "aac_32k"], ["g722"], ["music_10db", "opus_12k", "mp3_24k"], ["gsm", "reverb_small"]]
    batched = apply_channels(clips, chains, [np.random.default_rng(seed) for seed in range(4)])
    for seed, (clip, chain, out) in enumerate(zip(clips, chains, batched)):
        assert np.array_equal(out, apply_channel(clip, chain, np.random.default_rng(seed))), chain
        assert out.shape == clip.shape


def test_batched_prompt_decoding_equals_single() -> None:
    require("ffmpeg")
    prompts = list_prompts("it")[:5] + list_codec2_recordings()[:1]
    for prompt, wave in zip(prompts, load_prompts(prompts)):
        assert np.array_equal(wave, load_prompt(prompt)), prompt.prompt_id


def test_ffmpeg_many_names_the_step_on_failure(tmp_path: Path) -> None:
    require("ffmpeg")
    with pytest.raises(RuntimeError, match="my step: ffmpeg exited"):
        ffmpeg_many([([], tmp_path / "missing.wav", [], tmp_path / "out.wav")], what="my step")
