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

.PHONY: train data test test-fast lint lint-imports bench fuzz docs clean precompile

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[examples]'
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install -q -e '.[test,examples,docs,distributed]'
	# PyTorch is an optional test oracle (CPU wheel on local disk; never a runtime dep)
	-$(BIN)/pip install -q 'torch==2.13.0'
	# JAX likewise: an optional oracle for the parity, promotion, random and fuzz tests
	-$(BIN)/pip install -q jax
	touch $@

train: $(STAMP)  ## train the MNIST CNN (full data if present, else the bundled sample)
	$(BIN)/python examples/mnist.py --model cnn

data:  ## the full fortunes corpus (Debian's packages, where apt is available); CO2 and sunspots are bundled
	@if [ -d /usr/share/games/fortunes ] && [ -f /usr/share/games/fortunes/art ]; then \
		echo "fortunes corpus already in /usr/share/games/fortunes"; \
	elif command -v apt-get >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq fortunes fortunes-min; \
	else \
		echo "no apt-get here: the examples use the fortunes sample bundled in funtorch/data"; \
	fi

test: $(TEST_STAMP)  ## the whole suite
	$(THREADS) $(BIN)/python -m pytest -q -n $(JOBS) -p no:cacheprovider

test-fast: $(TEST_STAMP)
	$(THREADS) $(BIN)/python -m pytest -q -n $(JOBS) -x -p no:cacheprovider -m "not slow"

lint-imports: $(TEST_STAMP)  ## the layering contracts in pyproject.toml (import-linter)
	$(BIN)/lint-imports --no-cache

lint: $(TEST_STAMP)
	$(BIN)/pip install -q ruff
	$(BIN)/ruff check funtorch cuda_kernels tests examples benchmarks

fuzz: $(TEST_STAMP)  ## the differential fuzzer's long profile (random programs, minutes to hours)
	$(THREADS) HYPOTHESIS_PROFILE=dev FUNTORCH_FUZZ_EXAMPLES=$${FUNTORCH_FUZZ_EXAMPLES:-5000} \
		$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_fuzz.py

docs: $(TEST_STAMP)  ## the documentation site (docs/_build/html), warnings as errors
	$(BIN)/python docs/gen_api.py
	$(BIN)/python -m sphinx -b html -q -W --keep-going -j 2 docs docs/_build/html
	$(BIN)/python docs/check_api.py docs/_build/html

precompile: $(STAMP)  ## compile the CPU library kernels (conv, pooling) once per installation
	$(BIN)/python -m funtorch.backends.cpu.library

bench: $(STAMP)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python benchmarks/mnist.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis docs/_build docs/api
