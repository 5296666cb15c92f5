"""The ``expert_labels`` quality gate: one Great Expectations 1.x suite over the expert-label CSV intake.

One function, :func:`validate_labels`, serves the nightly Dagster asset, ``gbv labels import`` and
``gbv consensus`` alike. It runs in four steps:

1. **Schema.** Every column of :data:`gbv.contracts.LABEL_COLUMNS` must be present, else
   :class:`LabelSchemaError` names the source and the missing field(s) and nothing is returned.
2. **Types.** Values are coerced row by row (numbers, ISO timestamps, trimmed strings). A value that does not
   parse (``"abc"`` in ``value_point``, ``"yesterday"`` in ``submitted_at``) sends its row to quarantine with
   the row and the field; such rows are not shown to GX.
3. **Expectations.** The ``expert_labels`` ExpectationSuite (see :func:`build_suite`) runs once over the
   remaining rows, with ``result_format="COMPLETE"`` and ``unexpected_index_column_names=["row_number"]`` so
   every failure maps back to its input rows. Each failure becomes one quarantine row
   (``stage="labels"``); a row that fails several expectations gets several quarantine rows and is not accepted.
   For the two uniqueness rules (``label_id``; ``(lot_ref, expert)`` per night) the first occurrence in the input
   is kept and only the later duplicates are quarantined.
4. **Data Docs.** With ``docs_dir`` the run goes through a file-backed GX context rooted at ``gx_dir`` (a
   temporary folder by default) whose local Data Docs site writes to ``docs_dir``; ``docs_dir/index.html``
   lists the validation.

Privacy: raw expert ids never leave this function. GX only ever sees ``expert_key`` (the salted pseudonym from
:func:`gbv.privacy.pseudonymize`), the "known expert" rule checks pseudonyms against the pseudonyms of the known
ids, quarantine payloads carry the pseudonym in place of ``expert_id``, and accepted rows carry ``expert_key``
and no ``expert_id`` column.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gbv.contracts import LABEL_COLUMNS, LABEL_OPTIONAL_COLUMNS, QUARANTINE_COLUMNS, STYLES
from gbv.normalize.fx import KNOWN_CURRENCIES, usd_per_unit
from gbv.privacy import pseudonymize

log = logging.getLogger(__name__)

SUITE_NAME = "expert_labels"
STAGE = "labels"
DOCS_SITE_NAME = "gbv_local_site"
MAX_VALUE = 1e10
ROW_NUMBER = "row_number"  # 1-based data row of the input, added for GX's unexpected_index_column_names

NUMERIC_COLUMNS = ("value_low", "value_point", "value_high", "attribution_confidence")
STRING_COLUMNS = ("label_id", "lot_ref", "expert_id", "currency", "style", "condition", "comment")

# What the accepted frame holds: the intake columns with expert_id replaced by expert_key, the optional
# columns (null where the input lacks them) and the USD conversions (annual-average FX on the submitted date).
ACCEPTED_LABEL_COLUMNS = (
    "label_id", "lot_ref", "expert_key", "value_low", "value_point", "value_high", "currency", "submitted_at",
    *LABEL_OPTIONAL_COLUMNS,
    "value_low_usd", "value_point_usd", "value_high_usd",
)

# Columns GX sees (no raw expert id, no free text).
_GX_COLUMNS = (
    ROW_NUMBER, "label_id", "lot_ref", "expert_key", "value_low", "value_point", "value_high", "currency",
    "submitted_at", "style", "attribution_confidence",
)

# Optional per-run rules (issue 7): on only when the caller passes what they need.
# * unknown lot / submitted after the sale: ``lots`` (lot_ref, optional sale_date) -> helper columns
#   ``lot_known`` and ``days_after_sale``;
# * statistical outlier: ``outlier_k`` -> helper column ``outlier_z``: how many robust SDs the label's log USD
#   point value lies from the leave-one-out consensus of the other labels on the lot (and the current consensus,
#   when given); the smaller of that and the distance from the lot's full median, so that one wild label never
#   makes its sound neighbours look like outliers. Needs at least two references.
DEFAULT_OUTLIER_K = 4.0  # GBV_LABEL_OUTLIER_K overrides (see outlier_k_from_env)
MIN_OUTLIER_SD = 0.15  # floor of the pooled robust SD (log scale)
EARLIEST_SUBMISSION = dt.datetime(1990, 1, 1)


def outlier_k_from_env() -> float | None:
    """``GBV_LABEL_OUTLIER_K`` (a number > 0, or ``off``), default :data:`DEFAULT_OUTLIER_K`."""
    import os

    raw = (os.environ.get("GBV_LABEL_OUTLIER_K") or "").strip().lower()
    if raw == "":
        return DEFAULT_OUTLIER_K
    if raw in ("off", "none", "0"):
        return None
    try:
        k = float(raw)
    except ValueError as exc:
        raise ValueError(f"GBV_LABEL_OUTLIER_K must be a number > 0 or 'off', got {raw!r}") from exc
    if not k > 0:
        raise ValueError(f"GBV_LABEL_OUTLIER_K must be > 0, got {raw!r}")
    return k


class LabelSchemaError(ValueError):
    """The label file lacks a required column; nothing from it may be stored."""

    def __init__(self, source: str, missing: Iterable[str]):
        self.source = source
        self.missing = tuple(missing)
        super().__init__(f"label file from {source!r} is missing required column(s): {', '.join(self.missing)}")


@dataclass
class LabelValidation:
    """What one validation produced."""

    accepted: pd.DataFrame  # ACCEPTED_LABEL_COLUMNS
    quarantine: pd.DataFrame  # exactly QUARANTINE_COLUMNS
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)  # rule name -> counts (see validate_labels)
    docs_index: Path | None = None

    @property
    def n_input(self) -> int:
        return int(self.summary.get("parse", {}).get("evaluated", 0))


# ---- the suite ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Rule:
    name: str  # stable key in LabelValidation.summary and in the expectation's meta
    field: str  # the input field a failure is reported against
    words: str  # plain-words reason
    keep_first: bool = False  # uniqueness rules: the first occurrence is kept, later ones quarantined


def _rules() -> list[tuple[_Rule, Any]]:
    """(rule, GX expectation) pairs of the ``expert_labels`` suite, in reporting order."""
    import great_expectations.expectations as gxe

    out: list[tuple[_Rule, Any]] = []

    def add(rule: _Rule, expectation_cls: Any, **kwargs: Any) -> None:
        out.append((rule, expectation_cls(meta={"rule": rule.name}, **kwargs)))

    for col in ("label_id", "lot_ref", "expert_key", "value_point", "currency", "submitted_at"):
        fld = "expert_id" if col == "expert_key" else col
        add(_Rule(f"{fld}_not_null", fld, f"{fld} is missing"), gxe.ExpectColumnValuesToNotBeNull, column=col)
    for col in ("value_low", "value_point", "value_high"):
        add(_Rule(f"{col}_in_range", col, f"{col} must be > 0 and <= {MAX_VALUE:.0e}"),
            gxe.ExpectColumnValuesToBeBetween, column=col, min_value=0, max_value=MAX_VALUE, strict_min=True)
    add(_Rule("value_low_le_point", "value_low", "value_low is above value_point"),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB, column_A="value_point", column_B="value_low", or_equal=True,
        ignore_row_if="either_value_is_missing")
    add(_Rule("value_point_le_high", "value_high", "value_high is below value_point"),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB, column_A="value_high", column_B="value_point", or_equal=True,
        ignore_row_if="either_value_is_missing")
    add(_Rule("currency_known", "currency", "unknown currency"),
        gxe.ExpectColumnValuesToBeInSet, column="currency", value_set=sorted(KNOWN_CURRENCIES))
    add(_Rule("style_known", "style", "unknown style"),
        gxe.ExpectColumnValuesToBeInSet, column="style", value_set=list(STYLES), mostly=1.0)
    add(_Rule("attribution_confidence_in_range", "attribution_confidence",
              "attribution_confidence must be between 0 and 1"),
        gxe.ExpectColumnValuesToBeBetween, column="attribution_confidence", min_value=0, max_value=1)
    add(_Rule("label_id_unique", "label_id", "duplicate label_id (first occurrence kept)", keep_first=True),
        gxe.ExpectColumnValuesToBeUnique, column="label_id")
    add(_Rule("lot_expert_unique", "lot_ref,expert_id",
              "second label by the same expert for the same lot this night (first kept)", keep_first=True),
        gxe.ExpectCompoundColumnsToBeUnique, column_list=["lot_ref", "expert_key"])
    # expert_known and submitted_at_not_future need per-run values; build_suite fills them in.
    return out


def build_suite(known_expert_keys: Iterable[str], run_date: str, *, check_lots: bool = False,
                outlier_k: float | None = None) -> tuple[Any, dict[str, _Rule]]:
    """The ``expert_labels`` ExpectationSuite for one night, and its rules keyed by name.

    ``known_expert_keys`` are pseudonyms (``expert_key``), never raw ids. ``check_lots`` adds the unknown-lot
    and submitted-after-sale rules (over the helper columns ``lot_known``/``days_after_sale``), ``outlier_k``
    the statistical-outlier rule (over ``outlier_z``).
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    rules = _rules()
    unknown = _Rule("expert_known", "expert_id", "unknown expert")
    rules.append((unknown, gxe.ExpectColumnValuesToBeInSet(
        column="expert_key", value_set=sorted(set(known_expert_keys)), meta={"rule": unknown.name})))
    end = _end_of_day(run_date)
    future = _Rule("submitted_at_not_future", "submitted_at", f"submitted_at is after the run date {run_date}")
    rules.append((future, gxe.ExpectColumnValuesToBeBetween(
        column="submitted_at", max_value=end, strict_max=True, meta={"rule": future.name})))
    early = _Rule("submitted_at_plausible", "submitted_at",
                  f"submitted_at is before {EARLIEST_SUBMISSION.date().isoformat()} (implausible timestamp)")
    rules.append((early, gxe.ExpectColumnValuesToBeBetween(
        column="submitted_at", min_value=EARLIEST_SUBMISSION, meta={"rule": early.name})))
    if check_lots:
        lot = _Rule("lot_known", "lot_ref", "unknown lot (lot_ref not in the warehouse's or catalogue's lots)")
        rules.append((lot, gxe.ExpectColumnValuesToBeInSet(column="lot_known", value_set=[True],
                                                           meta={"rule": lot.name})))
        after = _Rule("submitted_before_sale", "submitted_at",
                      "submitted_at is after the lot's sale date (the result may have been known)")
        rules.append((after, gxe.ExpectColumnValuesToBeBetween(column="days_after_sale", max_value=0,
                                                               meta={"rule": after.name})))
    if outlier_k is not None:
        out = _Rule("value_point_not_outlier", "value_point",
                    f"outlier: value_point more than {outlier_k:g} robust SDs from the leave-one-out "
                    "consensus of the other labels on the lot")
        rules.append((out, gxe.ExpectColumnValuesToBeBetween(column="outlier_z", min_value=-outlier_k,
                                                             max_value=outlier_k, meta={"rule": out.name})))

    suite = gx.ExpectationSuite(name=SUITE_NAME, expectations=[e for _, e in rules],
                                meta={"notes": "gbv expert-label intake gate (quality/labels.py)"})
    return suite, {r.name: r for r, _ in rules}


# ---- public entry point -------------------------------------------------------------------------------------
def validate_labels(labels: pd.DataFrame, known_expert_ids: Iterable[str], run_date: str, source: str, *,
                    salt: str, docs_dir: Path | None = None, gx_dir: Path | None = None,
                    lots: pd.DataFrame | None = None, outlier_k: float | None = None,
                    current_consensus: pd.DataFrame | None = None) -> LabelValidation:
    """Validate one night's expert labels; split them into accepted rows and quarantine rows.

    Optional rules: with ``lots`` (``lot_ref`` and, where known, ``sale_date``) a label for a lot not in it is
    quarantined as "unknown lot" and one submitted after its lot's sale date as such; with ``outlier_k`` a label
    whose log USD point value lies more than ``outlier_k`` robust SDs from the leave-one-out consensus is
    quarantined as "outlier" (``current_consensus``: ``lot_ref, consensus_usd`` of earlier nights, one more
    reference per lot).

    ``run_date`` is the night (``YYYY-MM-DD``); labels submitted after the end of that day (UTC) are rejected.
    ``summary`` maps each rule name (``"parse"`` for type coercion, then the suite's rules) to
    ``{"expectation_type", "field", "evaluated", "unexpected", "failed", "success"}``: ``evaluated`` rows seen,
    ``unexpected`` rows GX flagged, ``failed`` rows quarantined for it (uniqueness rules keep the first row).
    """
    _end_of_day(run_date)  # validates the format early
    missing = [c for c in LABEL_COLUMNS if c not in labels.columns]
    if missing:
        raise LabelSchemaError(source, missing)

    raw = labels.reset_index(drop=True)
    n = len(raw)
    row_numbers = np.arange(1, n + 1)
    keys = _expert_keys(raw["expert_id"], salt)
    payloads = _payloads(raw, keys)

    typed, parse_failures = _coerce(raw)
    typed.insert(0, ROW_NUMBER, row_numbers)
    typed["expert_key"] = keys

    quarantine_rows: list[dict[str, Any]] = []

    def reject(pos: int, fld: str, reason: str, order: int = 0) -> None:
        label_id = typed.at[pos, "label_id"]
        quarantine_rows.append({"_order": order,
            "run_date": run_date, "stage": STAGE, "source": source,
            "row_ref": None if _missing(label_id) else str(label_id), "row_number": int(row_numbers[pos]),
                "field": fld, "reason": reason, "payload": payloads[pos]})

    for pos, fld, value in parse_failures:
        reject(pos, fld, f"{fld} could not be read as {_KIND[fld]}: {value!r} (type coercion)")
    unparsable = {pos for pos, _, _ in parse_failures}
    summary: dict[str, dict[str, Any]] = {"parse": {
        "expectation_type": "type_coercion", "field": "*", "evaluated": n, "unexpected": len(unparsable),
        "failed": len(unparsable), "success": not unparsable}}

    candidates = typed.loc[[p for p in range(n) if p not in unparsable], list(_GX_COLUMNS)].reset_index(drop=True)
    if lots is not None:
        candidates = _add_lot_columns(candidates, lots)
    if outlier_k is not None:
        if not outlier_k > 0:
            raise ValueError(f"outlier_k must be > 0, got {outlier_k}")
        candidates["outlier_z"] = _outlier_z(candidates, current_consensus)
    known_keys = {pseudonymize(str(e), salt) for e in known_expert_ids}
    suite, rules = build_suite(known_keys, run_date, check_lots=lots is not None, outlier_k=outlier_k)

    rule_order = {name: i for i, name in enumerate(rules, start=1)}
    failed_positions: set[int] = set(unparsable)
    for result in _run_suite(suite, candidates, docs_dir=docs_dir, gx_dir=gx_dir):
        rule = rules[result.expectation_config.meta["rule"]]
        flagged = _flagged_rows(result)
        if rule.keep_first:
            flagged = _later_duplicates(typed, flagged, rule)
        for row_number in flagged:
            pos = row_number - 1
            failed_positions.add(pos)
            reject(pos, rule.field, _reason(rule, result.expectation_config.type, typed.loc[pos]),
                   rule_order[rule.name])
        summary[rule.name] = {
            "expectation_type": result.expectation_config.type, "field": rule.field,
            "evaluated": int(result.result.get("element_count", len(candidates))),
            "unexpected": int(result.result.get("unexpected_count") or 0), "failed": len(flagged),
            "success": bool(result.success)}
        if result.exception_info and result.exception_info.get("raised_exception"):
            raise RuntimeError(f"expectation {rule.name} could not run: {result.exception_info}")

    summary = {name: summary[name] for name in ["parse", *rules] if name in summary}
    quarantine = pd.DataFrame(quarantine_rows, columns=["_order", *QUARANTINE_COLUMNS])
    quarantine = quarantine.sort_values(["row_number", "_order"], kind="stable")[list(QUARANTINE_COLUMNS)]
    quarantine = quarantine.reset_index(drop=True).astype({"row_number": "int64"})

    accepted = _accepted(typed.drop(index=sorted(failed_positions)))
    log.info("labels from %s for %s: %d rows, %d accepted, %d quarantined (%d quarantine rows)", source, run_date,
             n, len(accepted), len(failed_positions), len(quarantine))
    docs_index = Path(docs_dir) / "index.html" if docs_dir is not None else None
    return LabelValidation(accepted=accepted, quarantine=quarantine, summary=summary, docs_index=docs_index)


# ---- optional per-run helper columns -------------------------------------------------------------------
def _add_lot_columns(frame: pd.DataFrame, lots: pd.DataFrame) -> pd.DataFrame:
    """``lot_known`` (bool) and ``days_after_sale`` (submitted_at - sale date, days; NaN where unknown)."""
    out = frame.copy()
    refs = lots["lot_ref"].dropna().astype(str).str.strip()
    out["lot_known"] = out["lot_ref"].isin(set(refs)) | out["lot_ref"].isna()  # a missing ref fails elsewhere
    if "sale_date" in lots.columns:
        day = pd.to_datetime(pd.Series(lots["sale_date"].to_numpy(), index=refs.index), errors="coerce")
        sale_day = pd.Series(day.to_numpy(), index=refs.to_numpy())
        sale_day = sale_day[~sale_day.index.duplicated(keep="last")]
        sale = out["lot_ref"].map(sale_day)
        # labels from the sale day itself are fine: the sale has not happened before its day starts
        after = (pd.to_datetime(out["submitted_at"]) - (pd.to_datetime(sale) + pd.Timedelta(days=1)))
        out["days_after_sale"] = (after / pd.Timedelta(days=1)).where(after > pd.Timedelta(0), 0.0)
        out["days_after_sale"] = out["days_after_sale"].astype("float64")
    else:
        out["days_after_sale"] = np.nan
    return out


def _outlier_z(frame: pd.DataFrame, current: pd.DataFrame | None) -> pd.Series:
    """Robust z of each label's log USD point value against its lot's other labels (NaN: not enough peers)."""
    n = len(frame)
    z = np.full(n, np.nan)
    if n == 0:
        return pd.Series(z, dtype="float64")
    point = frame["value_point"].to_numpy(dtype="float64")
    cur = frame["currency"].to_numpy(dtype=object)
    stamps = pd.to_datetime(frame["submitted_at"])
    ok = np.isfinite(point) & (point > 0) & np.array([c in KNOWN_CURRENCIES for c in cur]) & stamps.notna()
    ok &= frame["lot_ref"].notna().to_numpy()
    y = np.full(n, np.nan)
    for i in np.flatnonzero(ok):
        y[i] = math.log(point[i] * usd_per_unit(cur[i], stamps.iloc[i].year))
    prior: dict[str, float] = {}
    if current is not None and len(current):
        c = current[["lot_ref", "consensus_usd"]].dropna()
        c = c[pd.to_numeric(c["consensus_usd"], errors="coerce") > 0]
        prior = {str(k): math.log(float(v)) for k, v in zip(c["lot_ref"], c["consensus_usd"], strict=True)}
    lots = frame["lot_ref"].astype(object).to_numpy()
    groups: dict[str, list[int]] = {}
    for i in np.flatnonzero(ok):
        groups.setdefault(str(lots[i]), []).append(int(i))
    loo = np.full(n, np.nan)
    full = np.full(n, np.nan)
    for lot, idx in groups.items():
        values = y[idx]
        extra = [prior[lot]] if lot in prior else []
        everyone = np.median(np.concatenate([values, extra]))
        for j, i in enumerate(idx):
            refs = np.concatenate([np.delete(values, j), extra])
            if len(refs) >= 2:
                loo[i] = y[i] - np.median(refs)
                full[i] = y[i] - everyone
    have = np.isfinite(loo)
    if not have.any():
        return pd.Series(z, dtype="float64")
    scale = max(MIN_OUTLIER_SD, 1.4826 * float(np.median(np.abs(loo[have]))))
    smaller = np.where(np.abs(loo) <= np.abs(full), loo, full)
    z[have] = smaller[have] / scale
    return pd.Series(z, dtype="float64")


# ---- coercion ----------------------------------------------------------------------------------------------
_KIND = {"value_low": "a number", "value_point": "a number", "value_high": "a number",
         "attribution_confidence": "a number", "submitted_at": "an ISO timestamp"}


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _clean_str(value: Any) -> str | None:
    if _missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a CSV reader turned "1001" into 1001.0
    return str(value).strip()


def _to_float(value: Any) -> float | None:
    """float, None for missing; raises ValueError for text that is not a number."""
    if _missing(value):
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float | np.integer | np.floating):
        out = float(value)
    else:
        out = float(str(value).strip().replace("_", ""))
    if math.isnan(out):
        return None
    return out


def _to_timestamp(value: Any) -> pd.Timestamp | None:
    """Naive UTC timestamp (inputs without an offset are taken as UTC); raises ValueError if unparsable."""
    if _missing(value):
        return None
    try:
        ts = pd.Timestamp(value.strip() if isinstance(value, str) else value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(value) from exc
    if ts is pd.NaT:
        raise ValueError(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    if not 1700 <= ts.year <= 2200:  # a typo like year -5 or 20260: unreadable as a submission time
        raise ValueError(value)
    return ts


def _coerce(raw: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[int, str, Any]]]:
    """Typed copy of the intake frame (all contract columns present) and the (position, field, value) failures."""
    n = len(raw)
    failures: list[tuple[int, str, Any]] = []
    out: dict[str, Any] = {}
    for col in STRING_COLUMNS:
        values = raw[col].tolist() if col in raw.columns else [None] * n
        cleaned = [_clean_str(v) for v in values]
        if col == "currency":
            cleaned = [v.upper() if v else v for v in cleaned]
        elif col in ("style", "condition"):
            cleaned = [v.lower() if v else v for v in cleaned]
        out[col] = pd.Series(cleaned, dtype=object)
    for col in NUMERIC_COLUMNS:
        values = raw[col].tolist() if col in raw.columns else [None] * n
        parsed = []
        for pos, v in enumerate(values):
            try:
                parsed.append(_to_float(v))
            except (ValueError, TypeError):
                failures.append((pos, col, v))
                parsed.append(None)
        out[col] = pd.Series(parsed, dtype="float64")
    stamps = []
    for pos, v in enumerate(raw["submitted_at"].tolist()):
        try:
            stamps.append(_to_timestamp(v))
        except ValueError:
            failures.append((pos, "submitted_at", v))
            stamps.append(None)
    out["submitted_at"] = pd.Series(pd.to_datetime(stamps), dtype="datetime64[us]") if n else pd.Series(
        [], dtype="datetime64[us]")
    typed = pd.DataFrame(out, index=pd.RangeIndex(n))
    failures.sort(key=lambda f: (f[0], list(LABEL_COLUMNS + LABEL_OPTIONAL_COLUMNS).index(f[1])))
    return typed, failures


def _expert_keys(expert_ids: pd.Series, salt: str) -> pd.Series:
    return pd.Series([None if (c := _clean_str(v)) is None else pseudonymize(c, salt) for v in expert_ids],
                     dtype=object)


def _json_value(value: Any) -> Any:
    if _missing(value) and not isinstance(value, str):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no inf
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    if isinstance(value, dt.datetime | dt.date | pd.Timestamp):
        return value.isoformat()
    return str(value)


def _payloads(raw: pd.DataFrame, keys: pd.Series) -> list[str]:
    """The input row as JSON (as received), expert_id replaced by its pseudonym."""
    records = raw.to_dict(orient="records")
    out = []
    for record, key in zip(records, keys, strict=True):
        row = {str(k): _json_value(v) for k, v in record.items()}
        row["expert_id"] = key
        out.append(json.dumps(row, sort_keys=True, ensure_ascii=False, allow_nan=False))
    return out


def _end_of_day(run_date: str) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(str(run_date))
    except ValueError as exc:
        raise ValueError(f"run_date must be YYYY-MM-DD, got {run_date!r}") from exc
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


# ---- results -> rows ---------------------------------------------------------------------------------------
def _flagged_rows(result: Any) -> list[int]:
    if result.success:
        return []
    index_list = result.result.get("unexpected_index_list") or []
    rows = sorted({int(item[ROW_NUMBER]) for item in index_list})
    expected = result.result.get("unexpected_count") or 0
    if len(index_list) < expected:  # never silently let a failing row through
        raise RuntimeError(f"GX returned {len(index_list)} of {expected} failing rows for "
                           f"{result.expectation_config.type}; result_format must be COMPLETE")
    return rows


def _later_duplicates(typed: pd.DataFrame, flagged: list[int], rule: _Rule) -> list[int]:
    """Of the rows a uniqueness rule flagged, all but the first (input order) of each duplicate group."""
    if not flagged:
        return []
    cols = ["label_id"] if rule.name == "label_id_unique" else ["lot_ref", "expert_key"]
    sub = typed.loc[[r - 1 for r in flagged], [ROW_NUMBER, *cols]].sort_values(ROW_NUMBER)
    later = sub[sub.duplicated(subset=cols, keep="first")]
    return [int(r) for r in later[ROW_NUMBER]]


def _reason(rule: _Rule, expectation_type: str, row: pd.Series) -> str:
    words = rule.words
    if rule.name == "value_low_le_point":
        words += f" (got low {_json_value(row['value_low'])!r} > point {_json_value(row['value_point'])!r})"
    elif rule.name == "value_point_le_high":
        words += f" (got point {_json_value(row['value_point'])!r} > high {_json_value(row['value_high'])!r})"
    elif rule.name == "label_id_unique":
        words += f" (label_id {row['label_id']!r})"
    elif rule.field in row.index and rule.field not in ("expert_id", "label_id", "lot_ref"):
        value = row[rule.field]
        if not _missing(value):
            words += f" (got {_json_value(value)!r})"
    return f"{words} [{expectation_type}]"


def _accepted(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.reset_index(drop=True).copy()
    rates = [usd_per_unit(cur, ts.year) for cur, ts in zip(out["currency"], out["submitted_at"], strict=True)]
    rates = np.asarray(rates, dtype="float64")
    for col in ("value_low", "value_point", "value_high"):
        out[f"{col}_usd"] = out[col].to_numpy(dtype="float64") * rates
    return out[list(ACCEPTED_LABEL_COLUMNS)].reset_index(drop=True)


# ---- Great Expectations plumbing ---------------------------------------------------------------------------
@contextlib.contextmanager
def _context(docs_dir: Path | None, gx_dir: Path | None) -> Iterator[Any]:
    """An ephemeral context (no docs), or a file context at gx_dir with a local Data Docs site at docs_dir."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    if docs_dir is None:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        yield context
        return
    with contextlib.ExitStack() as stack:
        root = Path(gx_dir) if gx_dir is not None else Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="gbv-gx-")))
        root.mkdir(parents=True, exist_ok=True)
        docs = Path(docs_dir).resolve()
        docs.mkdir(parents=True, exist_ok=True)
        context = gx.get_context(mode="file", project_root_dir=str(root))
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        site = {"class_name": "SiteBuilder", "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs)}}
        sites = dict(context.variables.data_docs_sites or {})
        if sites.get(DOCS_SITE_NAME, {}).get("store_backend", {}).get("base_directory") != str(docs):
            if DOCS_SITE_NAME in sites:
                context.delete_data_docs_site(DOCS_SITE_NAME)
            context.add_data_docs_site(site_name=DOCS_SITE_NAME, site_config=site)
        context.variables.save()
        yield context


def _run_suite(suite: Any, frame: pd.DataFrame, *, docs_dir: Path | None, gx_dir: Path | None) -> list[Any]:
    """Run the suite once over ``frame``; the per-expectation results (and Data Docs when asked)."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction

    result_format = {"result_format": "COMPLETE", "unexpected_index_column_names": [ROW_NUMBER],
                     "include_unexpected_rows": False, "partial_unexpected_count": 20}
    with _context(docs_dir, gx_dir) as context:
        source = context.data_sources.add_or_update_pandas(name="gbv_labels")
        asset = next((a for a in source.assets if a.name == SUITE_NAME), None) or source.add_dataframe_asset(
            name=SUITE_NAME)
        batch_def = next((b for b in asset.batch_definitions if b.name == "nightly"), None) or \
            asset.add_batch_definition_whole_dataframe("nightly")
        suite = context.suites.add_or_update(suite)
        validation = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"{SUITE_NAME}_nightly", data=batch_def, suite=suite))
        actions = [UpdateDataDocsAction(name="update_data_docs", site_names=[DOCS_SITE_NAME])] if docs_dir else []
        checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
            name=f"{SUITE_NAME}_checkpoint", validation_definitions=[validation], actions=actions,
            result_format=result_format))
        run = checkpoint.run(batch_parameters={"dataframe": frame})
        results = [r for suite_result in run.run_results.values() for r in suite_result.results]
    return results
