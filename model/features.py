"""Per-lot features for the valuation models, with the artist's sales history strictly before the sale date.

``build_features(lots, history)`` returns one row per lot (same order as ``lots``): ``lot_ref`` plus
:data:`NUMERIC_FEATURES` and :data:`CATEGORICAL_FEATURES`. ``history`` is any set of offered lots
(``LOT_COLUMNS``; sold and bought-in count, upcoming/withdrawn are ignored). Only history rows whose sale date
is *strictly before* the lot's sale date contribute, so a lot never sees its own result nor the results of its
own sale (same-day lots), and adding later sales never changes its features (tests/model/test_features.py).

Expert consensus (issue 7) is additive: :data:`CONSENSUS_FEATURES` (not part of :data:`FEATURE_COLUMNS`, so
models that do not ask for them, like the transformer, are unchanged) come from the consensus columns that
:func:`attach_consensus` puts on a lots frame. The caller attaches only what was known before each sale:
:func:`gbv.consensus.point_in_time_consensus` for past lots (labels submitted before the sale date) and, at
scoring time, the night's consensus (labels up to the night, which is before every upcoming sale).

Vectorised: the history is reduced to one cumulative "artist state" row per (artist, sale date) and joined to
the lots with ``merge_asof(..., allow_exact_matches=False)``; 100k lots take a few seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NUMERIC_FEATURES = (
    "log_area",                 # log of height x width, cm²
    "log_depth",                # log depth in cm (sculpture); NaN when flat
    "artist_birth_year",
    "artist_age_at_creation",   # year_created - birth year
    "artist_alive_at_sale",     # 1 when no death year or death year after the sale year
    "years_since_creation",     # sale year - year_created
    "sale_year",
    "sale_month",
    "prior_n_sold",             # artist's sold lots before the sale date
    "prior_n_offered",          # artist's sold + bought-in lots before the sale date
    "prior_sell_through",       # prior_n_sold / prior_n_offered (NaN without offers)
    "prior_mean_log_usd",       # mean log hammer_usd of the prior sold lots
    "prior_median_log_usd",     # median log hammer_usd of the prior sold lots
    "prior_last_log_usd",       # mean log hammer_usd on the artist's latest prior sale date
    "years_since_last_sale",    # years between the latest prior sale date and this sale
)
CATEGORICAL_FEATURES = ("medium_class", "house", "sale_location", "signature")
FEATURE_COLUMNS = NUMERIC_FEATURES + CATEGORICAL_FEATURES

OFFERED_STATUSES = ("sold", "bought_in")


def _col(df: pd.DataFrame, name: str, default=np.nan) -> pd.Series:
    if name in df.columns:
        return df[name]
    return pd.Series(default, index=df.index)


def _num(df: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(_col(df, name), errors="coerce").astype("float64")


def sale_dates(df: pd.DataFrame) -> pd.Series:
    """``sale_date`` (date objects, strings or timestamps) as ``datetime64[ns]`` (NaT when missing)."""
    return pd.to_datetime(_col(df, "sale_date"), errors="coerce").astype("datetime64[ns]")


# the features that read the lot's own size: a lot without one has these NaN and every other feature the same
# (the others read the lot's artist, title, medium, sale and the history before its date)
SIZE_FEATURES = ("log_area", "log_depth", "log_area_vs_artist_medium")


def features_without_size(feats: pd.DataFrame) -> pd.DataFrame:
    """``feats`` as :func:`build_features` and the signals would give them for the same lots without a size."""
    return feats.assign(**{c: np.nan for c in SIZE_FEATURES if c in feats.columns})


def rows_before(frame: pd.DataFrame, day) -> pd.DataFrame:  # noqa: ANN001 - date, Timestamp or ISO string
    """The rows of ``frame`` with ``sale_date < day``. On a frame sorted by sale date (as
    :func:`warehouse.io.read_lots` and training snapshots are) this is a leading slice, which pandas' copy-on-write
    shares with ``frame`` instead of copying a million lots; otherwise a filtered copy."""
    dates = sale_dates(frame).to_numpy()
    cut = np.datetime64(pd.Timestamp(day).date(), "ns")
    if len(dates) > 1 and not (np.isnat(dates).any() or (dates[1:] < dates[:-1]).any()):
        return frame.iloc[: int(np.searchsorted(dates, cut, side="left"))]
    return frame[dates < cut].reset_index(drop=True)


def artist_keys(df: pd.DataFrame) -> pd.Series:
    """``artist_id`` where known, else the normalised artist name (catalogue intake rows have no id)."""
    ids = _col(df, "artist_id").astype("object")
    keys = ids.where(ids.notna() & (ids != ""))
    named = keys.isna().to_numpy()
    if named.any():  # names normalised only where there is no id (not a new string per warehouse row)
        names = _col(df, "artist_name").astype("object")[named]
        keys[named] = names.where(names.isna(), "name:" + names.astype(str).str.strip().str.lower())
    return keys.astype("object")


def log_hammer_usd(df: pd.DataFrame) -> pd.Series:
    """log(hammer_usd) for sold lots with a positive price; NaN otherwise."""
    price = _num(df, "hammer_usd")
    # compared as they are (Arrow strings from the warehouse stay Arrow: no million Python strings); a missing
    # status is not "sold"
    sold = (_col(df, "status") == "sold").fillna(False).astype(bool)
    return np.log(price.where(sold & (price > 0)))


def artist_state(history: pd.DataFrame) -> pd.DataFrame:
    """Cumulative per-artist statistics *through* each (artist, sale date) of ``history``."""
    cols = ["artist_key", "date", "cum_offered", "cum_sold", "mean_log", "median_log", "last_log", "last_sold_date"]
    if history is None or len(history) == 0:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols}).astype(
            {"artist_key": "object", "date": "datetime64[ns]", "last_sold_date": "datetime64[ns]"})
    h = pd.DataFrame({
        "artist_key": artist_keys(history),
        "date": sale_dates(history),
        "status": _col(history, "status").astype("object"),
        "lot_ref": _col(history, "lot_ref").astype("object"),
        "log_usd": log_hammer_usd(history),
    })
    h = h[h["status"].isin(OFFERED_STATUSES) & h["artist_key"].notna() & h["date"].notna()]
    h = h.drop_duplicates("lot_ref", keep="last") if h["lot_ref"].notna().all() else h

    offered = (h.groupby(["artist_key", "date"], sort=True).size().rename("n_offered").reset_index())
    offered["cum_offered"] = offered.groupby("artist_key")["n_offered"].cumsum().astype("float64")

    sold = h[h["log_usd"].notna()].sort_values(["artist_key", "date", "lot_ref"], kind="stable")
    if len(sold):
        g = sold.groupby("artist_key", sort=False)["log_usd"]
        sold = sold.assign(
            cum_sold=g.cumcount().astype("float64") + 1.0,
            cum_sum=g.cumsum(),
            median_log=g.expanding().median().reset_index(level=0, drop=True),
        )
        day_mean = sold.groupby(["artist_key", "date"], sort=False)["log_usd"].transform("mean")
        sold = sold.assign(last_log=day_mean, last_sold_date=sold["date"])
        sold_day = sold.drop_duplicates(["artist_key", "date"], keep="last")
        sold_day = sold_day.assign(mean_log=sold_day["cum_sum"] / sold_day["cum_sold"])[
            ["artist_key", "date", "cum_sold", "mean_log", "median_log", "last_log", "last_sold_date"]]
    else:
        sold_day = pd.DataFrame(columns=["artist_key", "date", "cum_sold", "mean_log", "median_log", "last_log",
                                         "last_sold_date"]).astype({"date": "datetime64[ns]",
                                                                    "last_sold_date": "datetime64[ns]"})

    state = offered.merge(sold_day, on=["artist_key", "date"], how="left", sort=False)
    state = state.sort_values(["artist_key", "date"], kind="stable").reset_index(drop=True)
    carry = ["cum_sold", "mean_log", "median_log", "last_log", "last_sold_date"]
    state[carry] = state.groupby("artist_key", sort=False)[carry].ffill()
    state["cum_sold"] = state["cum_sold"].astype("float64").fillna(0.0)
    return state[cols]


_ARTIST_HISTORY_COLUMNS = ("lot_ref", "artist_id", "artist_name", "sale_date", "status", "hammer_usd",
                           "medium_class", "height_cm", "width_cm", "title")


def _rows_of_artists(history: pd.DataFrame | None, keys: pd.Series) -> pd.DataFrame | None:
    """The history rows of the artists in ``keys`` (an artist's statistics depend on their own rows only), with
    the columns those statistics read: scoring a night's lots needs only their artists' pasts, not the whole
    warehouse's. The whole history when most of its artists are wanted anyway (training)."""
    if history is None or len(history) == 0:
        return history
    h_keys = artist_keys(history)
    wanted = h_keys.isin(pd.unique(keys.dropna())).to_numpy()
    if wanted.mean() > 0.5:
        return history
    return history[[c for c in _ARTIST_HISTORY_COLUMNS if c in history.columns]][wanted]


def build_features(lots: pd.DataFrame, history: pd.DataFrame | None) -> pd.DataFrame:
    """Feature frame for ``lots`` (same row order), using only ``history`` sales before each sale date."""
    lots = lots.reset_index(drop=True)
    dates = sale_dates(lots)
    sale_year = dates.dt.year.astype("float64")
    height, width, depth = _num(lots, "height_cm"), _num(lots, "width_cm"), _num(lots, "depth_cm")
    area = height * width
    birth, death = _num(lots, "artist_birth_year"), _num(lots, "artist_death_year")
    created = _num(lots, "year_created")

    out = pd.DataFrame({"lot_ref": _col(lots, "lot_ref").astype("object")})
    out["log_area"] = np.log(area.where(area > 0))
    out["log_depth"] = np.log(depth.where(depth > 0))
    out["artist_birth_year"] = birth
    out["artist_age_at_creation"] = created - birth
    alive = (death.isna() | (death > sale_year)).astype("float64")
    out["artist_alive_at_sale"] = alive.where(sale_year.notna() | death.isna())
    out["years_since_creation"] = sale_year - created
    out["sale_year"] = sale_year
    out["sale_month"] = dates.dt.month.astype("float64")

    # ---- artist history strictly before the sale date ---------------------------------------------------
    keys = artist_keys(lots)
    state = artist_state(_rows_of_artists(history, keys))
    left = pd.DataFrame({"_row": np.arange(len(lots)), "artist_key": keys, "date": dates})
    left = left[left["artist_key"].notna() & left["date"].notna()].sort_values("date", kind="stable")
    prior = pd.DataFrame(index=np.arange(len(lots)))
    if len(left) and len(state):
        joined = pd.merge_asof(left, state.sort_values("date", kind="stable"), on="date", by="artist_key",
                               allow_exact_matches=False, direction="backward")
        joined = joined.set_index("_row")
        prior = prior.join(joined.drop(columns=["artist_key", "date"]))
        prior["years_since_last_sale"] = (dates - prior["last_sold_date"]).dt.days / 365.25
    for c in ("cum_offered", "cum_sold", "mean_log", "median_log", "last_log", "years_since_last_sale"):
        if c not in prior.columns:
            prior[c] = np.nan
    out["prior_n_sold"] = prior["cum_sold"].astype("float64").fillna(0.0).to_numpy()
    out["prior_n_offered"] = prior["cum_offered"].astype("float64").fillna(0.0).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        st = out["prior_n_sold"] / out["prior_n_offered"]
    out["prior_sell_through"] = st.where(out["prior_n_offered"] > 0)
    out["prior_mean_log_usd"] = prior["mean_log"].astype("float64").to_numpy()
    out["prior_median_log_usd"] = prior["median_log"].astype("float64").to_numpy()
    out["prior_last_log_usd"] = prior["last_log"].astype("float64").to_numpy()
    out["years_since_last_sale"] = prior["years_since_last_sale"].astype("float64").to_numpy()

    # ---- categoricals (strings; models fix their own category lists at fit time) ------------------------
    house = _col(lots, "house").astype("object")
    if "house" not in lots.columns:
        house = _col(lots, "auction_house").astype("object")
    out["medium_class"] = _col(lots, "medium_class").astype("object")
    out["house"] = house
    out["sale_location"] = _col(lots, "sale_location").astype("object")
    out["signature"] = _col(lots, "signature").astype("object")
    return out[["lot_ref", *FEATURE_COLUMNS]]


# ---- market signals (additive: used by the transformer; not part of FEATURE_COLUMNS) ----------------------

MARKET_FEATURES = (
    "market_index_log_usd",     # median log hammer_usd of all sales in the 12 calendar months before the sale month
    "artist_level_shrunk",      # prior artist mean log price shrunk towards the market index (n / (n + k))
    "artist_level_vs_market",   # artist_level_shrunk - market_index_log_usd
)
MARKET_WINDOW_MONTHS = 12
ARTIST_SHRINKAGE = 5.0  # pseudo-sales of the market level added to each artist's prior mean


def _month_number(dates: pd.Series) -> np.ndarray:
    """Months since year 0 (NaN for missing dates)."""
    d = pd.to_datetime(dates, errors="coerce")
    return (d.dt.year * 12 + d.dt.month - 1).astype("float64").to_numpy()


def market_index(lots: pd.DataFrame, history: pd.DataFrame | None,
                 window: int = MARKET_WINDOW_MONTHS) -> np.ndarray:
    """Per lot, the median log hammer USD of every sold ``history`` lot in the ``window`` calendar months before
    the lot's sale month (the sale month itself excluded, so everything used is known before the sale date).
    Falls back to the median of all earlier sales when the window is empty; NaN with no earlier sale at all."""
    lots = lots.reset_index(drop=True)
    out = np.full(len(lots), np.nan)
    if history is None or len(history) == 0 or len(lots) == 0:
        return out
    y = log_hammer_usd(history)
    ok = y.notna().to_numpy()
    hm = _month_number(sale_dates(history))[ok]
    hy = y.to_numpy()[ok]
    fin = np.isfinite(hm)
    hm, hy = hm[fin].astype(np.int64), hy[fin]
    if len(hy) == 0:
        return out
    order = np.argsort(hm, kind="stable")
    hm, hy = hm[order], hy[order]
    lm = _month_number(sale_dates(lots))
    months = np.unique(lm[np.isfinite(lm)]).astype(np.int64)
    value = {}
    for m in months:
        lo, hi = np.searchsorted(hm, m - window, "left"), np.searchsorted(hm, m, "left")
        if hi > lo:
            value[m] = float(np.median(hy[lo:hi]))
        elif hi > 0:
            value[m] = float(np.median(hy[:hi]))
    for i, m in enumerate(lm):
        if np.isfinite(m):
            out[i] = value.get(int(m), np.nan)
    return out


def market_features(lots: pd.DataFrame, history: pd.DataFrame | None,
                    feats: pd.DataFrame | None = None) -> pd.DataFrame:
    """:data:`MARKET_FEATURES` for ``lots`` (same order); ``feats`` = ``build_features(lots, history)`` if known."""
    lots = lots.reset_index(drop=True)
    if feats is None:
        feats = build_features(lots, history)
    mkt = market_index(lots, history)
    n = feats["prior_n_sold"].to_numpy(dtype=float)
    mean = feats["prior_mean_log_usd"].to_numpy(dtype=float)
    base = np.where(np.isfinite(mkt), mkt, np.nan)
    with np.errstate(invalid="ignore"):
        shrunk = np.where(n > 0, (n * np.nan_to_num(mean) + ARTIST_SHRINKAGE * base) / (n + ARTIST_SHRINKAGE), base)
        shrunk = np.where((n > 0) & ~np.isfinite(base), mean, shrunk)
    return pd.DataFrame({"market_index_log_usd": mkt, "artist_level_shrunk": shrunk,
                         "artist_level_vs_market": shrunk - mkt})


# ---- lot and sale context (additive: LightGBM and the transformer use it; not part of FEATURE_COLUMNS) -------

CONTEXT_FEATURES = (
    "am_prior_n_sold",          # the artist's sold lots of the same medium class before the sale date
    "am_prior_mean_log_usd",    # their mean log hammer_usd (a Picasso print is not a Picasso painting)
    "log_area_vs_artist_medium",  # log area minus the mean log area of those prior sales (big for the artist?)
    "lot_number_num",           # the lot's number in its sale (catalogue order: the top lots come early)
    "lot_position",             # lot number / the highest lot number of the sale (0..1)
    "sale_lots",                # lots catalogued in the sale
    "artist_lots_in_sale",      # lots of the same artist in the sale
    "evening_sale",             # 1 when the sale title says evening (the flagship sales), else 0
    "day_sale",                 # 1 when it says day
    "prints_sale",              # 1 when it says print(s) / multiples
    "photo_sale",               # 1 when it says photograph(s)
    "sale_series_prior_n",      # sold lots of earlier sales of the same house and series (title without dates)
    "sale_series_prior_mean_log_usd",  # their mean log hammer_usd
)
# the lot columns context_features reads beyond build_features'
CONTEXT_INPUT_COLUMNS = ("sale_id", "sale_title", "lot_number", "title")


def _codes(*parts: tuple[pd.Series, pd.Series], missing_is_value: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes for the row keys of two frames made of ``parts`` (pairs of the same column in each frame):
    equal codes for equal keys across both frames, -1 where any part is missing (or, ``missing_is_value``, missing
    as one more value). Integers, not joined strings: a key per row of a million-lot history would be a million new
    Python strings."""
    n_a = len(parts[0][0])
    code = np.zeros(n_a + len(parts[0][1]), dtype=np.int64)
    missing = np.zeros(len(code), dtype=bool)
    for a, b in parts:
        c, uniq = pd.factorize(pd.concat([a.reset_index(drop=True), b.reset_index(drop=True)], ignore_index=True),
                               use_na_sentinel=not missing_is_value)
        missing |= c < 0
        code, _ = pd.factorize(code * (len(uniq) + 1) + c)  # re-coded at each step: never near int64's range
    code = np.where(missing, -1, code).astype(np.int64)
    return code[:n_a], code[n_a:]


def _house(df: pd.DataFrame) -> pd.Series:
    """The house code, or the house's name where a row has no code."""
    return _col(df, "house").astype("object").fillna(_col(df, "auction_house").astype("object"))


def _sale_parts(df: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """What identifies a sale: house, sale id (or title) and sale date."""
    sale = _col(df, "sale_id").astype("object").fillna(_col(df, "sale_title").astype("object"))
    return _house(df), sale, sale_dates(df)


def _series_titles(titles: pd.Series) -> pd.Series:
    """Sale titles without dates, numbers or house names ("post-war contemporary art evening sale")."""
    title = titles.astype(str).str.lower()
    title = title.str.replace(r"christie'?s|sotheby'?s|phillips|bonhams", " ", regex=True)
    title = title.str.replace(r"\d+", " ", regex=True).str.replace("auction", "sale", regex=False)
    return title.str.replace(r"[^a-z&]+", " ", regex=True).str.strip().str.replace(r"\s+", " ", regex=True)


def _per_distinct(values: pd.Series, fn) -> pd.Series:  # noqa: ANN001 - fn: Series -> Series
    """``fn`` applied once per distinct value of ``values`` (a few hundred sale titles, tens of thousands of lot
    titles, for a million rows), row for row; missing values stay missing."""
    codes, distinct = pd.factorize(values)  # Arrow strings stay Arrow: no Python string per row
    if len(distinct) == 0:
        return pd.Series(np.array([None] * len(values), dtype=object), index=values.index, dtype="object")
    done = fn(pd.Series(np.asarray(distinct, dtype=object), dtype="object")).to_numpy(dtype=object)
    out = np.where(codes >= 0, done[np.maximum(codes, 0)], None)
    return pd.Series(out, index=values.index, dtype="object")


def _prior_mean(keys: np.ndarray, dates: pd.Series, h_keys: np.ndarray, h_dates: pd.Series,
                h_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per lot, (count, mean) of the finite ``h_values`` of history rows with the same key (integer codes from
    :func:`_codes`, -1: none) dated strictly before the lot's sale date (the lot's own result and its sale day's
    never count)."""
    n_out, mean_out = np.zeros(len(keys)), np.full(len(keys), np.nan)
    h = pd.DataFrame({"k": np.asarray(h_keys, dtype=np.int64), "date": h_dates.to_numpy(), "v": h_values})
    h = h[(h["k"] >= 0) & h["date"].notna() & np.isfinite(h["v"])]
    if len(h) == 0 or len(keys) == 0:
        return n_out, mean_out
    g = h.groupby(["k", "date"], sort=True)["v"].agg(["sum", "count"]).reset_index()
    g["cs"] = g.groupby("k")["sum"].cumsum()
    g["cn"] = g.groupby("k")["count"].cumsum().astype("float64")
    left = pd.DataFrame({"_row": np.arange(len(keys)), "k": np.asarray(keys, dtype=np.int64),
                         "date": dates.to_numpy()})
    left = left[(left["k"] >= 0) & left["date"].notna()].sort_values("date", kind="stable")
    if len(left) == 0:
        return n_out, mean_out
    j = pd.merge_asof(left, g[["k", "date", "cs", "cn"]].sort_values("date", kind="stable"), on="date", by="k",
                      allow_exact_matches=False, direction="backward")
    rows = j["_row"].to_numpy()
    cn = j["cn"].to_numpy(dtype="float64")
    n_out[rows] = np.nan_to_num(cn)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_out[rows] = j["cs"].to_numpy(dtype="float64") / cn
    return n_out, mean_out


def _lot_numbers(df: pd.DataFrame) -> np.ndarray:
    """The first run of digits of each lot number ("10A" -> 10), NaN where none."""
    digits = _per_distinct(_col(df, "lot_number"),
                           lambda v: v.astype(str).str.extract(r"(\d+)", expand=False))
    return pd.to_numeric(digits, errors="coerce").to_numpy(dtype="float64")


# the sale's type from its title (flag = 1 when the lower-cased title matches)
SALE_TYPES = {"evening_sale": r"evening|soir", "day_sale": r"\bday\b", "prints_sale": r"print|multiple",
              "photo_sale": r"photograph"}


def _medium(df: pd.DataFrame) -> pd.Series:
    return _col(df, "medium_class").astype("object").fillna("?")


def _series_title(df: pd.DataFrame) -> pd.Series:
    """Each row's sale title as a series name (:func:`_series_titles`, once per distinct title; "" without)."""
    return _per_distinct(_col(df, "sale_title"), _series_titles).fillna("")


# what the catalogue of a lot's own sale reads from the history rows of its sale day
_SALE_CATALOGUE_COLUMNS = ("house", "auction_house", "sale_id", "sale_title", "sale_date", "artist_id", "artist_name",
                           "lot_ref", "lot_number")


def context_features(lots: pd.DataFrame, history: pd.DataFrame | None,
                     feats: pd.DataFrame | None = None) -> pd.DataFrame:
    """:data:`CONTEXT_FEATURES` for ``lots`` (same order); ``feats`` = ``build_features(lots, history)`` if known.

    Everything is known before the sale: prices only from ``history`` sales strictly before the lot's sale date
    (the artist in the same medium class; earlier sales of the same series), and the catalogue of the lot's own
    sale (lot numbers and lots per sale and artist, from ``lots`` and ``history`` rows of the same sale whatever
    their status; never their results)."""
    lots = lots.reset_index(drop=True)
    if feats is None:
        feats = build_features(lots, history)
    history = history if history is not None else lots.iloc[:0]
    dates, h_dates = sale_dates(lots), sale_dates(history)
    out = pd.DataFrame(index=np.arange(len(lots)))

    # the artist's earlier sales in the same medium class (only the lots' artists' rows matter)
    artist = artist_keys(lots)
    mine = _rows_of_artists(history, artist)
    m_dates, m_y = sale_dates(mine), log_hammer_usd(mine).to_numpy(dtype="float64")
    am_key, m_key = _codes((artist, artist_keys(mine)), (_medium(lots), _medium(mine)))
    out["am_prior_n_sold"], out["am_prior_mean_log_usd"] = _prior_mean(am_key, dates, m_key, m_dates, m_y)
    m_area = _num(mine, "height_cm") * _num(mine, "width_cm")
    m_log_area = np.log(m_area.where(m_area > 0)).to_numpy(dtype="float64")
    _, am_area = _prior_mean(am_key, dates, m_key, m_dates, np.where(np.isfinite(m_y), m_log_area, np.nan))
    out["log_area_vs_artist_medium"] = feats["log_area"].to_numpy(dtype="float64") - am_area

    # the catalogue of the lot's own sale: lots of `lots` and `history` in the same sale, once per lot_ref (only
    # history rows on the lots' sale days can be in their sales)
    same_day = h_dates.isin(dates.dropna().unique()).to_numpy()
    # the columns the catalogue reads only: in training the lots' days are every day of the history
    h_cat = history.loc[same_day, [c for c in _SALE_CATALOGUE_COLUMNS if c in history.columns]]
    (house, sale_id, day), (h_house, h_sale_id, h_day) = _sale_parts(lots), _sale_parts(h_cat)
    # a missing house, sale id or date is one more value here: such rows still form a sale
    sale, h_sale = _codes((house, h_house), (sale_id, h_sale_id), (day, h_day), missing_is_value=True)
    who, h_who = _codes((artist, artist_keys(h_cat)), missing_is_value=True)
    num = _lot_numbers(lots)
    cat = pd.DataFrame({"sale": np.concatenate([sale, h_sale]), "artist": np.concatenate([who, h_who]),
                        "ref": np.concatenate(_codes((_col(lots, "lot_ref"), _col(h_cat, "lot_ref")),
                                                     missing_is_value=True)),
                        "num": np.concatenate([num, _lot_numbers(h_cat)])})
    cat = cat.drop_duplicates(["sale", "ref"], keep="first")
    per_sale = cat.groupby("sale").agg(sale_lots=("ref", "size"), max_num=("num", "max"))
    per_artist = cat.groupby(["sale", "artist"]).size()
    out["lot_number_num"] = num
    with np.errstate(invalid="ignore", divide="ignore"):
        out["lot_position"] = num / per_sale["max_num"].reindex(sale).to_numpy(dtype="float64")
    out["sale_lots"] = per_sale["sale_lots"].reindex(sale).to_numpy(dtype="float64")
    out["artist_lots_in_sale"] = per_artist.reindex(pd.MultiIndex.from_arrays([sale, who])).to_numpy(dtype="float64")

    # the sale's type (its title) and the earlier sales of its series
    title = _col(lots, "sale_title")
    for name, pattern in SALE_TYPES.items():
        flag = _per_distinct(title, lambda t, pattern=pattern: t.astype(str).str.lower().str.contains(pattern))
        out[name] = flag.fillna(False).astype("float64").to_numpy()
    s_key, h_s_key = _codes((_house(lots), _house(history)), (_series_title(lots), _series_title(history)),
                            missing_is_value=True)
    out["sale_series_prior_n"], out["sale_series_prior_mean_log_usd"] = _prior_mean(
        s_key, dates, h_s_key, h_dates, log_hammer_usd(history).to_numpy(dtype="float64"))
    return out[list(CONTEXT_FEATURES)]


# ---- the same title's earlier sales (additive, like the context) -------------------------------------------

TITLE_FEATURES = (
    "title_prior_n_sold",        # the artist's sold lots before the sale date with the same title (without numbers
    "title_prior_mean_log_usd",  # or bracketed parts) in the same medium class, and their mean log hammer_usd: an
)                                # edition's earlier impressions, a recurring motif ("Flowers", "Tete de femme")


def _work_titles(titles: pd.Series) -> pd.Series:
    """Lot titles as a work's name: lower case, without accents, bracketed parts (catalogue numbers,
    translations), digits and punctuation; None where nothing is left ("Flowers (F. & S. II.64)" -> "flowers",
    "Tête de Femme" -> "tete de femme")."""
    t = titles.astype(str).str.lower().str.normalize("NFKD").str.replace(r"[\u0300-\u036f]", "", regex=True)
    t = t.str.replace(r"\(.*?\)|\[.*?\]", " ", regex=True)
    t = t.str.replace(r"[\W\d_]+", " ", regex=True).str.strip()
    return t.where(t != "")


def title_features(lots: pd.DataFrame, history: pd.DataFrame | None) -> pd.DataFrame:
    """:data:`TITLE_FEATURES` for ``lots`` (same order), from ``history`` sales strictly before each sale date."""
    lots = lots.reset_index(drop=True)
    artist = artist_keys(lots)
    mine = _rows_of_artists(history if history is not None else lots.iloc[:0], artist)
    key, m_key = _codes((artist, artist_keys(mine)),
                        (_per_distinct(_col(lots, "title"), _work_titles),
                         _per_distinct(_col(mine, "title"), _work_titles)),
                        (_medium(lots), _medium(mine)))
    n, mean = _prior_mean(key, sale_dates(lots), m_key, sale_dates(mine),
                          log_hammer_usd(mine).to_numpy(dtype="float64"))
    return pd.DataFrame({"title_prior_n_sold": n, "title_prior_mean_log_usd": mean})[list(TITLE_FEATURES)]


def with_signals(lots: pd.DataFrame, history: pd.DataFrame | None, feats: pd.DataFrame, *, market: bool,
                 context: bool, title: bool = False) -> pd.DataFrame:
    """``feats`` (= ``build_features(lots, history)``) with :data:`MARKET_FEATURES`, :data:`CONTEXT_FEATURES`
    and/or :data:`TITLE_FEATURES` appended, row for row: what the LightGBM and transformer valuers and the
    explanations read."""
    lots = lots.reset_index(drop=True)
    parts = [feats]
    if market:
        parts.append(market_features(lots, history, feats).set_axis(feats.index))
    if context:
        parts.append(context_features(lots, history, feats).set_axis(feats.index))
    if title:
        parts.append(title_features(lots, history).set_axis(feats.index))
    return pd.concat(parts, axis=1) if len(parts) > 1 else feats


# ---- expert consensus (additive: the LightGBM valuer uses it; not part of FEATURE_COLUMNS) -----------------

# columns attach_consensus() puts on a lots frame (USD hammer basis; NaN where the lot has no consensus)
CONSENSUS_LOT_COLUMNS = ("expert_consensus_usd", "expert_n_experts", "expert_spread")
CONSENSUS_FEATURES = (
    "expert_log_usd",           # log of the experts' consensus value (NaN when no expert labelled the lot)
    "expert_n_labels",          # experts behind it (0 when none)
    "expert_spread",            # their disagreement (weighted sd of log values; NaN when none)
    "expert_vs_artist_log",     # expert_log_usd - prior_median_log_usd (NaN when either is missing)
)


# The lot columns that build_features, consensus_features, log_hammer_usd and artist_keys read: all that the
# tabular valuers (LightGBM, hedonic) need, so training can leave the text columns on disk.
TABULAR_INPUT_COLUMNS = (
    "lot_ref", "sale_date", "status", "hammer_usd", "artist_id", "artist_name", "artist_birth_year",
    "artist_death_year", "year_created", "height_cm", "width_cm", "depth_cm", "house", "auction_house",
    "medium_class", "sale_location", "signature", *CONSENSUS_LOT_COLUMNS, *CONTEXT_INPUT_COLUMNS,
)


def attach_consensus(lots: pd.DataFrame, consensus: pd.DataFrame | None, *, copy: bool = True) -> pd.DataFrame:
    """A copy of ``lots`` with :data:`CONSENSUS_LOT_COLUMNS` from ``consensus`` (``lot_ref, consensus_usd,
    n_experts, spread``, e.g. :func:`gbv.consensus.point_in_time_consensus` or the night's consensus), matched
    by lot_ref; existing consensus columns are replaced. The caller guarantees the consensus predates each sale.
    ``copy=False`` adds the columns to ``lots`` itself (a million-lot snapshot keeps one frame, not two)."""
    if copy:
        out = lots.drop(columns=[c for c in CONSENSUS_LOT_COLUMNS if c in lots.columns]).copy()
    else:
        out = lots
        out.drop(columns=[c for c in CONSENSUS_LOT_COLUMNS if c in lots.columns], inplace=True)
    refs = out["lot_ref"].astype(str) if "lot_ref" in out.columns else pd.Series([], dtype=object)
    if consensus is None or len(consensus) == 0:
        for c in CONSENSUS_LOT_COLUMNS:
            out[c] = np.nan
        return out
    c = consensus.dropna(subset=["consensus_usd"]).drop_duplicates("lot_ref", keep="last")
    c = c.set_index(c["lot_ref"].astype(str))
    usd = pd.to_numeric(c["consensus_usd"], errors="coerce")
    out["expert_consensus_usd"] = refs.map(usd.where(usd > 0)).astype("float64").to_numpy()
    n = pd.to_numeric(c["n_experts"], errors="coerce") if "n_experts" in c.columns else pd.Series(1.0, c.index)
    out["expert_n_experts"] = refs.map(n).astype("float64").to_numpy()
    spread = pd.to_numeric(c["spread"], errors="coerce") if "spread" in c.columns else pd.Series(0.0, c.index)
    out["expert_spread"] = refs.map(spread).astype("float64").to_numpy()
    return out


def consensus_features(lots: pd.DataFrame, feats: pd.DataFrame | None = None) -> pd.DataFrame:
    """:data:`CONSENSUS_FEATURES` for ``lots`` (same order) from the columns :func:`attach_consensus` adds (all
    missing when absent); ``feats`` = ``build_features(lots, ...)`` for the artist comparison (NaN without)."""
    lots = lots.reset_index(drop=True)
    usd = _num(lots, "expert_consensus_usd")
    log_usd = np.log(usd.where(usd > 0))
    n = _num(lots, "expert_n_experts").where(log_usd.notna(), 0.0).fillna(0.0)
    spread = _num(lots, "expert_spread").where(log_usd.notna())
    artist = (feats["prior_median_log_usd"].to_numpy(dtype="float64") if feats is not None
              else np.full(len(lots), np.nan))
    return pd.DataFrame({"expert_log_usd": log_usd.to_numpy(), "expert_n_labels": n.to_numpy(),
                         "expert_spread": spread.to_numpy(), "expert_vs_artist_log": log_usd.to_numpy() - artist})
