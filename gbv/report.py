"""The static HTML nightly report: what ran, what was rejected, how the model stands, what was valued.

One self-contained file per night (plots embedded as PNG), ``$GBV_HOME/reports/<date>.html``, plus
``latest.html``. Expert identities appear only as pseudonyms.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import math
import os
import uuid
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, inspect, select, text

from gbv.settings import Settings, safe_component
from warehouse.schema import dim_model, fact_expert_reliability, fact_valuation, stage_run

STAGE_ORDER = ["raw_lots", "staged_lots", "conformed_lots", "warehouse_lots", "expert_labels", "validated_labels",
               "consensus_labels", "warehouse_labels", "champion_model", "features", "valuations",
               "warehouse_valuations", "estimate_feeds", "price_index", "market_alerts", "nightly_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .6rem}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3b}.muted{color:#777}img{max-width:100%}
"""


def _table(df: pd.DataFrame, max_rows: int = 50) -> str:
    if df.empty:
        return '<p class="muted">none</p>'
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for rec in df.head(max_rows).itertuples(index=False):
        cells = []
        for v in rec:
            num = isinstance(v, int | float) and not isinstance(v, bool)
            if pd.isna(v):
                shown = ""
            elif isinstance(v, float):
                shown = f"{v:,.2f}"
            elif num:
                shown = f"{v:,d}"
            else:
                shown = str(v)
            cells.append(f'<td class="num">{shown}</td>' if num else f"<td>{html.escape(shown)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f'<p class="muted">{len(df) - max_rows} more rows not shown</p>' if len(df) > max_rows else ""
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>{more}"


def _png(fig) -> str:  # noqa: ANN001
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _plots(valuations: pd.DataFrame, reliability: pd.DataFrame) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out = []
    if not valuations.empty:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        for house, grp in valuations.groupby("house"):
            ax.hist(np.log10(grp["estimate_usd"].astype(float)), bins=20, alpha=0.55, label=house)
        ax.set_xlabel("log10 estimate (USD, hammer basis)")
        ax.set_ylabel("lots")
        ax.set_title("Tonight's estimates by house")
        ax.legend()
        out.append(_png(fig))
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(7, 3.2))
        v = valuations.sort_values("estimate_usd").reset_index(drop=True)
        ax.fill_between(range(len(v)), v["low_usd"], v["high_usd"], alpha=0.3, label="80% range")
        ax.plot(range(len(v)), v["estimate_usd"], lw=1, label="estimate")
        if v["expert_value_usd"].notna().any():
            ax.scatter(v.index[v["expert_value_usd"].notna()], v["expert_value_usd"].dropna(), s=10,
                       color="black", label="expert consensus")
        ax.set_yscale("log")
        ax.set_xlabel("lots, ordered by estimate")
        ax.set_ylabel("USD")
        ax.set_title("Estimates with their 80% ranges")
        ax.legend()
        out.append(_png(fig))
        plt.close(fig)
    if not reliability.empty:
        fig, ax = plt.subplots(figsize=(7, 2.8))
        r = reliability.sort_values("weight")
        ax.barh(r["expert_key"], r["weight"])
        ax.set_xlabel("reliability weight")
        ax.set_title("Expert reliability (pseudonymous)")
        out.append(_png(fig))
        plt.close(fig)
    return "".join(out)


# ---- the market section: price index, top movers, tonight's alerts ---------------------------------------------

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
TOP_MOVERS, TOP_ALERTS = 10, 10
MARTS_MISSING = ("The market marts have not been built in this warehouse (no mart_price_index / "
                 "mart_artist_market): run the night's marts (Dagster group <code>marts</code> or "
                 "<code>gbv marts build</code>) to see the price index and the artist markets here.")


def _relations(conn) -> set[str]:  # noqa: ANN001
    insp = inspect(conn)
    return set(insp.get_table_names()) | set(insp.get_view_names())


def _whole(v: object) -> int | None:
    """A plain Python int (so the table right-aligns it with thousands separators), None when missing."""
    return None if pd.isna(v) else int(round(float(v)))


def _pct(log_change: float) -> str:
    return "" if pd.isna(log_change) else f"{math.expm1(float(log_change)) * 100:+.1f}%"


def read_market(engine: Engine, run_date: dt.date) -> dict:
    """What the market section shows, read from the warehouse; a missing table or mart is ``None``."""
    out: dict = {"index": None, "movers": None, "alerts": None, "alerts_ran": False, "marts": False}
    with engine.connect() as conn:
        have = _relations(conn)
        out["marts"] = {"mart_price_index", "mart_artist_market"} <= have
        if "mart_price_index" in have:
            out["index"] = pd.read_sql(text(
                "SELECT index_kind, period, period_start, is_gap, gap_reason, index_value, ci90_low, ci90_high, "
                "n_obs, base_period, change_vs_previous FROM mart_price_index WHERE frequency = 'quarter' "
                "AND segment_type = 'all' ORDER BY index_kind, period_start"), conn)
        elif "fact_price_index" in have:  # the Python index ran but dbt did not
            out["index"] = pd.read_sql(text(
                "SELECT index_kind, period, period_start, is_gap, gap_reason, index_value, ci90_low, ci90_high, "
                "n_obs, base_period FROM fact_price_index WHERE frequency = 'quarter' AND segment_type = 'all' "
                "ORDER BY index_kind, period_start"), conn)
        if "mart_artist_market" in have:
            out["movers"] = pd.read_sql(text(
                "SELECT artist_name, period, period_start, lots_offered, lots_sold, sell_through_rate, "
                "turnover_usd, median_price_usd, momentum_log, momentum_log_se, momentum_log_ci90_low, "
                "momentum_log_ci90_high, momentum_vs_market_log FROM mart_artist_market "
                "WHERE period_start <= :d"), conn, params={"d": run_date})
        if "market_alert" in have:
            out["alerts"] = pd.read_sql(text(
                "SELECT alert_type, severity, auction_house, sale_date, lot_number, artist_name, lot_refs, "
                "detail, evidence FROM market_alert WHERE run_date = :d"), conn, params={"d": run_date})
        if "stage_run" in have:
            out["alerts_ran"] = bool(conn.execute(text(
                "SELECT COUNT(*) FROM stage_run WHERE run_date = :d AND stage = 'market_alerts'"),
                {"d": run_date}).scalar())
    return out


def _index_plot(series: pd.DataFrame) -> str:
    """Quarterly overall index with its 90% band; a gap quarter has no value and breaks the line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    styles = {"hedonic": ("C0", "-", "hedonic (time dummy)"), "repeat_sales": ("C1", "--", "repeat sales")}
    gaps = None
    for kind, grp in series.groupby("index_kind"):
        color, ls, label = styles.get(kind, ("C2", ":", kind))
        g = grp.set_index(pd.to_datetime(grp["period_start"])).sort_index()
        full = pd.date_range(g.index.min(), g.index.max(), freq="QS")  # a missing quarter is a gap, too
        g = g.reindex(full)
        gap = g["is_gap"].astype("boolean").fillna(True).astype(bool) | g["index_value"].isna()
        if kind == "hedonic":
            gaps = g.index[gap]
        if gap.all():
            continue  # nothing to draw (e.g. no repeat sales yet): said in the text below the chart
        val = g["index_value"].astype(float).where(~gap)
        ax.plot(g.index, val, color=color, ls=ls, lw=1.4, marker="o", ms=2.5, label=f"{label}, 90% band")
        ax.fill_between(g.index, g["ci90_low"].astype(float).where(~gap), g["ci90_high"].astype(float).where(~gap),
                        color=color, alpha=0.18, lw=0)
    if gaps is not None and len(gaps):
        ax.plot(gaps, [ax.get_ylim()[0]] * len(gaps), "x", color="#b00020", ms=5, clip_on=False,
                label="gap: no estimate")
    ax.axhline(100, color="#999", lw=0.6)
    ax.set_ylabel("index (base = 100)")
    ax.set_title("Art price index, overall, quarterly (USD hammer basis)")
    ax.legend(fontsize=8)
    out = _png(fig).replace('alt="plot"', 'alt="price index chart" id="market-index-chart"')
    plt.close(fig)
    return out


def _index_html(index: pd.DataFrame | None) -> str:
    if index is None:
        return '<p class="muted">No price index table in this warehouse.</p>'
    if index.empty:
        return '<p class="muted">No price index computed yet (no sales in the warehouse).</p>'
    hed = index[index["index_kind"] == "hedonic"].sort_values("period_start")
    base = hed["base_period"].dropna()
    recent = hed.tail(8).assign(
        index_value=lambda d: d["index_value"].where(~d["is_gap"].astype(bool)),
        band_90=lambda d: [("" if g else f"{lo:,.1f} – {hi:,.1f}") for g, lo, hi in
                           zip(d["is_gap"].astype(bool), d["ci90_low"], d["ci90_high"], strict=True)],
        note=lambda d: d["gap_reason"].where(d["is_gap"].astype(bool), ""))
    cols = ["period", "index_value", "band_90", "n_obs", "note"]
    if "change_vs_previous" in recent:
        recent = recent.assign(change=recent["change_vs_previous"].map(
            lambda c: "" if pd.isna(c) else f"{c * 100:+.1f}%"))
        cols.insert(3, "change")
    recent["n_obs"] = recent["n_obs"].astype("Int64")
    gaps = int(hed["is_gap"].astype(bool).sum())
    rs = index[index["index_kind"] == "repeat_sales"]
    rs_note = ""
    if not rs.empty and rs["is_gap"].astype(bool).all():
        reason = rs["gap_reason"].dropna()
        rs_note = (" The repeat-sales index has no estimate in any quarter"
                   + (f" ({html.escape(str(reason.iloc[0]))})" if len(reason) else "") + ".")
    return (_index_plot(index) +
            f"<p>Hedonic index, base {html.escape(str(base.iloc[0]) if len(base) else '?')} = 100; "
            f"{gaps} gap quarter(s) in the series, shown as gaps (never interpolated).{rs_note} "
            f"Last 8 quarters:</p>" + _table(recent[cols]))


def _movers_html(movers: pd.DataFrame | None) -> str:
    if movers is None:
        return ""
    sold = movers[movers["lots_sold"].fillna(0) > 0]
    if sold.empty:
        return '<p class="muted">No artist sold anything up to tonight.</p>'
    with_mom = sold[sold["momentum_log"].notna()]
    latest = (with_mom if not with_mom.empty else sold)["period_start"].max()
    cur = sold[sold["period_start"] == latest]
    period = str(cur["period"].iloc[0])
    moved = cur[cur["momentum_log"].notna()]
    if moved.empty:
        return (f"<p class=\"muted\">No artist has a momentum estimate for {html.escape(period)} (it needs sales in "
                f"two consecutive quarters); largest turnover instead:</p>"
                + _table(cur.sort_values("turnover_usd", ascending=False).head(TOP_MOVERS)[
                    ["artist_name", "lots_offered", "lots_sold", "turnover_usd", "median_price_usd"]]))
    top = moved.assign(_abs=moved["momentum_log"].abs()).sort_values("_abs", ascending=False).head(TOP_MOVERS)
    shown = pd.DataFrame({
        "artist": top["artist_name"],
        "momentum": top["momentum_log"].map(_pct),
        "90% interval": [f"{_pct(lo)} to {_pct(hi)}" for lo, hi in
                         zip(top["momentum_log_ci90_low"], top["momentum_log_ci90_high"], strict=True)],
        "vs market": top["momentum_vs_market_log"].map(_pct),
        "lots offered": top["lots_offered"].astype("Int64"), "lots sold": top["lots_sold"].astype("Int64"),
        "sell-through": top["sell_through_rate"].map(lambda r: "" if pd.isna(r) else f"{r * 100:.0f}%"),
        "turnover USD": top["turnover_usd"].map(_whole).astype(object),
        "median price USD": top["median_price_usd"].map(_whole).astype(object),
    })
    return (f"<h3>Top movers, {html.escape(period)}</h3><p>Artists with the largest quality-adjusted price "
            f"change against the previous quarter (momentum, with its 90% interval; {len(moved)} artists "
            f"with an estimate this quarter). USD, hammer basis.</p>" + _table(shown))


def _evidence(ev: object) -> str:
    try:
        figures = json.loads(ev) if isinstance(ev, str) and ev else {}
    except ValueError:
        return str(ev)[:200]
    parts = [f"{k}={v:,.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()
             if not isinstance(v, list | dict)]
    text_ = "; ".join(parts)
    return text_ if len(text_) <= 240 else text_[:237] + "..."


def _alerts_html(alerts: pd.DataFrame | None, ran: bool) -> str:
    if alerts is None:
        return '<p class="muted">No market_alert table in this warehouse: market alerts have not run.</p>'
    if alerts.empty:
        return ('<p class="muted">No market alerts tonight.</p>' if ran else
                '<p class="muted">Market alerts have not run for this night.</p>')
    counts = (alerts.pivot_table(index="alert_type", columns="severity", values="detail", aggfunc="count",
                                 fill_value=0)
              .reindex(columns=[s for s in SEVERITY_ORDER if s in set(alerts["severity"])]))
    counts["total"] = counts.sum(axis=1)
    counts = counts.sort_values("total", ascending=False).reset_index().astype(
        {c: "int64" for c in counts.columns if c != "alert_type"})
    top = (alerts.assign(_s=alerts["severity"].map(SEVERITY_ORDER).fillna(9))
           .sort_values(["_s", "sale_date", "alert_type"], ascending=[True, False, True]).head(TOP_ALERTS))
    shown = pd.DataFrame({
        "severity": top["severity"], "type": top["alert_type"], "house": top["auction_house"],
        "sale date": top["sale_date"].astype(str).replace({"None": "", "NaT": ""}),
        "lot": top["lot_number"].astype("Int64"), "artist": top["artist_name"], "detail": top["detail"],
        "lots": top["lot_refs"].fillna("").map(lambda r: r if len(r) <= 80 else r[:77] + "..."),
        "evidence": top["evidence"].map(_evidence),
    })
    return (f"<p>{len(alerts)} alert(s) recorded for this night. By type and severity:</p>"
            + _table(counts).replace("<table>", '<table id="market-alert-counts">', 1)
            + f"<h4>Top {min(TOP_ALERTS, len(alerts))} alerts</h4>"
            + _table(shown).replace("<table>", '<table id="market-alerts">', 1))


def market_section(engine: Engine, run_date: dt.date, docs_url: str | None = None) -> str:
    """The report's "Market" section (``<section id="market">``): price index, top movers, tonight's alerts.
    A warehouse without the marts gets a plain message instead of the index and the movers."""
    m = read_market(engine, run_date)
    docs = (f' Column by column documentation: <a href="{html.escape(docs_url)}">dbt docs of the marts</a>.'
            if docs_url else "")
    body = "" if m["marts"] else f'<p class="muted" id="market-missing">{MARTS_MISSING}</p>'
    if m["marts"] or (m["index"] is not None and not m["index"].empty):  # the Python index alone still shows
        body += "<h3>Price index</h3>" + _index_html(m["index"])
    body += _movers_html(m["movers"])
    return (f'<section id="market"><h2>Market</h2><p>For analysts: where prices are going, who moved, and what '
            f'tonight found that nobody expected.{docs}</p>{body}'
            f"<h3>Tonight's market alerts</h3>{_alerts_html(m['alerts'], m['alerts_ran'])}</section>")


def build_report(engine: Engine, settings: Settings, run_date: str) -> Path:
    """Write the night's report and return its path."""
    rd = dt.date.fromisoformat(run_date)
    with engine.connect() as conn:
        stages = pd.read_sql(select(stage_run).where(stage_run.c.run_date == rd), conn)
        quarantine = pd.read_sql(text("SELECT stage, source, reason, n_rows FROM mart_quarantine_summary "
                                      "WHERE run_date = :d ORDER BY stage, source, n_rows DESC"), conn,
                                 params={"d": rd})
        examples = pd.read_sql(text("SELECT stage, source, row_number, row_ref, field, reason FROM quarantine "
                                    "WHERE run_date = :d ORDER BY stage, source, row_number, field"), conn,
                               params={"d": rd})
        models = pd.read_sql(select(dim_model).order_by(dim_model.c.created_at), conn)
        valuations = pd.read_sql(select(fact_valuation).where(fact_valuation.c.run_date == rd), conn)
        reliability = pd.read_sql(select(fact_expert_reliability)
                                  .where(fact_expert_reliability.c.run_date == rd), conn)
    if not stages.empty:
        order = {s: i for i, s in enumerate(STAGE_ORDER)}
        stages = stages.assign(_o=stages["stage"].map(order).fillna(99)).sort_values("_o").drop(columns=["_o"])
        stages = stages.drop(columns=["run_date"])
        counts = ["rows_in", "rows_out", "rows_quarantined"]
        stages[counts] = stages[counts].astype("Int64")
    failed = stages[~stages["ok"].astype(bool)] if not stages.empty else stages

    champion = models[models["status"] == "champion"]
    metrics_html = '<p class="muted">no champion model yet</p>'
    if not champion.empty:
        row = champion.iloc[-1]
        metrics = json.loads(row["metrics_json"] or "{}")
        flat = pd.json_normalize(metrics, sep=".").T.reset_index()
        flat.columns = ["metric", "value"]
        metrics_html = (f"<p>Champion <b>{html.escape(row['model_version'])}</b> ({html.escape(row['kind'])}), "
                        f"trained on sales up to {row['train_until']}, hardware {html.escape(str(row['hardware']))}"
                        f".</p>" + _table(flat, 60))
    registry = models[["model_version", "kind", "status", "created_at", "promoted_at"]] if not models.empty \
        else models
    per_house = (valuations.groupby("house").agg(lots=("lot_ref", "count"),
                                                  with_expert_value=("expert_value_usd", "count"),
                                                  median_estimate_usd=("estimate_usd", "median"),
                                                  mean_confidence=("confidence", "mean")).reset_index()
                 if not valuations.empty else pd.DataFrame())
    feeds = []
    for house_dir in sorted(settings.feeds_dir.glob("*")):
        mf = house_dir / run_date / "manifest.json"
        if mf.exists():
            m = json.loads(mf.read_text())
            feeds.append({"house": house_dir.name, "rows": m["row_count"], "sha256": m["sha256"][:16],
                          "path": str(house_dir / run_date)})
    docs = settings.data_docs_dir / "index.html"
    dbt_docs = settings.home / "dbt_docs" / "index.html"
    market = market_section(engine, rd, dbt_docs.as_uri() if dbt_docs.exists() else None)
    status = (f'<span class="bad">{len(failed)} stage(s) failed</span>' if len(failed)
              else '<span class="ok">all recorded stages succeeded</span>')
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>gbv night {run_date}</title>
<style>{_CSS}</style></head><body>
<h1>Global Brain Valuation — night of {run_date}</h1>
<p>{status}. Warehouse: <code>{html.escape(engine.url.render_as_string(hide_password=True))}</code>.
Label validation Data Docs: <a href="{html.escape(docs.as_uri())}">{html.escape(str(docs))}</a>.</p>
<h2>Stages</h2>{_table(stages)}
<h2>Quarantine</h2><p>{int(quarantine['n_rows'].sum()) if not quarantine.empty else 0} rejected row-reasons
tonight; nothing is dropped silently.</p>{_table(quarantine)}
<details><summary>First rejected rows</summary>{_table(examples, 40)}</details>
<h2>Model</h2>{metrics_html}<h3>Registry</h3>{_table(registry)}
<h2>Valuations</h2>{_table(per_house)}{_plots(valuations, reliability)}
{market}
<h2>Feeds</h2>{_table(pd.DataFrame(feeds))}
</body></html>
"""
    out_dir = settings.reports_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{safe_component(run_date, 'run date')}.html"
    for target in (path, out_dir / "latest.html"):
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(body, encoding="utf-8")
        os.replace(tmp, target)
    return path
