"""Blocking checks of the market domain: each house's alerts folder is whole and holds its own alerts only."""


import dagster as dg

from assets.common import daily_partitions


@dg.asset_check(asset="market_alerts", blocking=True, partitions_def=daily_partitions,
                description="Each house's alerts file matches its manifest checksum and row count, and every "
                            "alert in it is the house's own.")
def alerts_verified_and_isolated(market_alerts: dict) -> dg.AssetCheckResult:
    from pathlib import Path

    from gbv.market.alerts import read_house_alerts

    problems: dict[str, str] = {}
    for house, info in market_alerts["houses"].items():
        df = read_house_alerts(Path(info["path"]))
        if len(df) != info["rows"]:
            problems[house] = f"{len(df)} rows, expected {info['rows']}"
        elif (df["house"] != house).any():
            problems[house] = f"{int((df['house'] != house).sum())} alert(s) of other houses"
    return dg.AssetCheckResult(passed=not problems, metadata={"problems": dg.MetadataValue.json(problems),
                                                             "houses": len(market_alerts["houses"])})
