"""gbv_retrain: weekly retrain of the valuation model (thin DAG; the work lives in ``model.train``).

snapshot -> train -> evaluate -> register_and_promote -> notify

* ``as_of`` is the run's ``conf["as_of"]`` (``YYYY-MM-DD``) when given, else the run's logical date
  (or its ``run_after`` for manual runs without one).
* Settings (``GBV_HOME``, ``GBV_WAREHOUSE_URL``, ``GBV_DEVICE``, ``GBV_SEED``) are read from the environment
  inside each task; nothing touches the warehouse or imports the model stack when the file is parsed.
* XCom carries only small values: the snapshot path, the model version and the metrics dict.
* The train task trains on the device ``model.compute.pick_device`` gives (the GPU when torch sees one) and,
  unless ``conf["kind"]`` names one, the kind ``model.train.default_kind`` picks: the ensemble of the fine-tuned
  transformer and LightGBM on a GPU, LightGBM on a CPU. The challenger is promoted only if it beats the champion on the holdout.
"""

from __future__ import annotations

import datetime as dt
import logging

from airflow.sdk import dag, get_current_context, task

log = logging.getLogger(__name__)

DEFAULT_ARGS = {
    "owner": "gbv",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=5),
}


def _conf() -> dict:
    dag_run = get_current_context().get("dag_run")
    return (getattr(dag_run, "conf", None) or {}) if dag_run is not None else {}


def _as_of() -> str:
    context = get_current_context()
    dag_run = context.get("dag_run")
    conf = (getattr(dag_run, "conf", None) or {}) if dag_run is not None else {}
    if conf.get("as_of"):
        return dt.date.fromisoformat(str(conf["as_of"])[:10]).isoformat()
    when = context.get("logical_date") or getattr(dag_run, "run_after", None) or dt.datetime.now(dt.UTC)
    return when.date().isoformat()


@dag(
    dag_id="gbv_retrain",
    schedule="@weekly",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["gbv", "model"],
    doc_md=__doc__,
)
def gbv_retrain():
    @task
    def snapshot() -> str:
        from gbv.settings import get_settings
        from model.train import snapshot_dir, snapshot_training_set
        from warehouse.db import get_engine

        settings = get_settings().ensure_dirs()
        as_of = dt.date.fromisoformat(_as_of())
        path = snapshot_training_set(get_engine(settings), as_of, snapshot_dir(settings))
        return str(path)

    @task
    def train(snapshot_path: str) -> str:
        from gbv.settings import get_settings
        from model.train import default_kind, train_challenger

        settings = get_settings().ensure_dirs()
        kind = _conf().get("kind") or default_kind(settings)  # the ensemble when torch sees a GPU
        log.info("training kind %s", kind)
        return train_challenger(snapshot_path, settings, kind=kind)

    @task
    def evaluate(version: str, snapshot_path: str) -> dict:
        from gbv.settings import get_settings
        from model.store import ModelStore
        from model.train import evaluate as evaluate_version
        from warehouse.db import get_engine

        settings = get_settings()
        return evaluate_version(version, snapshot_path, ModelStore(settings.models_dir, get_engine(settings)))

    @task
    def register_and_promote(version: str, metrics: dict) -> dict:
        from gbv.settings import get_settings
        from model.store import ModelStore
        from model.train import register_and_promote as promote_if_better
        from warehouse.db import get_engine

        settings = get_settings()
        store = ModelStore(settings.models_dir, get_engine(settings))
        promoted = promote_if_better(version, metrics, store)
        return {"version": version, "promoted": promoted, "champion": store.champion_version()}

    @task
    def notify(result: dict, metrics: dict) -> str:
        from gbv.settings import get_settings
        from model.card import CARD_FILE

        ch = metrics.get("challenger") or {}
        cp = metrics.get("champion") or {}
        house = metrics.get("house_estimate") or {}
        verdict = "PROMOTED" if result["promoted"] else "kept champion"
        summary = (
            f"gbv_retrain as_of {metrics.get('as_of')}: {verdict}. challenger {result['version']} "
            f"MdALE {ch.get('mdale')} coverage {ch.get('coverage_80')} on {metrics.get('n_holdout')} holdout lots "
            f"from {metrics.get('holdout_from')}; previous champion {metrics.get('champion_version')} MdALE "
            f"{cp.get('mdale')}; house estimates MdALE {house.get('mdale')}; champion now {result['champion']}; "
            f"model card {get_settings().models_dir / result['version'] / CARD_FILE}"
        )
        log.info(summary)
        return summary

    snap = snapshot()
    version = train(snap)
    metrics = evaluate(version, snap)
    result = register_and_promote(version, metrics)
    notify(result, metrics)


gbv_retrain_dag = gbv_retrain()
