# The two commands a newcomer needs: `make run` and `make test` (README).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-unit test-integration install clean bench

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

# the JavaScript socket.io-client the integration tests drive (tests/js)
JS_STAMP := tests/js/node_modules/.package-lock.json

$(JS_STAMP): tests/js/package.json tests/js/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20 and npm are needed for the JavaScript client tests"; exit 1; }
	npm ci --prefix tests/js --no-audit --no-fund --loglevel=error

install: $(STAMP)

## start every service and the door on :5000 (Ctrl-C stops all of it)
run: $(STAMP)
	$(BIN)/python -m services.stack

## the whole suite: unit tests, then the real stack against RabbitMQ and PostgreSQL
test: $(STAMP) $(JS_STAMP)
	$(BIN)/pytest

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit

test-integration: $(STAMP) $(JS_STAMP)
	$(BIN)/pytest tests/integration

# the benchmark's extras (matplotlib for the plot, py-spy for BENCH_PROFILE=1)
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	@touch $@

NODE_BASELINE := bench/baselines/node/node_modules/.package-lock.json

$(NODE_BASELINE): bench/baselines/node/package.json bench/baselines/node/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20 and npm are needed for the Node baseline"; exit 1; }
	npm ci --prefix bench/baselines/node --no-audit --no-fund --loglevel=error

## measure the platform (docs/benchmarks.md); BENCH_QUICK=1 for a one-minute smoke run. Not part of `make test`.
bench: $(STAMP) $(BENCH_STAMP) $(NODE_BASELINE)
	ulimit -n $$(ulimit -Hn) && $(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) var .pytest_cache tests/js/node_modules bench/baselines/node/node_modules
