# One Backend: `make dev` gives a local backend, `make test` runs every test.
# Everything a target needs (the pinned emulator, cfn-lint, schemathesis) is installed here
# into .venv; nothing is installed by hand.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed
OBCTL := target/debug/obctl
STAGES := $(basename $(notdir $(wildcard stacks/*.yaml)))
EMULATOR_PORT ?= 4566
STATE := .obctl
# obctl against the local emulator only: dummy credentials, never a real profile.
LOCAL_AWS := env -u AWS_PROFILE AWS_ENDPOINT_URL=http://127.0.0.1:$(EMULATOR_PORT) \
	AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 OBCTL_POLL_MS=200
DEV_PORT ?= 8787
# The browser test (tests/e2e/browser.rs) needs Debian's chromium and chromium-driver;
# `make test` installs them when missing and it may (root or passwordless sudo).
# auto: when they cannot be installed, warn loudly and skip only that test;
# require: fail instead (BROWSER_TEST=require make test).
BROWSER_TEST ?= auto
# Extra `obctl dev` flags, e.g. DEV_FLAGS=--in-process or DEV_FLAGS="--build-profile release".
DEV_FLAGS ?=

.PHONY: help venv build test lint-templates lint fmt dev emulator emulator-stop bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(VENV_STAMP): tests/emulator/requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.9+ (Debian: apt-get install python3 python3-venv)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/emulator/requirements.lock
	touch $@

venv: $(VENV_STAMP) ## Install the pinned emulator (moto), cfn-lint and schemathesis into .venv

build: ## Build every crate and test target (one cargo invocation)
	cargo build --workspace --all-targets --locked

lint-templates: venv build ## Render every stage and check it with AWS's cfn-lint
	@mkdir -p target/rendered
	@for stage in $(STAGES); do $(OBCTL) render --stage $$stage --out target/rendered/$$stage.yaml; done
	$(VENV)/bin/cfn-lint -- $(addprefix target/rendered/,$(addsuffix .yaml,$(STAGES)))
	@echo "cfn-lint: no findings in $(STAGES)"

test: venv build lint-templates ## Run every test (unit, end-to-end against the emulator and in headless Chromium, cfn-lint)
	@skipped=""; \
	warn() { printf '\n%s\n%s\n%s\n%s\n\n' \
	  "######## WARNING: THE BROWSER TEST IS SKIPPED ########" \
	  "  why: $$1" \
	  "  every other test runs; a skipped browser test is not a pass." \
	  "  fix: install chromium and chromium-driver (Debian), or run as root; BROWSER_TEST=require makes this an error" >&2; }; \
	if ! reason=$$(tests/browser/ensure-chromium.sh); then \
	  if [ "$(BROWSER_TEST)" = require ]; then echo "error: the browser test cannot run: $$reason" >&2; exit 1; fi; \
	  skipped="$$reason"; warn "$$skipped"; \
	fi; \
	echo "cargo test --workspace --locked$${skipped:+   (OB_BROWSER_SKIP set: the browser test is skipped)}"; \
	OB_BROWSER_SKIP="$$skipped" cargo test --workspace --locked; \
	if [ -n "$$skipped" ]; then warn "$$skipped"; fi

lint: ## rustfmt and clippy, as a reviewer would run them
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt: ## Format the code
	cargo fmt --all

emulator: venv ## Start the local AWS emulator on 127.0.0.1:$(EMULATOR_PORT) (background; idempotent)
	@mkdir -p $(STATE)
	@if [ -f $(STATE)/moto.pid ] && kill -0 $$(cat $(STATE)/moto.pid) 2>/dev/null; then \
	  echo "emulator already running on 127.0.0.1:$(EMULATOR_PORT) (pid $$(cat $(STATE)/moto.pid))"; \
	else \
	  nohup $(VENV)/bin/python tests/emulator/moto_launcher.py --port $(EMULATOR_PORT) --pidfile $(STATE)/moto.pid > $(STATE)/moto.log 2>&1 & \
	  for i in $$(seq 1 100); do grep -q READY $(STATE)/moto.log 2>/dev/null && break; sleep 0.1; done; \
	  grep -q READY $(STATE)/moto.log || { echo "error: the emulator did not start; see $(STATE)/moto.log"; exit 1; }; \
	  echo "emulator running on 127.0.0.1:$(EMULATOR_PORT) (log: $(STATE)/moto.log)"; \
	fi

emulator-stop: ## Stop the local AWS emulator
	@if [ -f $(STATE)/moto.pid ]; then kill $$(cat $(STATE)/moto.pid) 2>/dev/null || true; rm -f $(STATE)/moto.pid; echo "emulator stopped"; fi

# The demo app and its key come from the admin commands, as an operator would make them:
# `apps create --if-not-exists` leaves an existing demo app alone, and
# `keys create --replace` revokes the previous `make-dev` key.
dev: venv build emulator ## Run the backend locally: emulator, `local` stage deployed into it, demo app, one process per function behind the API on :8787
	$(LOCAL_AWS) $(OBCTL) bootstrap --stage local
	$(LOCAL_AWS) $(OBCTL) deploy --stage local --yes
	$(LOCAL_AWS) $(OBCTL) apps create --stage local --id demo --name "Demo app" --origin http://localhost:5173 --if-not-exists
	@KEY=$$($(LOCAL_AWS) $(OBCTL) keys create --stage local --app demo --name make-dev --scopes '*' --replace -q); \
	echo; \
	echo "demo app: demo   API key (shown once; \`make dev\` issues a new one): $$KEY"; \
	echo "try:"; \
	echo "  curl -s -X POST http://127.0.0.1:$(DEV_PORT)/auth/register -H 'X-API-Key: $$KEY' -H 'Content-Type: application/json' \\"; \
	echo "    -d '{\"appId\":\"demo\",\"email\":\"ada@example.com\",\"password\":\"correct horse battery\"}'"; \
	echo "or open the example page: http://127.0.0.1:$(DEV_PORT)/_dev/example/?app=demo&key=$$KEY"; \
	echo
	$(LOCAL_AWS) $(OBCTL) dev --stage local --port $(DEV_PORT) $(DEV_FLAGS)

bench: venv build ## Latency of the API's hot paths, cold starts and zip sizes of the functions (BENCH_PROFILE=release: as shipped), the local gateway's cost, render
	cargo bench -p ob-tests --bench api --locked
	env AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing cargo bench -p ob-tests --bench local --locked

clean: emulator-stop ## Remove build output, the venv and local state
	cargo clean
	rm -rf $(VENV) $(STATE)
