"""Fail fast when the Hugging Face hub cannot be reached, instead of hanging on retries."""
from __future__ import annotations

import os
import socket
from functools import lru_cache

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
