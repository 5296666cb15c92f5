"""The gbv Dagster code location: the per-domain Definitions merged, plus the nightly job and schedule.

Load it with ``dagster dev -m assets.definitions`` (or plain ``dagster dev`` from the repo root: pyproject's
``[tool.dagster]`` names this module) and validate it with ``dagster definitions validate -m assets.definitions``.
"""

from __future__ import annotations

import dagster as dg

from assets import crawl, labels, market, marts, model, warehouse
from assets.common import get_env
from assets.jobs import isolated_nightly_job, nightly_job, nightly_schedule
from assets.resources import resources_for_env

defs = dg.Definitions.merge(
    crawl.definitions.defs,
    labels.definitions.defs,
    model.definitions.defs,
    warehouse.definitions.defs,
    market.definitions.defs,
    marts.definitions.defs,
    dg.Definitions(
        jobs=[nightly_job, isolated_nightly_job],
        schedules=[nightly_schedule],
        resources=resources_for_env(),
        # the embedded DuckDB file takes one writer process: run steps in-process locally
        executor=dg.in_process_executor if get_env() == "LOCAL" else dg.multiprocess_executor,
    ),
)
