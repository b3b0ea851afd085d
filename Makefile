# tensor-trace: the three commands a user needs.
#
#   make run [ARGS="serve model.gguf --prompt '…'"]   build everything, start the viewer
#   make test                                         every test: Rust, web unit, browser e2e, fuzz smoke
#   make build                                        the release binary with the web bundle inside
#
# The web bundle (web/dist) is embedded into the binary at compile time, so it is built first.

CARGO ?= cargo
NPM ?= npm
ARGS ?=

BIN := $(abspath $(or $(CARGO_TARGET_DIR),target))/release/tensor-trace
WEB_SRC := $(shell find web/src web/index.html web/vite.config.ts web/tsconfig.json web/package.json -type f 2>/dev/null)

.PHONY: run build web test test-rust test-web test-e2e test-fuzz

run: web
	$(CARGO) run --release -p tensor-trace -- $(ARGS)

build: web
	$(CARGO) build --release -p tensor-trace

# npm writes node_modules/.package-lock.json on every install: reinstall when the lock changes.
web/node_modules/.package-lock.json: web/package-lock.json
	cd web && $(NPM) ci --no-audit --no-fund --loglevel=error

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SRC)
	cd web && $(NPM) run build

web: web/dist/index.html

test: test-rust test-web test-e2e test-fuzz

test-rust:
	$(CARGO) test --workspace

test-web: web/node_modules/.package-lock.json
	cd web && $(NPM) test

test-e2e: build
	cd web && TT_BIN=$(BIN) $(NPM) run e2e

test-fuzz:
	scripts/fuzz-smoke
