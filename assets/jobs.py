"""The nightly job (every asset of one daily partition) and its schedule."""

from __future__ import annotations

import dagster as dg

from assets.common import daily_partitions

nightly_job = dg.define_asset_job(
    "nightly_valuation",
    selection=dg.AssetSelection.all(),
    partitions_def=daily_partitions,
    description="One night: crawl -> conform -> labels -> consensus -> model -> valuations -> warehouse -> "
                "feeds + report.",
    tags={"gbv/kind": "nightly"},
)

nightly_schedule = dg.build_schedule_from_partitioned_job(
    nightly_job, hour_of_day=2, minute_of_hour=0, default_status=dg.DefaultScheduleStatus.STOPPED,
)
