# One entry point for everything: `make run` and `make test` set up a fresh machine by themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_VERSION := $(shell cat .python-version)
PYTHON ?= $(shell command -v python$(PYTHON_VERSION) || command -v python3)
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
UV_VERSION := $(shell sed -n 's/^uv==//p' dags/constraints.txt)
LOCAL := $(CURDIR)/.local
# The venv's tools first: `airflow standalone` starts its components by calling `airflow` from PATH.
export PATH := $(BIN):$(PATH)

# Installs compile byte-code: this machine sets PYTHONDONTWRITEBYTECODE, and mlflow/sklearn import 2-3x slower without it.
export UV_COMPILE_BYTECODE := 1
# The embedded Airflow (SQLite) and the local MLflow store live in the git-ignored .local/.
export AIRFLOW_HOME := $(LOCAL)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
# MLflow and the artifact store default to .local/ too (dags/ml_pipeline/config/model.py); the environment overrides.
AIRFLOW_PORT ?= 8080
MLFLOW_PORT ?= 5000

.PHONY: help install lock test test-ui lint docs airflow-db run predict score serve bench bench-scale bench-score bench-segments bench-serve ui

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt requirements-dev.txt serving/requirements.txt dags/constraints.txt .python-version
	@"$(PYTHON)" -c 'import sys; v = "%d.%d" % sys.version_info[:2]; sys.exit(0 if v == "$(PYTHON_VERSION)" else f"Python $(PYTHON_VERSION) is required (MWAA runs it); found {v} at {sys.executable}")'
	@test -x $(BIN)/python || "$(PYTHON)" -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@grep -v '^--constraint' requirements.txt > $(VENV)/requirements-local.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r $(VENV)/requirements-local.txt -r requirements-dev.txt \
	  -r serving/requirements.txt -c dags/constraints.txt
	@touch $@

install: $(BIN)/.installed ## Create .venv with the exact versions MWAA installs

lock: $(BIN)/.installed ## Re-resolve dags/constraints.txt (Airflow's constraints + project pins)
	PATH=$(BIN):$$PATH $(BIN)/python scripts/lock_constraints.py $(if $(AIRFLOW_CONSTRAINTS),--official $(AIRFLOW_CONSTRAINTS))

lint: $(BIN)/.installed lint-deploy ## Static checks (ruff, mypy; cfn-lint, checkov, zizmor, workflow schema)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

docs: $(BIN)/.installed ## Regenerate docs/configuration.md from the configuration model
	$(BIN)/python scripts/config_docs.py --write

test: lint ## Lint and run the whole test suite (offline)
	@scripts/ensure_java.sh
	$(BIN)/pytest

test-ui: $(BIN)/.installed ## Browser tests: make ui's servers driven by Chromium (installs Debian's chromium if missing)
	@command -v chromium > /dev/null || scripts/apt_install.sh chromium "the browser tests"
	$(BIN)/pytest -m ui tests/ui

# ---- core pipeline ----
airflow-db: $(BIN)/.installed
	@mkdir -p $(AIRFLOW_HOME)
	@$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || { cat $(AIRFLOW_HOME)/db-migrate.log; exit 1; }

run: $(BIN)/.installed ## Run classification_pipeline end to end locally and summarise the registered model
	@$(BIN)/python scripts/run_pipeline.py $(if $(CONF),--conf '$(CONF)')

# ENGINE=spark scores on local Spark (needs Java 17); SOURCE= a .csv/.parquet file or a folder of Parquet files.
score: $(BIN)/.installed ## Score rows with the champion (batch_predictions); ENGINE=spark, SOURCE=, VERSION=, CONF=
	@$(if $(filter spark,$(ENGINE)),scripts/ensure_java.sh)
	@$(BIN)/python scripts/run_scoring.py $(if $(ENGINE),--engine $(ENGINE)) $(if $(SOURCE),--source '$(SOURCE)') \
	  $(if $(VERSION),--model-version $(VERSION)) $(if $(CONF),--conf '$(CONF)')

bench-score: $(BIN)/.installed ## Scoring engines on 10^6 and 10^7 rows against plain pandas (SIZES=, NO_SPARK=1)
	$(BIN)/python bench/score.py $(if $(SIZES),--sizes $(SIZES)) $(if $(NO_SPARK),--no-spark)

predict: $(BIN)/.installed ## Load models:/<name>@champion and predict scripts/sample_input.csv (INPUT=, ARGS=)
	$(BIN)/python scripts/lookup_model.py --input $(or $(INPUT),scripts/sample_input.csv) $(ARGS)

SERVE_PORT ?= 8000
serve: $(BIN)/.installed ## Serve models:/<name>@champion over HTTP on 127.0.0.1 (SERVE_PORT=; MODEL_SERVER_* settings)
	@MODEL_SERVER_PORT=$(SERVE_PORT) $(BIN)/python -m serving

bench: $(BIN)/.installed ## Time and memory of DAG parsing, each task and a whole run, against MWAA-derived targets
	$(BIN)/python bench/run.py

bench-scale: $(BIN)/.installed ## The pipeline on 10^4, 10^5 and 10^6 synthetic rows: seconds, peak RSS, rows/s per task
	$(BIN)/python bench/scale.py $(if $(SIZES),--sizes $(SIZES))

bench-segments: $(BIN)/.installed ## One model per segment: sequential vs the airflow and spark engines (SEGMENTS=, LARGE=)
	@scripts/ensure_java.sh
	$(BIN)/python bench/segments.py $(if $(SEGMENTS),--segments $(SEGMENTS)) $(if $(LARGE),--large $(LARGE))

bench-serve: $(BIN)/.installed ## Model server vs `mlflow models serve` under Locust; alias moves under load (LOAD_SECONDS=)
	$(BIN)/python bench/serve.py $(if $(LOAD_SECONDS),--seconds $(LOAD_SECONDS))

ui: airflow-db ## Airflow (:8080) and the MLflow UI (:5000) on 127.0.0.1, no Docker; Ctrl-C stops both
	@$(BIN)/python scripts/local_ui.py --airflow-port $(AIRFLOW_PORT) --mlflow-port $(MLFLOW_PORT)

# ---- deploy to MWAA (issue: deploy) ----
# Infra/workflow linters live in their own venv: checkov's dependencies conflict with Airflow's constraints.
TOOLS_VENV := $(CURDIR)/.venv-tools
TOOLS := $(TOOLS_VENV)/bin

.PHONY: tools tools-lock lint-deploy deploy deploy-plan infra-up infra-down infra-destroy

$(TOOLS)/.installed: requirements-tools.txt | $(BIN)/.installed
	@test -x $(TOOLS)/python || "$(PYTHON)" -m venv $(TOOLS_VENV)
	$(BIN)/uv pip sync --quiet --python $(TOOLS)/python requirements-tools.txt
	@touch $@

tools: $(TOOLS)/.installed ## Install the pinned infra/workflow linters (hash-locked) into .venv-tools

tools-lock: $(BIN)/.installed ## Re-resolve requirements-tools.txt from requirements-tools.in
	$(BIN)/uv pip compile --quiet --python-version $(PYTHON_VERSION) --generate-hashes \
	  --custom-compile-command "make tools-lock" requirements-tools.in -o requirements-tools.txt

lint-deploy: $(TOOLS)/.installed ## cfn-lint + checkov on infra/, zizmor + GitHub schema on workflows (offline)
	$(TOOLS)/cfn-lint infra/*.yaml
	$(TOOLS)/checkov --quiet --compact --skip-download --framework cloudformation -d infra
	$(TOOLS)/zizmor --offline --quiet .github/workflows
	$(TOOLS)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

deploy: $(BIN)/.installed ## Deploy to MWAA (env MWAA_BUCKET, MWAA_ENVIRONMENT, AWS_REGION; DEPLOY_ARGS=--wait)
	$(BIN)/python -m deploy push $(DEPLOY_ARGS)

deploy-plan: $(BIN)/.installed ## Print what `make deploy` would upload, delete and update; changes nothing
	$(BIN)/python -m deploy push --dry-run $(DEPLOY_ARGS)

infra-up: $(BIN)/.installed ## Create/update bucket, OIDC deploy role and MWAA environment (BILLS HOURLY)
	$(BIN)/python -m deploy up $(INFRA_ARGS)

infra-down: $(BIN)/.installed ## Delete the MWAA environment: stops the hourly cost (bucket, roles kept)
	$(BIN)/python -m deploy down $(INFRA_ARGS)

infra-destroy: $(BIN)/.installed ## Delete the environment, then empty and delete the bucket and roles
	$(BIN)/python -m deploy destroy $(INFRA_ARGS)

# ---- local docker-compose stack (issue: compose) ----
# Airflow (CeleryExecutor) + Postgres + Redis + MLflow + S3 endpoint in containers, like MWAA; see docs/local-stack.md.
COMPOSE ?= docker compose

.PHONY: up down logs compose-test

# Secrets are generated per machine (never committed); an existing .env is left alone.
.env: | .env.example
	@"$(PYTHON)" scripts/compose_env.py .env

# 900 s: Postgres healthy (<= 120 s), airflow-init, then the Airflow services' start periods (300 s) and
# retries; a service that never becomes ready is reported unhealthy by its healthcheck before this.
up: .env ## Start the local stack (builds images; waits until every service is healthy)
	$(COMPOSE) up -d --build --wait --wait-timeout 900
	@set -a && . ./.env && set +a && \
	echo "Airflow UI  http://$$($(COMPOSE) port airflow-apiserver 8080)  login $${AIRFLOW_ADMIN_USERNAME} / $${AIRFLOW_ADMIN_PASSWORD}" && \
	echo "MLflow UI   http://$$($(COMPOSE) port mlflow 5000)  login $${MLFLOW_ADMIN_USERNAME} / $${MLFLOW_ADMIN_PASSWORD}" && \
	echo "Champion    http://$$($(COMPOSE) port model-server 8080)/invocations  (model server: docs/serving.md)" && \
	echo "DAGs from ./dags (new DAGs start paused). Stop: make down; wipe data too: $(COMPOSE) down -v"

down: .env ## Stop the local stack (data volumes are kept)
	$(COMPOSE) down --remove-orphans

logs: .env ## Follow the local stack's logs (SERVICE=airflow-worker for one service)
	$(COMPOSE) logs -f --tail 100 $(SERVICE)

# COMPOSE_TEST_ARGS: more pytest options, e.g. --compose-keep, --compose-skip-kill, --compose-timeout 1800,
# --compose-kill-iterations 800000, -x. -s shows each step's duration as it happens.
compose-test: $(BIN)/.installed ## Stack end to end: up, REST-triggered run, MLflow checks, worker kill, teardown
	$(BIN)/pytest -m compose tests/compose -s -v $(COMPOSE_TEST_ARGS)
