"""The expert value of a lot nobody has labelled yet: a calibrated mapping from the market model to the consensus.

Experts value a work, buyers pay a price; the two differ systematically (experts are more conservative at the top
and bottom of the market, and the panel's consensus is on its own scale). :func:`fit_expert_mapping` learns, on the
lots the experts *did* label, ``log consensus ≈ a + b · (model log estimate − centre)`` by a robust (Huber)
regression, and :meth:`ExpertMapping.predict` applies it to any other lot. The model's estimate for a labelled lot is
point-in-time (features from sales strictly before its sale date), so the mapping never sees a lot's own price.

Used by :func:`model.predict.value_lots` with ``predict_expert=True``: ``expert_value_usd`` stays the consensus where
the lot has labels, and is the mapped estimate where it has none (with ``MIN_LABELLED`` labelled lots at least;
else it stays empty). ``gbv bench expert`` measures it on the demo world: MdALE against the realised consensus of
held-out labelled lots, beside the raw market estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_LABELLED = 30     # labelled lots needed to fit a mapping
MAX_LABELLED = 2000   # the latest labelled lots a mapping is fitted on (bounds the extra scoring per night)
HUBER_K = 1.345       # Huber's constant, in robust SDs
SLOPE_RANGE = (0.5, 1.5)


@dataclass(frozen=True)
class ExpertMapping:
    centre: float
    intercept: float
    slope: float
    n: int
    mdale_in_sample: float

    def predict(self, pred_log_usd: np.ndarray) -> np.ndarray:
        """Expert-consensus log USD for market-model log estimates."""
        return self.intercept + self.slope * (np.asarray(pred_log_usd, dtype=float) - self.centre)

    def to_dict(self) -> dict:
        return {"centre": self.centre, "intercept": self.intercept, "slope": self.slope, "n": self.n,
                "mdale_in_sample": self.mdale_in_sample}


def fit_expert_mapping(pred_log_usd: np.ndarray, consensus_log_usd: np.ndarray,
                       min_labelled: int = MIN_LABELLED) -> ExpertMapping | None:
    """Huber regression of the consensus on the model's estimate (IRLS, 50 steps at most); ``None`` with fewer
    than ``min_labelled`` usable pairs. The slope is kept in :data:`SLOPE_RANGE` (a mapping that would invert or
    blow up the market's ordering is not a calibration)."""
    x = np.asarray(pred_log_usd, dtype=float)
    y = np.asarray(consensus_log_usd, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < min_labelled:
        return None
    centre = float(np.median(x))
    xc = x - centre
    design = np.column_stack([np.ones_like(xc), xc])
    w = np.ones_like(xc)
    beta = np.array([float(np.median(y - x)) + centre, 1.0])
    for _ in range(50):
        sw = np.sqrt(w)
        new, *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
        new[1] = float(np.clip(new[1], *SLOPE_RANGE))
        r = y - design @ new
        scale = 1.4826 * float(np.median(np.abs(r - np.median(r)))) or 1e-6
        a = np.abs(r) / (HUBER_K * scale)
        w = np.where(a <= 1.0, 1.0, 1.0 / np.maximum(a, 1e-12))
        if np.allclose(new, beta, atol=1e-8):
            beta = new
            break
        beta = new
    resid = y - (beta[0] + beta[1] * xc)
    return ExpertMapping(centre=round(centre, 9), intercept=round(float(beta[0]), 9), slope=round(float(beta[1]), 9),
                         n=int(len(x)), mdale_in_sample=round(float(np.median(np.abs(resid))), 6))
