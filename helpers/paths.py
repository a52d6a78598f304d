"""Where runs write. Everything lives under the repository root (never the current directory,
which differs between a notebook and a shell); PEFT_STUDY_ROOT moves it, e.g. for tests."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def root() -> Path:
    return Path(os.environ.get("PEFT_STUDY_ROOT", REPO_ROOT))


def runs_dir(profile: str) -> Path:
    return root() / "runs" / profile


def results_dir(profile: str) -> Path:
    return runs_dir(profile) / "results"


def history_dir(profile: str) -> Path:
    return runs_dir(profile) / "history"


def cache_dir(profile: str) -> Path:
    return runs_dir(profile) / "cache"


def checkpoint_dir(profile: str, run_id: str) -> Path:
    return runs_dir(profile) / "checkpoints" / run_id


def weights_dir(profile: str) -> Path:
    return root() / "weights" / profile


def report_dir(profile: str) -> Path:
    return root() / "report" / profile
