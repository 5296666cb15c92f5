"""The nightly job (every asset of one daily partition) and its schedule."""

from __future__ import annotations

import warnings

import dagster as dg

from assets.common import daily_partitions

# dagster-dbt gives the marts' dbt assets a single-run backfill policy, the other assets have none; both nightly
# jobs run one partition (night) per run, so the mix changes nothing and the warning would only be noise in every
# command's output
warnings.filterwarnings("ignore", message=r"Asset job nightly_valuation\w* materializes assets with varying "
                                          r"BackfillPolicies")

nightly_job = dg.define_asset_job(
    "nightly_valuation",
    selection=dg.AssetSelection.all(),
    partitions_def=daily_partitions,
    description="One night: crawl -> conform -> labels -> consensus -> model -> valuations -> warehouse -> "
                "feeds + report + market alerts (every asset, the market domain included).",
    tags={"gbv/kind": "nightly"},
)

# the same night with every step in a process of its own, one step at a time: a step's memory goes back to the
# system when it ends instead of piling up in one process (a million-lot night), and the embedded DuckDB file
# still sees one writer at a time; `gbv nightly --isolate-steps` or GBV_NIGHT_ISOLATE_STEPS=1 runs it
isolated_nightly_job = dg.define_asset_job(
    "nightly_valuation_isolated",
    selection=dg.AssetSelection.all(),
    partitions_def=daily_partitions,
    # each step forks from a server that imported the code location once: a clean process in a fraction of a
    # second instead of a fresh interpreter importing Dagster, pandas and the assets every step
    executor_def=dg.multiprocess_executor.configured({
        "max_concurrent": 1,
        "start_method": {"forkserver": {"preload_modules": ["assets.definitions"]}},
    }),
    description="The nightly job with each step in its own process, one at a time: for big nights.",
    tags={"gbv/kind": "nightly"},
)

nightly_schedule = dg.build_schedule_from_partitioned_job(
    nightly_job, hour_of_day=2, minute_of_hour=0, default_status=dg.DefaultScheduleStatus.STOPPED,
)
