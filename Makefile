# A fresh clone needs two commands: `make demo` (the study offline, tiny profile) and `make test`.
PROFILE ?= full
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
KERNEL  := peft-t5-study
# Extra papermill arguments for run-all, e.g. NB_ARGS="-p epochs 3"
NB_ARGS ?=
# Notebooks run side by side by run-all (a stage at a time: 01, then 02-06, then 07). The demo's
# tiny runs train on one CPU thread each, so two at once take half the time on two cores.
JOBS    ?= 1

.PHONY: setup test demo run-all report bench gpu-check params handout grade lab colab clean

setup: $(STAMP)

# torch first: with 2.13.0 already installed, the other requirements never pull the multi-GB
# CUDA build. opendelta --no-deps: it declares the withdrawn `sklearn` package. Then helpers
# itself, editable, so it imports from any folder; then the venv's kernel under a clear name
# for Jupyter front ends outside the venv (VS Code, a system JupyterLab). pip compiles the
# bytecode as it installs: --no-compile made the setup 81 s instead of about 180, but where
# PYTHONDONTWRITEBYTECODE is set (as on this project's machines) every kernel then compiled its
# imports again, and `make demo` took 534 s instead of about 415.
$(STAMP): requirements.txt requirements-opendelta.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-opendelta.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --user --name $(KERNEL) --display-name "PEFT T5 study (.venv)" >/dev/null
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q --durations=12 tests

run-all: $(STAMP)
	$(PY) -m helpers notebooks --profile $(PROFILE) --jobs $(JOBS) $(if $(NB_ARGS),--papermill-args "$(NB_ARGS)")

report: $(STAMP)
	$(PY) -m helpers report --profile $(PROFILE)

demo: $(STAMP)
	$(MAKE) run-all PROFILE=tiny JOBS=2
	$(MAKE) report PROFILE=tiny

bench: $(STAMP)
	$(PY) -m helpers bench

# One prepared check of the GPU paths, no hub needed: short bf16 and fp32 fits with the reload check,
# peak memory, samples/s, then the bench; one table. Under 8 minutes on one GPU. On a CPU:
# `$(PY) -m helpers gpu-check --cpu-smoke` runs a reduced form in seconds (the test suite does).
gpu-check: $(STAMP)
	$(PY) -m helpers gpu-check

params: $(STAMP)
	$(PY) -m helpers params

# The student repository (generated, ignored by git): notebooks with TODOs, helpers without the
# solutions. REPO_URL: its published address, for the notebooks' Colab cell. Refuses a non-empty handout/.
handout: $(STAMP)
	$(PY) -m helpers handout --out handout $(if $(REPO_URL),--repo-url "$(REPO_URL)")

# Grade a completed handout notebook, or a folder of them: make grade NB=submissions/alice/05_lora.ipynb
grade: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make grade NB=PATH.ipynb (or a folder of notebooks)"; exit 2; }
	$(PY) -m helpers grade $(NB)

# JupyterLab from the venv, opened on the notebooks (its python3 kernel is the venv's), with the
# student's configuration first (jupyter-config/: no grading extension, kernels over IPC).
lab: $(STAMP)
	JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter-config$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" $(VENV)/bin/jupyter lab notebooks

# Colab (the notebooks' first cell runs this): the pinned stack into the runtime's own Python,
# keeping Colab's CUDA build of torch and its own Jupyter (ipykernel, ipywidgets and the tools
# only `make lab`, `make test` and `make handout` use would replace the ones Colab's front end
# runs on), then helpers itself. PIP: which pip (tests/test_colab.py gives a stand-in venv's).
PIP ?= pip
COLAB_SKIP := torch|jupyterlab|ipykernel|ipywidgets|nbgrader|pytest|pypdf|selenium
colab:
	grep -v -E '^($(COLAB_SKIP))==' requirements.txt | $(PIP) install --quiet -r /dev/stdin
	$(PIP) install --quiet --no-deps -r requirements-opendelta.txt
	$(PIP) install --quiet --no-deps -e .

# Generated outputs only; the virtual environment stays (remove .venv by hand to reinstall).
clean:
	rm -rf runs report/*/ weights/*/ .pytest_cache handout
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +
