"""Where and how training runs: the accelerator (device, bf16, several processes), one
progress-bar style, and SIGTERM turned into a clean stop."""
from __future__ import annotations

import os
import signal
import warnings

import torch
from tqdm.auto import tqdm

# torch's own choice (all cores, or OMP_NUM_THREADS), before any profile changed it.
DEFAULT_THREADS = torch.get_num_threads()


def native_bf16() -> bool:
    """Does this machine's GPU compute in bf16 natively? Ampere (compute capability 8.0) and later
    do. `torch.cuda.is_bf16_supported()` is no guide: in torch 2.13 it also counts the emulation
    that a T4 (7.5) or a V100 (7.0) would run, slower than their own fp32."""
    return torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 0)


def resolve_precision(precision: str = "auto") -> str:
    """"bf16" or "fp32": what the `precision` setting means on this machine. `auto` is bf16 only
    on a GPU that computes it natively, fp32 elsewhere (CPU, T4, V100); `bf16` on a CPU is
    accelerate's CPU autocast, so the bf16 path can be run and tested without a GPU. The one
    place where the choice is made: training (make_accelerator) and the bench both ask here."""
    from helpers.study.settings import check_precision

    check_precision(precision)
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    if precision == "bf16" and torch.cuda.is_available() and not native_bf16():
        warnings.warn(f"precision=bf16 on {torch.cuda.get_device_name()} (compute capability "
                      f"{torch.cuda.get_device_capability()}): emulated, slower than fp32; precision=auto picks fp32")
    return precision


def make_accelerator(profile: str | None = None, precision: str = "auto"):
    """The accelerator for a run, and torch's CPU threads for it: the profile's `threads`, or torch's
    default (so that a tiny run earlier in the same process does not leave a real run on one)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    from helpers.study.settings import PROFILES

    torch.set_num_threads((PROFILES[profile].threads if profile else None) or DEFAULT_THREADS)
    mixed = "bf16" if resolve_precision(precision) == "bf16" else "no"
    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision") != mixed and not torch.distributed.is_initialized():
        # accelerate keeps one precision per process and refuses another; a single process (a
        # notebook kernel, the gpu-check) may run one precision after the other, so start afresh.
        AcceleratorState._reset_state()
    # cpu=True without a GPU: only then does accelerate join torchrun's processes with gloo;
    # otherwise each process would silently train alone on all the data.
    return Accelerator(mixed_precision=mixed, cpu=not torch.cuda.is_available())


def precision_name(accelerator) -> str:
    """"bf16" or "fp32": the precision `accelerator` trains in (recorded in results files)."""
    return "bf16" if accelerator.mixed_precision == "bf16" else "fp32"


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
