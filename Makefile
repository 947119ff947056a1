# Two commands do all the set-up: `make demo` and `make test`.
# Both install from the lock, pylock.toml (PEP 751): exact versions and hashes of every package for
# Python 3.11 on Linux x86_64, the CPU build of torch included (it lies on this kind of machine's
# disk; a plain `torch` requirement would pull a multi-GB CUDA build). Nothing resolves at install
# time. `make lock` updates it (and requirements.txt, pip-compile's form of the same pins).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
LOCKED := $(VENV)/.locked-stamp
STAMP  := $(VENV)/.installed-stamp
PIP_TOOLS := pip-tools==7.7.0
UV        := uv==0.13.10
PIP_AUDIT := pip-audit==2.10.1
LOCK_ARGS := --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
             --no-emit-find-links --extra dev --extra surrogates --extra cell \
             --output-file requirements.txt requirements.in pyproject.toml
BROWSER := /usr/bin/chromium /usr/bin/chromedriver
SUDO   := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install lock lock-upgrade audit browser postgres demo test lint bench bench-electrode chaos clean

# A new lock makes the environment anew, so nothing from an older lock survives in it.
$(LOCKED): pylock.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PYTHON) .ci/pylock.py requirements pylock.toml > $(VENV)/locked.txt
	$(PIP) install --quiet --require-hashes --no-deps -r $(VENV)/locked.txt
	touch $@

# The project itself, without touching its dependencies; `pip check` fails when pyproject.toml
# asks for a package or version the lock lacks.
$(STAMP): pyproject.toml $(LOCKED)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(PIP) check || { echo "requirements.txt does not satisfy pyproject.toml: run make lock"; exit 1; }
	touch $@

install: $(STAMP)

# Resolve requirements.in and pyproject.toml's dependencies with every extra into
# requirements.txt, keeping the versions already locked where they still fit (`lock-upgrade`
# moves every package to its newest release). pip-tools runs in a throwaway environment.
# pylock.toml, what installs read, is pip-compile's resolution in PEP 751's format (uv, every file
# of this platform by its public URL and hash: .ci/pylock.py).
lock lock-upgrade:
	tmp=$$(mktemp -d) && $(PYTHON) -m venv $$tmp \
	  && $$tmp/bin/pip install --quiet $(PIP_TOOLS) $(UV) \
	  && $$tmp/bin/pip-compile --quiet $(if $(filter lock-upgrade,$@),--upgrade) $(LOCK_ARGS) \
	  && $$tmp/bin/uv pip compile --quiet --no-deps requirements.txt --format pylock.toml \
	       --output-file pylock.toml --no-header --python-version 3.11 \
	       --index-url https://pypi.org/simple \
	       $(addprefix --find-links ,$(PIP_FIND_LINKS)) \
	  && $(PYTHON) .ci/pylock.py publish pylock.toml; \
	  status=$$?; rm -rf $$tmp; exit $$status

# Known vulnerabilities of every locked package (pip-audit asks PyPI's vulnerability data;
# .ci/audit.py says how many it could audit, and fails on any vulnerability found). pip-audit
# runs in a throwaway environment, like pip-tools.
audit:
	tmp=$$(mktemp -d) && $(PYTHON) -m venv $$tmp \
	  && $$tmp/bin/pip install --quiet $(PIP_AUDIT) \
	  && $$tmp/bin/pip-audit --requirement requirements.txt --require-hashes --disable-pip \
	       --progress-spinner off --format json --output $$tmp/audit.json; \
	  status=$$?; [ -f $$tmp/audit.json ] && $(PYTHON) .ci/audit.py $$tmp/audit.json \
	  || status=1; rm -rf $$tmp; exit $$status

# Debian's Chromium and its driver, for the tests that look at the MLflow and Prefect UIs
# (no browser download at run time: the driver is given by path).
$(BROWSER):
	@command -v apt-get >/dev/null || { echo "install chromium and chromium-driver (Debian names)"; exit 1; }
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver \
	  || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	       apt-get install -y -q chromium chromium-driver; }

browser: $(BROWSER)

# Debian's PostgreSQL server, for the tests that run the event log, leases, Prefect and MLflow on
# it: each test session makes a throwaway cluster under a temporary folder (tests/postgres.py);
# no system service is started or needed.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null || { echo "install postgresql (Debian name)"; exit 1; }; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql \
	  || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	       apt-get install -y -q postgresql; }; }

demo: install
	$(VENV)/bin/electroloop demo

lint: install
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check src tests

# Two pytest workers (pytest-xdist), a test file each at a time: the integration tests spend most
# of their time waiting on the servers and simulators they start, so two files at once take about
# two thirds of the time one after the other does, on 2 cores (BENCHMARKS.md: 15 vs 23 min). `pytest FILE` alone still runs serially.
test: lint browser postgres
	$(PY) -m pytest -n 2 --dist loadfile

# Long runs (about 20 min on 2 cores); results go to BENCHMARKS.md with the command and machine.
bench: install
	$(PY) benchmarks/run.py
	$(VENV)/bin/electroloop bench planners --problems demo,new-lab --jobs 2 --calisol ../shared/data/calisol23
	$(PY) benchmarks/ax_latency.py --efficiency
	$(PY) benchmarks/tracking.py
	$(PY) benchmarks/leases.py
	$(PY) benchmarks/shared_bench.py
	$(PY) benchmarks/instruments.py
	$(PY) benchmarks/fault_matrix.py
	OMP_NUM_THREADS=1 $(PY) benchmarks/workflows.py
	$(PY) benchmarks/electrolyte_fit.py
	$(PY) benchmarks/cell_twin.py
	OMP_NUM_THREADS=1 $(PY) benchmarks/oracle.py
	OMP_NUM_THREADS=1 $(PY) benchmarks/screening.py
	OMP_NUM_THREADS=1 $(PY) benchmarks/mixture_surrogate.py
	OMP_NUM_THREADS=1 $(PY) benchmarks/crystal_surrogate.py
	OMP_NUM_THREADS=1 $(PY) benchmarks/active_learning.py
	$(PY) benchmarks/cycling.py
	$(PY) benchmarks/electrode_calibration.py

# The electrode-design twin (issue 19), one benchmark at a time (they time themselves): the
# case studies and case 1's grid (about 20 min with --fast: 2 cubes of 48³ per design), the
# case-3 planner comparison (45 min), seconds per iteration at the volume the convergence
# study justifies (8 min) and the conductivity solvers (4 min) on 2 cores; see BENCHMARKS.md.
bench-electrode: install
	$(PY) benchmarks/electrode_cases.py --fast
	$(PY) benchmarks/electrode_cases.py --fast --case1-grid
	$(PY) benchmarks/electrode_planners.py --seeds 5
	$(PY) benchmarks/electrode_iteration.py
	$(PY) benchmarks/conduction.py

# SIGKILL the orchestrator at 20 random moments of each kind's campaigns (electrolyte, cycling),
# then 3 times each the simulated cycler, the Prefect server, the MLflow server and the worker;
# restart, resume, audit the event log, cell records, leases and MLflow (about 25 min on
# 2 cores); `make test` runs short versions.
chaos: install
	$(PY) -m tests.chaos --kind all --campaigns 2 --kills 10 --server-kills 3

clean:
	rm -rf runs .pytest_cache
