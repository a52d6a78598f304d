"""A cgroup for one sandbox, where this machine lets the grader make one (as root, cgroup v1 or
v2): the memory and the number of processes of all the sandbox's processes together, which
per-process limits cannot bound (many processes, each under its own limit). Elsewhere None, and
the sandbox keeps its per-process limits only (the grade table says which)."""
from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def _own_path(controller: str) -> str | None:
    """This process's cgroup path for a v1 controller ('memory'), or for v2 (controller '')."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if (controller and controller in names.split(",")) or (not controller and names == ""):
            return path
    return None


class SandboxCgroup:
    def __init__(self, folders: list[Path]):
        self.folders = folders

    @classmethod
    def create(cls, memory_bytes: int, processes: int) -> SandboxCgroup | None:
        if os.geteuid() != 0:
            return None
        name = f"peft-grade-{uuid.uuid4().hex[:12]}"
        for make in (cls._v2, cls._v1):
            with contextlib.suppress(OSError, TypeError):
                made = make(name, memory_bytes, processes)
                if made:
                    return made
        return None

    @classmethod
    def _v2(cls, name, memory_bytes, processes):
        if not (ROOT / "cgroup.controllers").exists():
            return None
        folder = ROOT / _own_path("").lstrip("/") / name
        folder.mkdir()
        made = cls([folder])
        try:
            (folder / "memory.max").write_text(str(memory_bytes))
            (folder / "memory.swap.max").write_text("0")
            (folder / "pids.max").write_text(str(processes))
        except OSError:
            made.remove()
            raise
        return made

    @classmethod
    def _v1(cls, name, memory_bytes, processes):
        memory = ROOT / "memory" / _own_path("memory").lstrip("/") / name
        pids = ROOT / "pids" / _own_path("pids").lstrip("/") / name
        made = cls([])
        try:
            for folder in (memory, pids):
                folder.mkdir()
                made.folders.append(folder)
            (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):   # where swap accounting exists, no swap either
                (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
            (pids / "pids.max").write_text(str(processes))
        except OSError:
            made.remove()
            raise
        return made

    def join(self) -> None:
        """Called in the child before it starts the sandbox: it and all it starts are counted."""
        for folder in self.folders:
            (folder / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        """After the sandbox is gone (a cgroup with a live process cannot be removed)."""
        for folder in reversed(self.folders):
            with contextlib.suppress(OSError):
                folder.rmdir()
