"""Where the model and the data come from, checked before any work starts: a wrong path or a
missing network is one clear line within seconds, not a failure halfway through a run, and an
unreachable hub fails fast instead of hanging on retries."""
from __future__ import annotations

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


def check_sources(profile: str) -> None:
    from helpers.study.settings import PROFILES

    chosen = PROFILES[profile]
    if chosen.model == "tiny":
        return   # built offline
    paths = {"MODEL_PATH": os.environ.get("MODEL_PATH"), "DATA_PATH": os.environ.get("DATA_PATH")}
    for name, value in paths.items():
        if value and not Path(value).exists():
            raise UserError(f"{name}={value} does not exist; fix the path, or unset {name} to download from the hub")
    missing = [name for name, value in paths.items() if not value]
    if missing and not hub_reachable():
        needs = " and ".join(f"{n} ({'t5-small' if n == 'MODEL_PATH' else 'IMDB'})" for n in missing)
        raise UserError(f"the Hugging Face hub is unreachable and {needs} {'is' if len(missing) == 1 else 'are'} not set; "
                        "set them to local copies, or use --profile tiny (notebooks: profile = \"tiny\") to run offline")
