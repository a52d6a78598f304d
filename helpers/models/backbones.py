"""The T5 backbone: t5-small (or the `model` setting) from the hub, MODEL_PATH or a saved folder,
or the tiny offline T5. Architectures with random weights, for parameter counts and benchmarks,
are helpers.models.shapes'."""
from __future__ import annotations

import os
from pathlib import Path

from helpers import UserError
from helpers.study.sources import hub_reachable

def load_from_directory(path: str | os.PathLike):
    """A saved T5 (config, weights, tokenizer), e.g. MODEL_PATH or the tiny backbone's cache."""
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    path = Path(path)
    if not (path / "config.json").is_file():
        raise UserError(f"MODEL_PATH={path} holds no config.json; point it at a folder written by "
                        "save_pretrained (e.g. a local copy of t5-small), or unset it to use the hub")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = T5ForConditionalGeneration.from_pretrained(path)
    return model, tokenizer


def load_backbone(profile: str, model: str | None = None):
    """(model, tokenizer) for a profile's model or the `model` setting (a hub name or a saved
    folder); the same loading path for the real and the tiny model. MODEL_PATH, if set, is a
    local copy of the named hub model."""
    from helpers.study.paths import is_model_folder
    from helpers.study.settings import PROFILES

    name = model or PROFILES[profile].model
    if name == "tiny":
        from helpers.models.tiny import tiny_backbone_dir
        return load_from_directory(tiny_backbone_dir())
    if is_model_folder(name):
        return load_from_directory(Path(name).expanduser())
    local = os.environ.get("MODEL_PATH")
    if local:   # a missing path is refused earlier, by preflight.check_sources, and here for lack of config.json
        return load_from_directory(local)
    return _load_from_hub(name)


def _load_from_hub(name: str):
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    # A model already in the local Hugging Face cache loads without the network.
    online = hub_reachable()
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=not online)
        model = T5ForConditionalGeneration.from_pretrained(name, local_files_only=not online)
    except OSError as error:
        if online:
            raise UserError(f"could not load {name} from the hub ({error}); check the name or set MODEL_PATH") from None
        raise UserError(f"the Hugging Face hub is unreachable and {name} is not cached; set MODEL_PATH to a "
                        "local copy (and DATA_PATH for the data), or use --profile tiny to run offline") from None
    return model, tokenizer


def label_token_ids(tokenizer, labels=("negative", "positive")) -> list[int]:
    """The first-decoder-step token of each label word; each label must be a single token."""
    ids = []
    for label in labels:
        pieces = tokenizer(label, add_special_tokens=False)["input_ids"]
        if len(pieces) != 1:
            raise UserError(f"label {label!r} is {len(pieces)} tokens in this tokenizer; "
                            "label-token scoring needs single-token labels")
        ids.append(pieces[0])
    return ids
