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
    explicit `disable` would override, hence the check here. In a notebook every bar of a cell
    is drawn in one output (see _cell_slot)."""
    quiet = rank != 0 or os.environ.get("TQDM_DISABLE", "").lower() in {"1", "true", "yes"}
    if quiet or not _in_notebook():
        return tqdm(iterable, desc=desc, leave=False, disable=quiet, mininterval=0.5, **kwargs)
    bar = tqdm(iterable, desc=desc, leave=False, mininterval=0.5, display=False, **kwargs)
    _cell_slot(bar.container)
    return bar


def _in_notebook() -> bool:
    """tqdm.auto chose the widget bar: a Jupyter kernel with ipywidgets."""
    from tqdm.notebook import tqdm as widget_tqdm

    return issubclass(tqdm, widget_tqdm)


# The output the current cell's bars are drawn in: {execution count: its display handle}.
_SLOT: dict = {}


def _cell_slot(widget) -> None:
    """Show `widget` in the one output the current cell keeps for progress bars: the first bar
    opens it, each later bar replaces it. JupyterLab renders at most 50 outputs per cell (the
    rest behind "Show more outputs"), and a finished bar, even one that hides itself
    (leave=False), stays an output: a cell that trains and evaluates several runs would push
    its last lines (the reload check) out of sight with one output per bar."""
    from IPython import get_ipython
    from IPython.display import DisplayHandle

    cell = getattr(get_ipython(), "execution_count", None)   # the same for every call within one cell
    if cell not in _SLOT:
        _SLOT.clear()
        _SLOT[cell] = DisplayHandle()
        _SLOT[cell].display(widget)
    else:
        _SLOT[cell].update(widget)


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
