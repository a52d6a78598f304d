"""Where a student's code runs: one process per notebook inside bubblewrap (`bwrap`), which sees
the system and the Python installation read-only, one private writable folder (the grading
folder, at /grading), no network (a network namespace of its own, loopback included), no other
process (a PID namespace: when its first process ends, the kernel kills every process it left,
daemons in their own session included), none of the grader's files but answer.py, and neither
the libraries that would do the work (peft, adapters, opendelta) nor helpers' solutions.

Limits: wall time (the grader kills it), CPU time, address space per process, number of
processes, size of any file written; where this machine lets the grader make a cgroup (root),
also the memory and number of processes of the whole sandbox together. As root the sandbox
drops to the unprivileged user `nobody` before any student code runs (root is exempt from the
process limit). Without bubblewrap the grader refuses, unless told `--no-sandbox`."""
from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

ANSWER_SCRIPT = Path(__file__).with_name("answer.py")
INSIDE = "/grading"                                            # the grading folder, as the sandbox sees it
HIDDEN_PACKAGES = ("peft", "adapters", "opendelta", "helpers")  # site-packages entries the sandbox never sees
NO_SANDBOX_HINT = "grade with --no-sandbox if you accept running students' code with your own rights"
INSTALL_HINT = f"install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap), or {NO_SANDBOX_HINT}"


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 300.0         # a solution grades in well under a minute on 2 cores
    memory_bytes: int = 3 << 30         # 3 GiB: the whole sandbox (cgroup), else each process's address space
    processes: int = 64                 # processes and threads together
    file_bytes: int = 64 << 20          # the largest file it may write (answers are well under 1 MiB)

    def describe(self, whole_sandbox: bool) -> str:
        scope = "the whole sandbox" if whole_sandbox else "per process (address space)"
        return (f"wall {self.wall_seconds:g} s, CPU {self.wall_seconds:g} s, memory {self.memory_bytes / 2**30:g} GiB "
                f"{scope}, {self.processes} processes, files {self.file_bytes >> 20} MiB")


@dataclass
class Outcome:
    stopped: str        # '' when the process ended by itself with status 0, else why it did not
    seconds: float
    whole_sandbox_limits: bool


def sandbox_problem() -> str | None:
    """None where bubblewrap runs here, else one line saying what to install or enable."""
    if not shutil.which("bwrap"):
        return f"no sandbox: bubblewrap is not installed; {INSTALL_HINT}"
    probe = subprocess.run(["bwrap", *_system_mounts(), *_namespaces(), "--", "/bin/true" if os.path.exists("/bin/true")
                            else "/usr/bin/true"], capture_output=True, text=True)
    if probe.returncode:
        why = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return (f"no sandbox: bubblewrap is installed but cannot start here ({why}); user namespaces may be disabled "
                f"(sysctl kernel.unprivileged_userns_clone=1), or {NO_SANDBOX_HINT}")
    return None


def _system_mounts() -> list[str]:
    """The system, read-only: /usr and the top-level links or folders into it, nothing of /home,
    /root, /tmp or /work."""
    args = ["--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def _namespaces() -> list[str]:
    # As root no user namespace: the sandbox's first process keeps only the right to become
    # nobody (answer.py does that first). As a user, bwrap needs a user namespace of its own.
    common = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
              "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if os.geteuid() == 0:
        return common + ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return ["--unshare-user", *common]


def _readable_parents(paths) -> list[str]:
    """Folders above the bound paths, made traversable: bwrap would make them 0700 (root's), which
    nobody cannot enter."""
    args, made = [], set()
    for path in paths:
        for parent in reversed(Path(path).parents[:-1]):
            if str(parent) not in made:
                made.add(str(parent))
                args += ["--perms", "0755", "--dir", str(parent)]
    return args


def _python_mounts() -> list[str]:
    """The interpreter and the virtual environment read-only, with the hidden packages covered by
    empty folders (so their files cannot be read or imported, whatever a cell does)."""
    prefixes = list(dict.fromkeys((sys.base_prefix, sys.prefix)))
    args = _readable_parents(prefixes)
    for prefix in prefixes:
        args += ["--ro-bind", prefix, prefix]
    site = Path(sysconfig.get_paths()["purelib"])
    for name in HIDDEN_PACKAGES:
        for entry in [site / name, *site.glob(f"{name}-*.dist-info")]:
            if entry.is_dir():
                args += ["--tmpfs", str(entry)]
    return args


def bwrap_command(folder: Path) -> list[str]:
    environment = _environment(INSIDE)
    args = ["bwrap", *_system_mounts(), *_python_mounts(), "--bind", str(folder), INSIDE,
            "--perms", "0755", "--dir", "/grader",
            "--ro-bind", str(ANSWER_SCRIPT), "/grader/answer.py", "--clearenv"]
    for key, value in environment.items():
        args += ["--setenv", key, value]
    return [*args, *_namespaces(), "--", sys.executable, "-s", "/grader/answer.py", INSIDE]


def _processes_of(uid: int) -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        try:
            count += entry.name.isdigit() and entry.stat().st_uid == uid
        except OSError:
            pass
    return count


def _rlimits(limits: Limits) -> None:
    """In the child, before bwrap starts: limits every process of the sandbox inherits."""
    seconds = int(limits.wall_seconds) + 1
    # RLIMIT_NPROC counts the user's processes everywhere: as a user (not root, which becomes nobody
    # inside), leave room for the ones already running.
    processes = limits.processes + (0 if os.geteuid() == 0 else _processes_of(os.getuid()))
    for kind, value in ((resource.RLIMIT_CPU, seconds), (resource.RLIMIT_AS, limits.memory_bytes),
                        (resource.RLIMIT_NPROC, processes), (resource.RLIMIT_FSIZE, limits.file_bytes),
                        (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, 256)):
        resource.setrlimit(kind, (value, value))


def prepare_folder(folder: Path) -> None:
    """The grading folder is the sandbox's only writable place; as root, it belongs to nobody."""
    for sub in ("answers", "tmp"):
        (folder / sub).mkdir(exist_ok=True)
    if os.geteuid() == 0:
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, 65534, 65534, follow_symlinks=False)


def run(folder: Path, limits: Limits, sandboxed: bool = True, log: Path | None = None) -> Outcome:
    """Run answer.py on `folder` with the limits; every process it started is gone on return."""
    from helpers.teaching.cgroup import SandboxCgroup

    prepare_folder(folder)
    if sandboxed:   # bwrap clears the environment and sets the runner's inside
        command, environment = bwrap_command(folder), {"PATH": "/usr/bin:/bin"}
    else:   # the TA chose it: a separate process with the same limits, but no isolation
        command = [sys.executable, "-s", str(ANSWER_SCRIPT), str(folder)]
        environment = {**_environment(str(folder)), "PEFT_GRADE_UNSANDBOXED": "1"}
    cgroup = SandboxCgroup.create(limits.memory_bytes, limits.processes)
    started = time.perf_counter()
    with open(log or os.devnull, "wb") as output:
        def child_setup():
            _rlimits(limits)
            if cgroup:
                cgroup.join()

        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                                   cwd=folder, env=environment,
                                   preexec_fn=child_setup, start_new_session=True)
        stopped = _wait(process, limits.wall_seconds)
    if cgroup:
        cgroup.remove()
    return Outcome(stopped, time.perf_counter() - started, cgroup is not None)


def _environment(folder: str) -> dict:
    """The runner's whole environment (nothing of the TA's), with `folder` as its home."""
    return {"HOME": folder, "TMPDIR": f"{folder}/tmp", "PYTHONPATH": f"{folder}/lib", "PATH": "/usr/bin:/bin",
            "PYTHONDONTWRITEBYTECODE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "TQDM_DISABLE": "1"}


def _wait(process: subprocess.Popen, wall_seconds: float) -> str:
    try:
        status = process.wait(timeout=wall_seconds)
    except subprocess.TimeoutExpired:
        status = None
    # Whatever happened, the whole process group goes (in the sandbox the PID namespace takes the rest).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    if status is None:
        return f"stopped at the time limit ({wall_seconds:g} s): the notebook's code did not finish"
    if status < 0:
        name = signal.Signals(-status).name
        hint = {"SIGXCPU": ": the CPU time limit", "SIGKILL": ": killed, e.g. at the memory limit"}.get(name, "")
        return f"the grading process was stopped by {name}{hint}"
    return f"the grading process exited with status {status} before answering" if status else ""
