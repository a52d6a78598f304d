"""One progress-bar style for training and evaluation. Only the first process draws, and
TQDM_DISABLE=1 silences bars (tests, logs) because an explicit `disable` would override it."""
from __future__ import annotations

import os

from tqdm.auto import tqdm


def progress(iterable, desc: str, rank: int = 0, **kwargs):
    quiet = rank != 0 or os.environ.get("TQDM_DISABLE", "").lower() in {"1", "true", "yes"}
    return tqdm(iterable, desc=desc, leave=False, disable=quiet, mininterval=0.5, **kwargs)
