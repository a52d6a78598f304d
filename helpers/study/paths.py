"""Where runs write. Everything lives under the repository root (never the current directory,
which differs between a notebook and a shell); PEFT_STUDY_ROOT moves it (a Drive folder in
Colab, a scratch disk on a cluster, a temporary folder in tests)."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parents[2]


def root() -> Path:
    return Path(os.environ.get("PEFT_STUDY_ROOT", REPO_ROOT))


def use_output_dir(path: str | os.PathLike | None) -> None:
    """Send runs/, weights/ and report/ to `path` for this process and the ones it starts (a
    notebook's `output_dir` parameter: in Colab a Drive folder survives a disconnect). None
    leaves them where they are."""
    if path:
        folder = Path(path).expanduser().resolve()
        folder.mkdir(parents=True, exist_ok=True)
        os.environ["PEFT_STUDY_ROOT"] = str(folder)


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


def cached_folder(folder: Path, fingerprint: dict, build: Callable[[Path], None]) -> Path:
    """`folder`, built once by `build(empty_folder)` and reused while its stamp equals `fingerprint`.
    The stamp is written last and the folder swapped in whole, so a killed build is never half-used."""
    stamp = folder / "build.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == fingerprint:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent))
    build(tmp)
    (tmp / "build.json").write_text(json.dumps(fingerprint))
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder
