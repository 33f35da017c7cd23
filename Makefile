VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint demo bench clean

setup:
	@bash scripts/setup.sh

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy

test: lint
	$(PY) -m pytest -q

demo: setup
	GRPC_VERBOSITY=ERROR $(VENV)/bin/s6nf demo

bench: setup
	$(PY) bench/fastpath_cost.py
	$(PY) bench/measure_cost.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
