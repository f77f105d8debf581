"""A real two-node Slurm cluster on this one machine, for tests that submit ``sbatch`` jobs.

Two ``slurmd`` (nodes ``n1``, ``n2``) and one ``slurmctld`` run on localhost with a configuration, state, spool and
logs under a scratch folder; ``munged`` is started too unless one already answers. Needs root and Debian's packages
(installed with apt-get when missing). See ``docs/slurm.md`` for the settings that mattered.

Use the ``slurm_cluster`` fixture of ``tests/cluster/conftest.py`` (tests under ``tests/cluster/``) or
``with SlurmCluster(tmp_path) as cluster: ...``. Submit *named* jobs: Lightning treats a job named ``bash`` or
``interactive`` as an interactive session (``sbatch`` names a job after its script by default, which is fine).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal as signal_module
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
NODES = ("n1", "n2")
CTLD_PORT = 6817
SLURMD_DEFAULT_PORT = 6818  # unused by our nodes (each has its own Port) but a leftover slurmd would hold it
NODE_PORTS = (17001, 17002)
HOSTS_FILE = Path("/etc/hosts")
HOSTS_LINE = "127.0.0.1 " + " ".join(NODES)
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_RUN_DIR = Path("/run/munge")
POLICY_RC = Path("/usr/sbin/policy-rc.d")
# States after which a job will not run again by itself (REQUEUED/PENDING/RUNNING/COMPLETING are not final).
FINAL_STATES = frozenset(
    {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED"}
)


class SlurmClusterError(RuntimeError):
    """The cluster could not start or a job did not reach the expected state."""


def _slurm_installed() -> bool:
    return all(shutil.which(name) for name in ("slurmctld", "slurmd", "sbatch", "srun", "scontrol", "munged", "munge"))


def cluster_unavailable_reason() -> str | None:
    """Why a Slurm cluster cannot be started here, or None when it can (root, and Slurm present or installable)."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "a Slurm test cluster needs Linux"
    if os.geteuid() != 0:
        return "a Slurm test cluster needs root (daemons, /etc/hosts, munge)"
    if not _slurm_installed() and not shutil.which("apt-get"):
        return f"Slurm is not installed and there is no apt-get to install {' '.join(PACKAGES)}"
    return None


def _tail(path: Path | str | None, lines: int = 30) -> str:
    """The last lines of a text file, labelled, for error messages."""
    if not path:
        return ""
    path = Path(path)
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as error:
        return f"--- {path}: {error}\n"
    return f"--- {path} (last {min(lines, len(text))} of {len(text)} lines)\n" + "\n".join(text[-lines:]) + "\n"


def _port_holders(port: int) -> list[str]:
    """``PID command`` of the processes listening on TCP ``port`` (best effort, from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    holders = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                holders.append(f"{proc.name} {cmdline}")
    return holders


def _port_in_use(port: int) -> bool:
    """Whether something listens on ``port``; SO_REUSEADDR makes sockets in TIME_WAIT (a previous run) not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


class SlurmCluster:
    """Context manager: a running two-node Slurm cluster (``n1``, ``n2``) with its files under ``scratch``."""

    def __init__(self, scratch: Path, start_timeout: float = 60.0, min_cpus: int = 2) -> None:
        self.scratch = Path(scratch)
        self.start_timeout = start_timeout
        self.min_cpus = min_cpus  # CPUs per node: at least this many, even on a machine with fewer cores
        self.conf = self.scratch / "slurm.conf"
        self.log_dir = self.scratch / "log"
        self._daemons: list[tuple[str, subprocess.Popen, list[Path]]] = []  # name, process, logs; start order
        self._hosts_original: str | None = None
        self._created_munge_run_dir = False
        self._started = False

    # ----- clients

    @property
    def env(self) -> dict[str, str]:
        """Environment for Slurm clients (and the jobs they submit): this cluster's SLURM_CONF, no outer SLURM_*."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
        env["SLURM_CONF"] = str(self.conf)
        return env

    def run(self, *command: str, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Run a Slurm client command against this cluster; text output captured."""
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode:
            raise SlurmClusterError(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
        return result

    def submit(
        self,
        script: Path,
        *args: str,
        env: Mapping[str, str] | None = None,
        extra_sbatch_args: Sequence[str] = (),
        chdir: Path | None = None,
    ) -> int:
        """``sbatch --parsable`` the script with ``args``; returns the job id.

        The job runs in ``chdir`` (default: the script's folder) with this process' environment plus ``env``;
        ``extra_sbatch_args`` come after our options, so they override them (e.g. ``--chdir``, ``--output``).
        """
        script = Path(script).resolve()
        job_env = self.env | dict(env or {})
        command = ["sbatch", "--parsable", f"--chdir={chdir or script.parent}", *extra_sbatch_args, str(script)]
        result = subprocess.run([*command, *map(str, args)], env=job_env, capture_output=True, text=True, timeout=30)
        if result.returncode:
            raise SlurmClusterError(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
        return int(result.stdout.strip().split(";")[0])  # --parsable prints "ID" or "ID;CLUSTER"

    def job_info(self, job_id: int) -> dict[str, str]:
        """The fields of ``scontrol show job -o ID`` (JobState, Restarts, NodeList, ExitCode, StdOut, ...)."""
        line = self.run("scontrol", "show", "job", "-o", str(job_id)).stdout.strip()
        info = {}
        # One line of KEY=VALUE separated by spaces; a value has no spaces except in the last fields (Command=...,
        # Comment=...), so a token without "=" continues the previous value.
        key = None
        for token in line.split(" "):
            name, sep, value = token.partition("=")
            if sep and name and (name[0].isupper() or name[0].isdigit()):
                key = name
                info[key] = value
            elif key is not None and token:
                info[key] += " " + token
        return info

    def wait(self, job_id: int, states: Sequence[str] = ("COMPLETED",), timeout: float = 120.0) -> str:
        """Poll until the job's state is one of ``states`` and return it.

        Raises SlurmClusterError, with the job's info and output tails, when it reaches another final state
        (FAILED, CANCELLED, ...) or ``timeout`` seconds pass. MinJobAge in our slurm.conf keeps finished jobs visible.
        """
        deadline = time.monotonic() + timeout
        while True:
            info = self.job_info(job_id)
            state = info.get("JobState", "")
            if state in states:
                return state
            if state in FINAL_STATES or time.monotonic() > deadline:
                why = f"ended {state}" if state in FINAL_STATES else f"is still {state} after {timeout:.0f} s"
                raise SlurmClusterError(f"job {job_id} {why}, expected {'/'.join(states)}\n" + self._job_report(info))
            time.sleep(0.25)

    def signal(self, job_id: int, sig: str = "USR1") -> None:
        """Send ``sig`` to the tasks of all the job's ``srun`` steps (as ``sbatch --signal=SIG@T`` does).

        Plain ``scancel --signal=SIG ID`` signals every step except the batch step, i.e. each srun task once
        (checked by tests/cluster/test_slurm_cluster.py). ``--full`` also signals the batch shell and its children: a
        bash script without a trap dies of SIGUSR1 and the job ends FAILED. ``--batch`` reaches only the batch shell.
        """
        self.run("scancel", f"--signal={sig}", str(job_id))

    def describe(self, job_id: int) -> str:
        """The job's state, reason, exit code, restarts and nodes, and the tails of its output files: for messages."""
        return self._job_report(self.job_info(job_id))

    def _job_report(self, info: Mapping[str, str]) -> str:
        fields = " ".join(f"{k}={info.get(k)}" for k in ("JobState", "Reason", "ExitCode", "Restarts", "NodeList"))
        outputs = dict.fromkeys(path for path in (info.get("StdOut"), info.get("StdErr")) if path)
        return fields + "\n" + "".join(_tail(path) for path in outputs)

    # ----- lifecycle

    def __enter__(self) -> SlurmCluster:
        reason = cluster_unavailable_reason()
        if reason:
            raise SlurmClusterError(reason)
        try:
            self._install()
            self._check_ports()
            self._write_config()
            self._add_hosts_entry()
            self._start_munge()
            self._start_slurm()
            self._started = True
        except BaseException:
            self._stop()
            raise
        atexit.register(self._stop)  # in case the with-block's exit never runs (e.g. the test process is interrupted)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop()

    def _install(self) -> None:
        """apt-get install the packages if a binary is missing, with services kept from auto-starting."""
        if _slurm_installed() and MUNGE_KEY.exists():
            return
        created_policy = not POLICY_RC.exists()
        if created_policy:  # exit 101 = "action forbidden": the packages' postinst scripts start no daemons
            POLICY_RC.write_text("#!/bin/sh\nexit 101\n")
            POLICY_RC.chmod(0o755)
        try:
            env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
            install = ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]
            result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
            if result.returncode:  # typically "Unable to locate package": no package lists yet
                subprocess.run(["apt-get", "update"], env=env, capture_output=True, text=True, timeout=600)
                result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
            if result.returncode:
                raise SlurmClusterError(f"{' '.join(install)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        finally:
            if created_policy:
                POLICY_RC.unlink()
        if not MUNGE_KEY.exists():  # the munge package creates it; a key removed since is made again
            subprocess.run(["mungekey", "--create", f"--keyfile={MUNGE_KEY}"], check=True, user="munge")

    def _check_ports(self) -> None:
        busy = [port for port in (CTLD_PORT, SLURMD_DEFAULT_PORT, *NODE_PORTS) if _port_in_use(port)]
        if busy:
            holders = {port: _port_holders(port) for port in busy}
            detail = "\n".join(f"  port {port}: {', '.join(h) or 'holder not found'}" for port, h in holders.items())
            raise SlurmClusterError(
                "Slurm ports are taken, probably by daemons left over from an earlier (crashed) test run or by "
                f"another test cluster running now; stop them by their PID:\n{detail}\n"
                f"(a crashed run also leaves the line {HOSTS_LINE!r} in {HOSTS_FILE}, and maybe its munged)"
            )

    def _write_config(self) -> None:
        """slurm.conf for nodes n1/n2 on localhost; the comments say why the non-default settings are there."""
        for sub in ("state", "spool", "log", "run"):
            (self.scratch / sub).mkdir(parents=True, exist_ok=True)
        probe = subprocess.check_output(["slurmd", "-C"], text=True)  # "NodeName=vm CPUs=2 ... RealMemory=24105"
        detected = dict(token.split("=", 1) for token in probe.split() if "=" in token)
        cpus = max(int(detected.get("CPUs", 1)), self.min_cpus)
        memory = int(detected.get("RealMemory", 1000))
        host = socket.gethostname().split(".")[0]
        s = self.scratch
        nodes = "\n".join(
            f"NodeName={name} NodeAddr=127.0.0.1 NodeHostname={host} Port={port} CPUs={cpus} RealMemory={memory} "
            "State=UNKNOWN"
            for name, port in zip(NODES, NODE_PORTS, strict=True)
        )
        self.conf.write_text(
            f"""\
ClusterName=cvrltest
MailProg=/bin/true
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={CTLD_PORT}
SlurmdPort={SLURMD_DEFAULT_PORT}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# Otherwise a requeued job may not start again for about 121 s (credential lifetime + 1).
AuthInfo=cred_expire=10
StateSaveLocation={s}/state
SlurmdSpoolDir={s}/spool/%n
SlurmctldPidFile={s}/run/slurmctld.pid
SlurmdPidFile={s}/run/slurmd-%n.pid
SlurmctldLogFile={s}/log/slurmctld.log
SlurmdLogFile={s}/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in a container: track processes by parent PID, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
# Backfill sometimes re-sent a timed SIGUSR1 the instant a requeued job restarted; builtin did not.
SchedulerType=sched/builtin
# The main scheduler runs on events (submit, job end) and every sched_interval s (default 60): a requeued job whose
# BeginTime (now + cred_expire) passes triggers no event, so without this it waits up to a minute more to restart.
SchedulerParameters=sched_interval=1
# A node that registers after a restart (or a crash of its slurmd) comes back idle.
ReturnToService=2
# Each node claims at least min_cpus CPUs, possibly more than the machine has: do not drain it for that.
SlurmdParameters=config_overrides
JobRequeue=1
# No accounting (no sacct): "scontrol show job" is the only record, and it forgets a job MinJobAge s after it ends.
MinJobAge=900
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Quick teardown and quick detection of a dead slurmd.
KillWait=5
SlurmdTimeout=30
InactiveLimit=0
{nodes}
PartitionName=debug Nodes={",".join(NODES)} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
"""
        )

    def _add_hosts_entry(self) -> None:
        """Make n1/n2 resolve (Lightning takes the rendezvous host from SLURM_NODELIST) while the cluster runs."""
        text = HOSTS_FILE.read_text()
        if HOSTS_LINE in text.splitlines():
            return  # already there (another cluster, or a crashed run): not ours to remove
        self._hosts_original = text
        sep = "" if not text or text.endswith("\n") else "\n"
        HOSTS_FILE.write_text(f"{text}{sep}{HOSTS_LINE}\n")  # in place: /etc/hosts may be a bind mount

    def _restore_hosts(self) -> None:
        if self._hosts_original is None:
            return
        text = HOSTS_FILE.read_text()
        sep = "" if not self._hosts_original or self._hosts_original.endswith("\n") else "\n"
        if text == f"{self._hosts_original}{sep}{HOSTS_LINE}\n":
            HOSTS_FILE.write_text(self._hosts_original)
        else:  # someone else edited it meanwhile: remove only our line
            lines = text.splitlines(keepends=True)
            with contextlib.suppress(ValueError):
                lines.pop(max(i for i, line in enumerate(lines) if line.rstrip("\n") == HOSTS_LINE))
            HOSTS_FILE.write_text("".join(lines))
        self._hosts_original = None

    def _munge_works(self) -> bool:
        """Whether a munged answers on the default socket (the one Slurm's auth/munge uses)."""
        try:
            return subprocess.run(["munge", "-n"], capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def _start_munge(self) -> None:
        if self._munge_works():
            return  # someone else's munged: use it, leave it running
        if not MUNGE_RUN_DIR.exists():  # /run is a fresh tmpfs without systemd's tmpfiles to create it
            MUNGE_RUN_DIR.mkdir(mode=0o755)
            shutil.chown(MUNGE_RUN_DIR, "munge", "munge")
            self._created_munge_run_dir = True
        # munged refuses to run as root; -F keeps it in the foreground so that the PID we hold is the daemon's.
        log = Path("/var/log/munge/munged.log")  # munged's default; the munge user cannot write in our scratch
        self._spawn("munged", ["munged", "-F"], log, user="munge", group="munge", extra_groups=[])
        self._wait_for(self._munge_works, "munged to answer")

    def _start_slurm(self) -> None:
        # -D: foreground, so the PIDs we hold are the daemons' own and we stop exactly them.
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)], self.log_dir / "slurmctld.log")
        for name in NODES:
            # -N picks this slurmd's NodeName (several slurmd per host: Debian's build has MULTIPLE_SLURMD).
            command = ["slurmd", "-D", "-f", str(self.conf), "-N", name]
            self._spawn(f"slurmd {name}", command, self.log_dir / f"slurmd-{name}.log")
        self._wait_for(self._nodes_idle, "both nodes to be idle in sinfo")

    def _nodes_idle(self) -> bool:
        result = self.run("sinfo", "-h", "-N", "-o", "%N %t", check=False, timeout=10)
        states = dict(line.split() for line in result.stdout.splitlines() if len(line.split()) == 2)
        return all(states.get(name) == "idle" for name in NODES)

    def _spawn(self, name: str, command: list[str], log: Path, **kwargs: object) -> None:
        """Start a daemon in the foreground; ``log`` is its log file, shown (with its stderr) when startup fails."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stderr = self.log_dir / f"{name.replace(' ', '-')}.stderr"
        with stderr.open("ab") as out:
            # Own session: a Ctrl-C on the test run reaches pytest only, which then stops the daemons in order.
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, **kwargs
            )
        self._daemons.append((name, process, [log, stderr]))

    def _wait_for(self, ready: Callable[[], bool], what: str) -> None:
        """Poll ``ready`` until true; raise with the daemons' log tails if one of them exits or time runs out."""
        deadline = time.monotonic() + self.start_timeout
        while not ready():
            dead = [(name, p.returncode) for name, p, _ in self._daemons if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                why = ", ".join(f"{name} exited {rc}" for name, rc in dead) or f"timed out after {self.start_timeout} s"
                raise SlurmClusterError(f"waiting for {what}: {why}\n{self._daemon_report()}")
            time.sleep(0.2)

    def _daemon_report(self) -> str:
        files = [path for _, _, logs in self._daemons for path in logs]
        return "".join(_tail(path, 20) for path in files if path.exists())

    def _stop(self) -> None:
        """Cancel jobs, stop the daemons we started (newest first, by PID), restore /etc/hosts. Idempotent."""
        with contextlib.suppress(Exception):
            atexit.unregister(self._stop)
        if self._started and all(p.poll() is None for _, p, _ in self._daemons):
            with contextlib.suppress(Exception):
                self.run("scancel", "--user=root", check=False, timeout=15)  # all jobs here are root's
                # Let slurmd's step daemons (slurmstepd, not ours to kill) end their jobs before slurmd goes.
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and self.run("squeue", "-h", check=False, timeout=10).stdout.strip():
                    time.sleep(0.2)
        self._started = False
        for _name, process, _log in reversed(self._daemons):
            if process.poll() is None:
                process.send_signal(signal_module.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        self._daemons.clear()
        if self._created_munge_run_dir:
            shutil.rmtree(MUNGE_RUN_DIR, ignore_errors=True)
            self._created_munge_run_dir = False
        self._restore_hosts()


def start_or_skip(scratch: Path) -> Iterator[SlurmCluster]:
    """Skip (fail under CI=true) where a cluster cannot run here; otherwise yield a started one."""
    reason = cluster_unavailable_reason()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Slurm test cluster unavailable under CI: {reason}")
        pytest.skip(reason)
    # Prerequisites are there: a cluster that fails to start is a failure (SlurmClusterError), never a skip.
    with SlurmCluster(scratch) as cluster:
        yield cluster
