"""`gbv bench index` on the real auction data in ../shared (read from there, never copied; skipped without it)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from gbv.identity import DEFAULT_SHARED_AUCTIONS

REAL = Path(os.environ.get("GBV_SHARED_AUCTIONS") or DEFAULT_SHARED_AUCTIONS)


@pytest.mark.slow
@pytest.mark.skipif(not (REAL / "arthena").is_dir(), reason=f"the real auction data is not at {REAL} "
                                                           "(../shared/data/auctions or GBV_SHARED_AUCTIONS)")
def test_bench_index_on_the_real_repeat_sales(gbv_home, capsys):
    from gbv.cli import main

    assert main(["bench", "index", "--path", str(REAL), "--date", "2026-11-25"]) == 0
    out = capsys.readouterr().out
    for method in ("no adjustment", "hedonic, monthly", "hedonic, quarterly", "repeat sales, monthly",
                   "repeat sales, quarterly"):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(method))
        in_sample, cross_fitted = (float(v) for v in line.split()[-3:-1])
        assert math.isfinite(in_sample) and 0 < in_sample < 2 and 0 < cross_fitted < 2, line
    assert "index build time" in out and "with the second sale in 2016" in out
