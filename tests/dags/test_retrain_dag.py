"""A real ``dag.test()`` run of gbv_retrain against a temp GBV_HOME whose DuckDB warehouse holds a demo world."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

AS_OF = "2026-10-01"


@pytest.fixture()
def gbv_home(tmp_path, monkeypatch):
    from gbv.demo.world import generate_world
    from gbv.settings import get_settings
    from warehouse.db import get_engine
    from warehouse.loaders import upsert_lots

    monkeypatch.setenv("GBV_HOME", str(tmp_path / "gbv"))
    monkeypatch.delenv("GBV_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("GBV_DEVICE", "auto")
    settings = get_settings().ensure_dirs()
    engine = get_engine(settings)
    upsert_lots(engine, generate_world(n_lots=1500, seed=11).lots)
    yield settings, engine
    engine.dispose()


def _run(dag):
    from airflow.utils.state import DagRunState

    run = dag.test(run_conf={"as_of": AS_OF})
    assert run.state == DagRunState.SUCCESS, run.state
    return run


def test_retrain_dag_promotes_then_keeps_champion(airflow_db, gbv_home):
    from airflow.dag_processing.dagbag import DagBag

    from model.card import CARD_FILE
    from model.store import ModelStore
    from warehouse.schema import dim_model

    settings, engine = gbv_home
    dagbag = DagBag()  # AIRFLOW__CORE__DAGS_FOLDER = dags/ (conftest)
    dag = dagbag.dags["gbv_retrain"]
    _run(dag)
    store = ModelStore(settings.models_dir, engine)
    champion = store.champion_version()
    assert champion is not None and champion.startswith("lgbm_baseline-20261001-")
    assert store.card(champion)["as_of"] == AS_OF
    card = (settings.models_dir / champion / CARD_FILE).read_text()  # written by the DAG's own tasks
    assert "- Status: **champion** since " in card and "| this model (" in card and "| house estimate" in card

    _run(dag)  # no new data: the retrained model is the same version; the champion stays
    assert store.champion_version() == champion
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(dim_model)
                            .where(dim_model.c.status == "champion")).scalar() == 1
