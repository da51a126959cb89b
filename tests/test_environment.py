"""results/environment.json (issue 17 item 3): the machine and software of a results tree, written atomically."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from deepfake_rl import environment
from deepfake_rl.data.content_hash import combined_hash
from deepfake_rl.environment import (KEYS, NUMERICS_VARIABLES, PACKAGES, TOOLS, corpus_hashes, cpu_info,
                                     version_line, write_environment)


def test_the_record_has_every_key(tmp_path, monkeypatch):
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    corpus = tmp_path / "corpus"
    (corpus / "dfe24").mkdir(parents=True)
    (corpus / "dfe24" / "content_hash.json").write_text('{"sha256": "abc", "files": 2}\n')
    (corpus / "pool").mkdir()                                        # a domain without a hash: tolerated
    out = tmp_path / "results" / "environment.json"
    record = write_environment(out, corpus_root=corpus, dataset_domains={"dfe24_4s": "dfe24", "add23": "add23"})
    assert json.loads(out.read_text()) == record
    assert tuple(record) == KEYS
    assert set(record["cpu"]) == {"model", "vendor", "family", "model_number", "stepping", "mhz", "logical_cores",
                                  "load_average_1_5_15_min"}
    assert record["cpu"]["logical_cores"] >= 1 and len(record["cpu"]["load_average_1_5_15_min"]) == 3
    assert record["torch"]["version"].startswith(record["packages"]["torch"].split("+")[0])
    assert record["torch"]["cpu_capability"]                          # e.g. AVX2, the kernels torch dispatches to
    assert set(record["packages"]) == set(PACKAGES) and record["packages"]["numpy"]
    assert set(record["tools"]) == set(TOOLS)
    assert set(record["environment_variables"]) == set(NUMERICS_VARIABLES)
    assert record["environment_variables"]["MKL_CBWR"] == "COMPATIBLE"
    assert record["corpus_hashes"] == {"domains": {"dfe24": "abc"}, "corpus": combined_hash({"dfe24": "abc"}),
                                       "datasets": {"add23": "add23", "dfe24_4s": "dfe24"}}
    assert record["python"]["version"] and record["platform"]["system"]


def test_git_commit_and_dirty_flag(tmp_path):
    if subprocess.run(["git", "--version"], capture_output=True).returncode != 0:
        pytest.skip("git is not installed")
    assert environment.git_state(tmp_path) is None                   # not a checkout
    run = {"cwd": tmp_path, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "-q"], **run)
    (tmp_path / "a.txt").write_text("1")
    subprocess.run(["git", "add", "a.txt"], **run)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], **run)
    head = subprocess.run(["git", "rev-parse", "HEAD"], text=True, **run).stdout.strip()
    assert environment.git_state(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "a.txt").write_text("2")
    assert environment.git_state(tmp_path) == {"commit": head, "dirty": True}


def test_the_write_is_atomic(tmp_path, monkeypatch):
    """A failure while writing leaves the previous file as it was and no partial file beside it."""
    out = tmp_path / "environment.json"
    out.write_text('{"previous": true}\n')
    monkeypatch.setattr(environment, "collect_environment",
                        lambda repo, corpus_root: {"created_utc": "x", "cpu": object()})  # not serialisable
    with pytest.raises(TypeError):
        write_environment(out, corpus_root=tmp_path)
    assert out.read_text() == '{"previous": true}\n'
    assert [path.name for path in tmp_path.iterdir()] == ["environment.json"]


def test_missing_tools_and_odd_version_output(tmp_path, monkeypatch):
    assert environment.tool_versions({"nope": ("surely-not-installed-tool", "--version")}) == {"nope": None}
    # flite prints a banner line before its version and exits 1
    assert version_line("  Carnegie Mellon University\n  version: flite-2.2\n") == "version: flite-2.2"
    assert version_line("sox:      SoX v14.4.2\n") == "sox:      SoX v14.4.2"
    assert version_line("") is None
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n"
                       "model name\t: Test CPU @ 2.0GHz\nstepping\t: 1\ncpu MHz\t\t: 2445.404\n\n"
                       "processor\t: 1\nvendor_id\t: Other\ncpu family\t: 6\nmodel name\t: Second CPU\n")
    cpu = cpu_info(cpuinfo)
    assert {key: cpu[key] for key in ("model", "vendor", "family", "model_number", "stepping", "mhz")} == {
        "model": "Test CPU @ 2.0GHz", "vendor": "AuthenticAMD", "family": "25", "model_number": "1",
        "stepping": "1", "mhz": "2445.404"}
    assert cpu_info(tmp_path / "absent")["family"] is None
    assert corpus_hashes(tmp_path / "absent") == {"domains": {}, "corpus": None, "datasets": {}}
