# Phalanx: two commands on a fresh machine.
#   make demo   install, then run the simulator on the bundled demo scenario
#   make test   install, build/fetch the test API server (cached), run every check and test
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scheduler/sim/scenarios/demo.yaml
PYTEST_ARGS ?=

.PHONY: help install demo test check lint typecheck imports crds verify-crds unit integration bench lock k8s tmux clean

help:
	@echo "make demo   - install and run 'phalanx simulate' on $(SCENARIO)"
	@echo "make test   - install and run every check and test (unit + real kube-apiserver)"
	@echo "make bench  - benchmarks (figures and ratios, not pass/fail)"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/phalanx simulate $(SCENARIO)

# The real API server the integration tests run against: built once from Debian's source, then cached.
k8s:
	@hack/k8s-test-server.sh >/dev/null

# Prometheus and promtool for the monitoring tests: Debian's package, fetched once, then cached.
.PHONY: prometheus
prometheus:
	@hack/prometheus.sh >/dev/null

# The real terminal tests/integration/test_top.py drives `phalanx top` in (installed or cached if missing).
tmux:
	@hack/tmux.sh >/dev/null

# The headless browser tests/integration/test_report_browser.py opens the --html report in (Debian's chromium).
.PHONY: chromium
chromium:
	@hack/chromium.sh >/dev/null

test: $(STAMP) k8s prometheus tmux chromium check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: lint typecheck imports verify-crds verify-manifests

lint: $(STAMP)
	$(BIN)/ruff check scheduler tests hack
	$(BIN)/ruff format --check scheduler tests hack

typecheck: $(STAMP)
	$(BIN)/mypy scheduler tests

imports: $(STAMP)
	$(BIN)/lint-imports

crds: $(STAMP)
	$(BIN)/python hack/update-crds.py

verify-crds: $(STAMP)
	$(BIN)/python hack/update-crds.py --check

# The base and every overlay render with the kustomize in the kubectl the tests cache (v2.0.3 in kubectl 1.20);
# tests/integration/test_manifests.py also applies them to an RBAC API server.
.PHONY: verify-manifests
verify-manifests: k8s
	@kubectl="$$(hack/k8s-test-server.sh)/bin/kubectl"; \
	for dir in manifests manifests/base manifests/overlays/*/; do \
	  "$$kubectl" kustomize "$$dir" >/dev/null || { echo "$$dir does not render with $$kubectl" >&2; exit 1; }; \
	done

unit: $(STAMP)
	$(BIN)/python -m pytest -m 'not integration' $(PYTEST_ARGS)

integration: $(STAMP) k8s tmux chromium
	$(BIN)/python -m pytest -m integration $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python hack/bench.py

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^phalanx' > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
