# Quick start:  make demo   (pretrain SimCLR on Fashion-MNIST, evaluate, export)
#               make test   (the whole test suite)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-quick data install benchmark clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,plots,notebook]"
	touch $(STAMP)

install: $(STAMP)

# Fashion-MNIST's original idx files: Debian's package when we are root,
# otherwise Keras' own download into ~/.keras/datasets/fashion-mnist.
data: $(STAMP)
	@$(PY) -m keras_contrastive.data.fetch

demo: data
	$(PY) -m keras_contrastive pretrain --method simclr --dataset fashion_mnist \
	    --preset demo --export saved_models/simclr_fashion_mnist --overwrite

# JOBS pytest processes (pytest-xdist); JOBS=1 runs the suite in one process;
# DURATIONS slowest tests listed at the end (DURATIONS=0: every test)
JOBS ?= 2
DURATIONS ?= 15
PYTEST = $(PY) -m pytest -q --durations=$(DURATIONS) -n $(JOBS) --dist worksteal
test: data
	$(PYTEST) tests

# the tests under 3 s in the reference run (tests/conftest.py): a quick check while
# working; `make test` (what CI runs) is the whole suite
test-quick: data
	$(PYTEST) -m "not slow" tests

benchmark: data
	$(PY) benchmarks/quality.py --method simclr --epochs 5

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
