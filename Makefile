# The two commands a newcomer needs: `make run` and `make test` (README).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# processes of every service for `make run` (doors on 5000, 5001, ...)
REPLICAS ?= 1

.PHONY: run test test-unit test-integration test-faults test-deployment deploy-tools install clean

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
	$(BIN)/python -m services.stack --replicas $(REPLICAS)

## the whole suite: unit, deployment-file and integration tests, then the fault tests,
## which restart RabbitMQ and PostgreSQL and so run on their own, after everything else
test: $(STAMP) $(JS_STAMP) deploy-tools
	$(BIN)/pytest --ignore=tests/faults
	$(BIN)/pytest tests/faults

test-faults: $(STAMP)
	$(BIN)/pytest tests/faults

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit

test-integration: $(STAMP) $(JS_STAMP)
	$(BIN)/pytest tests/integration

test-deployment: $(STAMP) deploy-tools
	$(BIN)/pytest tests/deployment

## docker-compose (Debian's package) checks docker-compose.yml in the tests; without root
## or apt-get those tests are skipped and say why
deploy-tools:
	@command -v docker-compose >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; } \
	  || echo "docker-compose could not be installed (needs root and apt-get): its tests will be skipped"

clean:
	rm -rf $(VENV) var .pytest_cache tests/js/node_modules
