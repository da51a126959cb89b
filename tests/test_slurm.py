"""The tiny pipeline through a real SLURM: a single-node cluster started on this machine (Debian's
slurm-wlm and munge, run as root, no accounting), driven by Snakemake's slurm executor with
profiles/slurm overlaid by profiles/slurm-ci. Every job but the local rules must run as a SLURM job,
the scoring jobs as one SLURM job (group-components), and Table 1 and the scores must equal those
of the local run (tests/conftest.py's shared `tiny_local_run`).

To stay within minutes, the SLURM run starts from the local run's corpus and waveform stores
(deterministic, built and checked by the local run) minus one store, so one data job (`segment`)
and every model, fine-tuning and scoring job run on SLURM. DEEPFAKE_RL_SLURM_TEST_FULL=1 runs the
whole DAG on SLURM instead (several minutes more).
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO, copy_repository, snakemake_runner

pytestmark = pytest.mark.slow

PARTITION = "ci"  # the partition profiles/slurm-ci/config.yaml submits to
BINARIES = ("mungekey", "munged", "slurmctld", "slurmd", "sinfo", "sbatch", "squeue", "scancel", "srun")
START_TIMEOUT = 60  # seconds for the daemons to come up and the node to be idle
SLURM_PROFILES = ("--profile", "profiles/slurm", "--profile", "profiles/slurm-ci")
REBUILT_STORE = "dfe24_valid"  # a store no model job reads: its `segment` job runs on SLURM alone


def free_ports(count: int) -> list[int]:
    """Distinct ports nothing listens on (a second cluster, e.g. another session's test, may run)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return f"--- {path.name}: missing"
    return f"--- {path.name}:\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def node_memory_mb() -> int:
    """MemTotal minus a margin for the system, but at least what the largest rule asks for (4 GB):
    `config_overrides` makes slurmd trust this figure, and the tiny jobs use far less."""
    with open("/proc/meminfo", encoding="utf-8") as handle:
        total = next(int(line.split()[1]) // 1024 for line in handle if line.startswith("MemTotal:"))
    return max(total - max(1024, total // 10), 4096)


class SlurmCluster:
    """munged, slurmctld and slurmd in the foreground, each in its own session, all state under `root`.
    Clients find the cluster through SLURM_CONF; the jobstep executor strips SLURM_* variables
    before its `srun` inside a job, so `bin/srun` (first on PATH) puts SLURM_CONF back."""

    def __init__(self, root: Path):
        self.root = root
        self.processes: dict[str, subprocess.Popen] = {}
        self.host = socket.gethostname().split(".")[0]  # `hostname -s`: slurmd's NodeName
        self.conf = root / "slurm.conf"
        self.munge_socket = root / "munge" / "munge.socket"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf),
                    "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}

    def logs(self) -> str:
        names = ["munged.log", "munged.out", "slurmctld.log", "slurmctld.out", "slurmd.log", "slurmd.out"]
        return "\n".join(tail(self.root / "log" / name) for name in names)

    def _daemon(self, name: str, command: list[str]) -> None:
        with open(self.root / "log" / f"{name}.out", "w") as out:
            self.processes[name] = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                                    stdin=subprocess.DEVNULL, start_new_session=True)

    def _write_conf(self) -> None:
        root, host = self.root, self.host
        cpus = max(len(os.sched_getaffinity(0)), 2)  # pretrain/posttrain ask for 2 CPUs
        controller_port, node_port = free_ports(2)
        self.conf.write_text(f"""\
ClusterName=deepfakerlci
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={controller_port}
SlurmdPort={node_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=600
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={node_memory_mb()} State=UNKNOWN
PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
        shim = root / "bin" / "srun"
        shim.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{shutil.which("srun")}" "$@"\n')
        shim.chmod(0o755)

    def start(self) -> None:
        for folder, mode in (("munge", 0o711), ("state", 0o755), ("spool", 0o755), ("log", 0o755), ("bin", 0o755)):
            (self.root / folder).mkdir(mode=mode)
        self._write_conf()
        key = self.root / "munge" / "munge.key"  # a fresh key of our own: /etc/munge is left alone
        subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True, capture_output=True)
        munge = self.root / "munge"
        self._daemon("munged", ["munged", "--foreground", "--force", f"--key-file={key}",
                                f"--socket={self.munge_socket}", f"--pid-file={munge}/munged.pid",
                                f"--seed-file={munge}/munged.seed", f"--log-file={self.root}/log/munged.log"])
        self._wait(lambda: self.munge_socket.exists(), "munged")
        self._daemon("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
        self._wait(lambda: self._sinfo() is not None, "slurmctld")
        self._daemon("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
        self._wait(lambda: (self._sinfo() or "").startswith("idle"), f"node {self.host} to be idle")

    def _sinfo(self) -> str | None:
        result = subprocess.run(["sinfo", "--noheader", "--Node", "--format=%T"], env=self.env,
                                capture_output=True, text=True, timeout=20)
        return result.stdout.strip() if result.returncode == 0 else None

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            dead = [name for name, process in self.processes.items() if process.poll() is not None]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}")
            if ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {START_TIMEOUT} s waiting for {what}")

    def squeue(self) -> dict[str, str]:
        """Job id -> state of every job the controller still knows (finished ones for MinJobAge)."""
        result = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T"], env=self.env,
                                capture_output=True, text=True, timeout=30, check=True)
        return dict(line.split("|", 1) for line in result.stdout.split())

    def stop(self) -> None:
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            try:  # jobs left by a failed run first, so that no job step outlives the cluster
                subprocess.run(["scancel", "--full", f"--partition={PARTITION}"], env=self.env,
                               capture_output=True, timeout=30)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and any(
                        state in ("RUNNING", "COMPLETING", "PENDING") for state in self.squeue().values()):
                    time.sleep(1)
            except (OSError, subprocess.SubprocessError):
                pass
        for name in ("slurmd", "slurmctld", "munged"):  # the reverse of the start order
            process = self.processes.get(name)
            if process is None or process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)  # its own session: the daemon and what it forked
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)


@pytest.fixture(scope="session")  # session, like tiny_local_run, so that a skip comes before that run
def slurm_cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("a SLURM cluster needs root to start slurmd and slurmctld")
    missing = [name for name in BINARIES if shutil.which(name) is None]
    if missing:
        pytest.skip(f"SLURM/munge binaries missing ({', '.join(missing)}): bash scripts/install.sh --test "
                    "installs slurm-wlm and munge")
    cluster = SlurmCluster(Path(tmp_path_factory.mktemp("slurm")))
    try:
        try:
            cluster.start()
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            pytest.skip(f"the test SLURM cluster did not start: {error}\n{cluster.logs()}")
        yield cluster
    finally:
        cluster.stop()


def local_rules() -> set[str]:
    """Rules declared `localrule: True` in rules/*.smk (run by Snakemake itself, never submitted)."""
    names = set()
    for path in (REPO / "rules").glob("*.smk"):
        current = None
        for line in path.read_text().splitlines():
            match = re.match(r"(?:use )?rule (\w+)", line)
            if match:
                current = match.group(1)
            elif current and re.match(r"\s+localrule:\s*True", line):
                names.add(current)
    return names


def job_stats(output: str) -> collections.Counter:
    """Snakemake's "Job stats" table (rule -> job count) of a run's output."""
    block = output[output.index("Job stats:"):]
    counts = collections.Counter()
    for line in block.splitlines()[3:]:
        match = re.match(r"(\w+)\s+(\d+)$", line.strip())
        if not match or match.group(1) == "total":
            break
        counts[match.group(1)] = int(match.group(2))
    return counts


def reuse_data(source: Path, copy: Path) -> None:
    """The local run's corpus and stores (but REBUILT_STORE) in the copy, newer than its sources and
    in DAG order (corpus, then stores), so Snakemake takes them as up to date."""
    now = time.time()
    for part, stamp in (("corpus", now), ("stores", now + 1)):
        shutil.copytree(source / "data" / part, copy / "data" / part)
        for path in [copy / "data" / part, *(copy / "data" / part).rglob("*")]:
            os.utime(path, (stamp, stamp))
    (copy / "data" / "stores" / f"{REBUILT_STORE}.h5").unlink()


def score_tables(repo: Path) -> dict[str, pd.DataFrame]:
    runs = repo / "results" / "runs"
    return {str(path.relative_to(runs)): pd.read_csv(path) for path in sorted(runs.glob("*/*/*/scores/*.csv"))}


def test_tiny_pipeline_on_slurm_matches_the_local_run(slurm_cluster, tiny_local_run, tmp_path_factory):
    repo = copy_repository(tmp_path_factory.mktemp("slurm_repo"))
    full = os.environ.get("DEEPFAKE_RL_SLURM_TEST_FULL") == "1"
    if not full:
        reuse_data(tiny_local_run.repo, repo)
    snakemake = snakemake_runner(repo, env={"SLURM_CONF": slurm_cluster.env["SLURM_CONF"],
                                            "PATH": slurm_cluster.env["PATH"]})
    started = time.monotonic()
    output = snakemake(*SLURM_PROFILES, timeout=1200)
    minutes = (time.monotonic() - started) / 60

    # the same results as the local run (CPU training is deterministic for a seed)
    assert (repo / "results" / "table1.csv").read_text() == tiny_local_run.table1
    local_scores, slurm_scores = score_tables(tiny_local_run.repo), score_tables(repo)
    assert list(slurm_scores) == list(local_scores) and slurm_scores
    for name, table in slurm_scores.items():
        pd.testing.assert_frame_equal(table, local_scores[name], check_exact=False, atol=1e-5, obj=name)

    # every job ran as a SLURM job, except the local rules and the action-less target rules
    counts = job_stats(output)
    ran_locally = set(re.findall(r"^localrule (\w+):", output, flags=re.M))
    local = local_rules()
    assert ran_locally <= local | {"all", "data"}, ran_locally - local
    remote = {rule: n for rule, n in counts.items() if rule not in ran_locally}
    if full:
        assert counts == job_stats(tiny_local_run.output)  # the whole DAG of the local run
    else:
        assert remote.get("segment") == 1 and "build_domain" not in remote, remote
    assert {"pretrain", "posttrain", "feature_cache", "finetune", "score", "score_initial"} <= set(remote)
    scoring = remote.pop("score") + remote.pop("score_initial")
    expected = collections.Counter({f"rule_{rule}": n for rule, n in remote.items()})
    expected["group_scoring"] = -(-scoring // 4)  # group-components: scoring=4 in profiles/slurm

    submitted = re.findall(r"^Job \S+ has been submitted with SLURM jobid (\d+) \(log: (.+)\)\.$", output, flags=re.M)
    logs = {jobid: Path(log) for jobid, log in submitted}
    assert len(logs) == len(submitted)
    kinds = collections.Counter(
        "group_scoring" if kind.startswith("group_scoring") else kind
        for kind in (log.relative_to(repo / "logs" / "slurm").parts[0] for log in logs.values()))
    assert kinds == expected

    # each SLURM job completed and kept its log under logs/slurm (profiles/slurm); the group job ran
    # the scoring jobs (as steps of one allocation)
    states = slurm_cluster.squeue()
    assert {jobid: states.get(jobid) for jobid in logs} == {jobid: "COMPLETED" for jobid in logs}
    assert all(log.is_file() for log in logs.values())
    group_logs = [log.read_text() for log in logs.values() if "group_scoring" in str(log)]
    assert sum(len(re.findall(r"^localrule score(?:_initial)?:", text, flags=re.M)) for text in group_logs) == scoring
    print(f"SLURM run: {len(logs)} SLURM jobs ({dict(kinds)}) for {sum(counts.values())} workflow jobs, "
          f"local rules {sorted(ran_locally)}, {minutes:.1f} min")
