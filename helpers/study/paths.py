"""Where runs write. Everything lives under the repository root (never the current directory,
which differs between a notebook and a shell); PEFT_STUDY_ROOT moves it (a Drive folder in
Colab, a scratch disk on a cluster, a temporary folder in tests)."""
from __future__ import annotations

import hashlib
import json
import os
import re
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


def is_model_folder(model: str) -> bool:
    """A `model` setting that names a local folder rather than a hub checkpoint."""
    return model.startswith(("/", ".", "~")) or Path(model).expanduser().is_dir()


def model_folder(profile: str, model: str | None = None) -> Path:
    """Empty for the profile's own model (t5-small on full), whose paths stay runs/<profile>/results/...;
    models/<name>/ for any other, so the results of different models never overwrite each other.
    A local folder is named by its last part and a hash of its full path (two `model/` differ)."""
    from helpers.study.settings import PROFILES

    if not model or (profile in PROFILES and model == PROFILES[profile].model):
        return Path()
    if is_model_folder(model):
        full = str(Path(model).expanduser().resolve())
        name = f"{Path(full).name}-{hashlib.sha1(full.encode()).hexdigest()[:8]}"
    else:
        name = model.replace("/", "--")   # google/flan-t5-base -> google--flan-t5-base, as the hub cache does
    return Path("models") / re.sub(r"[^A-Za-z0-9._-]", "_", name)


def runs_dir(profile: str, model: str | None = None) -> Path:
    return root() / "runs" / profile / model_folder(profile, model)


def results_dir(profile: str, model: str | None = None) -> Path:
    return runs_dir(profile, model) / "results"


def history_dir(profile: str, model: str | None = None) -> Path:
    return runs_dir(profile, model) / "history"


def cache_dir(profile: str) -> Path:
    return runs_dir(profile) / "cache"   # shared by the models: token caches are keyed by tokenizer


def checkpoint_dir(profile: str, run_id: str, model: str | None = None) -> Path:
    return runs_dir(profile, model) / "checkpoints" / run_id


def weights_dir(profile: str, model: str | None = None) -> Path:
    return root() / "weights" / profile / model_folder(profile, model)


def report_dir(profile: str, model: str | None = None) -> Path:
    return root() / "report" / profile / model_folder(profile, model)


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
