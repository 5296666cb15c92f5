"""Baseline valuation models on log hammer price (USD) of sold lots, with split-conformal 80% intervals.

* :class:`LightGBMValuer` (kind ``lgbm_baseline``): gradient-boosted trees on :mod:`model.features`.
  Deterministic: fixed seed, ``deterministic=True``, ``force_row_wise=True`` and a fixed ``num_threads``.
* :class:`HedonicValuer` (kind ``hedonic_ridge``): the classic hedonic regression (artist fixed effects, log
  area, medium, decade of creation, sale year, house) fitted by ridge; a transparent second opinion.

Both fit on the earlier ~85% (by sale date) of the sold training lots and keep the latest ~15% as the
calibration set: the interval is ``pred ± q`` with ``q`` the finite-sample-corrected 80% quantile of the
calibration |residuals|, per bin of the artist's prior sale count (see :func:`model.base.calibrate_radii`).
The calibrated model is the one saved (no refit on the calibration lots), so the coverage guarantee holds.
"""

from __future__ import annotations

import json
import math
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
)
from model.features import (
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    NUMERIC_FEATURES,
    build_features,
    log_hammer_usd,
)

CALIBRATION_FRACTION = 0.15


def _sold(train_lots: pd.DataFrame) -> pd.DataFrame:
    y = log_hammer_usd(train_lots)
    sold = train_lots.loc[y.notna()].copy()
    sold["_y"] = y[y.notna()]
    sold["_date"] = pd.to_datetime(sold["sale_date"])
    sold = sold.sort_values(["_date", "lot_ref"], kind="stable").reset_index(drop=True)
    if len(sold) < 20:
        raise ValueError(f"need at least 20 sold lots with a price to fit, got {len(sold)}")
    return sold


def _dump_json(obj, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=True, allow_nan=True) + "\n", encoding="utf-8")


def _predictions(lots: pd.DataFrame, pred: np.ndarray, radius: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "lot_ref": lots["lot_ref"].to_numpy(),
        "pred_log_usd": pred,
        "low_log_usd": pred - radius,
        "high_log_usd": pred + radius,
    })[list(PREDICTION_COLUMNS)]


class LightGBMValuer(Valuer):
    kind = "lgbm_baseline"

    DEFAULT_PARAMS = {
        "objective": "regression",
        "learning_rate": 0.03,
        "num_leaves": 15,
        "min_data_in_leaf": 20,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.9,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "cat_smooth": 10.0,
        "seed": 7,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 4,  # fixed, not os.cpu_count(): the same data gives the same bytes on any machine
        "verbosity": -1,
    }
    DEFAULT_ROUNDS = 500

    def __init__(self, seed: int = 7, num_boost_round: int | None = None, params: dict | None = None,
                 calibration_fraction: float = CALIBRATION_FRACTION):
        self._params = {**self.DEFAULT_PARAMS, **(params or {}), "seed": int(seed)}
        self.num_boost_round = int(num_boost_round or self.DEFAULT_ROUNDS)
        self.calibration_fraction = calibration_fraction
        self.booster = None
        self.categories: dict[str, list[str]] = {}
        self.calibration: dict = {}
        self.info: dict = {}

    # ---- features -> matrix ---------------------------------------------------------------------------
    def _matrix(self, feats: pd.DataFrame) -> pd.DataFrame:
        X = feats[list(FEATURE_COLUMNS)].copy()
        for c in NUMERIC_FEATURES:
            X[c] = X[c].astype("float64")
        for c in CATEGORICAL_FEATURES:
            X[c] = pd.Categorical(X[c].astype("object"), categories=self.categories[c])
        return X

    def fit(self, train_lots: pd.DataFrame, history: pd.DataFrame) -> LightGBMValuer:
        import lightgbm as lgb

        t0 = time.perf_counter()
        sold = _sold(train_lots)
        feats = build_features(sold, history)
        self.categories = {c: sorted(str(v) for v in feats[c].dropna().unique()) for c in CATEGORICAL_FEATURES}
        X, y = self._matrix(feats), sold["_y"].to_numpy()
        fit_mask, cal_mask = calibration_split(sold, self.calibration_fraction)
        data = lgb.Dataset(X[fit_mask], label=y[fit_mask], categorical_feature=list(CATEGORICAL_FEATURES),
                           free_raw_data=False, params={"verbosity": -1})
        self.booster = lgb.train(self._params, data, num_boost_round=self.num_boost_round)
        resid = np.abs(y[cal_mask] - self.booster.predict(X[cal_mask]))
        self.calibration = calibrate_radii(resid, feats["prior_n_sold"].to_numpy()[cal_mask], INTERVAL_COVERAGE)
        self.info = {
            "n_sold": int(len(sold)), "n_fit": int(fit_mask.sum()), "n_calibration": int(cal_mask.sum()),
            "train_from": str(sold["_date"].min().date()), "train_until": str(sold["_date"].max().date()),
            "calibration_from": str(sold.loc[cal_mask, "_date"].min().date()),
            "fit_seconds": round(time.perf_counter() - t0, 3),
        }
        return self

    def predict(self, lots: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
        if self.booster is None:
            raise RuntimeError("model is not fitted")
        lots = lots.reset_index(drop=True)
        feats = build_features(lots, history)
        pred = self.booster.predict(self._matrix(feats)) if len(lots) else np.zeros(0)
        return _predictions(lots, pred, interval_radius(self.calibration, feats["prior_n_sold"].to_numpy()))

    def params(self) -> dict:
        return {**self._params, "num_boost_round": self.num_boost_round,
                "calibration_fraction": self.calibration_fraction}

    def fit_info(self) -> dict:
        return {**self.info, "calibration": self.calibration}

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        (directory / "model.txt").write_text(self.booster.model_to_string(), encoding="utf-8")
        info = {k: v for k, v in self.info.items() if k != "fit_seconds"}  # keep the bytes deterministic
        _dump_json({"kind": self.kind, "params": self._params, "num_boost_round": self.num_boost_round,
                    "calibration_fraction": self.calibration_fraction, "categories": self.categories,
                    "calibration": self.calibration, "info": info, "features": list(FEATURE_COLUMNS)},
                   directory / "meta.json")

    @classmethod
    def load(cls, directory: Path) -> LightGBMValuer:
        import lightgbm as lgb

        directory = Path(directory)
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        if meta.get("kind") != cls.kind:
            raise ValueError(f"{directory} holds a {meta.get('kind')!r} model, not {cls.kind!r}")
        self = cls(seed=meta["params"]["seed"], num_boost_round=meta["num_boost_round"], params=meta["params"],
                   calibration_fraction=meta["calibration_fraction"])
        self.booster = lgb.Booster(model_str=(directory / "model.txt").read_text(encoding="utf-8"))
        self.categories, self.calibration, self.info = meta["categories"], meta["calibration"], meta["info"]
        return self


class HedonicValuer(Valuer):
    """Ridge hedonic regression: log price ~ artist + log area + medium + decade + sale year + house."""

    kind = "hedonic_ridge"
    CATEGORICAL = ("artist", "medium_class", "decade", "sale_year", "house", "signature")

    def __init__(self, alpha: float = 1.0, seed: int = 7, calibration_fraction: float = CALIBRATION_FRACTION):
        self.alpha = float(alpha)
        self.seed = int(seed)
        self.calibration_fraction = calibration_fraction
        self.coef: dict = {}
        self.calibration: dict = {}
        self.info: dict = {}

    @staticmethod
    def _frame(lots: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
        from model.features import artist_keys

        f = build_features(lots, history)
        created = pd.to_numeric(lots.get("year_created"), errors="coerce") if "year_created" in lots else np.nan
        decade = (np.floor(pd.Series(created, index=lots.index) / 10) * 10).astype("Float64").astype("object")
        return pd.DataFrame({
            "artist": artist_keys(lots).to_numpy(),
            "medium_class": f["medium_class"].to_numpy(),
            "decade": decade.to_numpy(),
            "sale_year": f["sale_year"].to_numpy(),
            "house": f["house"].to_numpy(),
            "signature": f["signature"].to_numpy(),
            "log_area": f["log_area"].to_numpy(),
            "prior_n_sold": f["prior_n_sold"].to_numpy(),
        })

    def _design(self, frame: pd.DataFrame) -> np.ndarray:
        cols = [np.nan_to_num(frame["log_area"].to_numpy(dtype=float) - self.coef["area_center"])[:, None]]
        for c in self.CATEGORICAL:
            levels = self.coef["levels"][c]
            vals = frame[c].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
            index = {lv: i for i, lv in enumerate(levels)}
            m = np.zeros((len(frame), len(levels)))
            pos = vals.map(index)
            ok = pos.notna().to_numpy()
            m[np.nonzero(ok)[0], pos[ok].astype(int).to_numpy()] = 1.0
            cols.append(m)
        return np.hstack(cols)

    def fit(self, train_lots: pd.DataFrame, history: pd.DataFrame) -> HedonicValuer:
        from sklearn.linear_model import Ridge

        t0 = time.perf_counter()
        sold = _sold(train_lots)
        frame = self._frame(sold, history)
        fit_mask, cal_mask = calibration_split(sold, self.calibration_fraction)
        area = frame["log_area"].to_numpy(dtype=float)
        self.coef = {
            "area_center": float(np.nanmedian(area[fit_mask])),
            "levels": {c: sorted({str(v) for v in frame.loc[fit_mask, c].dropna()}) for c in self.CATEGORICAL},
        }
        y = sold["_y"].to_numpy()
        model = Ridge(alpha=self.alpha).fit(self._design(frame[fit_mask]), y[fit_mask])
        self.coef["intercept"] = float(model.intercept_)
        self.coef["weights"] = [float(w) for w in model.coef_]
        resid = np.abs(y[cal_mask] - self._raw_predict(frame[cal_mask]))
        self.calibration = calibrate_radii(resid, frame["prior_n_sold"].to_numpy()[cal_mask], INTERVAL_COVERAGE)
        self.info = {"n_sold": int(len(sold)), "n_fit": int(fit_mask.sum()), "n_calibration": int(cal_mask.sum()),
                     "train_from": str(sold["_date"].min().date()), "train_until": str(sold["_date"].max().date()),
                     "fit_seconds": round(time.perf_counter() - t0, 3)}
        return self

    def _raw_predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.coef["intercept"] + self._design(frame) @ np.asarray(self.coef["weights"])

    def predict(self, lots: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
        lots = lots.reset_index(drop=True)
        frame = self._frame(lots, history)
        pred = self._raw_predict(frame) if len(lots) else np.zeros(0)
        return _predictions(lots, pred, interval_radius(self.calibration, frame["prior_n_sold"].to_numpy()))

    def params(self) -> dict:
        return {"alpha": self.alpha, "seed": self.seed, "calibration_fraction": self.calibration_fraction}

    def fit_info(self) -> dict:
        return {**self.info, "calibration": self.calibration}

    def save(self, directory: Path) -> None:
        info = {k: v for k, v in self.info.items() if k != "fit_seconds"}
        _dump_json({"kind": self.kind, "params": self.params(), "coef": self.coef, "calibration": self.calibration,
                    "info": info}, Path(directory) / "hedonic.json")

    @classmethod
    def load(cls, directory: Path) -> HedonicValuer:
        meta = json.loads((Path(directory) / "hedonic.json").read_text(encoding="utf-8"))
        if meta.get("kind") != cls.kind:
            raise ValueError(f"{directory} holds a {meta.get('kind')!r} model, not {cls.kind!r}")
        p = meta["params"]
        self = cls(alpha=p["alpha"], seed=p["seed"], calibration_fraction=p["calibration_fraction"])
        self.coef, self.calibration, self.info = meta["coef"], meta["calibration"], meta["info"]
        return self
