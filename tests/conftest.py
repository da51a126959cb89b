"""Shared fixtures: the repository root and the default config."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture()
def default_config() -> dict:
    with open(REPO / "config" / "config.yaml", encoding="utf-8") as handle:
        return copy.deepcopy(yaml.safe_load(handle))
