"""`python -m helpers notebooks`: execute the notebooks with papermill into
runs/<profile>/notebooks/. A failing notebook stops at its failing cell, whose error is shown;
the other notebooks still run and keep their results. Exit status 1 if any failed."""
from __future__ import annotations

import shlex
import sys
import time

from helpers.study.paths import REPO_ROOT, runs_dir

NOTEBOOKS = ("01_full_finetuning", "02_prompt_tuning", "03_adapter", "04_adapter_adapterhub", "05_lora", "06_beyond",
             "07_arithmetic")


def _extra_parameters(args: str) -> dict:
    """'-p epochs 3 -p seeds 2' -> {"epochs": 3, "seeds": 2} (values parsed as papermill does)."""
    import yaml

    words, parameters = shlex.split(args or ""), {}
    for i, word in enumerate(words):
        if word in {"-p", "--parameters"} and i + 2 < len(words):
            parameters[words[i + 1]] = yaml.safe_load(words[i + 2])
    return parameters


def run_notebooks(profile: str, papermill_args: str = "", only: list[str] | None = None,
                  model: str | None = None) -> int:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from helpers.study.settings import PROFILES
    from helpers import UserError

    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    # The notebooks' parameter is `checkpoint`: inside them `model` is the model they build and train.
    parameters = {"profile": profile, **({"checkpoint": model} if model else {}), **_extra_parameters(papermill_args)}
    out_dir = runs_dir(profile, parameters.get("checkpoint")) / "notebooks"   # another model: its own folder
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in only or NOTEBOOKS:
        started = time.time()
        print(f"=== {name} (profile {profile})", flush=True)
        try:
            papermill.execute_notebook(str(REPO_ROOT / "notebooks" / f"{name}.ipynb"), str(out_dir / f"{name}.ipynb"),
                                       parameters=parameters, cwd=str(REPO_ROOT / "notebooks"), kernel_name="python3",
                                       progress_bar=False, log_output=False)
            print(f"    done in {time.time() - started:.0f} s -> {out_dir / name}.ipynb", flush=True)
        except PapermillExecutionError as error:
            failed.append(name)
            print(f"    FAILED in cell {error.exec_count}: {error.ename}: {error.evalue}", file=sys.stderr, flush=True)
            print(f"    see {out_dir / name}.ipynb; the other notebooks continue", file=sys.stderr, flush=True)
    if failed:
        print(f"failed notebooks: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
