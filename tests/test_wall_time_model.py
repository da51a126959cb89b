"""benchmarks/wall_time_model.py: the DAG and durations read from a Snakemake log, replayed on N cores."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import load_benchmark

wall_time_model = load_benchmark("wall_time_model")


def job(stamp: str, rule: str, jobid: int, inputs: str, outputs: str, threads: int) -> str:
    return (f"[Thu Dec  3 10:00:{stamp} 2026]\nlocalrule {rule}:\n    input: {inputs}\n    output: {outputs}\n"
            f"    log: logs/{rule}.log\n    jobid: {jobid}\n    reason: Missing output files: {outputs}\n"
            f"    threads: {threads}\n    resources: tmpdir=/tmp\nShell command: None\n")


def finished(stamp: str, rule: str, jobid: int) -> str:
    return f"[Thu Dec  3 10:00:{stamp} 2026]\nFinished jobid: {jobid} (Rule: {rule})\n1 of 3 steps done\n"


def test_replay_follows_the_dag_threads_and_measured_durations(tmp_path: Path) -> None:
    # a: 10 s, 1 thread -> b (reads a's output): 20 s, 1 thread; c: 5 s, 2 threads, independent; as run on 3 cores
    log = tmp_path / "run.snakemake.log"
    log.write_text(job("00", "a", 1, "src/a.py", "data/a.h5", 1) + job("00", "c", 3, "src/c.py", "data/c.h5", 2)
                   + finished("05", "c", 3) + finished("10", "a", 1)
                   + job("10", "b", 2, "data/a.h5, src/b.py", "results/b.csv", 1) + finished("30", "b", 2)
                   # a failed job's block repeats jobid, input and output: it must not overwrite job b
                   + "[Thu Dec  3 10:00:31 2026]\nError in rule b:\n    message: None\n    jobid: 2\n"
                     "    input: x.h5\n    output: results/b.csv\n")
    jobs = wall_time_model.read_jobs(log)
    assert {key: (j.rule, j.seconds, j.threads) for key, j in jobs.items()} == {
        "1": ("a", 10, 1), "2": ("b", 20, 1), "3": ("c", 5, 2)}
    # 1 core: one after another (c's 2 threads capped at 1): 35 s. 2 cores: a, then b (c waits for 2 free
    # cores), then c: 35 s. 3 cores: a and c at once, then b: 30 s, the measured run.
    assert [wall_time_model.replay(jobs, cores) for cores in (1, 2, 3)] == [35.0, 35.0, 30.0]


def test_time_by_rule_sums_job_time_and_core_seconds(tmp_path: Path) -> None:
    # two jobs of rule a (10 s and 4 s, 2 threads each) and one of rule b (20 s, 1 thread)
    log = tmp_path / "run.snakemake.log"
    log.write_text(job("00", "a", 1, "src/a.py", "data/a1.h5", 2) + finished("10", "a", 1)
                   + job("10", "a", 2, "src/a.py", "data/a2.h5", 2) + finished("14", "a", 2)
                   + job("14", "b", 3, "data/a1.h5", "results/b.csv", 1) + finished("34", "b", 3))
    rows = wall_time_model.time_by_rule(wall_time_model.read_jobs(log))
    assert [(r.rule, r.jobs, r.seconds, r.median, r.core_seconds) for r in rows] == [
        ("b", 1, 20, 20, 20), ("a", 2, 14, 7, 28)]
