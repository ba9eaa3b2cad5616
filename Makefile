# Switchboard: one command to run the whole system locally, one to test everything.
#   make dev    the whole system on loopback (emulator, every function, a sandbox SMS provider)
#   make test   every check CI runs (format, lints, template validation, the API contract run, all tests)
# Both install what they need themselves (a project-local Python virtualenv for moto, cfn-lint,
# the SAM CLI and schemathesis); Rust comes from the machine's toolchain.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PIP := $(VENV)/bin/pip
# Dummy credentials and a region for tools that insist on them (nothing here talks to AWS).
TOOL_ENV := AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local SAM_CLI_TELEMETRY=0
CARGO_FLAGS := --locked

.PHONY: help venv build dev up test lint fmt check-template contract unit bench sam-build deploy clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

$(VENV)/.installed: infra/requirements.txt infra/moto_server_serialized.py
	python3 -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r infra/requirements.txt
	printf '#!/bin/sh\nexec "%s/$(VENV)/bin/python" "%s/infra/moto_server_serialized.py" "$$@"\n' "$(CURDIR)" "$(CURDIR)" > $(VENV)/bin/moto-server-serialized
	chmod +x $(VENV)/bin/moto-server-serialized
	touch $@

venv: $(VENV)/.installed ## install moto, cfn-lint and the SAM CLI into .venv

build: ## build every binary (the functions, the local stack, the sandbox provider)
	cargo build --workspace --bins $(CARGO_FLAGS)

dev: venv build ## run the whole system locally with demo data and a walk-through
	./target/debug/switchboard-local dev

up: venv build ## run the whole system locally, without demo data
	./target/debug/switchboard-local up

fmt: ## format the code
	cargo fmt --all

lint: ## formatting and clippy, warnings are errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets $(CARGO_FLAGS) -- -D warnings

check-template: venv ## cfn-lint and sam validate --lint on template.yaml
	$(VENV)/bin/cfn-lint template.yaml
	$(TOOL_ENV) $(VENV)/bin/sam validate --lint --template template.yaml

$(VENV)/.contract-tools: infra/requirements-contract.txt $(VENV)/.installed
	$(PIP) install --quiet --disable-pip-version-check -r infra/requirements-contract.txt
	touch $@

contract: $(VENV)/.contract-tools build ## fuzz openapi.yaml against the local stack with schemathesis (no 5xx)
	VENV=$(VENV) infra/contract.sh

test: venv lint check-template build contract ## everything CI runs
	cargo test --workspace $(CARGO_FLAGS)

unit: ## only the fast tests (no emulator)
	cargo test --workspace --lib --bins $(CARGO_FLAGS)

bench: venv build ## run the benchmarks and record them in docs/benchmarks.md
	cargo build --release --bins $(CARGO_FLAGS) -p webhook-ingest -p router -p sender -p admin-api -p agent-api -p outbox-reconciler -p auto-close -p channel-health -p queue-sla -p sla-timer -p template-sync -p event-push -p chat-log-export -p campaign-worker
	cargo bench -p domain --bench webhook $(CARGO_FLAGS) -- --noplot
	cargo bench -p system-tests --bench system $(CARGO_FLAGS)
	python3 infra/bench_report.py > target/bench/benchmarks.md.new
	mv target/bench/benchmarks.md.new docs/benchmarks.md
	@echo "wrote docs/benchmarks.md"

$(VENV)/.build-tools: infra/requirements-build.txt $(VENV)/.installed
	$(PIP) install --quiet --disable-pip-version-check -r infra/requirements-build.txt
	touch $@

sam-build: $(VENV)/.build-tools ## build every function for Lambda (arm64) with cargo-lambda
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(TOOL_ENV) $(VENV)/bin/sam build --beta-features

deploy: sam-build ## deploy with SAM (asks for the stack's parameters)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam deploy --guided

clean: ## remove build output, logs and the virtualenv
	cargo clean
	rm -rf $(VENV) .aws-sam .local
