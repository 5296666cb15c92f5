# gbv — the two commands a newcomer needs are `make demo` and `make test`; each installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
export GBV_HOME ?= $(CURDIR)/.gbv

.PHONY: install demo test test-all faults lint format dagster airflow bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## the whole night on the demo world and the embedded DuckDB warehouse (no external services)
demo: install
	$(VENV)/bin/gbv demo

## the default test suite (DuckDB and the PostgreSQL at 127.0.0.1:5432, real Dagster and Airflow runs),
## then the fault-injection suite (kill -9, concurrency, service faults; prints a table of faults)
test: install
	$(VENV)/bin/pytest -m "not slow and not faults" -p no:cacheprovider
	$(VENV)/bin/pytest -m faults -p no:cacheprovider

## the fault-injection suite alone
faults: install
	$(VENV)/bin/pytest -m faults -p no:cacheprovider

## everything, slow tests included
test-all: install
	$(VENV)/bin/pytest -p no:cacheprovider

## the Label Studio round trip (~3 min on a clean setup, ~1 min once the venv exists): a real local
## label-studio 1.23 server from its own venv; .ci/run runs it after `make test`
LS_VENV ?= .venv-labelstudio
$(LS_VENV)/.installed-stamp:
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet --upgrade pip
	# sentry-sdk 3 drops an option label-studio 1.23 passes at start-up (TypeError: send_default_pii)
	$(LS_VENV)/bin/python -m pip install --quiet 'label-studio==1.23.*' 'sentry-sdk<3'
	touch $@

.PHONY: test-labelstudio
test-labelstudio: install $(LS_VENV)/.installed-stamp
	$(VENV)/bin/pytest -m labelstudio -p no:cacheprovider tests/crowd

lint: install
	$(VENV)/bin/ruff check .

format: install
	$(VENV)/bin/ruff format .

## the Dagster UI over GBV_HOME's runs (http://127.0.0.1:3000)
dagster: install
	DAGSTER_HOME=$(GBV_HOME)/dagster $(VENV)/bin/dagster dev -m assets.definitions -h 127.0.0.1 -p 3000

## Airflow 3 standalone (api-server, scheduler, dag-processor) with the retrain DAG (http://127.0.0.1:8080)
airflow: install
	mkdir -p $(GBV_HOME)/airflow
	AIRFLOW_HOME=$(GBV_HOME)/airflow AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False $(VENV)/bin/airflow standalone

## wall time per stage of a full night at 10,000 lots
bench: install
	$(VENV)/bin/gbv bench night --lots 10000

clean:
	rm -rf $(GBV_HOME)
