# Two commands do all set-up on a fresh machine (Python 3.11, no GPU, no IBM account):
#   make demo   create .venv, install, run the demo job on aer_noisy and compare with exact
#   make test   create .venv, install, run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hwadapt-installed

.PHONY: demo test install

install: $(STAMP)

# torch is pinned and installed first: the CPU wheel lies on disk, an unpinned
# torch would pull GBs of CUDA. Re-runs only when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hwadapt submit jobs/demo.toml --backend aer_noisy
	$(BIN)/hwadapt compare latest --plot
	$(BIN)/hwadapt compare latest --plot --mitigate readout

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -p no:cacheprovider
