"""The ``ingest_lots`` quality gate: a Great Expectations 1.x suite over conformed lots (LOT_COLUMNS).

:func:`validate_lots` runs the suite once (ephemeral context, ``result_format="COMPLETE"`` with the frame's
``row_id`` as index column) and splits the lots into accepted rows and quarantine rows (stage ``"ingest"``, one
quarantine row per failed rule, reason in words). Rules:

* money positive and below 1e10: ``estimate_low``, ``estimate_high``, ``hammer_price`` (nulls pass);
* ``estimate_low <= estimate_high``;
* sale date between 1900-01-01 and the run date;
* ``sale_currency`` known to the FX table; ``fx_usd`` positive;
* sizes plausible: ``height_cm``, ``width_cm``, ``depth_cm`` in (0, 2000] cm;
* ``status`` one of :data:`gbv.contracts.LOT_STATUSES`; ``lot_ref``, ``artist_id``, ``sale_id`` not null.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from gbv.contracts import LOT_STATUSES
from gbv.normalize.fx import KNOWN_CURRENCIES

log = logging.getLogger(__name__)

SUITE_NAME = "ingest_lots"
STAGE = "ingest"
MAX_MONEY = 1e10
MAX_CM = 2000.0
MIN_SALE_DATE = dt.date(1900, 1, 1)
ROW_ID = "row_id"


@dataclass(frozen=True)
class LotRule:
    name: str
    field: str
    words: str


def _rules(run_date: dt.date) -> list[tuple[LotRule, Any]]:
    import great_expectations.expectations as gxe

    out: list[tuple[LotRule, Any]] = []

    def add(rule: LotRule, cls: Any, **kw: Any) -> None:
        out.append((rule, cls(meta={"rule": rule.name}, **kw)))

    for col in ("lot_ref", "artist_id", "sale_id", "sale_date"):
        add(LotRule(f"{col}_not_null", col, f"{col} is missing"), gxe.ExpectColumnValuesToNotBeNull, column=col)
    for col in ("estimate_low", "estimate_high", "hammer_price"):
        add(LotRule(f"{col}_positive", col, f"{col} must be > 0 and <= {MAX_MONEY:.0e}"),
            gxe.ExpectColumnValuesToBeBetween, column=col, min_value=0, max_value=MAX_MONEY, strict_min=True)
    add(LotRule("estimate_low_le_high", "estimate_low", "estimate_low is above estimate_high"),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB, column_A="estimate_high", column_B="estimate_low",
        or_equal=True, ignore_row_if="either_value_is_missing")
    add(LotRule("sale_date_in_range", "sale_date", f"sale date outside {MIN_SALE_DATE} .. {run_date}"),
        gxe.ExpectColumnValuesToBeBetween, column="sale_day", min_value=MIN_SALE_DATE.toordinal(),
        max_value=run_date.toordinal())
    add(LotRule("currency_known", "sale_currency", "sale currency unknown to the FX table"),
        gxe.ExpectColumnValuesToBeInSet, column="sale_currency", value_set=sorted(KNOWN_CURRENCIES))
    add(LotRule("fx_positive", "fx_usd", "exchange rate must be > 0"),
        gxe.ExpectColumnValuesToBeBetween, column="fx_usd", min_value=0, strict_min=True)
    for col in ("height_cm", "width_cm", "depth_cm"):
        add(LotRule(f"{col}_plausible", col, f"{col} must be in (0, {MAX_CM:g}] cm"),
            gxe.ExpectColumnValuesToBeBetween, column=col, min_value=0, max_value=MAX_CM, strict_min=True)
    add(LotRule("status_known", "status", f"status not one of {LOT_STATUSES}"),
        gxe.ExpectColumnValuesToBeInSet, column="status", value_set=list(LOT_STATUSES))
    return out


def build_suite(run_date: dt.date) -> tuple[Any, dict[str, LotRule]]:
    import great_expectations as gx

    rules = _rules(run_date)
    suite = gx.ExpectationSuite(name=SUITE_NAME, expectations=[e for _, e in rules],
                                meta={"notes": "gbv ingest gate on conformed lots (quality/lots.py)"})
    return suite, {r.name: r for r, _ in rules}


def validate_lots(lots: pd.DataFrame, run_date: str) -> tuple[pd.Series, list[dict[str, Any]], dict[str, int]]:
    """Run the suite over ``lots`` (LOT_COLUMNS, any index). Returns (accepted mask aligned with ``lots``,
    failures ``[{"pos", "field", "reason", "rule"}]`` with ``pos`` the row position, failed-row count per rule)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    run_day = dt.date.fromisoformat(str(run_date)[:10])
    n = len(lots)
    if n == 0:
        return pd.Series([], dtype=bool), [], {}
    frame = pd.DataFrame({ROW_ID: range(n)})
    for col in ("lot_ref", "artist_id", "sale_id", "sale_currency", "status"):
        frame[col] = lots[col].astype("object").where(lots[col].notna(), None).to_numpy()
    for col in ("estimate_low", "estimate_high", "hammer_price", "fx_usd", "height_cm", "width_cm", "depth_cm"):
        frame[col] = pd.to_numeric(lots[col], errors="coerce").astype("float64").to_numpy()
    frame["sale_date"] = lots["sale_date"].astype("object").to_numpy()
    frame["sale_day"] = [float(d.toordinal()) if isinstance(d, dt.date) else float("nan")
                         for d in lots["sale_date"]]
    suite, rules = build_suite(run_day)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_or_update_pandas(name="gbv_ingest")
    asset = source.add_dataframe_asset(name=SUITE_NAME)
    batch_def = asset.add_batch_definition_whole_dataframe("ingest")
    suite = context.suites.add(suite)
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{SUITE_NAME}_run", data=batch_def, suite=suite))
    result = validation.run(batch_parameters={"dataframe": frame},
                            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [ROW_ID],
                                           "include_unexpected_rows": False})
    failures: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for r in result.results:
        rule = rules[r.expectation_config.meta["rule"]]
        if r.exception_info and r.exception_info.get("raised_exception"):
            raise RuntimeError(f"expectation {rule.name} could not run: {r.exception_info}")
        if r.success:
            continue
        idx = r.result.get("unexpected_index_list") or []
        rows = sorted({int(i[ROW_ID]) for i in idx})
        if len(rows) < int(r.result.get("unexpected_count") or 0):
            raise RuntimeError(f"GX returned fewer failing rows than it counted for {rule.name}")
        counts[rule.name] = len(rows)
        for pos in rows:
            val = frame.at[pos, rule.field] if rule.field in frame.columns else None
            failures.append({"pos": pos, "field": rule.field, "rule": rule.name,
                             "reason": f"{rule.words} (got {val!r})"})
    bad = {f["pos"] for f in failures}
    mask = pd.Series([i not in bad for i in range(n)], index=lots.index)
    log.info("ingest gate: %d lots, %d rejected by %s", n, len(bad), counts)
    return mask, failures, counts
