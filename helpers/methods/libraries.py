"""The same three methods through their libraries: OpenDelta (soft prompt), AdapterHub's
`adapters` (SeqBn bottleneck adapter) and PEFT (LoRA). Each shares its from-scratch twin's
placement and initialisation, so the two rows of a pair differ only in implementation; the
equivalence tests prove it on identical weights. Library quirks are handled here, narrowly."""
from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from ..build import Implementation, prompt_init
from ..errors import UserError

ADAPTER_NAME = "sentiment"


# ------------------------------------------------------------------------------ OpenDelta

def import_opendelta():
    """opendelta 0.3.2 imports `transformers.deepspeed`, which moved to
    `transformers.integrations.deepspeed` in transformers 4.46; alias it before the import
    (upstream never merged a fix). The only place that imports opendelta."""
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
    return opendelta


class OpenDeltaPrompt(nn.Module):
    """A backbone carrying OpenDelta's SoftPromptModel, with the caller's mask protected."""

    def __init__(self, backbone: nn.Module, delta):
        super().__init__()
        self.backbone = backbone
        self.config = backbone.config
        self.__dict__["delta"] = delta   # not a submodule: its parameters live inside the backbone

    def forward(self, input_ids, attention_mask, **kwargs):
        # OpenDelta's hook extends attention_mask IN PLACE (the decoder's cross-attention then
        # sees the longer mask). A clone keeps the caller's batch unchanged.
        return self.backbone(input_ids=input_ids, attention_mask=attention_mask.clone(), **kwargs)

    @torch.no_grad()
    def generate(self, input_ids, attention_mask, **kwargs):
        return self.backbone.generate(input_ids=input_ids, attention_mask=attention_mask.clone(), **kwargs)


def _quiet_opendelta(function, *args, **kwargs):
    """OpenDelta prints a rich table and banners on every call; keep notebooks readable."""
    logging.getLogger("opendelta").setLevel(logging.WARNING)
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args, **kwargs)


def _opendelta_build(backbone, tokenizer, settings, seed):
    opendelta = import_opendelta()
    # token_init=False, then the scratch twin's sampled-vocabulary init: OpenDelta's own
    # token_init copies rows 0..n-1, i.e. <pad>, </s>, <unk>, ...
    delta = opendelta.SoftPromptModel(backbone, soft_token_num=settings.n_tokens, token_init=False)
    with torch.no_grad():
        delta.delta_modules[0].soft_embeds.copy_(prompt_init(backbone, tokenizer, settings, seed))
    # set_state_dict=False: the default patches backbone.state_dict() to return only deltas,
    # after which save_pretrained silently writes an incomplete model.
    _quiet_opendelta(delta.freeze_module, exclude=["deltas"], set_state_dict=False)
    return OpenDeltaPrompt(backbone, delta)


def _trainable(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad}


def _opendelta_save(model, path: Path, run, settings) -> int:
    state = {n.removeprefix("backbone."): t for n, t in _trainable(model).items()}
    _quiet_opendelta(model.delta.save_finetuned, str(path), state_dict=state)
    return _folder_bytes(path)


def _opendelta_load(backbone, tokenizer, settings, path: Path):
    _require_folder(path)
    model = _opendelta_build(backbone, tokenizer, settings, seed=0)
    files = list(Path(path).glob("*.bin")) + list(Path(path).glob("*.pt"))
    state = torch.load(files[0], weights_only=True, map_location="cpu")
    _copy_matching(model.backbone, state, path)
    return model


# ------------------------------------------------------------------------------ AdapterHub

def _adapterhub_build(backbone, tokenizer, settings, seed):
    import adapters
    from adapters import SeqBnConfig

    # adapters 1.3.0's T5 code still passes `past_key_value` (deprecated for transformers 4.58);
    # harmless on the pinned 4.57.6, and repeated on every forward otherwise.
    warnings.filterwarnings("ignore", message="`past_key_value` is deprecated", category=FutureWarning)
    adapters.init(backbone)
    config = SeqBnConfig(reduction_factor=backbone.config.d_model / settings.bottleneck, non_linearity="relu",
                         # the scratch twin's init: W_down kaiming-uniform, W_up = 0 (identity at start)
                         init_weights="mam_adapter")
    backbone.add_adapter(ADAPTER_NAME, config=config)
    # train_adapter warns "There are adapters available but none are activated" although it
    # activates the adapter itself: a false alarm.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="There are adapters available but none are activated")
        logging.getLogger("adapters").setLevel(logging.ERROR)
        backbone.train_adapter(ADAPTER_NAME)
    return backbone


def _adapterhub_save(model, path: Path, run, settings) -> int:
    model.save_adapter(str(path), ADAPTER_NAME, with_head=False)   # with_head=True adds a 66 MB LM head
    return _folder_bytes(path)


def _adapterhub_load(backbone, tokenizer, settings, path: Path):
    import adapters

    _require_folder(path)
    adapters.init(backbone)
    name = backbone.load_adapter(str(path), with_head=False)
    backbone.set_active_adapters(name)   # load_adapter alone leaves it inactive
    return backbone


# ------------------------------------------------------------------------------ PEFT

def _peft_build(backbone, tokenizer, settings, seed):
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM, r=settings.rank, lora_alpha=settings.lora_alpha,
                        lora_dropout=settings.lora_dropout, target_modules=["q", "v"])
    return get_peft_model(backbone, config)


def _peft_save(model, path: Path, run, settings) -> int:
    model.save_pretrained(str(path))
    return _folder_bytes(path)


def _peft_load(backbone, tokenizer, settings, path: Path):
    from peft import PeftModel

    _require_folder(path)
    return PeftModel.from_pretrained(backbone, str(path))


# ------------------------------------------------------------------------------ shared

def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _require_folder(path: Path) -> None:
    if not Path(path).is_dir():
        raise UserError(f"library weights folder {path} does not exist; train the run first")


def _copy_matching(model: nn.Module, state: dict, path) -> None:
    parameters = dict(model.named_parameters())
    unknown = [n for n in state if n not in parameters]
    if unknown:
        raise UserError(f"weights in {path} do not fit this model (e.g. {unknown[0]}); load them into the run they came from")
    with torch.no_grad():
        for name, value in state.items():
            if parameters[name].shape != value.shape:
                raise UserError(f"weights in {path}: {name} has shape {tuple(value.shape)}, the model expects "
                                f"{tuple(parameters[name].shape)}")
            parameters[name].copy_(value)


OPENDELTA_PROMPT = Implementation(_opendelta_build, _opendelta_save, _opendelta_load, "{run_id}")
ADAPTERHUB_ADAPTER = Implementation(_adapterhub_build, _adapterhub_save, _adapterhub_load, "{run_id}")
PEFT_LORA = Implementation(_peft_build, _peft_save, _peft_load, "{run_id}")
