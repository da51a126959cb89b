"""The embedded default's data roles (config/config.yaml), as the paper has them: a broad post-training
pool covering every attack family, channel type and language of the out-of-domain sets, a target
domain with families and channel chains the pool lacks, and no recording in two domains."""

from __future__ import annotations

import pytest

from deepfake_rl.__main__ import main
from deepfake_rl.data.embedded.attacks import ATTACKS, FAMILIES
from deepfake_rl.data.embedded.build import plan_clips
from deepfake_rl.data.embedded.channels import CHANNEL_STEPS, channel_type
from deepfake_rl.data.embedded.roles import domain_role, domain_roles, role_table

OOD = ("add23", "for", "dv", "itw")


@pytest.fixture
def roles(default_config):
    return domain_roles(default_config["corpus"]["domains"])


def test_families_group_engine_variants():
    assert FAMILIES["world"] == FAMILIES["world_vc"] == "world"
    assert FAMILIES["codec2_700c"] == FAMILIES["codec2_1300"] == "codec2"
    assert {FAMILIES[name] for name in ATTACKS if name.startswith("espeak_")} == {"espeak"}
    assert FAMILIES["flite_slt"] == FAMILIES["flite_rms"] == FAMILIES["flite_awb"] == "clustergen"
    assert FAMILIES["flite_kal16"] == FAMILIES["festival_kal"] == "diphone"   # both concatenate diphones
    assert (FAMILIES["festival_slt_hts"], FAMILIES["piper_joe"]) == ("hts", "vits")
    assert (FAMILIES["sox_pitch"], FAMILIES["rubberband"]) == ("wsola", "phase_vocoder")
    assert set(FAMILIES) == set(ATTACKS) and all(FAMILIES.values())


def test_channel_types_group_step_variants():
    assert channel_type("mp3_24k") == channel_type("mp3_64k") == "mp3"
    assert channel_type("noise_10db") == channel_type("noise_15db") == "noise"
    assert channel_type("reverb_large") == "reverb" and channel_type("music_20db") == "music"
    assert channel_type("gsm") == "gsm" and channel_type("opus_12k") == "opus"
    assert {channel_type(step) for step in CHANNEL_STEPS} == {
        "mp3", "opus", "aac", "g722", "gsm", "telephone", "noise", "music", "reverb", "lowpass", "gain", "loudnorm"}


@pytest.mark.parametrize("domain", OOD)
def test_pool_covers_every_out_of_domain_family_channel_type_and_language(roles, domain):
    pool, ood = roles["pool"], roles[domain]
    assert ood.families <= pool.families, ood.families - pool.families
    assert ood.channel_types <= pool.channel_types, ood.channel_types - pool.channel_types
    assert ood.speakers <= pool.speakers, ood.speakers - pool.speakers


def test_pool_has_every_prompt_language(roles):
    assert roles["pool"].speakers == {"en", "fr", "es", "it", "ru", "codec2"}


def test_target_families_and_chains_are_new_to_the_pool(roles):
    pool, target = roles["pool"], roles["dfe24"]
    assert target.families and not target.families & pool.families
    for chain in target.chains:
        assert chain not in pool.chains
        assert {channel_type(step) for step in chain} - pool.channel_types, f"{chain}: every type is in the pool"


def test_role_of_a_recipe_reads_families_types_and_speakers():
    role = domain_role({"role": "r", "sources": [{"speaker": "fr", "fraction": [0, 1]}],
                        "attacks": ["world_vc", "espeak_fr-fr"], "channels": [[], ["noise_10db", "mp3_24k"]]})
    assert role.families == {"world", "espeak"} and role.speakers == {"fr"}
    assert role.chains == {(), ("noise_10db", "mp3_24k")} and role.channel_types == {"noise", "mp3"}


def test_role_table_has_one_row_per_domain(default_config, capsys):
    table = role_table(default_config["corpus"]["domains"])
    assert list(table["domain"]) == list(default_config["corpus"]["domains"])
    assert table.set_index("domain").loc["asv19dev", "channel types"] == "clean"
    assert main(["corpus-roles"]) == 0
    printed = capsys.readouterr().out
    assert "| dfe24" in printed and "hts, phase_vocoder, vits, wsola" in printed


@pytest.mark.parametrize("size", ["tiny", "default"])
def test_no_recording_in_two_domains(default_config, size):
    domains = default_config["corpus"]["domains"]
    owner: dict[str, str] = {}
    for name, recipe in domains.items():
        for clip in plan_clips(recipe, size, default_config["corpus"]["seed"], name):
            for prompt in clip.prompts:
                assert owner.setdefault(prompt.prompt_id, name) == name, f"{prompt.prompt_id} in {owner[prompt.prompt_id]} and {name}"
