"""Baseline valuation models on log hammer price (USD) of sold lots, with split-conformal 80% intervals.

* :class:`LightGBMValuer` (kind ``lgbm_baseline``): gradient-boosted trees on :mod:`model.features`, fitted
  to the absolute log error (a median price: chosen on the validation years, see ``DEFAULT_PARAMS``).
  Deterministic: fixed seed, ``deterministic=True`` and ``force_row_wise=True``: the same trees on any number of
  threads (checked: 1, 2 and 4 give the same model text), so it trains and scores on every core the process may
  use (:func:`model.compute.lgbm_threads`) and the saved model does not record how many that was.
* :class:`HedonicValuer` (kind ``hedonic_ridge``): the classic hedonic regression (artist fixed effects, log
  area, medium, decade of creation, sale year, house) fitted by ridge; a transparent second opinion.

The LightGBM valuer also uses the experts' consensus (issue 7), when the lots carry it
(:func:`model.features.attach_consensus`):

* as a feature of its final stage: the trees predict from the lot and market features, then a lot with a
  consensus ``c`` (from ``n`` experts with spread ``s``) is valued ``tree + w (c - tree)`` with
  ``w = v_t / (v_t + (tau² + s²) / n)``: ``v_t`` the trees' squared error and ``tau`` an expert's, both learned
  on the calibration lots (out of the trees' sample; ``tau`` by minimising their absolute error on the lots
  with a consensus). Trees alone could not use it: with a few hundred labelled sales they split on the
  consensus coarsely and valued labelled lots *worse* than without it (measured; `gbv bench consensus-value`);
* as a training target for lots that never sold (bought in) but that experts labelled before the sale: such a
  lot counts as a sale at its consensus value with weight ``unsold_weight`` (:data:`UNSOLD_TARGET_WEIGHT`,
  chosen by ``gbv bench consensus-value``).

The conformal calibration uses realised prices only (residuals of the final stage), Mondrian by consensus:
with enough calibration lots of each kind, lots with a consensus get their own radius (narrower: the experts
remove error), the others the per-history-bin radii. A model saved without consensus loads and predicts as
before.

Both fit on the earlier ~85% (by sale date) of the sold training lots and keep the latest ~15% as the
calibration set: the interval is ``pred ± q`` with ``q`` the finite-sample-corrected 80% quantile of the
calibration |residuals|, per bin of the artist's prior sale count (see :func:`model.base.calibrate_radii`).
The calibrated model is the one saved (no refit on the calibration lots), so the coverage guarantee holds.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from model.base import (
    INTERVAL_COVERAGE,
    MIN_BIN_SIZE,
    PREDICTION_COLUMNS,
    Valuer,
    calibrate_radii,
    calibration_split,
    conformal_quantile,
    interval_radius,
    size_known,
)
from model.compute import lgbm_threads
from model.features import (
    CATEGORICAL_FEATURES,
    CONTEXT_FEATURES,
    FEATURE_COLUMNS,
    MARKET_FEATURES,
    SIZE_FEATURES,
    TABULAR_INPUT_COLUMNS,
    TITLE_FEATURES,
    build_features,
    consensus_features,
    features_without_size,
    log_hammer_usd,
    sale_dates,
    with_signals,
)

CALIBRATION_FRACTION = 0.15
# weight of a bought-in lot's consensus value as a training target, relative to a realised price (1.0); chosen
# by measurement (`gbv bench consensus-value`, the "unsold target weight" table)
UNSOLD_TARGET_WEIGHT = 0.25
MIN_STAGE2_LOTS = 10  # calibration lots with a consensus needed to learn the final stage


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
    input_columns = TABULAR_INPUT_COLUMNS

    # chosen on the validation years of the real sales (fit before 2013 / 2014, scored on 2013 / 2014-15, the test
    # years unseen): the absolute (median) loss, 31 leaves, 1,000 rounds, 70% of the features per tree took MdALE
    # from 0.515 / 0.574 (squared loss, 15 leaves, 500 rounds, 90%) to 0.503 / 0.539
    DEFAULT_PARAMS = {
        "objective": "regression_l1",
        "learning_rate": 0.03,
        "num_leaves": 31,
        "min_data_in_leaf": 20,
        "feature_fraction": 0.7,
        "bagging_fraction": 0.9,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "cat_smooth": 10.0,
        "seed": 7,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    DEFAULT_ROUNDS = 1000

    def __init__(self, seed: int = 7, num_boost_round: int | None = None, params: dict | None = None,
                 calibration_fraction: float = CALIBRATION_FRACTION, consensus: bool = True,
                 unsold_weight: float = UNSOLD_TARGET_WEIGHT):
        self._params = {**self.DEFAULT_PARAMS, **(params or {}), "seed": int(seed)}
        self.num_boost_round = int(num_boost_round or self.DEFAULT_ROUNDS)
        self.calibration_fraction = calibration_fraction
        if not 0.0 <= unsold_weight <= 1.0:
            raise ValueError(f"unsold_weight must be within [0, 1], got {unsold_weight}")
        self.consensus = bool(consensus)  # use the expert consensus as features (when the lots carry it)
        self.unsold_weight = float(unsold_weight)  # bought-in lots' consensus as a target (0: never)
        # the trees' features; the consensus enters the final stage
        self.features = [*FEATURE_COLUMNS, *MARKET_FEATURES, *CONTEXT_FEATURES, *TITLE_FEATURES]
        self.stage2: dict = {}  # {"tree_var": v_t, "tau": tau} once fitted with a consensus; empty: none
        self.booster = None
        self.categories: dict[str, list[str]] = {}
        self.calibration: dict = {}
        self.info: dict = {}

    # ---- features -> matrix ---------------------------------------------------------------------------
    def _features(self, lots: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
        feats = build_features(lots, history)
        cf = consensus_features(lots, feats)
        feats = with_signals(lots, history, feats, market=any(c in self.features for c in MARKET_FEATURES),
                             context=any(c in self.features for c in CONTEXT_FEATURES),
                             title=any(c in self.features for c in TITLE_FEATURES))
        return pd.concat([feats, cf.set_index(feats.index)], axis=1)

    @staticmethod
    def _pull(tree: np.ndarray, feats: pd.DataFrame, tree_var: float, tau: float) -> np.ndarray:
        """The final stage: each lot with a consensus pulled from the trees' value towards it."""
        c = feats["expert_log_usd"].to_numpy(dtype="float64")
        n = np.maximum(feats["expert_n_labels"].to_numpy(dtype="float64"), 1.0)
        s = np.nan_to_num(feats["expert_spread"].to_numpy(dtype="float64"))
        has = np.isfinite(c)
        w = np.where(has, tree_var / (tree_var + (tau**2 + s**2) / n), 0.0)
        return tree + w * np.where(has, c - tree, 0.0)

    def _fit_stage2(self, tree: np.ndarray, y: np.ndarray, feats: pd.DataFrame) -> dict:
        """``tree_var`` and ``tau`` from the calibration lots (see the module notes); {} when too few."""
        has = np.isfinite(feats["expert_log_usd"].to_numpy(dtype="float64"))
        if not self.consensus or has.sum() < MIN_STAGE2_LOTS:
            return {}
        r = y - tree
        tree_var = float((1.4826 * np.median(np.abs(r - np.median(r)))) ** 2) or 1e-6
        grid = np.round(np.arange(0.05, 2.01, 0.05), 2)
        errs = [float(np.sum(np.abs(y[has] - self._pull(tree[has], feats[has], tree_var, t)))) for t in grid]
        return {"tree_var": tree_var, "tau": float(grid[int(np.argmin(errs))]), "n_lots": int(has.sum())}

    def _final(self, tree: np.ndarray, feats: pd.DataFrame) -> np.ndarray:
        if not self.stage2:
            return tree
        return self._pull(tree, feats, self.stage2["tree_var"], self.stage2["tau"])

    def _matrix(self, feats: pd.DataFrame) -> pd.DataFrame:
        X = feats[self.features].copy()
        for c in self.features:
            if c not in CATEGORICAL_FEATURES:
                X[c] = X[c].astype("float64")
        for c in CATEGORICAL_FEATURES:
            X[c] = pd.Categorical(X[c].astype("object"), categories=self.categories[c])
        return X

    def fit(self, train_lots: pd.DataFrame, history: pd.DataFrame) -> LightGBMValuer:
        import lightgbm as lgb

        t0 = time.perf_counter()
        sold = _sold(train_lots)
        feats = self._features(sold, history)
        fit_mask, cal_mask = calibration_split(sold, self.calibration_fraction)
        unsold = self._unsold_targets(train_lots, sold["_date"][cal_mask].min() if not fit_mask.all() else None)
        u_feats = self._features(unsold, history) if len(unsold) else feats.iloc[:0]
        both = pd.concat([feats[fit_mask], u_feats], ignore_index=True)
        self.categories = {c: sorted(str(v) for v in both[c].dropna().unique()) for c in CATEGORICAL_FEATURES}
        y = sold["_y"].to_numpy()
        X_fit = self._matrix(both)
        del both, u_feats  # the matrix holds what the trees read; a million-lot fit keeps one copy, not three
        y_fit = np.concatenate([y[fit_mask], unsold["_y"].to_numpy() if len(unsold) else np.zeros(0)])
        w_fit = np.concatenate([np.ones(int(fit_mask.sum())), np.full(len(unsold), self.unsold_weight)])
        data = lgb.Dataset(X_fit, label=y_fit, weight=w_fit, categorical_feature=list(CATEGORICAL_FEATURES),
                           free_raw_data=False, params={"verbosity": -1})
        self.booster = lgb.train({**self._params, "num_threads": lgbm_threads()}, data,
                                 num_boost_round=self.num_boost_round)
        del data, X_fit
        cal_feats = feats[cal_mask].reset_index(drop=True)
        X_cal = self._matrix(cal_feats)  # the calibration lots only: no matrix of every sold lot
        tree = self.booster.predict(X_cal, num_threads=lgbm_threads())
        self.stage2 = self._fit_stage2(tree, y[cal_mask], cal_feats)
        resid = np.abs(y[cal_mask] - self._final(tree, cal_feats))
        prior = feats["prior_n_sold"].to_numpy()[cal_mask]
        sized = size_known(sold, np.nonzero(cal_mask)[0])
        # the calibration lots with a size scored as if they had none: their matrix with the size features blank
        # (the same as built from the lots without a size: features_without_size; no second pass over the
        # history). The consensus stage reads the expert columns only, which a size does not change.
        X_cal.loc[:, [c for c in SIZE_FEATURES if c in X_cal.columns]] = np.nan
        masked_tree = self.booster.predict(X_cal, num_threads=lgbm_threads())
        masked = np.where(sized, np.abs(y[cal_mask] - self._final(masked_tree, cal_feats)), np.nan)
        del X_cal
        labelled = np.isfinite(cal_feats["expert_log_usd"].to_numpy(dtype="float64")) if self.stage2 else None
        if labelled is not None and labelled.sum() >= MIN_BIN_SIZE and (~labelled).sum() >= MIN_BIN_SIZE:
            # Mondrian by consensus: lots the experts valued get their own (narrower) conformal radius
            self.stage2["radius"] = conformal_quantile(resid[labelled], INTERVAL_COVERAGE)
            self.calibration = calibrate_radii(resid[~labelled], prior[~labelled], INTERVAL_COVERAGE,
                                               sized=sized[~labelled], masked=masked[~labelled])
        else:
            self.calibration = calibrate_radii(resid, prior, INTERVAL_COVERAGE, sized=sized, masked=masked)
        self.info = {
            "n_sold": int(len(sold)), "n_fit": int(fit_mask.sum()), "n_calibration": int(cal_mask.sum()),
            "n_unsold_targets": int(len(unsold)),
            "n_with_consensus": int(np.isfinite(feats["expert_log_usd"]).sum()), "consensus_stage": self.stage2,
            "train_from": str(sold["_date"].min().date()), "train_until": str(sold["_date"].max().date()),
            "calibration_from": str(sold.loc[cal_mask, "_date"].min().date()),
            "fit_seconds": round(time.perf_counter() - t0, 3),
        }
        return self

    def _unsold_targets(self, train_lots: pd.DataFrame, before: pd.Timestamp | None) -> pd.DataFrame:
        """Bought-in lots with a (pre-sale) consensus, sold before ``before`` (the calibration period), with
        ``_y`` = log consensus; none when ``unsold_weight`` is 0 or the lots carry no consensus."""
        if self.unsold_weight <= 0 or "expert_consensus_usd" not in train_lots.columns:
            return train_lots.iloc[:0].assign(_y=pd.Series(dtype="float64"))
        usd = pd.to_numeric(train_lots["expert_consensus_usd"], errors="coerce")
        dates = sale_dates(train_lots)
        keep = (train_lots["status"] == "bought_in") & (usd > 0) & dates.notna()
        if before is not None:
            keep &= dates < before
        out = train_lots.loc[keep].assign(_y=np.log(usd[keep]), _date=dates[keep])
        return out.sort_values(["_date", "lot_ref"], kind="stable").reset_index(drop=True)

    def predict(self, lots: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
        if self.booster is None:
            raise RuntimeError("model is not fitted")
        lots = lots.reset_index(drop=True)
        feats = self._features(lots, history)
        pred = (self._final(self.booster.predict(self._matrix(feats), num_threads=lgbm_threads()), feats)
                if len(lots) else np.zeros(0))
        radius = interval_radius(self.calibration, feats["prior_n_sold"].to_numpy(), size_known(lots))
        if "radius" in self.stage2:
            radius = np.where(np.isfinite(feats["expert_log_usd"].to_numpy(dtype="float64")),
                              self.stage2["radius"], radius)
        return _predictions(lots, pred, radius)

    def params(self) -> dict:
        return {**self._params, "num_boost_round": self.num_boost_round,
                "calibration_fraction": self.calibration_fraction, "consensus": self.consensus,
                "unsold_weight": self.unsold_weight}

    def fit_info(self) -> dict:
        return {**self.info, "calibration": self.calibration}

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        # the model text lists the training parameters, the thread count among them: written as 0 ("as many as
        # there are cores"), so that the same data gives the same bytes on any machine
        text = re.sub(r"^\[num_threads: \d+\]$", "[num_threads: 0]", self.booster.model_to_string(), flags=re.M)
        (directory / "model.txt").write_text(text, encoding="utf-8")
        info = {k: v for k, v in self.info.items() if k != "fit_seconds"}  # keep the bytes deterministic
        _dump_json({"kind": self.kind, "params": self._params, "num_boost_round": self.num_boost_round,
                    "calibration_fraction": self.calibration_fraction, "categories": self.categories,
                    "calibration": self.calibration, "info": info, "features": self.features,
                    "consensus": self.consensus, "unsold_weight": self.unsold_weight, "stage2": self.stage2},
                   directory / "meta.json")

    @classmethod
    def load(cls, directory: Path) -> LightGBMValuer:
        import lightgbm as lgb

        directory = Path(directory)
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        if meta.get("kind") != cls.kind:
            raise ValueError(f"{directory} holds a {meta.get('kind')!r} model, not {cls.kind!r}")
        params = {k: v for k, v in meta["params"].items() if k != "num_threads"}  # artifacts that fixed it at 4
        self = cls(seed=params["seed"], num_boost_round=meta["num_boost_round"], params=params,
                   calibration_fraction=meta["calibration_fraction"], consensus=meta.get("consensus", False),
                   unsold_weight=meta.get("unsold_weight", 0.0))
        self.features = list(meta.get("features", FEATURE_COLUMNS))
        self.stage2 = meta.get("stage2", {})
        self.booster = lgb.Booster(model_str=(directory / "model.txt").read_text(encoding="utf-8"))
        self.categories, self.calibration, self.info = meta["categories"], meta["calibration"], meta["info"]
        return self


class HedonicValuer(Valuer):
    """Ridge hedonic regression: log price ~ artist + log area + medium + decade + sale year + house."""

    kind = "hedonic_ridge"
    input_columns = TABULAR_INPUT_COLUMNS
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
        # scored as if without a size: the frame's size column blank, as built from lots without one
        sized = size_known(sold, np.nonzero(cal_mask)[0])
        masked = np.where(sized, np.abs(y[cal_mask] - self._raw_predict(features_without_size(frame[cal_mask]))),
                          np.nan)
        self.calibration = calibrate_radii(resid, frame["prior_n_sold"].to_numpy()[cal_mask], INTERVAL_COVERAGE,
                                           sized=sized, masked=masked)
        self.info = {"n_sold": int(len(sold)), "n_fit": int(fit_mask.sum()), "n_calibration": int(cal_mask.sum()),
                     "train_from": str(sold["_date"].min().date()), "train_until": str(sold["_date"].max().date()),
                     "calibration_from": str(sold.loc[cal_mask, "_date"].min().date()),
                     "fit_seconds": round(time.perf_counter() - t0, 3)}
        return self

    def _raw_predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.coef["intercept"] + self._design(frame) @ np.asarray(self.coef["weights"])

    def predict(self, lots: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
        lots = lots.reset_index(drop=True)
        frame = self._frame(lots, history)
        pred = self._raw_predict(frame) if len(lots) else np.zeros(0)
        return _predictions(lots, pred, interval_radius(self.calibration, frame["prior_n_sold"].to_numpy(),
                                                        size_known(lots)))

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
