"""Art market price indices: a hedonic time-dummy index and a Case–Shiller repeat-sales index.

Both are estimated here in Python (statsmodels) and stored in ``fact_price_index``; the dbt mart
``mart_price_index`` only selects and shapes them. Prices are ``fact_lot.hammer_usd`` (USD, hammer basis) of
sold lots.

**Hedonic time-dummy index** (per frequency ``month``/``quarter`` and per segment: everything, each medium
class, each sale region, each price tier): OLS of log hammer USD on artist fixed effects, log area (height x
width in cm²; a lot without a size gets 0 and a ``no_size`` indicator), medium class, a ``multiple`` indicator
(prints, photographs, editioned ceramics and casts: :func:`is_multiple`) and one dummy per period.
The artist fixed effects are absorbed by demeaning within artist (Frisch–Waugh–Lovell: the same coefficients
as the dummy regression; standard errors get the degrees-of-freedom correction for the absorbed effects).
Only sales that tie periods together identify the index: artists with one sale are dropped and the
estimation uses the largest connected part of the artist–period graph. The index is ``100 * exp(beta_t)``,
100 at the series' base period (its first estimable period), with a 90% band ``exp(beta_t ± 1.645 se_t)``.

**Repeat-sales index** (Case–Shiller, weighted, three stages): the same physical work sold twice gives a pair
(see :func:`match_repeat_sales`); stage 1 is OLS of the log price ratio on period dummies (-1 at the first
sale's period, +1 at the second's), stage 2 regresses the squared stage-1 residuals on the time between the
sales, stage 3 is WLS with weights 1 / fitted variance.

**Gaps**: every period between the first and the last sale of the data appears once per series; a period
with no usable sales is a gap (``index_value`` null, ``is_gap`` true, ``gap_reason`` says why). Nothing is
interpolated.

**Price tiers** are set by the house's pre-sale estimate (geometric mean of low and high, USD), not by the
realised price, so that a tier does not select on the price it indexes.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

Z90 = 1.6448536269514722  # two-sided 90% band
FREQUENCIES = ("month", "quarter")
SEGMENT_TYPES = ("all", "medium_class", "region", "price_tier")
MEDIUM_CLASSES = ("painting", "work_on_paper", "print", "photograph", "sculpture")
MULTIPLE_CLASSES = ("print", "photograph")
PRICE_TIERS = (  # (upper bound of the pre-sale estimate midpoint, USD; tier)
    (10_000.0, "under_10k"), (100_000.0, "10k_to_100k"), (1_000_000.0, "100k_to_1m"), (math.inf, "over_1m"),
)
REGIONS_SEED = Path(__file__).resolve().parents[2] / "warehouse" / "dbt" / "seeds" / "sale_regions.csv"


def _regions_by_city() -> dict[str, str]:
    """City -> sale region, from the dbt seed that the marts join too (one list for Python and SQL)."""
    import csv

    with REGIONS_SEED.open(newline="", encoding="utf-8") as fh:
        return {row["city"].strip().casefold(): row["region"].strip() for row in csv.DictReader(fh)}


REGION_BY_CITY = _regions_by_city()
REGIONS = ("americas", "europe", "asia", "other")

SALE_COLUMNS = ("lot_ref", "artist_id", "sale_date", "hammer_usd", "medium_class", "height_cm", "width_cm",
                "sale_location", "estimate_low_usd", "estimate_high_usd")
MATCH_COLUMNS = ("title", "year_created", "medium", "edition")
INDEX_COLUMNS = ("index_kind", "frequency", "segment_type", "segment", "period", "period_start", "index_value",
                 "log_index", "log_index_se", "ci90_low", "ci90_high", "n_obs", "is_gap", "gap_reason",
                 "base_period")
ARTIST_LEVEL_COLUMNS = ("artist_id", "period_start", "period", "log_level", "log_level_se", "n_sales")


class IndexInputError(ValueError):
    """A sale the index cannot use; the message names the row, lot and field."""


# ---- input ------------------------------------------------------------------------------------------------


def read_sales(engine) -> pd.DataFrame:  # noqa: ANN001 - a SQLAlchemy engine
    """Sold lots with a positive USD hammer price, with what the indices and the matching need."""
    from sqlalchemy import select

    from warehouse.schema import dim_artwork, dim_sale, fact_lot

    f, w, s = fact_lot, dim_artwork, dim_sale
    stmt = (
        select(f.c.lot_ref, f.c.artist_id, f.c.sale_date, f.c.hammer_usd, f.c.estimate_low_usd,
               f.c.estimate_high_usd, w.c.medium_class, w.c.medium, w.c.height_cm, w.c.width_cm, w.c.title,
               w.c.year_created, w.c.edition, s.c.sale_location)
        .join(w, w.c.artwork_id == f.c.artwork_id)
        .join(s, s.c.sale_id == f.c.sale_id)
        .where(f.c.status == "sold", f.c.hammer_usd > 0)
        .order_by(f.c.sale_date, f.c.lot_ref)
    )
    with engine.connect() as conn:
        return pd.read_sql(stmt, conn)


def prepare_sales(sales: pd.DataFrame) -> pd.DataFrame:
    """Check the sales and add the model's columns (log price, log area, region, price tier).

    Raises :class:`IndexInputError` naming the row, lot and field of the first unusable value.
    """
    missing = [c for c in SALE_COLUMNS if c not in sales.columns]
    if missing:
        raise IndexInputError(f"sales lack the column(s) {', '.join(missing)} (need {', '.join(SALE_COLUMNS)})")
    df = sales.reset_index(drop=True).copy()
    df["sale_date"] = pd.to_datetime(df["sale_date"], errors="coerce")
    price = pd.to_numeric(df["hammer_usd"], errors="coerce")
    for field, bad in (("sale_date", df["sale_date"].isna()), ("hammer_usd", ~(price > 0) | ~np.isfinite(price)),
                       ("artist_id", df["artist_id"].isna())):
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise IndexInputError(f"sale row {i} (lot_ref {df.at[i, 'lot_ref']!r}): field {field} is "
                                  f"{sales.iloc[i][field]!r}; a sale needs a date, an artist and a price > 0")
    df["log_price"] = np.log(price.to_numpy(dtype=float))
    h = pd.to_numeric(df["height_cm"], errors="coerce").to_numpy(dtype=float)
    w = pd.to_numeric(df["width_cm"], errors="coerce").to_numpy(dtype=float)
    area = h * w
    has_size = np.isfinite(area) & (area > 0)
    df["log_area"] = np.where(has_size, np.log(np.where(has_size, area, 1.0)), 0.0)
    df["no_size"] = (~has_size).astype(float)
    df["medium_class"] = df["medium_class"].where(df["medium_class"].isin(MEDIUM_CLASSES), "unknown")
    medium = df["medium"] if "medium" in df else pd.Series([None] * len(df), index=df.index)
    edition = df["edition"] if "edition" in df else pd.Series([None] * len(df), index=df.index)
    df["multiple"] = [float(is_multiple(m, md, e)) for m, md, e in zip(df["medium_class"], medium, edition,
                                                                         strict=True)]
    df["region"] = df["sale_location"].map(region_of)
    df["price_tier"] = price_tier(df["estimate_low_usd"], df["estimate_high_usd"])
    return df


def region_of(city: object) -> str:
    """Sale region of a sale city (``americas``, ``europe``, ``asia``, ``other``)."""
    if not isinstance(city, str):
        return "other"
    return REGION_BY_CITY.get(" ".join(city.casefold().split()), "other")


def price_tier(low_usd: pd.Series, high_usd: pd.Series) -> pd.Series:
    """Tier of the pre-sale estimate's geometric midpoint (USD); ``unknown`` without an estimate."""
    lo = pd.to_numeric(low_usd, errors="coerce").to_numpy(dtype=float)
    hi = pd.to_numeric(high_usd, errors="coerce").to_numpy(dtype=float)
    lo, hi = np.where(lo > 0, lo, hi), np.where(hi > 0, hi, lo)
    mid = np.sqrt(lo * hi)
    out = np.full(len(mid), "unknown", dtype=object)
    lower = 0.0
    for upper, name in PRICE_TIERS:
        out[(mid > lower) & (mid <= upper)] = name
        lower = upper
    return pd.Series(out, index=low_usd.index)


# ---- periods ----------------------------------------------------------------------------------------------


def period_start(dates: pd.Series, frequency: str) -> pd.Series:
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency must be one of {FREQUENCIES}, got {frequency!r}")
    per = pd.to_datetime(dates).dt.to_period("M" if frequency == "month" else "Q")
    return per.dt.start_time.dt.normalize()


def period_label(start: pd.Timestamp, frequency: str) -> str:
    return f"{start.year}-{start.month:02d}" if frequency == "month" else f"{start.year}-Q{(start.month - 1) // 3 + 1}"


def period_range(first: pd.Timestamp, last: pd.Timestamp, frequency: str) -> list[pd.Timestamp]:
    return list(pd.date_range(first, last, freq="MS" if frequency == "month" else "QS"))


# ---- identification: connected periods --------------------------------------------------------------------


def _largest_component(edges_a: np.ndarray, edges_b: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Mask of the edges (a_i, b_i) in the connected component of the undirected graph holding the most
    edges (a and b are node labels of one shared label space)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(edges_a) == 0:
        return np.zeros(0, dtype=bool)
    labels, nodes = pd.factorize(np.concatenate([edges_a, edges_b]))
    n = len(nodes)
    a, b = labels[: len(edges_a)], labels[len(edges_a):]
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    edge_comp = comp[a]
    counts = np.bincount(edge_comp, weights=weights)
    return edge_comp == int(np.argmax(counts))


# ---- hedonic ------------------------------------------------------------------------------------------------


@dataclass
class SeriesEstimate:
    """One index series: per estimable period the log index and its standard error (base period: 0, 0)."""

    log_index: pd.Series  # indexed by period start
    se: pd.Series
    n_obs: pd.Series  # observations per period in the estimation sample
    base: pd.Timestamp | None
    reason_absent: str  # why a period of the range is missing from log_index


def _gap_series(reason: str) -> SeriesEstimate:
    empty = pd.Series(dtype=float)
    return SeriesEstimate(empty, empty, pd.Series(dtype=int), None, reason)


def hedonic_fit(sales: pd.DataFrame, frequency: str) -> tuple[SeriesEstimate, dict]:
    """Time-dummy hedonic regression on prepared sales (see the module docstring).

    Returns the series and a dict with the fitted covariate coefficients, the residual sd and the sample
    (used for the artists' price levels).
    """

    df = sales.assign(period=period_start(sales["sale_date"], frequency))
    df = df[df.groupby("artist_id")["artist_id"].transform("size") >= 2]
    if df.empty:
        return _gap_series("no artist sold twice in this segment"), {}
    keep = _largest_component(("a:" + df["artist_id"].astype(str)).to_numpy(),
                              ("p:" + df["period"].astype(str)).to_numpy())
    df = df[keep].copy()
    periods = sorted(df["period"].unique())
    if len(periods) < 2:
        return _gap_series("fewer than two periods with comparable sales"), {}
    base = periods[0]
    period_code = pd.Index(periods).get_indexer(df["period"])
    mediums = sorted(df["medium_class"].unique())[1:]
    names = [f"t_{p.date()}" for p in periods[1:]] + ["log_area", "no_size", "multiple"] + \
        [f"m_{m}" for m in mediums]
    n = len(df)
    from scipy.sparse import csr_matrix, hstack

    # the design stays sparse (one period dummy per sale) and the within-artist demeaning is done on the normal
    # equations: X'MX = X'X - S' diag(1/n_g) S with S = the artists' column sums, so a million sales never
    # build a dense n x k matrix (the plain OLS on a demeaned dense design took gigabytes)
    rows = np.arange(n)
    dummy = period_code > 0
    n_periods = len(periods) - 1
    D = csr_matrix((np.ones(int(dummy.sum())), (rows[dummy], period_code[dummy] - 1)), shape=(n, n_periods))
    mc = df["medium_class"].to_numpy()
    C = np.column_stack([df[c].to_numpy(float) for c in ("log_area", "no_size", "multiple")]
                        + [(mc == m).astype(float) for m in mediums])
    X = hstack([D, csr_matrix(C)]).tocsr()
    y = df["log_price"].to_numpy(float)
    artist_code, artists = pd.factorize(df["artist_id"])
    g = len(artists)
    counts = np.bincount(artist_code, minlength=g).astype(float)
    member = csr_matrix((np.ones(n), (artist_code, rows)), shape=(g, n))
    S = np.asarray((member @ X).todense())
    sy = member @ y
    xtx = np.asarray((X.T @ X).todense()) - S.T @ (S / counts[:, None])
    xty = np.asarray(X.T @ y).ravel() - S.T @ (sy / counts)
    yty = float(y @ y - np.sum(sy ** 2 / counts))
    varying = np.flatnonzero(np.diag(xtx) > 1e-9)  # a column constant within every artist drops out
    names = [names[i] for i in varying]
    A, b = xtx[np.ix_(varying, varying)], xty[varying]
    # covariates collinear with the rest (a thin segment where size or medium never varies within an artist)
    # are dropped, last first; the period dummies are identified by the connected sample
    while A.shape[1] > n_periods and np.linalg.matrix_rank(A) < A.shape[1]:
        A, b, names = A[:-1, :-1], b[:-1], names[:-1]
    k = A.shape[1]
    if np.linalg.matrix_rank(A) < k:  # pragma: no cover - the connected sample identifies the dummies
        log.warning("hedonic %s index of %d sales: period dummies collinear; the series is left as gaps",
                    frequency, n)
        return _gap_series("the regression could not tell this period apart (collinear design)"), {}
    unscaled_cov = np.linalg.inv(A)
    beta = unscaled_cov @ b
    ssr = max(yty - float(beta @ b), 0.0)
    dof = n - k - g
    params = pd.Series(beta, index=names)
    if dof > 0:
        sigma2 = ssr / dof
        se_all = pd.Series(np.sqrt(np.clip(np.diag(unscaled_cov) * sigma2, 0, None)), index=names)
    else:
        sigma2 = float("nan")
        se_all = pd.Series(np.nan, index=names)
    log_index = {base: 0.0}
    se = {base: 0.0}
    for p in periods[1:]:
        col = f"t_{p.date()}"
        if col in params.index:
            log_index[p], se[p] = float(params[col]), float(se_all[col])
    n_obs = df.groupby("period").size()
    covariates = {c: float(params[c]) for c in params.index if not c.startswith("t_")}
    extra = {"covariates": covariates, "sigma": math.sqrt(sigma2) if sigma2 == sigma2 else float("nan"),
             "sample": df}
    series = SeriesEstimate(pd.Series(log_index), pd.Series(se), n_obs, base,
                            "no sales here that compare with other periods (artists seen only here)")
    return series, extra


# ---- repeat sales --------------------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                        "nov", "dec"), 1)}
_IMPRESSION_RE = re.compile(r"(?:^|[^\d])(\d{1,4})\s*(?:/|of)\s*(\d{1,4})(?:[^\d]|$)", re.IGNORECASE)
_SPREADSHEET_RE = re.compile(r"^\s*(\d{1,2})-([a-z]{3})\s*$", re.IGNORECASE)  # "3-Feb" = 2/3 mangled by Excel
_ARTIST_PROOF_RE = re.compile(r"\b(a\.?p\.?|e\.?a\.?|h\.?c\.?|p\.?p\.?)\s*(\d{1,3})?", re.IGNORECASE)
_MULTIPLE_MEDIUM_RE = re.compile(r"\b(ceramic|earthenware|decorative arts?|edition|multiple|cast)\b",
                                 re.IGNORECASE)


def impression(edition: object) -> str | None:
    """The impression of an edition (``"12/50"``, ``"AP 2"``) as a key, or None when the text names none."""
    if not isinstance(edition, str) or not edition.strip():
        return None
    m = _IMPRESSION_RE.search(edition)
    if m:
        return f"{int(m.group(1))}/{int(m.group(2))}"
    m = _SPREADSHEET_RE.match(edition)
    if m and m.group(2).casefold() in _MONTHS:
        return f"{_MONTHS[m.group(2).casefold()]}/{int(m.group(1))}"
    m = _ARTIST_PROOF_RE.search(edition)
    if m and m.group(2):
        return f"{m.group(1).replace('.', '').upper()} {int(m.group(2))}"
    return None


def is_multiple(medium_class: object, medium: object, edition: object) -> bool:
    """Prints, photographs, editioned works (an edition text) and editioned ceramics or casts."""
    if medium_class in MULTIPLE_CLASSES:
        return True
    if isinstance(edition, str) and edition.strip():
        return True
    return isinstance(medium, str) and bool(_MULTIPLE_MEDIUM_RE.search(medium))


def _dims_key(h: float, w: float) -> tuple[float, float] | None:
    if not (h > 0 and w > 0):
        return None
    return (max(h, w), min(h, w))


def _dims_close(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Sizes of one work as two catalogues give them: within 2% or 1.5 cm on both sides."""
    return all(abs(x - y) <= max(1.5, 0.02 * max(x, y)) for x, y in zip(a, b, strict=True))


def _root(parent: dict[int, int], i: int) -> int:
    """Union-find root of ``i`` (with path halving)."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def match_repeat_sales(sales: pd.DataFrame) -> pd.Series:
    """Object id per sale: the same physical work across sales, or None when it cannot be told.

    Same artist, same normalised title (``gbv.normalize.names.name_key``), same year of creation (or both
    unknown), and sizes that agree within 2% or 1.5 cm (height and width in either order). A work needs a title
    and both sizes to be matched at all. Prints, photographs and other multiples are different objects unless
    both sales name the same impression (``12/50``): two impressions of one edition are two works.
    """
    from gbv.normalize.names import name_key

    n = len(sales)
    out = np.full(n, None, dtype=object)
    if n == 0:
        return pd.Series(out, index=sales.index, dtype=object)
    titles = sales["title"] if "title" in sales else pd.Series([None] * n, index=sales.index)
    years = pd.to_numeric(sales.get("year_created", pd.Series([None] * n, index=sales.index)), errors="coerce")
    h = pd.to_numeric(sales["height_cm"], errors="coerce").to_numpy(dtype=float)
    w = pd.to_numeric(sales["width_cm"], errors="coerce").to_numpy(dtype=float)
    medium = sales["medium"] if "medium" in sales else pd.Series([None] * n, index=sales.index)
    edition = sales["edition"] if "edition" in sales else pd.Series([None] * n, index=sales.index)
    groups: dict[tuple, list[int]] = {}
    for i, (artist, title, year, mc, med, ed) in enumerate(zip(
            sales["artist_id"], titles, years, sales["medium_class"], medium, edition, strict=True)):
        if not isinstance(title, str) or not title.strip():
            continue
        dims = _dims_key(h[i], w[i])
        if dims is None:
            continue
        part = ""
        if is_multiple(mc, med, ed):
            part = impression(ed) or ""
            if not part:
                continue  # an impression of an edition, which one unknown: its own object
        key = (artist, name_key(title), "" if year != year else int(year), part)
        groups.setdefault(key, []).append(i)
    for key, idx in groups.items():
        if len(idx) < 2:
            continue
        parent = {i: i for i in idx}
        for a_pos, a in enumerate(idx):
            for b in idx[a_pos + 1:]:
                if _dims_close(_dims_key(h[a], w[a]), _dims_key(h[b], w[b])):
                    parent[_root(parent, a)] = _root(parent, b)
        for i in idx:
            out[i] = f"{key[0]}|{key[1]}|{key[2]}|{key[3]}|{_root(parent, i)}"
    return pd.Series(out, index=sales.index, dtype=object)


def repeat_sale_pairs(sales: pd.DataFrame) -> pd.DataFrame:
    """Consecutive sales of the same object (different days): first and second sale with their prices."""
    df = sales.assign(object_id=match_repeat_sales(sales)).dropna(subset=["object_id"])
    df = df.sort_values(["object_id", "sale_date", "lot_ref"])
    nxt = df.groupby("object_id").shift(-1)
    pairs = pd.DataFrame({
        "object_id": df["object_id"], "artist_id": df["artist_id"],
        "lot_ref_1": df["lot_ref"], "date_1": df["sale_date"], "price_1": df["hammer_usd"],
        "lot_ref_2": nxt["lot_ref"], "date_2": nxt["sale_date"], "price_2": nxt["hammer_usd"],
    }).dropna(subset=["lot_ref_2"])
    pairs = pairs[pd.to_datetime(pairs["date_2"]) > pd.to_datetime(pairs["date_1"])]
    for c in ("price_1", "price_2"):
        pairs[c] = pairs[c].astype(float)
    return pairs.reset_index(drop=True)


def repeat_sales_fit(pairs: pd.DataFrame, frequency: str) -> SeriesEstimate:
    """Case–Shiller weighted repeat-sales index (three stages) on sale pairs."""
    import statsmodels.api as sm

    if pairs.empty:
        return _gap_series("no work sold twice")
    p1 = period_start(pairs["date_1"], frequency)
    p2 = period_start(pairs["date_2"], frequency)
    usable = (p1 != p2).to_numpy()
    df = pairs[usable].assign(p1=p1[usable].to_numpy(), p2=p2[usable].to_numpy())
    if df.empty:
        return _gap_series("every repeat sale fell within one period")
    keep = _largest_component(df["p1"].astype(str).to_numpy(), df["p2"].astype(str).to_numpy())
    df = df[keep]
    periods = sorted(set(df["p1"]) | set(df["p2"]))
    base = periods[0]
    col = {p: j for j, p in enumerate(periods[1:])}
    D = np.zeros((len(df), len(col)))
    rows = np.arange(len(df))
    for arr, sign in ((df["p1"], -1.0), (df["p2"], 1.0)):
        j = np.array([col.get(p, -1) for p in arr])
        ok = j >= 0
        D[rows[ok], j[ok]] = sign
    y = np.log(df["price_2"].to_numpy(float) / df["price_1"].to_numpy(float))
    stage1 = sm.OLS(y, D, hasconst=False).fit()
    years = (pd.to_datetime(df["date_2"]) - pd.to_datetime(df["date_1"])).dt.days.to_numpy() / 365.25
    weights = np.ones(len(df))
    if len(df) > len(col) + 2:
        stage2 = sm.OLS(stage1.resid ** 2, sm.add_constant(years, has_constant="add")).fit()
        var = stage2.fittedvalues
        floor = max(1e-4, 0.1 * float(np.mean(stage1.resid ** 2)))
        if np.all(np.isfinite(var)):
            weights = 1.0 / np.maximum(var, floor)
    stage3 = sm.WLS(y, D, weights=weights, hasconst=False).fit()
    dof = len(df) - len(col)
    bse = np.sqrt(np.clip(np.diag(stage3.cov_params()), 0, None)) if dof > 0 else np.full(len(col), np.nan)
    log_index = pd.Series({base: 0.0, **{p: float(stage3.params[j]) for p, j in col.items()}})
    se = pd.Series({base: 0.0, **{p: float(bse[j]) for p, j in col.items()}})
    n_obs = pd.concat([df["p1"], df["p2"]]).value_counts()
    return SeriesEstimate(log_index, se, n_obs, base, "no repeat sale that links this period to the others")


# ---- tables ---------------------------------------------------------------------------------------------------


def series_rows(est: SeriesEstimate, periods: list[pd.Timestamp], frequency: str, **keys: str) -> pd.DataFrame:
    """One row per period of the range: the estimate, or a gap with its reason."""
    rows = []
    base_label = period_label(est.base, frequency) if est.base is not None else None
    for p in periods:
        if p in est.log_index.index and np.isfinite(est.log_index[p]):
            li, se = float(est.log_index[p]), float(est.se[p])
            band = (100 * math.exp(li - Z90 * se), 100 * math.exp(li + Z90 * se)) if np.isfinite(se) \
                else (None, None)
            rows.append({**keys, "frequency": frequency, "period": period_label(p, frequency),
                         "period_start": p.date(), "index_value": 100 * math.exp(li), "log_index": li,
                         "log_index_se": se if np.isfinite(se) else None, "ci90_low": band[0],
                         "ci90_high": band[1], "n_obs": int(est.n_obs.get(p, 0)), "is_gap": False,
                         "gap_reason": None, "base_period": base_label})
        else:
            rows.append({**keys, "frequency": frequency, "period": period_label(p, frequency),
                         "period_start": p.date(), "index_value": None, "log_index": None,
                         "log_index_se": None, "ci90_low": None, "ci90_high": None,
                         "n_obs": int(est.n_obs.get(p, 0)), "is_gap": True,
                         "gap_reason": est.reason_absent,
                         "base_period": base_label})
    return pd.DataFrame(rows, columns=list(INDEX_COLUMNS))


def artist_levels(extra: dict) -> pd.DataFrame:
    """Each artist's size- and medium-adjusted mean log price per quarter (from the quarterly hedonic fit):
    ``log_level`` = mean of (log price - covariate effects) over the artist's sales in the quarter, with
    standard error residual sd / sqrt(n). Quarters without sales are absent."""
    if not extra:
        return pd.DataFrame(columns=list(ARTIST_LEVEL_COLUMNS))
    df = extra["sample"]
    adj = df["log_price"].copy()
    for name, beta in extra["covariates"].items():
        if name in ("log_area", "no_size", "multiple"):
            adj -= beta * df[name]
        elif name.startswith("m_"):
            adj -= beta * (df["medium_class"] == name[2:]).astype(float)
    g = adj.groupby([df["artist_id"], df["period"]])
    out = g.agg(["mean", "size"]).reset_index()
    out.columns = ["artist_id", "period_start", "log_level", "n_sales"]
    out["log_level_se"] = extra["sigma"] / np.sqrt(out["n_sales"])
    out["period"] = [period_label(p, "quarter") for p in out["period_start"]]
    out["period_start"] = pd.to_datetime(out["period_start"]).dt.date
    return out[list(ARTIST_LEVEL_COLUMNS)]


@dataclass
class IndexBuild:
    index: pd.DataFrame  # INDEX_COLUMNS
    artist_levels: pd.DataFrame  # ARTIST_LEVEL_COLUMNS
    pairs: pd.DataFrame
    seconds: float


def _mark_empty(rows: pd.DataFrame, periods_with_data: set, reason: str) -> None:
    """Gap rows of periods that had no data at all get ``reason`` (the others keep the estimator's reason)."""
    empty = ~pd.to_datetime(rows["period_start"]).isin(list(periods_with_data))
    rows.loc[rows["is_gap"].astype(bool) & empty, "gap_reason"] = reason


def _segments(sales: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    out = [("all", "all", sales)]
    for seg_type, values in (("medium_class", MEDIUM_CLASSES), ("region", REGIONS),
                             ("price_tier", tuple(t for _, t in PRICE_TIERS))):
        for v in values:
            part = sales[sales[seg_type] == v]
            if len(part):
                out.append((seg_type, v, part))
    return out


def build_indices(sales: pd.DataFrame, *, frequencies: tuple[str, ...] = FREQUENCIES,
                  segments: bool = True) -> IndexBuild:
    """Every index series of the sales (raw sale rows; see :func:`prepare_sales`).

    BLAS runs single-threaded here: the regressions are small and many, and a multi-threaded BLAS on a busy
    machine spends more time spinning than computing.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _build_indices(sales, frequencies, segments)


def _build_indices(sales: pd.DataFrame, frequencies: tuple[str, ...], segments: bool) -> IndexBuild:
    started = time.perf_counter()
    df = prepare_sales(sales)
    tables, levels = [], pd.DataFrame(columns=list(ARTIST_LEVEL_COLUMNS))
    pairs = repeat_sale_pairs(df) if len(df) else pd.DataFrame()
    if len(df):
        for freq in frequencies:
            ps = period_start(df["sale_date"], freq)
            periods = period_range(ps.min(), ps.max(), freq)
            for seg_type, seg, part in (_segments(df) if segments else [("all", "all", df)]):
                est, extra = hedonic_fit(part, freq)
                rows = series_rows(est, periods, freq, index_kind="hedonic", segment_type=seg_type, segment=seg)
                _mark_empty(rows, set(period_start(part["sale_date"], freq)), "no sales in this period")
                tables.append(rows)
                if seg_type == "all" and freq == "quarter":
                    levels = artist_levels(extra)
            est = repeat_sales_fit(pairs, freq)
            rows = series_rows(est, periods, freq, index_kind="repeat_sales", segment_type="all", segment="all")
            if len(pairs):
                touched = set(period_start(pairs["date_1"], freq)) | set(period_start(pairs["date_2"], freq))
            else:
                touched = set()
            _mark_empty(rows, touched, "no repeat sale in this period")
            tables.append(rows)
    index = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=list(INDEX_COLUMNS))
    seconds = time.perf_counter() - started
    log.info("price indices: %d sales, %d repeat-sale pairs, %d series rows (%d gaps) in %.1f s", len(df),
             len(pairs), len(index), int(index["is_gap"].sum()) if len(index) else 0, seconds)
    return IndexBuild(index, levels, pairs, seconds)


def store_indices(engine, build: IndexBuild, run_date: str | dt.date) -> int:  # noqa: ANN001
    """Replace ``fact_price_index`` and ``fact_artist_price_level`` with this build (one transaction)."""
    from warehouse.db import with_retries
    from warehouse.schema import fact_artist_price_level, fact_price_index

    run_date = dt.date.fromisoformat(str(run_date)[:10])

    def records(df: pd.DataFrame) -> list[dict]:
        df = df.astype(object).where(df.notna(), None)
        return [dict(r, run_date=run_date) for r in df.to_dict("records")]

    index_rows, level_rows = records(build.index), records(build.artist_levels)

    def load() -> int:
        with engine.begin() as conn:
            conn.execute(fact_price_index.delete())
            conn.execute(fact_artist_price_level.delete())
            if index_rows:
                conn.execute(fact_price_index.insert(), index_rows)
            if level_rows:
                conn.execute(fact_artist_price_level.insert(), level_rows)
        return len(index_rows)

    return with_retries(load, "fact_price_index")


def index_ratio(index: pd.DataFrame, date_1: pd.Series, date_2: pd.Series, frequency: str) -> np.ndarray:
    """index(period of date_2) / index(period of date_1) from one series' rows; NaN where either is a gap."""
    values = {pd.Timestamp(p): v for p, v in zip(index["period_start"], index["index_value"], strict=True)
              if v is not None and v == v}
    a = np.array([values.get(p, np.nan) for p in period_start(date_1, frequency)], dtype=float)
    b = np.array([values.get(p, np.nan) for p in period_start(date_2, frequency)], dtype=float)
    return b / a
