"""Where the model and the data come from, checked before any work starts: a wrong path or a
missing network is one clear line within seconds, not a failure halfway through a run, and an
unreachable hub fails fast instead of hanging on retries."""
from __future__ import annotations

import json
import os
import socket
from functools import lru_cache
from pathlib import Path

from helpers import UserError

HUB_HOST = "huggingface.co"


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def check_model_folder(folder: str, what: str) -> None:
    """A saved T5: a folder whose config.json says model_type t5 (the tiny one, t5-base, FLAN-T5 ...)."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise UserError(f"{what}={folder} is not a folder; point it at a folder written by save_pretrained "
                        "(e.g. a local copy of t5-small), or name a hub checkpoint such as t5-base")
    config = path / "config.json"
    if not config.is_file():
        raise UserError(f"{what}={folder} holds no config.json; point it at a folder written by save_pretrained")
    kind = json.loads(config.read_text()).get("model_type")
    if kind != "t5":
        raise UserError(f"{what}={folder} is a {kind!r} model, not T5; the study's methods are written for T5")


def check_sources(profile: str, model: str | None = None) -> None:
    """The profile's data and `model` (default: the profile's own) can be had, or one clear line."""
    from helpers.study.paths import is_model_folder
    from helpers.study.settings import PROFILES

    chosen = PROFILES[profile]
    model = model or chosen.model
    if model != "tiny" and is_model_folder(model):
        check_model_folder(model, "model")
    paths = {"MODEL_PATH": os.environ.get("MODEL_PATH") if model != "tiny" and not is_model_folder(model) else None,
             "DATA_PATH": os.environ.get("DATA_PATH") if chosen.data != "synthetic" else None}
    for name, value in paths.items():
        if value and not Path(value).exists():
            raise UserError(f"{name}={value} does not exist; fix the path, or unset {name} to download from the hub")
    hub_model = model != "tiny" and not is_model_folder(model)
    missing = [name for name, value in paths.items() if not value and (hub_model if name == "MODEL_PATH"
                                                                       else chosen.data != "synthetic")]
    if missing and not hub_reachable():
        _refuse_offline(missing, model, profile)


def _refuse_offline(missing: list[str], model: str, profile: str) -> None:
    from helpers.study.t5_shapes import known_shape

    if "MODEL_PATH" in missing and known_shape(model) is None:
        raise UserError(f"model {model!r} is neither a local folder nor a known T5 checkpoint, and the Hugging Face "
                        "hub is unreachable to look it up; pass a folder written by save_pretrained (--set model=PATH) "
                        "or a hub name such as t5-base where the hub can be reached")
    if missing:
        needs = " and ".join(f"{n} ({model if n == 'MODEL_PATH' else 'IMDB'})" for n in missing)
        offline = ("pass a saved folder instead (--set model=PATH)" if profile == "tiny"
                   else "or use --profile tiny (notebooks: profile = \"tiny\") to run offline")
        raise UserError(f"the Hugging Face hub is unreachable and {needs} {'is' if len(missing) == 1 else 'are'} not set; "
                        f"set {'it' if len(missing) == 1 else 'them'} to local copies, {offline}")
