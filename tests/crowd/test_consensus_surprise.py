"""The product's value estimator against the simple agreement estimator on a panel with a sale-day surprise.

With no unreliable experts and realised prices that scatter around the value experts aim at (a surprise no
expert can know), learning reliability from gold must not cost accuracy: the product's estimator, which also
learns from realised prices, must be at least as close to the realised prices of the unsold items as the
estimator that learns from agreement alone. Both errors are computed here, on the same seeded panels, by the
benchmark's own measurement (``gbv bench consensus``).
"""

from __future__ import annotations

import numpy as np
import pytest

from gbv.crowd.bench import consensus_errors
from gbv.crowd.simulate import PanelSpec

SEEDS = (0, 1, 2, 3, 4)


@pytest.mark.parametrize(("noise_lo", "noise_hi"), [(0.15, 0.40), (0.30, 0.60)])
def test_gbv_not_worse_than_agreement_with_surprise_only(noise_lo, noise_hi):
    errs = [consensus_errors(PanelSpec(items=500, experts=12, unreliable=0.0, noise_lo=noise_lo, noise_hi=noise_hi,
                                       bias_sd=0.15, surprise_sd=0.3, seed=s)) for s in SEEDS]
    gbv = np.array([e["gbv"] for e in errs])
    agreement = np.array([e["agreement"] for e in errs])
    d = gbv - agreement  # paired over panels
    se = d.std(ddof=1) / np.sqrt(len(d))
    # not behind: the mean paired difference within one standard error of zero, or better
    assert d.mean() <= se, (f"gbv {gbv.mean():.4f} vs agreement {agreement.mean():.4f} "
                            f"(difference {d.mean():+.4f}, se {se:.4f})")
