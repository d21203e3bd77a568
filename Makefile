# Two commands do everything: `make demo` and `make test` (both run scripts/setup.sh first).
PY := .venv/bin/python
OUT ?= out

.PHONY: setup demo test lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) scripts/demo.py --out $(OUT)

test: setup
	$(PY) -m ruff check memcircuit tests scripts
	$(PY) -m pytest -q

lint: setup
	$(PY) -m ruff check memcircuit tests scripts

bench: setup
	$(PY) scripts/bench_tile.py

clean:
	rm -rf $(OUT) .pytest_cache .ruff_cache
