"""Results files: one JSON per run, never silently overwritten (the previous one moves to
runs/<profile>/history/), with the versions, device and commit that produced it."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

from helpers.study.paths import REPO_ROOT, history_dir, results_dir

PACKAGES = ("torch", "transformers", "peft", "adapters", "opendelta", "datasets", "accelerate", "tokenizers")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def device_description() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    return f"cpu: {os.cpu_count()} cores ({platform.machine()}), {torch.get_num_threads()} torch thread(s)"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return (out.stdout.strip() + ("+dirty" if dirty else "")) or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def results_path(profile: str, run_id: str, model: str | None = None) -> Path:
    return results_dir(profile, model) / f"{run_id}.json"


def write_results(profile: str, run_id: str, record: dict, model: str | None = None) -> Path:
    path = results_path(profile, run_id, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(path.stat().st_mtime))
        archive = history_dir(profile, model) / f"{run_id}-{stamp}.json"
        archive.parent.mkdir(parents=True, exist_ok=True)
        counter = 1
        while archive.exists():
            archive = archive.with_name(f"{run_id}-{stamp}-{counter}.json")
            counter += 1
        path.replace(archive)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(path)
    return path
