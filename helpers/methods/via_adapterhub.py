"""The bottleneck adapter through AdapterHub's `adapters` (SeqBn), placed, activated and
initialised as its from-scratch twin, with the library's quirks handled narrowly."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

from torch import nn

from helpers.methods.weights import folder_bytes, require_folder

ADAPTER_NAME = "sentiment"

# adapters 1.3.0's T5 code still passes `past_key_value` (deprecated for transformers 4.58);
# harmless on the pinned 4.57.6, and repeated on every forward otherwise.
warnings.filterwarnings("ignore", message="`past_key_value` is deprecated", category=FutureWarning)


def seq_bn_config(d_model: int, bottleneck: int):
    """SeqBn after each feed-forward sublayer, ReLU, and the scratch twin's init (W_down
    kaiming-uniform, W_up = 0: the identity at start); the library's default "bert" is not."""
    from adapters import SeqBnConfig

    return SeqBnConfig(reduction_factor=d_model / bottleneck, non_linearity="relu", init_weights="mam_adapter")


def train_adapter(model: nn.Module, name: str = ADAPTER_NAME) -> nn.Module:
    """`model.train_adapter(name)` without its false alarm: it warns "There are adapters
    available but none are activated" although it activates the adapter itself."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="There are adapters available but none are activated")
        logging.getLogger("adapters").setLevel(logging.ERROR)
        model.train_adapter(name)
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
