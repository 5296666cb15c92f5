"""Run one night of the Dagster graph in-process, recorded in GBV_HOME's Dagster instance."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from dataclasses import dataclass, field

from gbv.locks import night_lock
from gbv.settings import Settings, get_settings

log = logging.getLogger(__name__)


class NightFailed(RuntimeError):
    pass


@dataclass
class NightResult:
    run_date: str
    run_id: str
    success: bool
    seconds: float
    step_seconds: dict[str, float] = field(default_factory=dict)
    failed_steps: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)


def _instance(settings: Settings):  # noqa: ANN202
    import dagster as dg

    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    config = settings.dagster_home / "dagster.yaml"
    if not config.exists():  # local instance: runs and event logs in SQLite under GBV_HOME, no telemetry
        config.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    return dg.DagsterInstance.get()


def isolated_nightly_job():  # noqa: ANN201 - a module-level function Dagster can reconstruct in each step process
    from assets.definitions import defs

    return defs.resolve_job_def("nightly_valuation_isolated")


def isolate_steps_from_env() -> bool:
    return os.environ.get("GBV_NIGHT_ISOLATE_STEPS", "").strip().lower() in ("1", "true", "yes")


def run_night(run_date: str, settings: Settings | None = None, *, raise_on_error: bool = True,
              log_level: str = "WARNING", wait_s: float | None = 0.0,
              isolate_steps: bool | None = None) -> NightResult:
    """Materialize every asset for the night ``run_date`` (YYYY-MM-DD) and run the blocking checks.

    Only one night runs per warehouse at a time: if another holds the lock this raises
    :class:`gbv.locks.NightLocked` at once (``wait_s=0``), after ``wait_s`` seconds, or waits for it
    (``wait_s=None``).

    ``isolate_steps`` (default: ``GBV_NIGHT_ISOLATE_STEPS``) runs each step in a process of its own, one at a
    time (job ``nightly_valuation_isolated``): slower to start each step, but a big night's memory never piles
    up across steps. Otherwise every step runs in this process.
    """
    dt.date.fromisoformat(run_date)  # clear error for a malformed date
    settings = (settings or get_settings()).ensure_dirs()
    if isolate_steps is None:
        isolate_steps = isolate_steps_from_env()
    from dagster import DagsterEventType

    started = time.perf_counter()
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    with night_lock(settings, wait_s=wait_s):
        instance = _instance(settings)
        if isolate_steps:
            import dagster as dg

            from warehouse.db import dispose_engines

            dispose_engines()  # the step processes open the DuckDB file one at a time; this one must not hold it
            with dg.execute_job(dg.reconstructable(isolated_nightly_job), instance=instance, run_config=run_config,
                                tags={"dagster/partition": run_date}, raise_on_error=False) as result:
                run_id, run_ok, events = result.run_id, result.success, list(result.all_events)
        else:
            from assets.definitions import defs

            job = defs.resolve_job_def("nightly_valuation")
            result = job.execute_in_process(partition_key=run_date, instance=instance, raise_on_error=False,
                                            run_config=run_config)
            run_id, run_ok, events = result.run_id, result.success, result.all_events
        from warehouse.db import dispose_engines

        dispose_engines()  # a DuckDB file stays locked while pooled connections are open: free it with the lock
    seconds = time.perf_counter() - started

    step_start: dict[str, float] = {}
    step_seconds: dict[str, float] = {}
    failed_checks = []
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None:
            continue
        if ev.event_type == DagsterEventType.STEP_START:
            step_start[ev.step_key] = entry.timestamp
        elif ev.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            if ev.step_key in step_start:
                step_seconds[ev.step_key] = round(entry.timestamp - step_start[ev.step_key], 3)
        elif ev.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            data = ev.event_specific_data
            if not data.passed:
                failed_checks.append(f"{data.asset_key.to_user_string()}:{data.check_name}")
    failed = [ev.step_key for ev in events if ev.event_type == DagsterEventType.STEP_FAILURE]
    night = NightResult(run_date, run_id, run_ok and not failed_checks, seconds, step_seconds,
                        failed, failed_checks)
    if raise_on_error and not night.success:
        details = []
        for ev in events:
            if ev.event_type == DagsterEventType.STEP_FAILURE:
                err = ev.event_specific_data.error
                details.append(f"{ev.step_key}: {err.message.strip() if err else 'failed'}")
        raise NightFailed(f"night {run_date} failed (run {run_id}): "
                          + "; ".join(details + [f"check failed: {c}" for c in failed_checks]))
    return night
