"""A one-node Slurm on this machine for the cluster tests: munged, slurmctld and slurmd on 127.0.0.1, with their
own ports, key, socket, state, spool, PID and log files in one folder, started as root and stopped by PID.

Debian's `slurm-wlm` and `munge` are installed with apt-get when missing. Nothing outside the folder is used
but the installed programs: the munge key is a copy, the socket is the folder's, so a Slurm or munge
already configured on the machine is neither used nor disturbed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SlurmError", "LocalSlurm", "ensure_installed"]

PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")
DAEMONS = ("slurmd", "slurmctld", "munged")  # stop order
_FINISHED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL"}


class SlurmError(RuntimeError):
    """The local Slurm could not be installed, started, or ran a job badly."""


def ensure_installed() -> None:
    """apt-get install slurm-wlm and munge when any of their programs is missing (needs root)."""
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SlurmError(f"{', '.join(missing)} missing and not root: apt-get install -y slurm-wlm munge")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "slurm-wlm", "munge"]):
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SlurmError(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    still = [p for p in PROGRAMS if shutil.which(p) is None]
    if still:
        raise SlurmError(f"installed slurm-wlm and munge, still missing {', '.join(still)}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LocalSlurm:
    """One node, one partition, every file under `folder`."""

    folder: Path
    cpus: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))
    partition: str = "msk"

    @property
    def conf(self) -> Path:
        return self.folder / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment for Slurm's commands (they find the configuration through SLURM_CONF)."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def _write_config(self) -> None:
        host = socket.gethostname().split(".")[0]
        f = self.folder
        for sub in ("state", "spool"):
            (f / sub).mkdir(parents=True, exist_ok=True)
        lines = [
            "ClusterName=mskmaps",
            f"SlurmctldHost={host}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={f / 'munge.sock'}",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"StateSaveLocation={f / 'state'}",
            f"SlurmdSpoolDir={f / 'spool'}",
            f"SlurmctldPidFile={f / 'slurmctld.pid'}",
            f"SlurmdPidFile={f / 'slurmd.pid'}",
            f"SlurmctldLogFile={f / 'slurmctld.log'}",
            f"SlurmdLogFile={f / 'slurmd.log'}",
            # No cgroups, no accounting daemon: what a container or a bare VM can run.
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "MpiDefault=none",
            "ReturnToService=2",
            "SlurmdParameters=config_overrides",
            "MinJobAge=3600",  # finished jobs stay visible to scontrol while the test reads their states
            f"NodeName={host} NodeAddr=127.0.0.1 CPUs={self.cpus} State=UNKNOWN",
            f"PartitionName={self.partition} Nodes={host} Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 60.0) -> None:
        """munged, slurmctld, slurmd; returns when the node takes jobs."""
        ensure_installed()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)  # munge's socket must be reachable through it
        key = self.folder / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self._write_config()
        f = self.folder
        munged = [
            "munged",
            "--force",  # as root: the test's own, short-lived daemon
            f"--key-file={key}",
            f"--socket={f / 'munge.sock'}",
            f"--pid-file={f / 'munged.pid'}",
            f"--log-file={f / 'munged.log'}",
            f"--seed-file={f / 'munged.seed'}",
        ]
        for command in (munged, ["slurmctld", "-f", str(self.conf)], ["slurmd", "-f", str(self.conf)]):
            done = subprocess.run(command, capture_output=True, text=True, env=self.env)
            if done.returncode != 0:
                self.stop()
                raise SlurmError(f"{command[0]} did not start: {done.stderr.strip()[-500:]} {self.logs()}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self._run("sinfo", "-h", "-o", "%T").strip()
            if state in ("idle", "mixed", "allocated"):
                return
            time.sleep(0.5)
        self.stop()
        raise SlurmError(f"the node did not come up within {timeout:.0f} s (state {state!r}) {self.logs()}")

    def stop(self) -> list[str]:
        """Stop the three daemons by their PID files; returns the ones that were running."""
        stopped = []
        for daemon in DAEMONS:
            pid_file = self.folder / f"{daemon}.pid"
            if not pid_file.exists():
                continue
            try:
                pid = int(pid_file.read_text().strip())
                os.kill(pid, signal.SIGTERM)
            except (ValueError, ProcessLookupError):
                continue
            for _ in range(100):  # up to 10 s
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                if Path(f"/proc/{pid}/stat").exists() and ") Z" in Path(f"/proc/{pid}/stat").read_text():
                    break  # exited; its parent (not us: it daemonized) has yet to reap it
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
            stopped.append(daemon)
        return stopped

    def logs(self, lines: int = 15) -> str:
        """The last lines of each daemon's log, for error messages."""
        parts = []
        for name in ("munged.log", "slurmctld.log", "slurmd.log"):
            path = self.folder / name
            if path.exists():
                parts.append(f"\n--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "".join(parts)

    def _run(self, *command: str) -> str:
        done = subprocess.run(command, capture_output=True, text=True, env=self.env)
        if done.returncode != 0:
            raise SlurmError(f"{' '.join(command)}: {done.stderr.strip()}")
        return done.stdout

    def job_states(self, job_id: str) -> dict[str, str]:
        """JobState of the job (every task of an array), by JobId[_TaskId]."""
        out = self._run("scontrol", "show", "job", "-o", job_id)
        states = {}
        for line in out.splitlines():
            fields = dict(re.findall(r"(\w+)=(\S*)", line))
            name = fields["JobId"] + (f"_{fields['ArrayTaskId']}" if fields.get("ArrayTaskId") else "")
            states[name] = fields.get("JobState", "")
        return states

    def wait(self, job_ids: list[str], timeout: float) -> dict[str, str]:
        """Wait until every job (and array task) finished; their final states."""
        deadline = time.monotonic() + timeout
        while True:
            states = {name: state for job in job_ids for name, state in self.job_states(job).items()}
            if states and all(state in _FINISHED for state in states.values()):
                return states
            if time.monotonic() > deadline:
                raise SlurmError(f"jobs not finished after {timeout:.0f} s: {states}")
            time.sleep(1.0)
