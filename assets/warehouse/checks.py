"""Blocking checks of the warehouse domain: feeds are whole, verified, and hold only their house's lots."""


import dagster as dg

from assets.common import daily_partitions


@dg.asset_check(asset="estimate_feeds", blocking=True, partitions_def=daily_partitions,
                description="Each feed's checksum matches its manifest and every row is the house's own lot.")
def feeds_verified_and_isolated(context: dg.AssetCheckExecutionContext, estimate_feeds: dict) -> dg.AssetCheckResult:
    from pathlib import Path

    from warehouse.feeds import read_feed

    problems: dict[str, int] = {}
    for house, info in estimate_feeds.items():
        df = read_feed(Path(info["path"]))
        foreign = int((~df["lot_ref"].astype(str).str.startswith(f"{house}-")).sum())
        if foreign or len(df) != info["rows"]:
            problems[house] = foreign or -1
    return dg.AssetCheckResult(passed=not problems, metadata={"problems": dg.MetadataValue.json(problems),
                                                             "feeds": len(estimate_feeds)})
