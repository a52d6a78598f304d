"""`python -m helpers notebooks`: execute the notebooks with papermill into
runs/<profile>/notebooks/. A failing notebook stops at its failing cell, whose error is shown;
the other notebooks still run and keep their results. Exit status 1 if any failed.

With `jobs` > 1 the notebooks of a stage run side by side, each kernel on its share of the CPU
threads: 01 builds what the others read (the tiny backbone, the token cache), 02-06 are
independent, and 07 combines the modules 05 and 06 saved."""
from __future__ import annotations

import os
import shlex
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

from helpers.study.paths import REPO_ROOT, runs_dir

NOTEBOOKS = ("01_full_finetuning", "02_prompt_tuning", "03_adapter", "04_adapter_adapterhub", "05_lora", "06_beyond",
             "07_arithmetic")
# Each stage needs the ones before it. Within one, the longest first, so that side-by-side
# notebooks finish together (06 trains seven runs, 02 and 05 three, 04 two, 03 one).
STAGES = (("01_full_finetuning",),
          ("06_beyond", "02_prompt_tuning", "05_lora", "04_adapter_adapterhub", "03_adapter"),
          ("07_arithmetic",))


# The kernel and papermill talk over IPC sockets, not TCP: over TCP ipykernel warns on every start
# ("Kernel is running over TCP without encryption", on make demo's terminal) and any local user
# could connect to the ports; jupyter-config/ sets the same for make lab. The sockets' path must be
# absolute and the kernel's own: by default it is "kernel-ipc-N" in the kernel's working folder,
# notebooks/, shared by the notebooks that run side by side.
KERNEL_CONFIG = {"KernelManager": {"transport": "ipc"}}


def _extra_parameters(args: str) -> dict:
    """'-p epochs 3 -p seeds 2' -> {"epochs": 3, "seeds": 2} (values parsed as papermill does)."""
    import yaml

    words, parameters = shlex.split(args or ""), {}
    for i, word in enumerate(words):
        if word in {"-p", "--parameters"} and i + 2 < len(words):
            parameters[words[i + 1]] = yaml.safe_load(words[i + 2])
    return parameters


def _execute(name: str, out_dir: str, parameters: dict, threads: int | None) -> tuple[str, float, str | None]:
    """One notebook, in a worker process: (name, seconds, None) or (name, seconds, why it failed)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError
    from traitlets.config import Config

    if threads:   # the kernel papermill starts inherits it; torch reads it when it loads
        os.environ["OMP_NUM_THREADS"] = str(threads)
    started = time.time()
    try:
        with tempfile.TemporaryDirectory(prefix="peft-kernel-") as sockets:
            config = Config(KERNEL_CONFIG)
            config.KernelManager.ip = f"{sockets}/kernel"   # -> {sockets}/kernel-1 .. -5, removed after
            papermill.execute_notebook(str(REPO_ROOT / "notebooks" / f"{name}.ipynb"), f"{out_dir}/{name}.ipynb",
                                       parameters=parameters, cwd=str(REPO_ROOT / "notebooks"), kernel_name="python3",
                                       progress_bar=False, log_output=False, config=config)
        return name, time.time() - started, None
    except PapermillExecutionError as error:
        return name, time.time() - started, f"cell {error.exec_count}: {error.ename}: {error.evalue}"


def run_notebooks(profile: str, papermill_args: str = "", only: list[str] | None = None,
                  model: str | None = None, jobs: int = 1) -> int:
    from helpers import UserError
    from helpers.study.settings import PROFILES

    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    unknown = sorted(set(only or ()) - set(NOTEBOOKS))
    if unknown:
        raise UserError(f"unknown notebook {unknown[0]!r}; the notebooks are: {', '.join(NOTEBOOKS)}")
    # The student repository (make handout) holds 01-05 only: run what is there.
    present = [n for n in NOTEBOOKS if (REPO_ROOT / "notebooks" / f"{n}.ipynb").is_file()]
    absent = [n for n in only or () if n not in present]
    if absent:
        raise UserError(f"notebook {absent[0]!r} is not in {REPO_ROOT / 'notebooks'}; the notebooks here: {', '.join(present)}")
    if jobs < 1:
        raise UserError(f"--jobs {jobs}: give 1 (one notebook at a time) or more")
    # The notebooks' parameter is `checkpoint`: inside them `model` is the model they build and train.
    parameters = {"profile": profile, **({"checkpoint": model} if model else {}), **_extra_parameters(papermill_args)}
    out_dir = runs_dir(profile, parameters.get("checkpoint")) / "notebooks"   # another model: its own folder
    out_dir.mkdir(parents=True, exist_ok=True)
    # Side by side, each kernel gets its share of the cores (unless OMP_NUM_THREADS says otherwise).
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 and "OMP_NUM_THREADS" not in os.environ else None
    failed = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        for stage in STAGES:
            names = [n for n in (stage if jobs > 1 else sorted(stage)) if n in (only or present)]
            if names:
                side_by_side = f", {min(jobs, len(names))} at a time" if jobs > 1 and len(names) > 1 else ""
                print(f"=== {', '.join(names)} (profile {profile}{side_by_side})", flush=True)
            futures = [pool.submit(_execute, name, str(out_dir), parameters, threads) for name in names]
            for future in as_completed(futures):
                name, seconds, error = future.result()
                if error is None:
                    print(f"    {name} done in {seconds:.0f} s -> {out_dir / name}.ipynb", flush=True)
                    continue
                failed.append(name)
                print(f"    {name} FAILED in {error}", file=sys.stderr, flush=True)
                print(f"    see {out_dir / name}.ipynb; the other notebooks continue", file=sys.stderr, flush=True)
    if failed:
        print(f"failed notebooks: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
