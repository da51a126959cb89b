"""How long would a finished run take on more cores? Replays its jobs on N simulated cores.

The embedded default's wall time on 2 cores is bound by its compute, not by its DAG: this reads a finished
run's Snakemake log (each job's rule, threads, inputs, outputs, start and finish), rebuilds the DAG from the
inputs each job took from another job, and schedules the measured job durations greedily (longest ready
job first, a job's threads capped at the core count) on N cores. Replayed on the cores it ran on, it
should give the measured wall time back (the check that the model holds); on more cores it assumes job
durations stay as measured (no memory-bandwidth or disk contention), so read it as a lower estimate.

    python benchmarks/wall_time_model.py <clone>/.snakemake/log/<run>.snakemake.log --cores 2 4 8 16

`--by-rule` first prints where the job time went: per rule, its jobs, job time, median and core-seconds.

Timestamps in the log have 1 s resolution; jobs shorter than that count as 1 s.
"""

from __future__ import annotations

import argparse
import datetime
import heapq
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

STAMP = re.compile(r"\[(\w{3} \w{3}\s+\d+ [\d:]+ \d{4})\]")
FIELD = re.compile(r"\s+(input|output|threads|jobid): (.*)")


@dataclass
class Job:
    """One job as the log shows it: its rule, when it started and finished, its files and threads."""

    rule: str
    start: datetime.datetime
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    threads: int = 1
    end: datetime.datetime | None = None

    @property
    def seconds(self) -> float:
        """Start to finish; at least 1 s, the log's resolution."""
        return max(1.0, (self.end - self.start).total_seconds())


def read_jobs(log: Path) -> dict[str, Job]:
    """Every finished job of a Snakemake log, by job id."""
    jobs: dict[str, Job] = {}
    stamp = None
    current: Job | None = None
    for line in log.read_text(encoding="utf-8").splitlines():
        if match := STAMP.match(line):
            stamp = datetime.datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
            current = None   # a job's fields follow its own header; an "Error in rule" block's are not a new job
        elif match := re.match(r"(?:local)?rule (\w+):", line):
            current = Job(match.group(1), stamp)
        elif current is not None and (match := FIELD.match(line)):
            key, value = match.groups()
            if key in ("input", "output"):
                setattr(current, f"{key}s", [item.strip() for item in value.split(",")])
            elif key == "threads":
                current.threads = int(value)
            else:
                jobs[value.strip()] = current
        elif match := re.match(r"Finished jobid: (\d+)", line):
            if match.group(1) in jobs:
                jobs[match.group(1)].end = stamp
    return {key: job for key, job in jobs.items() if job.end is not None}


def replay(jobs: dict[str, Job], cores: int) -> float:
    """Seconds to run every job on `cores` cores: greedy list scheduling, longest ready job first."""
    producer = {output: key for key, job in jobs.items() for output in job.outputs}
    needs = {key: {producer[i] for i in job.inputs if i in producer and producer[i] != key}
             for key, job in jobs.items()}
    order = sorted(jobs, key=lambda key: -jobs[key].seconds)
    done: set[str] = set()
    started: set[str] = set()
    running: list[tuple[float, str, int]] = []
    now, free = 0.0, cores
    while len(done) < len(jobs):
        for key in order:
            threads = min(jobs[key].threads, cores)
            if key not in started and needs[key] <= done and threads <= free:
                heapq.heappush(running, (now + jobs[key].seconds, key, threads))
                started.add(key)
                free -= threads
        now, key, threads = heapq.heappop(running)
        done.add(key)
        free += threads
    return now


@dataclass(frozen=True)
class RuleTime:
    """The jobs of one rule: how many, their summed and median job time, and core-seconds (time x threads)."""

    rule: str
    jobs: int
    seconds: float
    median: float
    core_seconds: float


def time_by_rule(jobs: dict[str, Job]) -> list[RuleTime]:
    """Job time per rule, the largest first."""
    by_rule: dict[str, list[Job]] = {}
    for job in jobs.values():
        by_rule.setdefault(job.rule, []).append(job)
    rows = [RuleTime(rule, len(members), sum(j.seconds for j in members),
                     statistics.median(j.seconds for j in members),
                     sum(j.seconds * j.threads for j in members)) for rule, members in by_rule.items()]
    return sorted(rows, key=lambda row: (-row.seconds, row.rule))


def print_by_rule(jobs: dict[str, Job]) -> None:
    """A Markdown table of `time_by_rule`."""
    print("| rule | jobs | job time s | median s | core-seconds |\n| --- | --: | --: | --: | --: |")
    for row in time_by_rule(jobs):
        print(f"| {row.rule} | {row.jobs} | {row.seconds:.0f} | {row.median:.0f} | {row.core_seconds:.0f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", type=Path, help="a finished run's .snakemake/log/*.snakemake.log")
    parser.add_argument("--cores", type=int, nargs="+", default=[2, 4, 8, 16])
    parser.add_argument("--by-rule", action="store_true", help="first print job time per rule")
    args = parser.parse_args()
    jobs = read_jobs(args.log)
    if args.by_rule:
        print_by_rule(jobs)
    first = min(job.start for job in jobs.values())
    measured = (max(job.end for job in jobs.values()) - first).total_seconds()
    print(f"{len(jobs)} jobs, {sum(job.seconds for job in jobs.values()):.0f} s of job time, "
          f"{sum(job.seconds * job.threads for job in jobs.values()):.0f} core-seconds (job time x threads); "
          f"measured first start to last finish: {measured / 60:.1f} min")
    for cores in args.cores:
        print(f"{cores:3d} cores: {replay(jobs, cores) / 60:6.1f} min (replayed)")


if __name__ == "__main__":
    main()
