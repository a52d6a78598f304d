"""The notebooks' first cell in Colab runs `make colab` into the runtime's own Python. Stood in
for here by a fresh virtual environment (this machine's Python; Colab's is 3.12) that already has
its own torch, as Colab does: the target installs the pinned stack around it, leaves that torch
and Jupyter's packages alone, and `helpers` then imports from any folder. Slow (a full install
from pip's cache): about 1-2 min."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _pin(name: str) -> str:
    line = next(l for l in (REPO / "requirements.txt").read_text().splitlines() if l.startswith(f"{name}=="))
    return line.split()[0].split("==")[1]


def test_make_colab_installs_around_the_runtimes_torch_and_helpers_imports(tmp_path):
    venv = tmp_path / "colab"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {**os.environ, "PIP_NO_COMPILE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}   # bytecode: not under test
    env.pop("PEFT_STUDY_ROOT", None)
    torch = _pin("torch")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"torch=={torch}"], check=True, env=env)
    before = subprocess.run([str(python), "-c", "import torch; print(torch.__version__)"], check=True,
                            capture_output=True, text=True).stdout.strip()
    done = subprocess.run(["make", "-C", str(REPO), "colab", f"PIP={python} -m pip"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # As the first cell goes on: a new process in another folder imports helpers and what it runs on.
    check = ("import torch, transformers, peft, adapters, helpers, importlib.util as u\n"
             "from helpers.notebook.display import show_environment\n"
             "from helpers.methods.via_opendelta import import_opendelta; import_opendelta()\n"
             "show_environment()\n"
             "print('torch', torch.__version__, 'helpers', helpers.__file__)\n"
             "print('jupyterlab', u.find_spec('jupyterlab') is not None, 'ipykernel', u.find_spec('ipykernel') is not None)")
    shown = subprocess.run([str(python), "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert f"torch {before} helpers {REPO / 'helpers' / '__init__.py'}" in shown.stdout, shown.stdout
    assert f"transformers  {_pin('transformers')}" in shown.stdout and "device" in shown.stdout, shown.stdout
    assert "jupyterlab False ipykernel False" in shown.stdout, "make colab would replace Colab's own Jupyter"
