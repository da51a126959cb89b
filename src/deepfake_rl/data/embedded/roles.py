"""What each domain of the embedded corpus is made of, in the units the corpus roles are stated in:
attack families, channel types and chains, source speakers (languages) - read from the config.

The roles mirror the paper's data: the post-training pool covers every family, channel type and
language of the out-of-domain sets (never their recordings), and the target domain brings families
and channel chains the pool lacks. Tests check these statements on config/config.yaml.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from deepfake_rl.data.embedded.attacks import FAMILIES
from deepfake_rl.data.embedded.channels import channel_type


@dataclass(frozen=True)
class Role:
    """One domain's attack families, channel chains and types, and source speakers."""

    role: str
    families: frozenset[str]
    chains: frozenset[tuple[str, ...]]
    channel_types: frozenset[str]
    speakers: frozenset[str]   # asterisk language codes (en, fr, es, it, ru) and codec2


def domain_role(recipe: Mapping[str, Any]) -> Role:
    """The role of one `corpus.domains.<name>` recipe."""
    chains = frozenset(tuple(chain) for chain in recipe["channels"])
    return Role(role=str(recipe.get("role", "")),
                families=frozenset(FAMILIES[attack] for attack in recipe["attacks"]),
                chains=chains,
                channel_types=frozenset(channel_type(step) for chain in chains for step in chain),
                speakers=frozenset(source["speaker"] for source in recipe["sources"]))


def domain_roles(domains: Mapping[str, Mapping[str, Any]]) -> dict[str, Role]:
    return {name: domain_role(recipe) for name, recipe in domains.items()}


def role_table(domains: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Domain x attack families x channel types x source speakers, one row per domain."""
    rows = []
    for name, role in domain_roles(domains).items():
        rows.append({"domain": name, "role": role.role, "attack families": ", ".join(sorted(role.families)),
                     "channel types": ", ".join(sorted(role.channel_types)) or "clean",
                     "speakers (languages)": ", ".join(sorted(role.speakers))})
    return pd.DataFrame(rows)
