"""What a real download trips on (issue 19), each on a small replica built here: DFE24 rows that are
neither Real/Fake nor Train/Test, protocol files not in UTF-8, roots and checkpoints checked by
check-config, the published DFE24 layout, FoR subfolders and macOS resource-fork files, and expected
data errors reported as one message instead of a traceback."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from deepfake_rl import workflow
from deepfake_rl.__main__ import main
from deepfake_rl.data import corpora
from deepfake_rl.data.corpora import CorpusError, load_corpus
from deepfake_rl.data.real_corpus import SKIPPED_NAME, import_domain
from tests.conftest import REPO
from tests.test_corpora import add23_replica, asv19_replica, dfe24_replica, wav, write_csv

PAPER = REPO / "config" / "paper.yaml"
METADATA = "audio-metadata-publish.csv"


def dfe24_with_other_rows(root: Path) -> Path:
    """The DFE24 replica plus rows AntiDeepfake's preprocessing leaves out (their files exist and are fine)."""
    dfe24_replica(root)
    wav(root / "audio-data" / "clipF.wav")
    wav(root / "audio-data" / "clipG.wav")
    rows = list(csv.reader(open(root / METADATA, encoding="utf-8")))
    rows += [["clipF.wav", "2024-08-01", "unknown", "", "Train"],     # line 7
             ["clipG.wav", "2024-08-02", "Fake", "", "Validation"]]  # line 8
    write_csv(root / METADATA, rows[0], rows[1:])
    return root


# --- 1. DFE24 rows neither Real/Fake nor Train/Test -------------------------------------------------

def test_dfe24_other_rows_are_left_out_and_listed_by_default(tmp_path: Path) -> None:
    root = dfe24_with_other_rows(tmp_path / "DFE24")
    result = load_corpus("dfe24", root)
    assert len(result.manifest) == 5 and not result.manifest["ID"].isin(["DFE24-clipF.wav", "DFE24-clipG.wav"]).any()
    entries = {item.entry: item.reason for item in result.skipped}
    assert entries.keys() == {f"{root / METADATA}:7: clipF.wav", f"{root / METADATA}:8: clipG.wav"}
    assert entries[f"{root / METADATA}:7: clipF.wav"].startswith("Ground Truth 'unknown' is not Real or Fake")
    assert entries[f"{root / METADATA}:8: clipG.wav"].startswith("Finetuning Set 'Validation' is not Train or Test")
    # the import lists them in skipped.csv, whatever the bad-file policy
    record = import_domain("dfe24", root, tmp_path / "corpus" / "dfe24", on_bad_file="error", verify="header")
    report = pd.read_csv(tmp_path / "corpus" / "dfe24" / SKIPPED_NAME)
    assert record["n_items"] == 5 and record["n_skipped"] == 2 and len(report) == 2
    assert report["reason"].str.contains("options.other_rows: strict").all()


def test_dfe24_strict_keeps_the_error_and_bad_values_are_refused(tmp_path: Path) -> None:
    root = dfe24_with_other_rows(tmp_path / "DFE24")
    with pytest.raises(CorpusError, match=r"audio-metadata-publish\.csv:7: unknown Ground Truth 'unknown'"):
        load_corpus("dfe24", root, other_rows="strict")
    with pytest.raises(ValueError, match="other_rows 'lenient'"):
        load_corpus("dfe24", root, other_rows="lenient")


def test_an_expected_data_error_is_one_message_without_a_traceback(tmp_path: Path, monkeypatch) -> None:
    message = "/corpus/audio-metadata-publish.csv:7: unknown Ground Truth 'unknown'"

    def failing(job) -> None:
        raise CorpusError(message)

    monkeypatch.setitem(workflow.STAGES, "import_probe", failing)
    log = tmp_path / "import.log"
    with pytest.raises(SystemExit) as exit_:
        workflow.run_stage(SimpleNamespace(rule="import_probe", threads=1, log=[str(log)], params=SimpleNamespace()))
    assert str(exit_.value.code) == f"import_probe: {message}"
    text = log.read_text(encoding="utf-8")
    assert f"import_probe: {message}" in text and "Traceback" not in text
    # a bug keeps its traceback
    monkeypatch.setitem(workflow.STAGES, "import_probe", lambda job: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        workflow.run_stage(SimpleNamespace(rule="import_probe", threads=1, log=[str(log)], params=SimpleNamespace()))
    assert "Traceback" in log.read_text(encoding="utf-8")


# --- 2. protocol files not in UTF-8 -----------------------------------------------------------------

def test_a_cp1252_protocol_names_file_and_line_and_how_to_convert(tmp_path: Path) -> None:
    itw = tmp_path / "release_in_the_wild"
    wav(itw / "0.wav")
    wav(itw / "1.wav")
    (itw / "meta.csv").write_bytes("file,speaker,label\n0.wav,Alan Turing,spoof\n1.wav,Gödel,bona-fide\n"
                                   .encode("cp1252"))
    with pytest.raises(CorpusError) as error:
        load_corpus("itw", itw)
    text = str(error.value)
    assert text.startswith(f"{itw / 'meta.csv'}:3: not UTF-8 text (byte 0xf6)")
    assert "iconv -f cp1252 -t utf-8" in text
    # whitespace protocols too, and check-config's layout check gives the same message
    root = add23_replica(tmp_path / "testR2")
    (root / "label.txt").write_bytes((root / "label.txt").read_bytes() + "Ä.wav genuine\n".encode("latin-1"))
    with pytest.raises(CorpusError, match=re.escape(f"{root / 'label.txt'}:") + r"\d+: not UTF-8 text"):
        load_corpus("add23", root)
    with pytest.raises(CorpusError, match="not UTF-8 text"):
        corpora.check_layout("add23", root)
    # a UTF-8 file with a byte-order mark (Excel's "CSV UTF-8") is fine
    (itw / "meta.csv").write_bytes("file,speaker,label\n0.wav,Alan Turing,spoof\n1.wav,Gödel,bona-fide\n"
                                   .encode("utf-8-sig"))
    assert by_speaker(load_corpus("itw", itw).manifest) == {"Alan Turing", "Gödel"}


def by_speaker(manifest: pd.DataFrame) -> set[str]:
    return set(manifest["Speaker"])


# --- 3. check-config checks roots and checkpoint files ----------------------------------------------

def all_replicas(base: Path) -> dict[str, Path]:
    """One miniature copy of each corpus config/paper.yaml names (no audio decoding needed here)."""
    roots = {"dfe24": dfe24_replica(base / "Deepfake-Eval-2024"), "add23": add23_replica(base / "testR2"),
             "asv19dev": asv19_replica(base / "LA")}
    for label in ("real", "fake"):
        wav(base / "FakeOrReal" / "for-norm" / "testing" / label / "file1.wav")
    roots["for"] = base / "FakeOrReal"
    for folder in ("REAL", "FAKE"):
        wav(base / "DEEP-VOICE" / "KAGGLE" / "AUDIO" / folder / "a.wav")
    roots["dv"] = base / "DEEP-VOICE"
    wav(base / "itw" / "0.wav")
    write_csv(base / "itw" / "meta.csv", ["file", "speaker", "label"], [["0.wav", "A", "spoof"]])
    roots["itw"] = base / "itw"
    return roots


def paths_file(path: Path, roots: dict[str, Path], checkpoints: Path) -> Path:
    paper = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    overlay = {"corpus": {"domains": {domain: {"root": str(root)} for domain, root in roots.items()}},
               "checkpoints": {model: {kind: str(checkpoints / f"{model}_{kind}.ckpt") for kind in entry}
                               for model, entry in paper["checkpoints"].items()}}
    path.write_text(yaml.safe_dump(overlay), encoding="utf-8")
    return path


def test_check_config_checks_every_root_and_checkpoint(tmp_path: Path, capsys) -> None:
    assert main(["check-config", str(REPO / "config" / "config.yaml")]) == 0   # embedded: nothing to find
    assert "config is valid" in capsys.readouterr().out
    missing = {domain: tmp_path / "nowhere" / domain for domain in ("dfe24", "add23", "for", "dv", "itw", "asv19dev")}
    paths = paths_file(tmp_path / "missing.yaml", missing, tmp_path / "no_models")
    assert main(["check-config", str(PAPER), str(paths)]) == 1
    err = capsys.readouterr().err
    for domain, root in missing.items():
        assert f"corpus.domains.{domain}.root: {root}: corpus root is not a folder" in err
    assert f"checkpoints.xlsr_2b.pretrained: {tmp_path / 'no_models' / 'xlsr_2b_pretrained.ckpt'}: " \
           "checkpoint not found" in err
    # real replicas and checkpoint files: valid
    roots = all_replicas(tmp_path / "corpora")
    models = tmp_path / "models"
    models.mkdir()
    paths = paths_file(tmp_path / "my_paths.yaml", roots, models)
    for entry in yaml.safe_load(paths.read_text())["checkpoints"].values():
        for file in entry.values():
            Path(file).write_bytes(b"")
    assert main(["check-config", str(PAPER), str(paths)]) == 0, capsys.readouterr().err
    # a root without its protocol file / version folder: the import's own message
    (roots["dfe24"] / METADATA).unlink()
    (roots["for"] / "for-norm" / "testing" / "real" / "file1.wav").unlink()
    (roots["for"] / "for-norm" / "testing" / "real").rmdir()
    assert main(["check-config", str(PAPER), str(paths)]) == 1
    err = capsys.readouterr().err
    for domain in ("dfe24", "for"):
        with pytest.raises(CorpusError) as error:
            load_corpus(domain, roots[domain])
        assert f"corpus.domains.{domain}.root: {error.value}" in err
    assert "missing ['audio-metadata-publish.csv']" in err and "testing/real: expected folder is missing" in err
    assert "corpus.domains.add23" not in err


# --- 4. the example DFE24 root is the published top-level folder ------------------------------------

def test_the_example_dfe24_root_is_the_published_top_level_folder(tmp_path: Path) -> None:
    example = yaml.safe_load(PAPER.read_text(encoding="utf-8"))["corpus"]["domains"]["dfe24"]["root"]
    assert Path(example).name == "Deepfake-Eval-2024"
    documents = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "config").glob("*.yaml"))]
    stale = [str(path.relative_to(REPO)) for path in documents
             if "Deepfake-Eval-2024/audio" in path.read_text(encoding="utf-8")]
    assert stale == []
    reproducing = (REPO / "docs" / "reproducing.md").read_text(encoding="utf-8")
    assert "dfe24: {root: /data/Deepfake-Eval-2024}" in reproducing
    # the published layout: the metadata CSV and audio-data/ at the top of the downloaded folder
    download = dfe24_replica(tmp_path / Path(example).name)
    assert corpora.check_layout("dfe24", download) == download and len(load_corpus("dfe24", download).manifest) == 5


# --- 5. FoR: subfolders and macOS resource-fork files -----------------------------------------------

def test_for_subfolders_and_resource_forks_are_listed_not_read(tmp_path: Path) -> None:
    root = tmp_path / "FakeOrReal"
    testing = root / "for-norm" / "testing"
    wav(testing / "real" / "file1.wav")
    wav(testing / "fake" / "file1.wav")
    wav(testing / "real" / "more" / "file2.wav")                       # a folder of audio inside real/
    (testing / "fake" / "._file1.wav").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    (testing / "real" / ".DS_Store").write_bytes(b"\0")
    result = load_corpus("for", root)                                   # on_bad_file: error
    assert sorted(result.manifest["ID"]) == ["FoR-for-norm-testing-fake-file1.wav",
                                             "FoR-for-norm-testing-real-file1.wav"]
    reasons = {Path(item.entry).name: item.reason for item in result.skipped}
    assert reasons == {"more": "subfolder (ignored)", "._file1.wav": "macOS resource-fork file (ignored)",
                       ".DS_Store": "not an audio file (ignored)"}
