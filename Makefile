# One entry point: `make demo` runs the demo, `make test` runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install js chromium lint typecheck test-py test-js bench clean

$(STAMP): pyproject.toml package.json package-lock.json
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	npm ci --no-audit --no-fund
	npm run build
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

js: $(STAMP)
	npm run build

# Debian's chromium drives the browser tests; Playwright's own browser download is never used.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	  else echo "install Debian's chromium (sudo apt-get install chromium)"; exit 1; fi; }

demo: install
	$(BIN)/python -m rt_widgets.demo.lab

lint: install
	$(BIN)/ruff check rt_widgets tests bench
	$(BIN)/mypy
	npx tsc --noEmit -p js

test-js: install
	npm test

test-py: install chromium
	$(BIN)/python -m pytest -q -ra

test: install chromium lint test-js test-py

bench: install
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) node_modules rt_widgets/static
