# Two commands do all the set-up: `make demo` and `make test`.
# Each creates .venv when missing, installs the CPU build of torch first (a plain `torch`
# requirement would pull a multi-GB CUDA build), then the project with its extras, and skips
# reinstalling while pyproject.toml is unchanged.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
TORCH  := torch==2.13.0
BROWSER := /usr/bin/chromium /usr/bin/chromedriver
SUDO   := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install browser demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev,surrogates,cell]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium and its driver, for the tests that look at the MLflow and Prefect UIs
# (no browser download at run time: the driver is given by path).
$(BROWSER):
	@command -v apt-get >/dev/null || { echo "install chromium and chromium-driver (Debian names)"; exit 1; }
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver \
	  || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	       apt-get install -y -q chromium chromium-driver; }

browser: $(BROWSER)

demo: install
	$(VENV)/bin/electroloop demo

lint: install
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check src tests

test: lint browser
	$(PY) -m pytest

# Long runs (about 20 min on 2 cores); results go to BENCHMARKS.md with the command and machine.
bench: install
	$(PY) benchmarks/run.py
	$(VENV)/bin/electroloop bench planners
	$(PY) benchmarks/ax_latency.py --efficiency
	$(PY) benchmarks/tracking.py
	$(PY) benchmarks/instruments.py
	OMP_NUM_THREADS=1 $(PY) benchmarks/workflows.py
	$(PY) benchmarks/electrolyte_fit.py
	$(PY) benchmarks/cell_twin.py
	OMP_NUM_THREADS=1 $(PY) benchmarks/oracle.py
	OMP_NUM_THREADS=1 $(PY) benchmarks/screening.py
	OMP_NUM_THREADS=1 $(PY) benchmarks/mixture_surrogate.py
	OMP_NUM_THREADS=1 $(PY) benchmarks/crystal_surrogate.py
	OMP_NUM_THREADS=1 $(PY) benchmarks/active_learning.py
	$(PY) benchmarks/cycling.py

clean:
	rm -rf runs .pytest_cache
