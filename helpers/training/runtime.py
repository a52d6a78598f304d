"""Where and how training runs: the accelerator (device, bf16, several processes), one
progress-bar style, and SIGTERM turned into a clean stop."""
from __future__ import annotations

import os
import signal

import torch
from tqdm.auto import tqdm

# torch's own choice (all cores, or OMP_NUM_THREADS), before any profile changed it.
DEFAULT_THREADS = torch.get_num_threads()


def make_accelerator(profile: str | None = None):
    """The accelerator for a run, and torch's CPU threads for it: the profile's `threads`, or torch's
    default (so that a tiny run earlier in the same process does not leave a real run on one)."""
    from accelerate import Accelerator

    from helpers.study.settings import PROFILES

    torch.set_num_threads((PROFILES[profile].threads if profile else None) or DEFAULT_THREADS)
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    # cpu=True without a GPU: only then does accelerate join torchrun's processes with gloo;
    # otherwise each process would silently train alone on all the data.
    return Accelerator(mixed_precision="bf16" if bf16 else "no", cpu=not cuda)


def progress(iterable, desc: str, rank: int = 0, **kwargs):
    """Only the first process draws; TQDM_DISABLE=1 silences bars (tests, logs), which an
    explicit `disable` would override, hence the check here."""
    quiet = rank != 0 or os.environ.get("TQDM_DISABLE", "").lower() in {"1", "true", "yes"}
    return tqdm(iterable, desc=desc, leave=False, disable=quiet, mininterval=0.5, **kwargs)


class StopRequested:
    """SIGTERM finishes nothing half-way: the epoch in flight is abandoned, checkpoints stay."""

    def __enter__(self):
        self.previous = signal.getsignal(signal.SIGTERM)
        try:
            signal.signal(signal.SIGTERM, self._raise)
        except ValueError:   # not the main thread (e.g. some notebook front ends): keep defaults
            self.previous = None
        return self

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False
