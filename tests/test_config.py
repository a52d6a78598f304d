import pytest

from helpers.study.settings import METHOD_LR, parse_assignments, settings_for
from helpers import UserError


def test_defaults_follow_profile_then_run_then_overrides():
    full = settings_for("lora_peft_1", "full")
    assert (full.epochs, full.rank, full.lr, full.max_length) == (10, 1, METHOD_LR["lora"], 512)
    tiny = settings_for("lora_peft_1", "tiny", {"epochs": "3", "lr": "0.01"})
    assert (tiny.epochs, tiny.lr, tiny.max_length) == (3, 0.01, 96)


def test_notebook_none_keeps_default():
    assert settings_for("full_ft", "tiny", {"epochs": None}).epochs == settings_for("full_ft", "tiny").epochs


@pytest.mark.parametrize("run_id, overrides, fragment", [
    ("nope", {}, "unknown run id 'nope'; valid run ids: full_ft"),
    ("full_ft", {"epochz": 3}, "unknown setting 'epochz'; valid settings: epochs"),
    ("lora_scratch_8", {"rank": 0}, "rank=0 must be a positive whole number"),
    ("lora_scratch_8", {"rank": -2}, "rank=-2 must be a positive whole number"),
    ("adapter_scratch_8", {"bottleneck": "eight"}, "bottleneck='eight' is not a whole number"),
    ("prompt_scratch_10", {"n_tokens": 2.5}, "n_tokens=2.5 is not a whole number"),
    ("full_ft", {"rank": 4}, "setting rank does not apply to run full_ft"),
    ("full_ft", {"lr": "fast"}, "lr='fast' is not a number"),
    ("full_ft", {"template": "review"}, "must contain {text}"),
])
def test_bad_settings_are_refused_with_the_fix(run_id, overrides, fragment):
    with pytest.raises(UserError, match=None) as error:
        settings_for(run_id, "tiny", overrides)
    assert fragment in str(error.value)


def test_unknown_profile_lists_valid_ones():
    with pytest.raises(UserError, match="unknown profile 'huge'; valid profiles: full, tiny"):
        settings_for("full_ft", "huge")


def test_assignment_parsing():
    assert parse_assignments(["epochs=3", " lr = 1e-3 "]) == {"epochs": "3", "lr": "1e-3"}
    with pytest.raises(UserError, match="is not KEY=VALUE"):
        parse_assignments(["epochs"])


def test_model_setting_defaults_and_folders():
    from pathlib import Path

    from helpers.study.paths import model_folder, results_dir

    assert settings_for("lora_peft_8", "full").model == "t5-small"
    assert settings_for("lora_peft_8", "tiny").model == "tiny"
    assert settings_for("lora_peft_8", "full", {"model": "google/flan-t5-base"}).model == "google/flan-t5-base"
    # The default model keeps today's paths; others get their own folder.
    assert model_folder("full", "t5-small") == Path() and results_dir("full", "t5-small") == results_dir("full")
    assert model_folder("full", "google/flan-t5-base") == Path("models/google--flan-t5-base")
    assert model_folder("tiny", "t5-small") == Path("models/t5-small")
