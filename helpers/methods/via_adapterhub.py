"""The bottleneck adapter through AdapterHub's `adapters` (SeqBn), placed, activated and
initialised as its from-scratch twin, with the library's quirks handled narrowly."""
from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

from torch import nn

from helpers.methods.weights import folder_bytes, require_folder

ADAPTER_NAME = "sentiment"

# adapters 1.3.0's T5 code still passes `past_key_value` (deprecated for transformers 4.58);
# harmless on the pinned 4.57.6, and repeated on every forward otherwise.
warnings.filterwarnings("ignore", message="`past_key_value` is deprecated", category=FutureWarning)


class _ResetFalseAlarm(logging.Filter):
    """adapters 1.3.0's `set_active_adapters` first calls `reset_adapter`, which opens a forward
    context while no adapter is active yet, so it logs "There are adapters available but none are
    activated for the forward pass" although no forward pass runs and the call is activating one.
    Only that record is dropped: the same warning from a real forward pass still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("There are adapters available but none are activated"):
            return True
        frame = sys._getframe()
        while frame is not None and frame.f_code.co_name != "reset_adapter":
            frame = frame.f_back
        return frame is None


logging.getLogger("adapters.model_mixin").addFilter(_ResetFalseAlarm())


def seq_bn_config(d_model: int, bottleneck: int):
    """SeqBn after each feed-forward sublayer, ReLU, and the scratch twin's init (W_down
    kaiming-uniform, W_up = 0: the identity at start); the library's default "bert" is not."""
    from adapters import SeqBnConfig

    return SeqBnConfig(reduction_factor=d_model / bottleneck, non_linearity="relu", init_weights="mam_adapter")


def train_adapter(model: nn.Module, name: str = ADAPTER_NAME) -> nn.Module:
    """`model.train_adapter(name)` without its false alarm: it warns "There are adapters
    available but none are activated" although it activates the adapter itself. The adapters
    logger is quiet only meanwhile, so a real inactive forward pass later still warns."""
    logger = logging.getLogger("adapters")
    level = logger.level
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="There are adapters available but none are activated")
        logger.setLevel(logging.ERROR)
        try:
            model.train_adapter(name)
        finally:
            logger.setLevel(level)
    return model


def save(model: nn.Module, path: Path) -> int:
    model.save_adapter(str(path), ADAPTER_NAME, with_head=False)   # with_head=True adds a 66 MB LM head
    return folder_bytes(path)


def load(backbone: nn.Module, path: Path) -> nn.Module:
    import adapters

    require_folder(path)
    adapters.init(backbone)
    name = backbone.load_adapter(str(path), with_head=False)
    backbone.set_active_adapters(name)   # load_adapter alone leaves it inactive
    return backbone
