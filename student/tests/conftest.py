"""Every test writes under one temporary folder (never this repository's runs/), and none may
reach the network."""
import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def study_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    saved = {key: os.environ.get(key) for key in ("PEFT_STUDY_ROOT", "HF_HUB_OFFLINE", "TQDM_DISABLE")}
    os.environ.update(PEFT_STUDY_ROOT=str(root), HF_HUB_OFFLINE="1", TQDM_DISABLE="1")
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
