# Quickstart: `make train` then `make test`. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
JOBS ?= 2
# one BLAS thread per test worker: -n 2 workers on 2 cores must not oversubscribe BLAS
# (Numba keeps its threads, so the parallel-kernel tests run)
THREADS := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

.PHONY: train test test-fast lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[examples]'
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install -q -e '.[test,examples,distributed]'
	# PyTorch is an optional test oracle (CPU wheel on local disk; never a runtime dep)
	-$(BIN)/pip install -q 'torch==2.13.0'
	# JAX likewise: an optional oracle for the parity, promotion, random and fuzz tests
	-$(BIN)/pip install -q jax
	touch $@

train: $(STAMP)  ## train the MNIST CNN (full data if present, else the bundled sample)
	$(BIN)/python examples/mnist.py --model cnn

test: $(TEST_STAMP)  ## the whole suite
	$(THREADS) $(BIN)/python -m pytest -q -n $(JOBS) -p no:cacheprovider

test-fast: $(TEST_STAMP)
	$(THREADS) $(BIN)/python -m pytest -q -n $(JOBS) -x -p no:cacheprovider -m "not slow"

lint: $(TEST_STAMP)
	$(BIN)/pip install -q ruff
	$(BIN)/ruff check funtorch cuda_kernels tests examples benchmarks

bench: $(STAMP)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python benchmarks/mnist.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
