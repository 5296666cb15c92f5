"""Every DAG file in dags/ imports cleanly, carries tags and retries (Astronomer's DAG integrity test)."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS_FOLDER.glob("*.py") if p.name != "__init__.py")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))  # examples off: AIRFLOW__CORE__LOAD_EXAMPLES (conftest)


def test_dag_files_exist():
    assert [p.name for p in DAG_FILES] == ["retrain.py"]


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dags_have_tags_and_retries(dagbag, path):
    dags = [d for d in dagbag.dags.values() if Path(d.fileloc).resolve() == path.resolve()]
    assert dags, f"{path.name} defines no DAG"
    for dag in dags:
        assert dag.tags, f"{dag.dag_id} has no tags"
        assert dag.default_args.get("retries", 0) >= 2, f"{dag.dag_id} retries < 2"
        for t in dag.tasks:
            assert t.retries >= 2, f"{dag.dag_id}.{t.task_id} retries < 2"


def test_retrain_dag_shape(dagbag):
    dag = dagbag.dags["gbv_retrain"]
    assert set(dag.tags) >= {"gbv", "model"}
    assert [t.task_id for t in dag.topological_sort()] == [
        "snapshot", "train", "evaluate", "register_and_promote", "notify"]
