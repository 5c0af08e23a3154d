# Two commands do all set-up on a fresh machine (Python 3.11, no GPU, no IBM account):
#   make demo   create .venv, install, run the demo job on aer_noisy and compare with exact
#   make test   create .venv, install, run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hwadapt-installed

.PHONY: demo test install

install: $(STAMP)

# torch is pinned to its CPU build and installed first: plain torch==2.13.0 resolves
# to the CUDA build (2.7 GB of nvidia libraries). The +cpu wheel is found through pip's
# find-links where it lies on disk, else on PyTorch's CPU wheel index.
# The check fails the set-up if a CUDA build slipped in. Re-runs when pyproject.toml changes.
TORCH_CPU := torch==2.13.0+cpu
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH_CPU) \
	  || $(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH_CPU) \
	       --extra-index-url $(TORCH_CPU_INDEX)
	$(BIN)/python -c "import torch, sys; sys.exit(torch.version.cuda is not None)" \
	  || { echo "set-up: a CUDA build of torch was installed; expected $(TORCH_CPU)"; exit 1; }
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hwadapt submit jobs/demo.toml --backend aer_noisy
	$(BIN)/hwadapt compare latest --plot
	$(BIN)/hwadapt compare latest --plot --mitigate readout
	$(BIN)/hwadapt compare latest --plot --mitigate learned

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -p no:cacheprovider
