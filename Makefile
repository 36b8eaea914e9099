# Waymark — two commands: `make run` (embedded, nothing installed but Python) and `make test`.
# Everything else is here for developers and operators; `make help` lists it.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export WAYMARK_CACHE ?= $(HOME)/.cache/waymark
export PIP_CACHE_DIR ?= $(WAYMARK_CACHE)/pip

.PHONY: help venv run test unit integration e2e lint fmt bench stack stack-down cluster cluster-down balancer infra-install infra-up infra-down infra-reset browser monitoring clean

help:
	@echo "make run          all services in one process on the embedded default, with a demo region"
	@echo "make test         lint, install everything, start Kafka + FerretDB, run unit + integration + e2e"
	@echo "make stack        every process under supervisord: Kafka, FerretDB + PostgreSQL, per service HAProxy ->"
	@echo "                  two gunicorn APIs + two workers, demo seeded; survives kill -9 of any process"
	@echo "make stack-down   stop the stack (Kafka and the store keep their data)"
	@echo "make infra-reset  stop Kafka + the store and delete their data (the next start is empty)"
	@echo "make cluster      a three-broker Kafka KRaft cluster on loopback (RF 3, min ISR 2); cluster-down stops it"
	@echo "make bench        benchmarks (tables on stdout); BENCH='--quick pipeline' runs a quick subset"
	@echo "make lint / fmt   ruff check + ruff format --check (make test runs lint first) / fix both"

# The venv is rebuilt only when the dependency declarations change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/waymark demo

infra-install: venv
	deploy/infra.sh install

infra-up: infra-install
	deploy/infra.sh start

infra-down:
	deploy/infra.sh stop

# `deploy/infra.sh start` keeps data across restarts; wiping is only ever this explicit step.
infra-reset:
	deploy/infra.sh reset

browser:
	deploy/browser.sh install
	deploy/oidc-provider.sh install

# HAProxy (Debian's package), the stack's load balancer in front of each service's API instances.
balancer:
	deploy/stack.sh install

monitoring:
	deploy/prometheus.sh install

unit: venv
	$(BIN)/pytest tests/unit

integration: infra-up
	$(BIN)/pytest tests/integration

e2e: infra-up browser monitoring balancer
	$(BIN)/pytest tests/e2e

# Lints first (seconds; a lint failure stops here, before anything is installed or started), then
# starts the real parts from empty (reset: the services' consumer groups and topics are fixed, so
# a backlog left on a kept broker would stall the e2e stack), runs every tier, always stops
# them, and exits with pytest's code. CI runs exactly this.
test: lint infra-install browser monitoring balancer
	@deploy/infra.sh reset && deploy/infra.sh start || { deploy/infra.sh stop; exit 1; }; \
	$(BIN)/pytest tests/unit tests/integration tests/e2e; rc=$$?; \
	deploy/infra.sh stop; \
	exit $$rc

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# BENCH passes arguments: `make bench BENCH="--quick latency"`; `python -m bench --list` names them.
# wrk (the HTTP load generator) is installed once from Debian; without it the API benchmark says so and skips.
BENCH ?=
bench: venv
	-deploy/wrk.sh install
	$(BIN)/python -m bench $(BENCH)

# Kafka, FerretDB and PostgreSQL run under the stack's supervisord (deploy/infra.sh's processes
# are handed over, data kept); stack-down stops them with everything else.
stack: venv infra-install balancer
	deploy/stack.sh start
	deploy/stack.sh run $(BIN)/waymark seed

stack-down:
	-deploy/stack.sh stop
	deploy/infra.sh stop

# A three-node KRaft cluster beside the dev broker; point clients at it with
# KAFKA_BOOTSTRAP=$$(deploy/kafka-cluster.sh bootstrap). docs/runbooks/kafka-cluster.md
cluster: venv infra-install
	deploy/kafka-cluster.sh start

cluster-down:
	deploy/kafka-cluster.sh stop

clean:
	rm -rf .run .pytest_cache .ruff_cache
