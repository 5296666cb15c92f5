"""``gbv bench night --lots N``: wall time per stage of a full night on a fresh demo world of N lots."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path


def bench_night(n_lots: int, keep: bool = False) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix=f"gbv-bench-{n_lots}-"))
    os.environ["GBV_HOME"] = str(home)
    os.environ["GBV_DEMO_LOTS"] = str(n_lots)
    os.environ.pop("GBV_WAREHOUSE_URL", None)
    from gbv.demo.world import world_for_home
    from gbv.night import run_night
    from gbv.settings import get_settings

    settings = get_settings().ensure_dirs()
    t = time.perf_counter()
    world = world_for_home(settings, n_lots)
    gen_s = time.perf_counter() - t
    night = run_night(world.as_of.isoformat(), settings)
    import pandas as pd
    from sqlalchemy import select

    from warehouse.db import get_engine
    from warehouse.schema import stage_run

    with get_engine(settings).connect() as conn:
        stages = pd.read_sql(select(stage_run), conn)
    print(f"\nbenchmark: full night at {n_lots:,d} lots ({len(world.truth):,d} lots offered, "
          f"{len(world.all_labels):,d} labels) — GBV_HOME {home}")
    print(f"  {'world generation':28s} {gen_s:8.2f} s")
    def n(v: object) -> str:
        return "-" if pd.isna(v) else f"{int(v):,d}"

    print(f"  {'stage':28s} {'seconds':>10s} {'rows in':>9s} {'rows out':>9s} {'quarantined':>12s}")
    for rec in stages.sort_values("seconds", ascending=False).itertuples():
        print(f"  {rec.stage:28s} {rec.seconds:8.2f} s {n(rec.rows_in):>9s} {n(rec.rows_out):>9s} "
              f"{n(rec.rows_quarantined):>12s}")
    print(f"  {'whole night (wall)':28s} {night.seconds:8.2f} s")
    if not keep:
        shutil.rmtree(home, ignore_errors=True)
    return {r.stage: r.seconds for r in stages.itertuples()} | {"night": night.seconds}
