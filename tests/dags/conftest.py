"""Airflow for the DAG tests: a throwaway AIRFLOW_HOME with a SQLite metadata DB, dags/ as the DAG folder.

Airflow reads its configuration when first imported, so the environment is set here, at collection time,
before any test module imports ``airflow``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="gbv-airflow-"))

if "airflow" in sys.modules:  # pragma: no cover - a guard for whoever adds an earlier airflow import
    raise RuntimeError("airflow was imported before tests/dags/conftest.py could point it at a temp home")

AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
}
os.environ.update(AIRFLOW_ENV)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Run ``airflow db migrate`` once for the session."""
    result = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env={**os.environ, **AIRFLOW_ENV},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return AIRFLOW_HOME
