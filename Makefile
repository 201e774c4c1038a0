# One entry point for everything: `make run` and `make test` set up a fresh machine by themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_VERSION := $(shell cat .python-version)
PYTHON ?= $(shell command -v python$(PYTHON_VERSION) || command -v python3)
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
UV_VERSION := $(shell sed -n 's/^uv==//p' dags/constraints.txt)
LOCAL := $(CURDIR)/.local

# Installs compile byte-code: this machine sets PYTHONDONTWRITEBYTECODE, and mlflow/sklearn import 2-3x slower without it.
export UV_COMPILE_BYTECODE := 1
# The embedded Airflow (SQLite) and the local MLflow store live in the git-ignored .local/.
export AIRFLOW_HOME := $(LOCAL)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export MLFLOW_TRACKING_URI ?= sqlite:///$(LOCAL)/mlflow/mlflow.db
export ML_PIPELINE_ARTIFACT_ROOT ?= $(LOCAL)/artifacts

.PHONY: help install lock test lint run predict ui

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt requirements-dev.txt dags/constraints.txt .python-version
	@"$(PYTHON)" -c 'import sys; v = "%d.%d" % sys.version_info[:2]; sys.exit(0 if v == "$(PYTHON_VERSION)" else f"Python $(PYTHON_VERSION) is required (MWAA runs it); found {v} at {sys.executable}")'
	@test -x $(BIN)/python || "$(PYTHON)" -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@grep -v '^--constraint' requirements.txt > $(VENV)/requirements-local.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r $(VENV)/requirements-local.txt -r requirements-dev.txt -c dags/constraints.txt
	@touch $@

install: $(BIN)/.installed ## Create .venv with the exact versions MWAA installs

lock: $(BIN)/.installed ## Re-resolve dags/constraints.txt (Airflow's constraints + project pins)
	PATH=$(BIN):$$PATH $(BIN)/python scripts/lock_constraints.py $(if $(AIRFLOW_CONSTRAINTS),--official $(AIRFLOW_CONSTRAINTS))

lint: $(BIN)/.installed ## Static checks
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint ## Lint and run the whole test suite (offline)
	$(BIN)/pytest

# ---- core pipeline (issue: the core) ----
# ---- deploy to MWAA (issue: deploy) ----
# ---- local docker-compose stack (issue: compose) ----
