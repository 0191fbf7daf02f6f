# The two commands a newcomer needs: `make run` and `make test` (README).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# processes of every service for `make run` (doors on 5000, 5001, ...)
REPLICAS ?= 1

.PHONY: run test test-unit test-stack test-faults install browser typescript-events vendor-socketio vendor-admin-ui screenshot test-deployment deploy-tools bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

# the JavaScript socket.io-client the stack tests drive (tests/js)
JS_STAMP := tests/js/node_modules/.package-lock.json

$(JS_STAMP): tests/js/package.json tests/js/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20 and npm are needed for the JavaScript client tests"; exit 1; }
	npm ci --prefix tests/js --no-audit --no-fund --loglevel=error

# the API tooling of clients/typescript: tsc, socket.io-client's types, the generator, the AsyncAPI schema
TS_STAMP := clients/typescript/node_modules/.package-lock.json

$(TS_STAMP): clients/typescript/package.json clients/typescript/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20 and npm are needed for the TypeScript checks"; exit 1; }
	npm ci --prefix clients/typescript --no-audit --no-fund --loglevel=error

# headless Chromium and its driver from Debian, for the dashboard's browser test (no browser downloads)
browser:
	@[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || { \
	  command -v apt-get >/dev/null || { echo "install Chromium and chromedriver (Debian: chromium chromium-driver)"; exit 1; }; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; }

install: $(STAMP)

## regenerate clients/typescript/events.d.ts after editing docs/asyncapi.yaml
typescript-events: $(TS_STAMP)
	node clients/typescript/generate.mjs

## copy the socket.io-client browser bundle the dashboard uses from the npm package (tests/js pins it)
vendor-socketio: $(JS_STAMP)
	cp tests/js/node_modules/socket.io-client/dist/socket.io.min.js services/realtime/static/vendor/

## copy the Socket.IO Admin UI's built files (tests/js pins @socket.io/admin-ui) for the door to serve
## at /admin/ when ADMIN_UI_USERNAME/PASSWORD are set, without source maps; its icon font (@mdi/font,
## pinned there too) instead of the CDN's, and no web font: the door may run on a closed network
ADMIN_UI_DIST := tests/js/node_modules/@socket.io/admin-ui/ui/dist
MDI := tests/js/node_modules/@mdi/font
ADMIN_UI_STATIC := services/realtime/static/admin
vendor-admin-ui: $(JS_STAMP)
	rm -rf $(ADMIN_UI_STATIC) && mkdir -p $(ADMIN_UI_STATIC)/mdi/css $(ADMIN_UI_STATIC)/mdi/fonts
	cd $(ADMIN_UI_DIST) && find . -type f ! -name '*.map' ! -name index.html -exec cp --parents {} $(CURDIR)/$(ADMIN_UI_STATIC)/ \;
	cp $(ADMIN_UI_DIST)/../../LICENSE $(ADMIN_UI_STATIC)/LICENSE
	cp $(MDI)/css/materialdesignicons.min.css $(ADMIN_UI_STATIC)/mdi/css/
	cp $(MDI)/fonts/materialdesignicons-webfont.woff2 $(ADMIN_UI_STATIC)/mdi/fonts/
	cp $(MDI)/LICENSE $(ADMIN_UI_STATIC)/mdi/LICENSE
	sed -E -e 's#<link rel="stylesheet" href="https://fonts.googleapis.com/[^"]*">##' \
	  -e 's#https://cdn.jsdelivr.net/npm/@mdi/font@latest/css/#mdi/css/#' \
	  $(ADMIN_UI_DIST)/index.html > $(ADMIN_UI_STATIC)/index.html

## retake docs/dashboard.png (the README's picture of the dashboard)
screenshot: $(STAMP) $(JS_STAMP) browser
	DASHBOARD_SCREENSHOT=docs/dashboard.png $(BIN)/pytest -q -rs tests/stack/test_dashboard.py -k live

## start every service and the door on :5000 (Ctrl-C stops all of it)
run: $(STAMP)
	$(BIN)/python -m services.stack --replicas $(REPLICAS)

## the whole suite: unit, contract, deployment-file and stack tests, then the fault
## tests, which restart RabbitMQ and PostgreSQL and so run on their own, after everything else
test: $(STAMP) $(JS_STAMP) $(TS_STAMP) browser deploy-tools
	$(BIN)/pytest --ignore=tests/faults
	$(BIN)/pytest tests/faults

test-faults: $(STAMP) $(JS_STAMP)
	$(BIN)/pytest tests/faults

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit

test-stack: $(STAMP) $(JS_STAMP) browser
	$(BIN)/pytest tests/stack

test-deployment: $(STAMP) deploy-tools
	$(BIN)/pytest tests/deployment

## docker-compose (Debian's package) checks docker-compose.yml in the tests; without root
## or apt-get those tests are skipped and say why
deploy-tools: $(BIN)/promtool
	@command -v docker-compose >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; } \
	  || echo "docker-compose could not be installed (needs root and apt-get): its tests will be skipped"

## promtool checks and unit-tests deploy/observability's alert rules: taken out of Debian's
## prometheus package (installing the package would also start a Prometheus server)
$(BIN)/promtool: | $(BIN)/python
	@if command -v promtool >/dev/null; then ln -sf "$$(command -v promtool)" $@; \
	elif command -v apt-get >/dev/null && tmp=$$(mktemp -d) \
	  && (cd $$tmp && { apt-get download -qq prometheus 2>/dev/null || { apt-get update -qq && apt-get download -qq prometheus; }; }) \
	  && dpkg-deb --fsys-tarfile $$tmp/prometheus_*.deb | tar -xO ./usr/bin/promtool > $@.part \
	  && chmod +x $@.part && mv $@.part $@; then rm -rf $$tmp; \
	else rm -rf $$tmp $@.part; echo "promtool could not be installed (needs apt-get): its tests will be skipped"; fi

# the benchmark's extras (matplotlib for the plot, py-spy for BENCH_PROFILE=1)
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	@touch $@

NODE_BASELINE := bench/baselines/node/node_modules/.package-lock.json

$(NODE_BASELINE): bench/baselines/node/package.json bench/baselines/node/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20 and npm are needed for the Node baseline"; exit 1; }
	npm ci --prefix bench/baselines/node --no-audit --no-fund --loglevel=error

# the load generator's C reader of fan-out clients (bench/sink.c)
BENCH_SINK := var/bench/sink

$(BENCH_SINK): bench/sink.c
	@mkdir -p $(@D)
	$${CC:-cc} -O2 -Wall -Wextra -o $@ $<

## measure the platform (docs/benchmarks.md); BENCH_QUICK=1 for a one-minute smoke run. Not part of `make test`.
bench: $(STAMP) $(BENCH_STAMP) $(NODE_BASELINE) $(BENCH_SINK)
	ulimit -n $$(ulimit -Hn) && $(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) var .pytest_cache tests/js/node_modules clients/typescript/node_modules bench/baselines/node/node_modules
