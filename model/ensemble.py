"""The ensemble valuer (kind ``"ensemble"``): the mean of its members' log predictions, with its own ranges.

Members (default: the fine-tuned ``transformer`` and the ``lgbm_baseline``) are fitted on the same training lots;
each keeps the latest 15% of the sold lots by sale date (:func:`model.base.calibration_split`) out of its fit. The
ensemble predicts the mean of the members' log prices and calibrates its own split-conformal 80% radius, per bin of
the artist's sale history (:func:`model.base.calibrate_radii`), on that held-out slice, so the range holds 80% for
the mean as it does for each member. ``gbv bench model --kinds ...,ensemble`` reports it beside its members.

Artifact: ``ensemble.json`` (members, calibration, info) and one folder per member, ``members/<i>-<kind>/``,
written by the member's own ``save`` (byte-deterministic when the members are).
"""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from model.base import (
    INTERVAL_COVERAGE,
    PREDICTION_COLUMNS,
    Valuer,
    calibrate_radii,
    calibration_split,
    interval_radius,
    make_valuer,
    scores_without_size,
    size_known,
    valuer_class,
)
from model.features import build_features, log_hammer_usd

DEFAULT_MEMBERS = ("transformer", "lgbm_baseline")
CALIBRATION_FRACTION = 0.15
META_FILE = "ensemble.json"


def mean_prediction(preds: list[pd.DataFrame]) -> np.ndarray:
    return np.mean([p["pred_log_usd"].to_numpy(dtype=float) for p in preds], axis=0)


def calibrate_mean(members: list[Valuer], sold: pd.DataFrame, history: pd.DataFrame,
                   fraction: float = CALIBRATION_FRACTION) -> dict:
    """Conformal radii of the members' mean on the latest ``fraction`` of ``sold`` (which the members held out)."""
    sold = sold.assign(_date=pd.to_datetime(sold["sale_date"])).sort_values(["_date", "lot_ref"], kind="stable")
    sold = sold.drop(columns="_date").reset_index(drop=True)
    _, cal = calibration_split(sold, fraction)
    cal_lots = sold[cal].reset_index(drop=True)
    mid = mean_prediction([m.predict(cal_lots, history) for m in members])
    prior = build_features(cal_lots, history)["prior_n_sold"].to_numpy()
    y = log_hammer_usd(cal_lots).to_numpy()
    masked = scores_without_size(
        lambda lots, y_: np.abs(y_ - mean_prediction([m.predict(lots, history) for m in members])), cal_lots, y)
    calibration = calibrate_radii(np.abs(y - mid), prior, INTERVAL_COVERAGE, sized=size_known(cal_lots),
                                  masked=masked)
    calibration["method"] = "split-conformal on the members' mean"
    return calibration


class EnsembleValuer(Valuer):
    kind = "ensemble"

    def __init__(self, seed: int = 7, members: tuple[str, ...] | list[str] = DEFAULT_MEMBERS,
                 member_params: dict | None = None, device: str = "auto",
                 checkpoint_dir: str | Path | None = None, resume: bool = False):
        self.seed = int(seed)
        self.members_kinds = tuple(members)
        if len(self.members_kinds) < 2 or "ensemble" in self.members_kinds:
            raise ValueError(f"an ensemble needs two or more member kinds (not itself), got {self.members_kinds}")
        self.member_params = {k: dict(v) for k, v in (member_params or {}).items()}
        self.device, self.checkpoint_dir, self.resume = device, checkpoint_dir, bool(resume)
        self.members: list[Valuer] = []
        self.calibration: dict = {}
        self.info: dict = {}

    def _member_kwargs(self, kind: str) -> dict:
        accepted = inspect.signature(valuer_class(kind).__init__).parameters
        kwargs = {"seed": self.seed, **self.member_params.get(kind, {})}
        extra = {"device": self.device, "resume": self.resume,
                 "checkpoint_dir": Path(self.checkpoint_dir) / kind if self.checkpoint_dir else None}
        kwargs.update({k: v for k, v in extra.items() if k in accepted and v is not None and k not in kwargs})
        return kwargs

    def fit(self, train_lots: pd.DataFrame, history: pd.DataFrame) -> EnsembleValuer:
        t0 = time.perf_counter()
        self.members = [make_valuer(k, **self._member_kwargs(k)).fit(train_lots, history) for k in self.members_kinds]
        sold = train_lots.loc[log_hammer_usd(train_lots).notna()]
        self.calibration = calibrate_mean(self.members, sold, history)
        self.info = {"members": list(self.members_kinds), "n_sold": int(len(sold)),
                     "member_info": [m.fit_info() for m in self.members],
                     "fit_seconds": round(time.perf_counter() - t0, 3)}
        return self

    def predict(self, lots: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
        if not self.members:
            raise RuntimeError("model is not fitted")
        lots = lots.reset_index(drop=True)
        mid = mean_prediction([m.predict(lots, history) for m in self.members]) if len(lots) else np.zeros(0)
        prior = build_features(lots, history)["prior_n_sold"].to_numpy()
        radius = interval_radius(self.calibration, prior, size_known(lots)) if len(lots) else np.zeros(0)
        return pd.DataFrame({"lot_ref": lots["lot_ref"].to_numpy() if len(lots) else [], "pred_log_usd": mid,
                             "low_log_usd": mid - radius, "high_log_usd": mid + radius})[list(PREDICTION_COLUMNS)]

    def params(self) -> dict:
        return {"seed": self.seed, "members": list(self.members_kinds),
                "member_params": {m.kind: m.params() for m in self.members} or self.member_params}

    def fit_info(self) -> dict:
        return {**self.info, "calibration": self.calibration}

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        names = []
        for i, m in enumerate(self.members):
            name = f"{i}-{m.kind}"
            (directory / "members" / name).mkdir(parents=True)
            m.save(directory / "members" / name)
            names.append(name)
        info = {k: v for k, v in self.info.items() if k not in ("fit_seconds", "member_info")}
        meta = {"kind": self.kind, "seed": self.seed, "members": names, "member_kinds": list(self.members_kinds),
                "calibration": self.calibration, "info": info}
        (directory / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True, default=str) + "\n",
                                           encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> EnsembleValuer:
        directory = Path(directory)
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        if meta.get("kind") != cls.kind:
            raise ValueError(f"{directory} holds a {meta.get('kind')!r} model, not {cls.kind!r}")
        self = cls(seed=meta["seed"], members=meta["member_kinds"])
        self.members = [valuer_class(kind).load(directory / "members" / name)
                        for kind, name in zip(meta["member_kinds"], meta["members"], strict=True)]
        self.calibration, self.info = meta["calibration"], meta["info"]
        return self
