"""OpenDelta's SoftPromptModel (notebook 02) and BitFitModel (notebook 06), with the library's
quirks handled narrowly: the import shim, BitFit's crash on bias-less layers, the in-place mask
extension, `freeze_module`'s state_dict patch, the chatter. The only module that imports opendelta."""
from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from helpers.methods.inject import kept_in_place
from helpers.methods.weights import copy_matching, folder_bytes, require_folder


def import_opendelta():
    """opendelta 0.3.2 imports `transformers.deepspeed`, which moved to
    `transformers.integrations.deepspeed` in transformers 4.46; alias it before the import
    (upstream never merged a fix)."""
    if "transformers.deepspeed" not in sys.modules:
        import transformers.integrations.deepspeed as moved
        sys.modules["transformers.deepspeed"] = moved
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # DeltaCenter's pkg_resources deprecation notice
        import opendelta
    # Each opendelta module makes its own INFO-level logger at import; quiet them all at once.
    for name in list(logging.Logger.manager.loggerDict):
        if name.lower().startswith(("opendelta", "deltacenter")):
            logging.getLogger(name).setLevel(logging.WARNING)
    _let_bitfit_add_biases()
    return opendelta


def _let_bitfit_add_biases() -> None:
    """BitFitModel crashes on T5 (opendelta 0.3.2): for a linear without a bias it calls
    `_reset_bias_parameters(module)` before registering the new bias, so `init.uniform_(None)`
    raises. Skip that call while the bias is missing; `bitfit_model` sets the new biases itself."""
    from opendelta.delta_models.bitfit import BitFitModel

    original = BitFitModel.__dict__["_reset_bias_parameters"].__func__
    if getattr(original, "shimmed", False):
        return

    def reset_existing_bias(module):
        if module.bias is not None:
            original(module)

    reset_existing_bias.shimmed = True
    BitFitModel._reset_bias_parameters = staticmethod(reset_existing_bias)


def quietly(function, *args, **kwargs):
    """OpenDelta prints a rich table and banners on every call; keep notebooks readable."""
    logging.getLogger("opendelta").setLevel(logging.WARNING)
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args, **kwargs)


class OpenDeltaModel(nn.Module):
    """A backbone carrying an OpenDelta delta; the delta object is kept for `save_finetuned`."""

    def __init__(self, backbone: nn.Module, delta):
        super().__init__()
        self.backbone = backbone
        self.config = backbone.config
        self.__dict__["delta"] = delta   # not a submodule: its parameters live inside the backbone

    def forward(self, input_ids, attention_mask, **kwargs):
        return self.backbone(input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    @torch.no_grad()
    def generate(self, input_ids, attention_mask, **kwargs):
        return self.backbone.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)


class OpenDeltaPrompt(OpenDeltaModel):
    """SoftPromptModel's hook extends attention_mask IN PLACE (the decoder's cross-attention then
    sees the longer mask): a clone keeps the caller's batch unchanged."""

    def forward(self, input_ids, attention_mask, **kwargs):
        return super().forward(input_ids, attention_mask.clone(), **kwargs)

    @torch.no_grad()
    def generate(self, input_ids, attention_mask, **kwargs):
        return super().generate(input_ids, attention_mask.clone(), **kwargs)


def set_initial_prompt(delta, initial: torch.Tensor) -> None:
    """Our initial prompt (sampled real tokens) in place of OpenDelta's: with token_init=True it
    would copy the embeddings of ids 0..n-1, i.e. <pad>, </s>, <unk>, ..."""
    module = delta.delta_modules[0]
    if not isinstance(module.soft_embeds, nn.Parameter):
        # OpenDelta makes it `nn.Parameter(...).to(device)`: on the meta device (parameter tables of
        # large checkpoints) `.to` returns a plain tensor, and the prompt would not be a parameter.
        module.soft_embeds = nn.Parameter(module.soft_embeds)
        module.soft_embeds._is_delta = True   # OpenDelta's mark_as_delta, which freeze_module spares
    with torch.no_grad():
        module.soft_embeds.copy_(initial)


def freeze_all_but_prompt(delta) -> None:
    """Only the soft prompt trains. set_state_dict=False: the default patches the backbone's
    state_dict() to return only the deltas, after which save_pretrained silently writes an
    incomplete model."""
    quietly(delta.freeze_module, exclude=["deltas"], set_state_dict=False)


@contextlib.contextmanager
def ids_follow_embedding(embedding: nn.Embedding):
    """SoftPromptLayer reads the embedding width with `raw_embedding(torch.tensor([0]))`, a CPU
    index, which fails on a backbone on a GPU: while it is built, indices move to the weights."""
    hook = embedding.register_forward_pre_hook(lambda module, args: (args[0].to(module.weight.device),))
    try:
        yield
    finally:
        hook.remove()


def soft_prompt_model(backbone: nn.Module, n_tokens: int, initial: torch.Tensor) -> OpenDeltaPrompt:
    """The calls notebook 02 makes, in its order: SoftPromptModel, our init, freeze, mask guard."""
    opendelta = import_opendelta()
    with ids_follow_embedding(backbone.get_input_embeddings()):
        delta = opendelta.SoftPromptModel(backbone, soft_token_num=n_tokens, token_init=False)
    set_initial_prompt(delta, initial)
    freeze_all_but_prompt(delta)
    return OpenDeltaPrompt(backbone, delta)


def bitfit_model(backbone: nn.Module) -> OpenDeltaModel:
    """BitFitModel on the scratch twin's linears (q, k, v, o of every attention module, wi and wo),
    with the added biases zero as there. Its default modules would skip cross-attention and hook
    lazily created biases onto T5's layer norms, which appear only at the first forward pass."""
    import_opendelta()   # the shims first: the transformers.deepspeed alias, the bias fix
    from opendelta.delta_models.bitfit import BitFitModel

    with kept_in_place(backbone):   # BitFitModel creates the new biases on the CPU
        delta = quietly(BitFitModel, backbone, modified_modules=["q", "k", "v", "o", "wi", "wi_0", "wi_1", "wo"])
        with torch.no_grad():
            for bias in delta.delta_params:
                bias.zero_()
        quietly(delta.freeze_module, exclude=["deltas"], set_state_dict=False)
    return OpenDeltaModel(backbone, delta)


def save(model: OpenDeltaModel, path: Path) -> int:
    state = {n.removeprefix("backbone."): p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad}
    quietly(model.delta.save_finetuned, str(path), state_dict=state)
    return folder_bytes(path)


def load(model: OpenDeltaModel, path: Path) -> OpenDeltaModel:
    """Copy saved delta tensors into a freshly built OpenDeltaModel."""
    require_folder(path)
    files = list(Path(path).glob("*.bin")) + list(Path(path).glob("*.pt"))
    state = torch.load(files[0], weights_only=True, map_location="cpu")
    copy_matching(model.backbone, state, path)
    return model
