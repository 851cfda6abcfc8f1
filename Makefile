# smartpapers task runner. `make help` lists the targets.
# Third-party tools are pinned in scripts/install-tools.sh and cached in
# $(SMARTPAPERS_CACHE) (default ~/.cache/smartpapers), shared by every clone.

SHELL := /bin/bash
SMARTPAPERS_CACHE ?= $(HOME)/.cache/smartpapers
export SMARTPAPERS_CACHE
export PATH := $(SMARTPAPERS_CACHE)/bin:$(PATH)
UV := $(SMARTPAPERS_CACHE)/bin/uv
WORKERS ?= 2
PYTEST_ARGS ?=
# images of the container test backend (make test-containers): the ones built here by
# scripts/server-images.sh; with a registry, e.g. CONTAINER_MONGO_IMAGE=mongo:7
pinned = $(shell bash -c 'source scripts/lib/pinned.sh && pinned $(1)')
CONTAINER_MONGO_IMAGE ?= smartpapers-local/secantusdb:$(call pinned,SECANTUSDB_VERSION)
CONTAINER_SQS_IMAGE ?= smartpapers-local/elasticmq:$(call pinned,ELASTICMQ_VERSION)
CONTAINER_NETWORK ?= host

.DEFAULT_GOAL := help
.PHONY: help tools dev-tools docs-config deps dev test test-unit test-integration test-e2e test-deploy \
	release-check release-set release-notes test-release \
        test-observability test-images test-containers test-faults lint typecheck fmt dashboards dashboards-check queues \
        images cluster-up cluster-down test-cluster kind-up kind-down skaffold-dev chart-test keda-sim clean loadtest bench

help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}'

tools: ## install every pinned tool (make test's) if missing
	bash scripts/install-tools.sh all

dev-tools: ## install what make dev needs (uv, ElasticMQ, the database) if missing
	bash scripts/install-tools.sh uv elasticmq secantusdb

deps: ## install Python dependencies (uv workspace, locked)
	bash scripts/install-tools.sh uv
	$(UV) sync --frozen

dev: dev-tools deps ## run the whole system locally in the foreground (Ctrl-C stops it)
	$(UV) run smartpapers-dev --workers $(WORKERS) $(if $(PROMETHEUS),--prometheus)

test: tools deps ## lint, type-check and run every test suite (what CI runs)
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy
	$(UV) run pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-containers PYTEST_ARGS="$(PYTEST_ARGS)"
	$(MAKE) --no-print-directory test-cluster PYTEST_ARGS="$(PYTEST_ARGS)"

test-unit: deps ## unit tests only (no servers)
	$(UV) run pytest tests/unit $(PYTEST_ARGS)

test-integration: dev-tools deps ## API and worker against real ElasticMQ + the database
	$(UV) run pytest tests/integration $(PYTEST_ARGS)

test-e2e: dev-tools deps ## API + 2 worker processes, 200 concurrent submissions, the demo page in Chromium
	bash scripts/install-tools.sh chromium
	$(UV) run pytest tests/e2e $(PYTEST_ARGS)

test-deploy chart-test: tools deps ## offline chart verification: helm lint/template, schemas, policies, KEDA sim
	$(UV) run pytest tests/deploy $(PYTEST_ARGS)

test-observability: tools deps ## dashboard lint/staleness, promtool check + test rules
	$(UV) run pytest tests/observability $(PYTEST_ARGS)

lint: deps ## ruff
	$(UV) run ruff check .
	$(UV) run ruff format --check .

typecheck: deps ## mypy strict
	$(UV) run mypy

fmt: deps ## format and autofix
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

dashboards: deps ## regenerate the dashboard JSON and Prometheus rules into the chart
	$(UV) run python -m dashboards.generate

dashboards-check: deps ## fail if the committed dashboard/rules are stale
	$(UV) run python -m dashboards.generate --check

docs-config: deps ## regenerate the settings table of docs/configuration.md from the Settings classes
	$(UV) run python -m smartpapers.devstack.configdoc

release-check: deps ## VERSION agrees with the packages, the chart and the changelog; the chart-bump rule
	$(UV) run smartpapers-release check
	$(UV) run smartpapers-release chart-bump

release-set: deps ## write VERSION=X.Y.Z everywhere, date the changelog's Unreleased section, re-lock
	@test -n "$(VERSION)" || { echo "usage: make release-set VERSION=X.Y.Z" >&2; exit 2; }
	$(UV) run smartpapers-release set $(VERSION)
	$(UV) lock

release-notes: deps ## print a version's CHANGELOG section (VERSION=X.Y.Z; default: the current one)
	@$(UV) run smartpapers-release notes $(VERSION)

test-release: tools deps ## release checks: one version, chart-bump rule, helm package, actionlint
	$(UV) run pytest tests/release $(PYTEST_ARGS)

queues: deps ## create the queues (+DLQ, redrive) on AWS or SMARTPAPERS_SQS_ENDPOINT_URL
	$(UV) run smartpapers-queues create

images: ## build both images (Debian's Docker engine started if needed; IMAGE_BASES=upstream|local|auto)
	bash scripts/build-images.sh

test-containers: dev-tools deps ## the integration suite against containers (images built here: scripts/server-images.sh)
	@running=$$(bash scripts/docker-engine.sh check && echo yes || echo no); \
	bash scripts/server-images.sh >/dev/null && \
	SMARTPAPERS_TEST_BACKEND=containers SMARTPAPERS_TEST_CONTAINER_NETWORK=$(CONTAINER_NETWORK) \
	TESTCONTAINERS_RYUK_DISABLED=true \
	SMARTPAPERS_TEST_MONGO_IMAGE=$(CONTAINER_MONGO_IMAGE) SMARTPAPERS_TEST_SQS_IMAGE=$(CONTAINER_SQS_IMAGE) \
	  $(UV) run pytest tests/integration $(PYTEST_ARGS); rc=$$?; \
	[ "$$running" = yes ] || bash scripts/docker-engine.sh stop; exit $$rc

test-images: dev-tools deps ## build both images and run them against the local servers (uid, read-only root, drain)
	$(UV) run pytest tests/images $(PYTEST_ARGS)

cluster-up: ## start the local single-node Kubernetes cluster (root; docs/cluster.md)
	bash scripts/cluster.sh up

cluster-down: ## stop the local cluster and remove its state
	bash scripts/cluster.sh down

test-cluster: dev-tools deps ## helm install + helm test + a 2,000 burst scaled by KEDA on the local cluster
	@up=$$(bash scripts/cluster.sh status >/dev/null 2>&1 && echo yes || echo no); \
	bash scripts/cluster.sh up && \
	bash scripts/cluster.sh exec $(UV) run pytest tests/cluster -m cluster -s $(PYTEST_ARGS); rc=$$?; \
	[ "$$up" = yes ] || bash scripts/cluster.sh down; exit $$rc

kind-up: ## create the kind cluster (context kind-smartpapers)
	kind get clusters | grep -qx smartpapers || kind create cluster --config deploy/kind/cluster.yaml

kind-down: ## delete the kind cluster
	kind delete cluster --name smartpapers

skaffold-dev: kind-up ## build, load into kind, install deps + KEDA + chart, API on 127.0.0.1:8000
	skaffold dev --port-forward --kube-context kind-smartpapers

keda-sim: deps ## replay a 10k burst against the rendered ScaledObject
	$(UV) run python tests/deploy/keda_sim.py --trace concurrent

clean: ## remove local data and caches of this clone (not the shared tool cache)
	rm -rf .data .venv .mypy_cache .ruff_cache .pytest_cache

test-faults: dev-tools deps ## fault injection on the local stack, incl. the 1,000-submission SIGTERM burst
	$(UV) run pytest tests/faults -m faults $(PYTEST_ARGS)
	@cat reports/faults.json

LOADTEST_ARGS ?= --total 1000 --burst
loadtest: dev-tools deps ## load-test a running API (make dev): LOADTEST_ARGS="--url … --total … --concurrency …"
	@mkdir -p reports
	$(UV) run smartpapers-loadtest $(LOADTEST_ARGS) --json-out reports/loadtest.json --png-out reports/loadtest.png

BENCH_ARGS ?=
bench: dev-tools deps ## benchmark on fresh local stacks vs a naive baseline (~30 min here; BENCH_ARGS="--quick --repeat 1" ~3 min)
	@mkdir -p reports
	set -o pipefail; $(UV) run smartpapers-loadtest bench --json-out reports/bench.json $(BENCH_ARGS) | tee reports/bench.md
