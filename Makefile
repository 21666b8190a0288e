# `make test` and `make demo` work on a fresh machine with only python3 (>= 3.10) and
# make: each creates the local virtual environment .venv if missing and installs what
# it needs into it.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: test demo lint bench docs clean
# The install steps share one .venv: never run two pip installs at once under `make -j`.
.NOTPARALLEL:

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.test-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

$(VENV)/.examples-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[examples]"
	touch $@

$(VENV)/.docs-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[docs]"
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test,examples,dev]"
	touch $@

# The float32 suite, then the float64 finite-difference suite in its own process
# (x64 is enabled for that whole process, never toggled mid-test), then the sharding
# suite in its own process (the CPU split into 4 devices, which XLA sets up only at
# start; JAX_PLATFORMS=cpu so that a machine with one GPU runs it too).
test: $(VENV)/.test-installed $(VENV)/.examples-installed
	$(PY) -m pytest tests -n 2 -q
	JAX_ENABLE_X64=1 $(PY) -m pytest tests/float64 -n 2 -q
	JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=4 $(PY) -m pytest tests/sharded -n 2 -q

demo: $(VENV)/.examples-installed
	$(PY) examples/digits.py

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pyright

bench: $(VENV)/.test-installed
	$(PY) benchmarks/activations.py
	$(PY) benchmarks/descent.py
	$(PY) benchmarks/retrieval.py

# The documentation site, into site/: the Lagrangians page's plots are drawn and the
# API pages generated from the package at build time (docs/hooks.py); --strict makes
# every warning (a broken link, a name without a plot) an error.
docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) outputs site
