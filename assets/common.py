"""What every Dagster domain shares: the daily partitions, the stage IO manager and stage bookkeeping."""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from gbv.faults import fault_point
from gbv.settings import Settings, get_settings, safe_component

log = logging.getLogger(__name__)

PARTITIONS_START = "2016-01-01"
daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)

RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def get_env() -> str:
    """LOCAL (embedded DuckDB, demo sources) or PROD (PostgreSQL, real sources), from GBV_ENV."""
    return get_settings().env


class StageIOManager(dg.ConfigurableIOManager):
    """Stores each asset partition under ``$GBV_HOME/stage/<asset>/<date>.parquet`` (or ``.json``).

    Writes are atomic (temporary file + rename), so a crash never leaves a half-written stage file, and a
    re-run of the same partition overwrites it with the same content.
    """

    home: str | None = None

    def _base(self) -> Path:
        return Path(self.home) if self.home else get_settings().stage_dir

    def _path(self, context: dg.OutputContext | dg.InputContext, suffix: str) -> Path:
        key = "__".join(context.asset_key.path)
        part = safe_component(context.asset_partition_key, "partition") if context.has_asset_partitions \
            else "latest"
        return self._base() / safe_component(key, "asset") / f"{part}{suffix}"

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        if isinstance(obj, pd.DataFrame):
            path, data = self._path(context, ".parquet"), None
        else:
            path, data = self._path(context, ".json"), json.dumps(obj, indent=2, sort_keys=True, default=str)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            if data is None:
                obj.to_parquet(tmp, index=False)
            else:
                tmp.write_text(data)
            fault_point("stage_file_written")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        if isinstance(obj, pd.DataFrame):
            context.add_output_metadata({"rows": len(obj), "path": str(path)})

    def load_input(self, context: dg.InputContext) -> Any:
        pq = self._path(context, ".parquet")
        if pq.exists():
            return pd.read_parquet(pq)
        js = self._path(context, ".json")
        if js.exists():
            return json.loads(js.read_text())
        raise FileNotFoundError(f"no stored output for {context.asset_key.to_user_string()} "
                                f"partition {context.asset_partition_key}: materialize it first ({pq})")


@contextmanager
def stage(engine, run_date: str, name: str) -> Iterator[dict[str, int]]:  # noqa: ANN001
    """Time a stage and record its counts in ``stage_run``: the body fills rows_in/rows_out/rows_quarantined."""
    from warehouse.loaders import record_stage

    counts: dict[str, int] = {}
    started = time.perf_counter()
    ok = False
    try:
        yield counts
        ok = True
    finally:
        try:
            record_stage(engine, run_date, name, seconds=time.perf_counter() - started, ok=ok, **counts)
        except Exception:  # bookkeeping must never hide the stage's own error
            log.exception("could not record stage %s for %s", name, run_date)


def settings_for(context: dg.AssetExecutionContext | None = None) -> Settings:  # noqa: ARG001
    return get_settings().ensure_dirs()
