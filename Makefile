# A fresh clone needs two commands: `make demo` (the study offline, tiny profile) and `make test`.
PROFILE ?= full
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
# Extra papermill arguments for run-all, e.g. NB_ARGS="-p epochs 3"
NB_ARGS ?=

.PHONY: setup test demo run-all report bench params clean

setup: $(STAMP)

# torch first: with 2.13.0 already installed, the other requirements never pull the multi-GB
# CUDA build. opendelta last and --no-deps: it declares the withdrawn `sklearn` package.
$(STAMP): requirements.txt requirements-opendelta.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-opendelta.txt
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

run-all: $(STAMP)
	$(PY) -m helpers notebooks --profile $(PROFILE) $(if $(NB_ARGS),--papermill-args "$(NB_ARGS)")

report: $(STAMP)
	$(PY) -m helpers report --profile $(PROFILE)

demo: $(STAMP)
	$(MAKE) run-all PROFILE=tiny
	$(MAKE) report PROFILE=tiny

bench: $(STAMP)
	$(PY) -m helpers bench

params: $(STAMP)
	$(PY) -m helpers params

# Generated outputs only; the virtual environment stays (remove .venv by hand to reinstall).
clean:
	rm -rf runs weights report .pytest_cache
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +
