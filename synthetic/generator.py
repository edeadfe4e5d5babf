"""Synthetic Home Credit data: all eight Kaggle tables, calibrated to the real samples.

``generate(n, seed=, out_dir=, fmt=, test_share=)`` writes ``n`` clients (training and test
applications) and their credit history through :class:`scoring.tables.TableWriter`. Clients
are generated in chunks of :data:`CHUNK_CLIENTS` with vectorised numpy, each chunk from its own
random stream ``(seed, chunk)``, so the files are the same bytes for the same seed and ``n``
and memory stays bounded by one chunk.

How the data is built:

* Application fields follow the calibrated marginals (:mod:`synthetic.calibration`); the main
  ones are drawn jointly through a Gaussian copula, columns that are missing together share a
  missing mask, and employment fields obey the ``DAYS_EMPLOYED`` placeholder.
* Every client has a latent *behaviour* factor ``b`` (standard normal, partly correlated with
  the application risk). It drives late and short instalment payments, POS and card days past
  due, bureau overdue amounts and late ``bureau_balance`` months, refused previous
  applications and card utilisation. Events are drawn with a probit link whose threshold keeps
  the calibrated share of each event whatever the strength (see :meth:`Sampler.event`).
* ``TARGET`` is Bernoulli with logit = intercept + the logistic model fitted on the real data
  (EXT_SOURCE_*, age, employment, credit ratios, education, gender...) + ``BEHAVIOUR_WEIGHT *
  b``; the intercept is solved on a fixed pilot sample so the default rate is the real one.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
from scipy.special import expit, ndtr, ndtri

from scoring.names import DAYS_PER_MONTH
from scoring.schema import DAYS_EMPLOYED_PLACEHOLDER, DAYS_PLACEHOLDER, TABLES, TARGET
from scoring.tables import TableWriter
from synthetic.calibration import (
    CALIBRATION_PATH,
    ApplicationCalibration,
    Calibration,
    RiskModel,
    TableCalibration,
)
from synthetic.marginals import Categories, ColumnCalibration, Numeric

#: Clients per chunk: bounds memory (about 4M side rows per chunk at full Kaggle density).
CHUNK_CLIENTS = 20_000
#: First ids, as in the Kaggle files.
FIRST_CLIENT_ID = 100_002
FIRST_BUREAU_ID = 5_000_000
FIRST_PREV_ID = 1_000_000
#: The Kaggle history goes back 96 months (DAYS_* >= -2922).
MAX_MONTHS = 96
#: Kaggle's train/test split: 48,744 test among 356,255 clients.
KAGGLE_TEST_SHARE = 48_744 / 356_255

# --- planted risk -----------------------------------------------------------------------------
#: Logit of default per standard deviation of the behaviour factor.
BEHAVIOUR_WEIGHT = 0.75
#: Correlation of the behaviour factor with the application risk score.
BEHAVIOUR_APP_CORR = 0.3
#: Loadings of each history event on the behaviour factor (0 = unrelated, 1 = fully driven).
LOADINGS = {
    "bureau_overdue": 0.6, "bureau_late_month": 0.6, "refused": 0.45, "pos_dpd": 0.6,
    "instalment_late": 0.55, "instalment_short": 0.5, "card_use": 0.3, "card_utilisation": 0.6,
    "card_dpd": 0.6,
}
#: Share of instalment loans repaid before their term.
EARLY_REPAYMENT_SHARE = 0.45
#: Share of instalments paid in two parts. Kept low: the real sample has only 9.6% of rows
#: paying less than the instalment, split parts included.
SPLIT_PAYMENT_SHARE = 0.01
#: Share of closed bureau credits whose monthly rows stop at closure (no trailing "C"
#: months): brings the "C" share of bureau_balance to the real 47%.
BUREAU_STOP_AT_CLOSE_SHARE = 0.4
#: Share of cards closed before the application (real: 3.8% of card months "Completed").
CARD_CLOSED_SHARE = 0.08
#: Pilot sample (fixed stream) on which the intercept is solved.
PILOT_CLIENTS = 30_000
PILOT_SEED = 20_180_517


# --- sampling primitives --------------------------------------------------------------------

def levels_of(table: str, column: str) -> list[str | None]:
    """The schema levels of a category column, plus ``None`` (missing) as the last code."""
    return [*TABLES[table].column(column).levels, None]


@dataclass
class Sampler:
    """Random draws from calibrated marginals, on one random stream."""

    rng: np.random.Generator

    def uniform(self, n: int) -> np.ndarray:
        return self.rng.random(n)

    def normal(self, n: int) -> np.ndarray:
        return self.rng.standard_normal(n)

    def event(self, p: float | np.ndarray, latent: np.ndarray, loading: float) -> np.ndarray:
        """Bernoulli events of marginal probability ``p`` that rise with ``latent`` (N(0, 1)).

        Event iff ``loading * latent + sqrt(1 - loading**2) * noise > Phi^-1(1 - p)``: the
        mixture is standard normal, so the share of events stays ``p`` exactly.
        """
        p = np.clip(p, 1e-9, 1 - 1e-9)
        mix = loading * latent + np.sqrt(1 - loading**2) * self.normal(len(latent))
        return mix > ndtri(1 - p)

    def counts(self, freq: list[float], n: int) -> np.ndarray:
        """Counts 0, 1, 2... drawn from a calibrated frequency list."""
        cum = np.cumsum(freq)
        return np.minimum(np.searchsorted(cum / cum[-1], self.uniform(n), side="right"),
                          len(freq) - 1)

    def missing(self, share: float, n: int) -> np.ndarray:
        return self.uniform(n) < share


def split_uniform(u: np.ndarray, event: np.ndarray, cut: float) -> np.ndarray:
    """Uniforms above ``cut`` where ``event``, below it elsewhere (keeps the marginal)."""
    return np.where(event, cut + (1 - cut) * u, cut * u)


def sample_column(m: ColumnCalibration, u: np.ndarray, levels: list[str | None] | None,
                  rng_missing: np.ndarray | None = None) -> np.ndarray:
    """Draw one column: category codes, or numbers with NaN at the missing share."""
    if levels is not None:
        return m.codes(u, levels)
    x = m.inverse_cdf(u)
    if rng_missing is not None and m.missing > 0:
        x[rng_missing < m.missing] = np.nan
    return x


def explode(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For records with ``lengths`` rows each: the record of every row and its position."""
    lengths = lengths.astype(np.int64)
    owner = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.cumsum(lengths) - lengths
    return owner, np.arange(int(lengths.sum())) - starts[owner]


def to_frame(table: str, cols: dict[str, np.ndarray]) -> pl.DataFrame:
    """A polars frame in the schema's order: codes become strings, NaN becomes null."""
    series = []
    for col in TABLES[table].columns:
        x = cols[col.name]
        if col.kind == "category":
            series.append(pl.Series(col.name, levels_of(table, col.name), dtype=pl.String)
                          .gather(x))
        elif col.kind == "int":
            series.append(pl.Series(col.name, np.asarray(x).astype(np.int64)))
        else:
            series.append(pl.Series(col.name, np.asarray(x, dtype=np.float64),
                                    nan_to_null=True))
    return pl.DataFrame(series)


# --- applications ---------------------------------------------------------------------------

@lru_cache(maxsize=4)
def load_calibration(path: str | None = None) -> Calibration:
    """The calibration file (cached)."""
    return Calibration.load(path or CALIBRATION_PATH)


def application_uniforms(s: Sampler, app: ApplicationCalibration, n: int,
                         ) -> dict[str, np.ndarray]:
    """Uniforms per application column: copula columns jointly, twins shared, others free."""
    columns = app.copula.columns
    latent = s.rng.standard_normal((n, len(columns))) @ app.copula.factor.T
    u = {c: ndtr(latent[:, j]) for j, c in enumerate(columns)}
    for twin, source in app.twins.items():
        u[twin] = u[source]
    for name in TABLES["application_train"].names:
        if name not in u:
            u[name] = s.uniform(n)
    return u


def apply_comissing(s: Sampler, app: ApplicationCalibration, cols: dict[str, np.ndarray],
                    n: int) -> None:
    """Blank whole co-missing groups together, then each column up to its own share."""
    for group in app.comissing.values():
        base = group.all_missing
        together = s.missing(base, n)
        # Twins (a statistic's _AVG/_MODE/_MEDI) share their extra missing draws too.
        extra_u = {c: s.uniform(n) for c in group.columns if c not in app.twins}
        for c in group.columns:
            extra = max(app.columns[c].missing - base, 0.0) / max(1.0 - base, 1e-9)
            blank = together | (extra_u[app.twins.get(c, c)] < extra)
            if TABLES["application_train"].column(c).kind == "category":
                cols[c] = np.where(blank, len(levels_of("application_train", c)) - 1, cols[c])
            else:
                cols[c] = np.where(blank, np.nan, cols[c])


def generate_applications(s: Sampler, app: ApplicationCalibration, n: int,
                          ) -> dict[str, np.ndarray]:
    """Application columns (no ids, no TARGET) as numpy arrays / category codes."""
    marg, spec = app.columns, TABLES["application_train"]
    grouped = {c for g in app.comissing.values() for c in g.columns}
    u = application_uniforms(s, app, n)
    cols: dict[str, np.ndarray] = {}
    for col in spec.columns:
        if col.name in ("SK_ID_CURR", TARGET):
            continue
        levels = levels_of(spec.name, col.name) if col.kind == "category" else None
        if levels is not None:
            cols[col.name] = marg[col.name].codes(u[col.name], levels,
                                                  keep_missing=col.name not in grouped)
        else:
            free = None if col.name in grouped else s.uniform(n)
            cols[col.name] = sample_column(marg[col.name], u[col.name], None, free)
    apply_employment(s, app, cols, u)
    apply_consistency(s, app, cols, u)
    apply_comissing(s, app, cols, n)
    return cols


def apply_employment(s: Sampler, app: ApplicationCalibration, cols: dict[str, np.ndarray],
                     u: dict[str, np.ndarray]) -> None:
    """DAYS_EMPLOYED placeholder by income type; employer/occupation only for the employed."""
    emp = app.employment
    income = np.array(levels_of("application_train", "NAME_INCOME_TYPE"), dtype=object)
    p = np.vectorize(lambda v: emp.placeholder_by_income_type.get(v, 0.0),
                     otypes=[float])(income)[cols["NAME_INCOME_TYPE"]]
    not_employed = s.uniform(len(p)) < p
    cols["DAYS_EMPLOYED"] = np.where(
        not_employed, DAYS_EMPLOYED_PLACEHOLDER,
        np.maximum(cols["DAYS_EMPLOYED"], cols["DAYS_BIRTH"] + 18 * 365))  # adults only
    for c, by in emp.conditional.items():
        kind = TABLES["application_train"].column(c).kind
        levels = levels_of("application_train", c) if kind == "category" else None
        yes = sample_column(by.employed, u[c], levels)
        no = sample_column(by.not_employed, u[c], levels)
        cols[c] = np.where(not_employed, no, yes)


def apply_consistency(s: Sampler, app: ApplicationCalibration, cols: dict[str, np.ndarray],
                      u: dict[str, np.ndarray]) -> None:
    """Rules the real rows obey: credit and annuity from the goods price, car age, family."""
    n = len(cols["AMT_CREDIT"])
    value = {c: app.columns[c].inverse_cdf(u[c])
             for c in ("_CREDIT_TERM", "_GOODS_RATIO", "AMT_GOODS_PRICE", "OWN_CAR_AGE")}
    # Goods prices are round sums (multiples of 4,500 in 99.8% of the Kaggle rows).
    price = np.maximum(np.round(value["AMT_GOODS_PRICE"] / 4500) * 4500, 4500)
    ratio = np.clip(value["_GOODS_RATIO"], 0.2, None)
    credit = cols["AMT_CREDIT"] = np.round(price / ratio * 2) / 2
    cols["AMT_ANNUITY"] = np.where(s.missing(app.columns["AMT_ANNUITY"].missing, n), np.nan,
                                   np.round(credit / value["_CREDIT_TERM"] * 2) / 2)
    cols["AMT_GOODS_PRICE"] = np.where(s.missing(app.columns["AMT_GOODS_PRICE"].missing, n),
                                       np.nan, price)
    car = levels_of("application_train", "FLAG_OWN_CAR").index("Y")
    cols["OWN_CAR_AGE"] = np.where(cols["FLAG_OWN_CAR"] == car, value["OWN_CAR_AGE"], np.nan)
    cols["CNT_FAM_MEMBERS"] = np.maximum(cols["CNT_FAM_MEMBERS"], cols["CNT_CHILDREN"] + 1)


# --- planted target ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PlantedRisk:
    """The planted default model: application logit plus the behaviour factor."""

    model: RiskModel
    score_mean: float
    score_sd: float
    intercept: float

    def behaviour(self, s: Sampler, score: np.ndarray) -> np.ndarray:
        """Behaviour factor: N(0, 1), correlated BEHAVIOUR_APP_CORR with the app score."""
        z = (score - self.score_mean) / self.score_sd
        r = BEHAVIOUR_APP_CORR
        return r * z + np.sqrt(1 - r * r) * s.normal(len(score))

    def probability(self, score: np.ndarray, behaviour: np.ndarray) -> np.ndarray:
        return expit(self.intercept + score + BEHAVIOUR_WEIGHT * behaviour)


@lru_cache(maxsize=4)
def planted_risk(path: str | None = None) -> PlantedRisk:
    """The risk model with its intercept solved on a fixed pilot sample for the default rate."""
    app = load_calibration(path).application
    s = Sampler(np.random.default_rng(PILOT_SEED))
    cols = generate_applications(s, app, PILOT_CLIENTS)
    score = app.risk_model.score(to_frame("application_test", {
        **cols, "SK_ID_CURR": np.zeros(PILOT_CLIENTS)}))
    risk = PlantedRisk(app.risk_model, float(score.mean()), float(score.std()), 0.0)
    logit = score + BEHAVIOUR_WEIGHT * risk.behaviour(s, score)
    lo, hi = -10.0, 5.0
    for _ in range(60):  # bisection: the mean probability rises with the intercept
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if expit(mid + logit).mean() < app.default_rate else (lo, mid)
    return replace(risk, intercept=(lo + hi) / 2)


# --- side tables: shared helpers ---------------------------------------------------------------

def draw_table(s: Sampler, table: str, tcal: TableCalibration, n: int,
               strata: np.ndarray | None = None, keys: list[str] | None = None,
               ) -> dict[str, np.ndarray]:
    """Every non-key column of a side table from its (stratum) marginals.

    ``strata`` holds per-row indexes into ``keys`` (stratum names such as ``"Cash loans|
    Approved"``). Structural columns are overwritten afterwards by the table's builder.
    """
    spec = TABLES[table]
    groups = stratum_rows(n, strata, keys)
    out: dict[str, np.ndarray] = {}
    for col in spec.columns:
        if col.name not in tcal.columns:
            continue  # keys, filled by the builder
        levels = levels_of(table, col.name) if col.kind == "category" else None
        u, miss = s.uniform(n), s.uniform(n)
        x = np.zeros(n, dtype=np.int64) if levels else np.full(n, np.nan)
        for key, rows in groups:
            x[rows] = sample_column(tcal.column(col.name, key), u[rows], levels, miss[rows])
        out[col.name] = x
    return out


def stratum_rows(n: int, strata: np.ndarray | None, keys: list[str] | None,
                 ) -> list[tuple[str | None, np.ndarray]]:
    """(stratum name, row indexes) of the non-empty strata; one stratum when none given."""
    if strata is None:
        return [(None, np.arange(n))]
    found = [(key, np.flatnonzero(strata == k)) for k, key in enumerate(keys or [])]
    return [(key, rows) for key, rows in found if len(rows)]


def derived(s: Sampler, tcal: TableCalibration, name: str, n: int,
            strata: np.ndarray | None = None, keys: list[str] | None = None) -> np.ndarray:
    """A derived ratio of a side table (no missing values), per stratum."""
    u, x = s.uniform(n), np.zeros(n)
    for key, rows in stratum_rows(n, strata, keys):
        x[rows] = tcal.column(name, key).inverse_cdf(u[rows])
    return x


def risky_amount(s: Sampler, m: Numeric, latent: np.ndarray, loading: float) -> np.ndarray:
    """A zero-inflated amount (days overdue, sum overdue...) whose non-zero share and size
    rise with the behaviour factor; the calibrated marginal is kept."""
    cut = m.cdf_at(0.0)
    bad = s.event(1.0 - cut, latent, loading)
    return m.inverse_cdf(split_uniform(s.uniform(len(latent)), bad, cut))


# --- credit bureau ----------------------------------------------------------------------------

def generate_bureau(s: Sampler, cal: Calibration, n_clients: int, b: np.ndarray,
                    first_id: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Bureau credits of the clients; returns the columns and the owner (client index)."""
    tcal, hist = cal.tables["bureau"], cal.history.bureau_per_client
    owner = np.repeat(np.arange(n_clients), s.counts(hist.freq, n_clients))
    m, latent = len(owner), b[owner]
    status_levels = levels_of("bureau", "CREDIT_ACTIVE")
    status = tcal.columns["CREDIT_ACTIVE"].codes(s.uniform(m), status_levels)
    keys = [str(v) for v in status_levels]
    cols = draw_table(s, "bureau", tcal, m, status, keys)
    cols["CREDIT_ACTIVE"] = status
    cols["SK_ID_BUREAU"] = first_id + np.arange(m)
    start = cols["DAYS_CREDIT"] = np.minimum(cols["DAYS_CREDIT"], 0)
    end = start + derived(s, tcal, "_DURATION", m, status, keys)
    cols["DAYS_CREDIT_ENDDATE"] = np.where(np.isnan(cols["DAYS_CREDIT_ENDDATE"]), np.nan,
                                           np.round(end))
    closed = start + np.abs(derived(s, tcal, "_FACT_DURATION", m, status, keys))
    cols["DAYS_ENDDATE_FACT"] = np.where(np.isnan(cols["DAYS_ENDDATE_FACT"]), np.nan,
                                         np.clip(np.round(closed), start, -1))
    cols["DAYS_CREDIT_UPDATE"] = np.clip(cols["DAYS_CREDIT_UPDATE"], start, 0)
    # Clipped: a few real ratios are huge, and times a huge credit they would rule the mean.
    debt = cols["AMT_CREDIT_SUM"] * np.clip(derived(s, tcal, "_DEBT_RATIO", m, status, keys),
                                            -1.0, 1.5)
    cols["AMT_CREDIT_SUM_DEBT"] = np.where(np.isnan(cols["AMT_CREDIT_SUM_DEBT"]), np.nan,
                                           np.round(debt, 2))
    active = status == status_levels.index("Active")
    w = LOADINGS["bureau_overdue"]
    for c in ("CREDIT_DAY_OVERDUE", "AMT_CREDIT_SUM_OVERDUE"):  # only active credits are late
        cols[c] = np.where(active, risky_amount(s, tcal.column(c, "Active"), latent, w), 0)
    max_overdue = risky_amount(s, tcal.columns["AMT_CREDIT_MAX_OVERDUE"], latent, w)
    cols["AMT_CREDIT_MAX_OVERDUE"] = np.where(np.isnan(cols["AMT_CREDIT_MAX_OVERDUE"]), np.nan,
                                              np.maximum(max_overdue,
                                                         cols["AMT_CREDIT_SUM_OVERDUE"]))
    return cols, owner


def generate_bureau_balance(s: Sampler, cal: Calibration, bureau: dict[str, np.ndarray],
                            latent: np.ndarray) -> dict[str, np.ndarray]:
    """Monthly statuses of bureau credits, from the credit's start month up to month 0."""
    info = cal.history.bureau_balance_per_bureau
    status_m = cal.tables["bureau_balance"].columns["STATUS"]
    levels = levels_of("bureau_balance", "STATUS")
    freq = dict(zip(status_m.levels, status_m.freq, strict=True))
    span = np.minimum(np.floor(-bureau["DAYS_CREDIT"] / DAYS_PER_MONTH) + 1, MAX_MONTHS + 1)
    first = 1 - span  # first month (the credit's), the last being month 0
    # Months after a credit closed read "C"; some closed credits stop reporting at closure.
    closed_at = np.floor(bureau["DAYS_ENDDATE_FACT"] / DAYS_PER_MONTH)
    stops = ~np.isnan(closed_at) & (s.uniform(len(span)) < BUREAU_STOP_AT_CLOSE_SHARE)
    length = np.where(stops, np.clip(np.nan_to_num(closed_at) - first + 1, 1, span), span)
    # Not every bureau credit has monthly rows: keep the real rows per credit on average.
    mean_length = float(length.mean()) if len(length) else 1.0
    has_rows = s.uniform(len(span)) < info.mean / mean_length
    record, pos = explode(np.where(has_rows, length, 0))
    month = first[record] + pos
    n = len(record)
    after_close = ~np.isnan(closed_at[record]) & (month >= closed_at[record])
    open_share = 1.0 - freq.get("C", 0.0)
    unknown = (s.uniform(len(span)) < freq.get("X", 0.0) / open_share)[record]
    late_levels = ["1", "2", "3", "4", "5"]
    late_freq = np.array([freq.get(v, 0.0) for v in late_levels])
    late_share = late_freq.sum() / max(freq.get("0", 0.0) + late_freq.sum(), 1e-9)
    late = s.event(late_share, latent[record], LOADINGS["bureau_late_month"])
    cum = np.cumsum(late_freq) / late_freq.sum()
    severity = np.minimum(np.searchsorted(cum, s.uniform(n), side="right"), 4)
    late_codes = np.array([levels.index(v) for v in late_levels])[severity]
    status = np.where(late, late_codes, levels.index("0"))
    status = np.where(unknown, levels.index("X"), status)
    status = np.where(after_close, levels.index("C"), status)
    return {"SK_ID_BUREAU": bureau["SK_ID_BUREAU"][record], "MONTHS_BALANCE": month,
            "STATUS": status}


# --- previous applications --------------------------------------------------------------------

def contract_strata(s: Sampler, tcal: TableCalibration, latent: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Contract type and status of previous applications (refusals rise with behaviour)."""
    n = len(latent)
    types = levels_of("previous_application", "NAME_CONTRACT_TYPE")
    statuses = levels_of("previous_application", "NAME_CONTRACT_STATUS")
    ctype = tcal.columns["NAME_CONTRACT_TYPE"].codes(s.uniform(n), types)
    status = tcal.columns["NAME_CONTRACT_STATUS"].codes(s.uniform(n), statuses)
    refused_code = statuses.index("Refused")
    for t, name in enumerate(types):
        rows = np.flatnonzero(ctype == t)
        counts = np.array([tcal.stratum_rows(f"{name}|{st}") for st in statuses])
        if len(rows) == 0 or counts.sum() == 0:
            continue
        p = counts / counts.sum()
        refused = s.event(p[refused_code], latent[rows], LOADINGS["refused"])
        other = np.where(np.arange(len(p)) == refused_code, 0.0, p)
        pick = Categories(0.0, tuple(statuses), tuple(other)).codes(s.uniform(len(rows)),
                                                                    statuses)
        status[rows] = np.where(refused, refused_code, pick)
    keys = [f"{t}|{st}" for t in types for st in statuses]
    return ctype, status, keys


def generate_previous(s: Sampler, cal: Calibration, n_clients: int, b: np.ndarray,
                      first_id: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Previous applications; approved ones carry consistent amounts, terms and due dates."""
    tcal, hist = cal.tables["previous_application"], cal.history.previous_per_client
    owner = np.repeat(np.arange(n_clients), s.counts(hist.freq, n_clients))
    ctype, status, keys = contract_strata(s, tcal, b[owner])
    # Approved card applications standing for the Kaggle card histories that have no
    # previous application (cards older than the 96-month window, with ~95 monthly rows):
    # here every history row keeps a parent application, dated at the window's start.
    lam = cal.history.cc_per_card.unlisted_cards_per_client
    extra = np.repeat(np.arange(n_clients), s.rng.poisson(lam, n_clients))
    order = np.argsort(np.r_[owner, extra], kind="stable")
    old_card = np.r_[np.zeros(len(owner), dtype=bool), np.ones(len(extra), dtype=bool)][order]
    owner = np.r_[owner, extra][order]
    ctype = np.r_[ctype, np.full(len(extra), levels_of(
        "previous_application", "NAME_CONTRACT_TYPE").index("Revolving loans"))][order]
    status = np.r_[status, np.full(len(extra), levels_of(
        "previous_application", "NAME_CONTRACT_STATUS").index("Approved"))][order]
    m = len(owner)
    n_status = len(levels_of("previous_application", "NAME_CONTRACT_STATUS"))
    stratum = ctype * n_status + status
    cols = draw_table(s, "previous_application", tcal, m, stratum, keys)
    cols.update(NAME_CONTRACT_TYPE=ctype, NAME_CONTRACT_STATUS=status,
                SK_ID_PREV=first_id + np.arange(m))
    credit, term = cols["AMT_CREDIT"], cols["CNT_PAYMENT"]
    ratio = derived(s, tcal, "_APP_RATIO", m, stratum, keys)
    cols["AMT_APPLICATION"] = np.where(ratio > 0, np.round(credit * ratio, 2),
                                       cols["AMT_APPLICATION"])
    factor = derived(s, tcal, "_ANNUITY_FACTOR", m, stratum, keys)
    annuity = np.round(credit * factor / np.where(term > 0, term, 1), 3)
    cols["AMT_ANNUITY"] = np.where(np.isnan(cols["AMT_ANNUITY"]) | ~(term > 0),
                                   cols["AMT_ANNUITY"], annuity)
    window_start = -MAX_MONTHS * DAYS_PER_MONTH
    cols["DAYS_DECISION"] = np.where(
        old_card, np.ceil(window_start) + s.rng.integers(0, 30, m),
        np.clip(cols["DAYS_DECISION"], window_start, -1))
    set_due_dates(s, tcal, cols, stratum, keys)
    return cols, owner


def repaid_terms(s: Sampler, term: np.ndarray) -> np.ndarray:
    """Instalments a loan runs for: its term, or fewer when repaid early.

    The real POS histories are ~30% shorter than the terms (10.9 months against 15.3).
    """
    early = s.uniform(len(term)) < EARLY_REPAYMENT_SHARE
    return np.where(early, np.ceil(term * (0.1 + 0.9 * s.uniform(len(term)))), term)


def set_due_dates(s: Sampler, tcal: TableCalibration, cols: dict[str, np.ndarray],
                  stratum: np.ndarray, keys: list[str]) -> None:
    """DAYS_FIRST_DUE ... DAYS_TERMINATION of approved applications, none for the others.

    Dates not reached yet hold the 365243 placeholder, as in the Kaggle files; the planned
    last due date (1st version) may lie in the future.
    """
    m = len(stratum)
    approved = cols["NAME_CONTRACT_STATUS"] == levels_of(
        "previous_application", "NAME_CONTRACT_STATUS").index("Approved")
    decision, term = cols["DAYS_DECISION"], np.nan_to_num(cols["CNT_PAYMENT"])
    lag = np.clip(derived(s, tcal, "_FIRST_DUE_LAG", m, stratum, keys), 0, 120)
    first_due = decision + np.round(lag)
    planned_last = first_due + 30 * np.maximum(term - 1, 0)
    paid_terms = repaid_terms(s, term)
    actual_last = first_due + 30 * np.maximum(paid_terms - 1, 0)
    last_due = np.where(actual_last <= -1, actual_last, DAYS_PLACEHOLDER)
    termination = np.where(last_due <= -1, np.minimum(last_due + s.rng.integers(0, 30, m), -1),
                           DAYS_PLACEHOLDER)
    drawing = cols["DAYS_FIRST_DRAWING"]
    cols["DAYS_FIRST_DRAWING"] = np.where(drawing == DAYS_PLACEHOLDER, drawing,
                                          np.clip(drawing, decision, -1))
    cols["DAYS_FIRST_DUE"] = np.where(first_due <= -1, first_due, DAYS_PLACEHOLDER)
    cols["DAYS_LAST_DUE_1ST_VERSION"] = planned_last
    cols["DAYS_LAST_DUE"] = last_due
    cols["DAYS_TERMINATION"] = termination
    for c in ("DAYS_FIRST_DRAWING", "DAYS_FIRST_DUE", "DAYS_LAST_DUE_1ST_VERSION",
              "DAYS_LAST_DUE", "DAYS_TERMINATION", "NFLAG_INSURED_ON_APPROVAL"):
        cols[c] = np.where(approved, cols[c], np.nan)


# --- monthly balances and instalments ---------------------------------------------------------

@dataclass
class Loans:
    """Approved previous credits that have a monthly history."""

    prev_id: np.ndarray
    client: np.ndarray  # client index within the chunk
    decision: np.ndarray
    first_due: np.ndarray
    term: np.ndarray
    runs: np.ndarray  # instalments actually run (fewer than the term when repaid early)
    annuity: np.ndarray
    latent: np.ndarray  # behaviour of the client and of this loan, N(0, 1)


def select_loans(s: Sampler, prev: dict[str, np.ndarray],
                 owner: np.ndarray, b: np.ndarray, types: tuple[str, ...], share: float,
                 ) -> Loans:
    """Approved previous applications of the given contract types that have monthly rows."""
    type_levels = levels_of("previous_application", "NAME_CONTRACT_TYPE")
    status_levels = levels_of("previous_application", "NAME_CONTRACT_STATUS")
    wanted = np.isin(prev["NAME_CONTRACT_TYPE"], [type_levels.index(t) for t in types])
    keep = (wanted & (prev["NAME_CONTRACT_STATUS"] == status_levels.index("Approved"))
            & (s.uniform(len(owner)) < share))
    idx = np.flatnonzero(keep)
    term = np.nan_to_num(prev["CNT_PAYMENT"][idx])
    credit = prev["AMT_CREDIT"][idx]
    annuity = np.where(np.isnan(prev["AMT_ANNUITY"][idx]),
                       credit / np.maximum(term, 1), prev["AMT_ANNUITY"][idx])
    # A loan's own luck on top of its client's behaviour: still standard normal overall.
    latent = (b[owner[idx]] + s.normal(len(idx))) / np.sqrt(2)
    first_due = np.where(prev["DAYS_FIRST_DUE"][idx] == DAYS_PLACEHOLDER,
                         prev["DAYS_DECISION"][idx] + 30, prev["DAYS_FIRST_DUE"][idx])
    last_due = prev["DAYS_LAST_DUE"][idx]
    ended = ~np.isnan(last_due) & (last_due != DAYS_PLACEHOLDER)
    runs = np.where(ended, np.round((last_due - first_due) / 30) + 1, term)
    return Loans(prev["SK_ID_PREV"][idx], owner[idx], prev["DAYS_DECISION"][idx], first_due,
                 term, np.clip(runs, 1, np.maximum(term, 1)), annuity, latent)


def start_month(decision: np.ndarray) -> np.ndarray:
    """Month (negative) of a decision day, within the 96-month history."""
    return np.maximum(np.floor(decision / DAYS_PER_MONTH), -MAX_MONTHS)


def generate_pos(s: Sampler, cal: Calibration, loans: Loans, client_ids: np.ndarray,
                 ) -> dict[str, np.ndarray]:
    """Monthly POS/cash balances: one row per month from the decision to month -1 or the end."""
    tcal = cal.tables["POS_CASH_balance"]
    start = start_month(loans.decision)
    term = np.maximum(loans.term, 1)
    length = np.minimum(loans.runs, -1 - start) + 1
    loan, k = explode(length)
    n = len(loan)
    month = start[loan] + k
    cols = draw_table(s, "POS_CASH_balance", tcal, n)
    levels = levels_of("POS_CASH_balance", "NAME_CONTRACT_STATUS")
    finished = k >= loans.runs[loan]
    cols["NAME_CONTRACT_STATUS"] = np.where(finished, levels.index("Completed"),
                                            levels.index("Active"))
    cols["CNT_INSTALMENT"] = term[loan].astype(np.float64)
    cols["CNT_INSTALMENT_FUTURE"] = np.where(finished, 0.0, np.maximum(term[loan] - k, 0))
    dpd_m, def_m = tcal.columns["SK_DPD"], tcal.columns["SK_DPD_DEF"]
    dpd = risky_amount(s, dpd_m, loans.latent[loan], LOADINGS["pos_dpd"])
    p_def = (1 - def_m.cdf_at(0.0)) / max(1 - dpd_m.cdf_at(0.0), 1e-9)
    cols["SK_DPD"] = np.where(finished, 0, dpd)
    cols["SK_DPD_DEF"] = np.where(s.uniform(n) < p_def, cols["SK_DPD"], 0)
    cols.update(SK_ID_PREV=loans.prev_id[loan], SK_ID_CURR=client_ids[loans.client[loan]],
                MONTHS_BALANCE=month)
    return cols


def payment_behaviour(s: Sampler, tcal: TableCalibration, latent: np.ndarray,
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Payment delay (days, > 0 = late) and paid share of each instalment."""
    n = len(latent)
    delay_m, ratio_m = tcal.columns["_DELAY"], tcal.columns["_PAY_RATIO"]
    on_time = delay_m.cdf_at(0.0)
    late = s.event(1 - on_time, latent, LOADINGS["instalment_late"])
    delay = delay_m.inverse_cdf(split_uniform(s.uniform(n), late, on_time))
    full = ratio_m.cdf_at(0.999)  # share of instalments paid short
    short = s.event(full, latent, LOADINGS["instalment_short"])
    u = s.uniform(n)
    ratio = np.where(short, ratio_m.inverse_cdf(full * u), np.maximum(
        ratio_m.inverse_cdf(full + (1 - full) * u), 1.0))
    return delay, ratio


def generate_installments(s: Sampler, cal: Calibration, loans: Loans,
                          card_rows: dict[str, np.ndarray], card_latent: np.ndarray,
                          client_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Instalment payments of POS/cash loans (version >= 1) and of cards (version 0)."""
    tcal = cal.tables["installments_payments"]
    due_count = np.where(loans.first_due <= -1,
                         np.minimum(np.floor((-1 - loans.first_due) / 30) + 1, loans.runs), 0)
    loan, k = explode(np.maximum(due_count, 0))
    version = np.maximum(draw_table(s, "installments_payments", tcal, len(loan))[
        "NUM_INSTALMENT_VERSION"], 1)
    card = card_payments(s, cal, card_rows, card_latent, len(client_ids))
    rows = {
        "SK_ID_PREV": np.r_[loans.prev_id[loan], card["SK_ID_PREV"]],
        "SK_ID_CURR": np.r_[client_ids[loans.client[loan]], card["SK_ID_CURR"]],
        "NUM_INSTALMENT_VERSION": np.r_[version, np.zeros(len(card["SK_ID_PREV"]))],
        "NUM_INSTALMENT_NUMBER": np.r_[k + 1, card["NUM_INSTALMENT_NUMBER"]],
        "DAYS_INSTALMENT": np.r_[loans.first_due[loan] + 30 * k, card["DAYS_INSTALMENT"]],
        "AMT_INSTALMENT": np.r_[np.round(loans.annuity[loan], 3), card["AMT_INSTALMENT"]],
    }
    delay, ratio = payment_behaviour(s, tcal, np.r_[loans.latent[loan], card["LATENT"]])
    entry = rows["DAYS_INSTALMENT"] + np.round(delay)
    unpaid = entry > -1  # not paid before the application: no payment row content yet
    rows["DAYS_ENTRY_PAYMENT"] = np.where(unpaid, np.nan, entry)
    rows["AMT_PAYMENT"] = np.where(unpaid, np.nan, np.round(rows["AMT_INSTALMENT"] * ratio, 3))
    return split_payments(s, rows)


def card_payments(s: Sampler, cal: Calibration, card_rows: dict[str, np.ndarray],
                  card_latent: np.ndarray, n_clients: int) -> dict[str, np.ndarray]:
    """Card instalments (version 0): the months a card was paid, in one or more payments.

    In full Kaggle about 31% of the instalment rows are version 0 (cards) out of 38.2 rows per
    client; card holders pay several times a month to reach it, the amount of the month being
    shared between the payments.
    """
    version = cal.tables["installments_payments"].columns["NUM_INSTALMENT_VERSION"]
    v0_share = dict(zip(version.values, version.freq, strict=True)).get(0.0, 0.0)
    target = v0_share * cal.history.rows_per_client["installments_payments"] * n_clients
    paid = np.flatnonzero(card_rows["AMT_PAYMENT_CURRENT"] > 0)  # NaN compares False
    # Bounded so that a tiny last chunk with few paid months stays plausible.
    extra = float(np.clip(target / max(len(paid), 1) - 1, 0.0, 4.0))
    payments = 1 + s.rng.poisson(extra, len(paid))
    month_row, part = explode(payments)
    src = paid[month_row]
    month_start = np.floor(card_rows["MONTHS_BALANCE"][src] * DAYS_PER_MONTH)
    return {
        "SK_ID_PREV": card_rows["SK_ID_PREV"][src],
        "SK_ID_CURR": card_rows["SK_ID_CURR"][src],
        "NUM_INSTALMENT_NUMBER": numbering(card_rows["SK_ID_PREV"][src], np.ones(len(src))),
        # spread the payments of a month over its days (the month ends before day 0)
        "DAYS_INSTALMENT": month_start + np.floor((part + 0.5) * 28 / payments[month_row]),
        "AMT_INSTALMENT": np.round(card_rows["AMT_PAYMENT_CURRENT"][src]
                                   / payments[month_row], 3),
        "LATENT": card_latent[src],
    }


def numbering(group: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """1, 2, 3... over the flagged rows of each run of equal ``group`` values."""
    cum = np.cumsum(flag)
    first = np.r_[True, group[1:] != group[:-1]] if len(group) else np.zeros(0, dtype=bool)
    run = np.cumsum(first) - 1
    return cum - (cum - flag)[first][run]


def split_payments(s: Sampler, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Pay a few instalments in two parts (two rows with the same number), as Kaggle shows."""
    n = len(rows["SK_ID_PREV"])
    share = SPLIT_PAYMENT_SHARE
    split = (s.uniform(n) < share) & ~np.isnan(rows["AMT_PAYMENT"])
    part = np.round(s.uniform(n) * 0.8 + 0.1, 2)
    idx = np.flatnonzero(split)
    out = {c: np.r_[v, v[idx]] for c, v in rows.items()}
    first, second = rows["AMT_PAYMENT"][idx] * part[idx], rows["AMT_PAYMENT"][idx] * (1 - part[idx])
    out["AMT_PAYMENT"][idx] = np.round(first, 3)
    out["AMT_PAYMENT"][n:] = np.round(second, 3)
    out["DAYS_ENTRY_PAYMENT"][n:] = np.minimum(rows["DAYS_ENTRY_PAYMENT"][idx]
                                               + s.rng.integers(1, 20, len(idx)), -1)
    return out


#: Card drawings by channel; the totals are their sums. Missing together, as in Kaggle.
CARD_DRAWINGS = ("AMT_DRAWINGS_ATM_CURRENT", "AMT_DRAWINGS_OTHER_CURRENT",
                 "AMT_DRAWINGS_POS_CURRENT")
CARD_DRAWING_COUNTS = ("CNT_DRAWINGS_ATM_CURRENT", "CNT_DRAWINGS_OTHER_CURRENT",
                       "CNT_DRAWINGS_POS_CURRENT")


def card_drawings(s: Sampler, marg: dict[str, ColumnCalibration], cols: dict[str, np.ndarray],
                  used: np.ndarray) -> None:
    """Drawings only on used cards; totals are the sums of the channels."""
    for c in CARD_DRAWINGS + CARD_DRAWING_COUNTS:
        cols[c] = cols[c] * np.where(used, 1.0, 0.0)
    missing = s.missing(marg[CARD_DRAWINGS[0]].missing, len(used))
    cols["AMT_DRAWINGS_CURRENT"] = np.round(
        np.nansum(np.c_[tuple(cols[c] for c in CARD_DRAWINGS)], axis=1), 3)
    cols["CNT_DRAWINGS_CURRENT"] = np.nansum(
        np.c_[tuple(cols[c] for c in CARD_DRAWING_COUNTS)], axis=1)
    for c in CARD_DRAWINGS + CARD_DRAWING_COUNTS:
        cols[c] = np.where(missing, np.nan, cols[c])


def generate_credit_card(s: Sampler, cal: Calibration, cards: Loans,
                         client_ids: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Monthly card balances from the card's decision month to month -1 (or its closure).

    Returns the columns and the behaviour latent of each row (for the card instalments).
    """
    tcal = cal.tables["credit_card_balance"]
    marg = tcal.columns
    start = start_month(cards.decision)
    n_cards = len(start)
    length = np.maximum(-start, 1).astype(np.int64)  # months start .. -1
    # Closed cards keep reporting "Completed" months with nothing drawn or owed.
    closed = s.uniform(n_cards) < CARD_CLOSED_SHARE
    closed_from = np.where(closed, np.ceil(length * s.uniform(n_cards)), length)
    card, k = explode(length)
    n = len(card)
    open_row = k < closed_from[card]
    cols = draw_table(s, "credit_card_balance", tcal, n)
    limit = marg["AMT_CREDIT_LIMIT_ACTUAL"].inverse_cdf(s.uniform(n_cards))
    used_card = s.event(1 - marg["AMT_BALANCE"].cdf_at(0.0), cards.latent,
                        LOADINGS["card_use"])
    used = used_card[card] & open_row
    util_m = marg["_UTILISATION"]
    cut = util_m.cdf_at(0.0)
    util_u = ndtr(LOADINGS["card_utilisation"] * cards.latent + np.sqrt(
        1 - LOADINGS["card_utilisation"] ** 2) * s.normal(n_cards))
    utilisation = np.clip(util_m.inverse_cdf(cut + (1 - cut) * util_u), 0, 1.5)
    noise = np.clip(1 + 0.15 * s.normal(n), 0.3, 1.7)
    balance = np.where(used, np.round(utilisation[card] * limit[card] * noise, 3), 0.0)
    min_pay = np.round(balance * 0.05, 3)
    paid = np.where(used, np.round(min_pay * (1 + 2 * s.uniform(n)), 2), 0.0)
    card_drawings(s, marg, cols, used)
    payment_missing = s.missing(marg["AMT_PAYMENT_CURRENT"].missing, n) & (paid == 0)
    latent = cards.latent[card]
    levels = levels_of("credit_card_balance", "NAME_CONTRACT_STATUS")
    cols.update(
        SK_ID_PREV=cards.prev_id[card], SK_ID_CURR=client_ids[cards.client[card]],
        MONTHS_BALANCE=start[card] + k, AMT_BALANCE=balance,
        AMT_CREDIT_LIMIT_ACTUAL=np.round(limit[card]),
        AMT_INST_MIN_REGULARITY=np.where(np.isnan(cols["AMT_INST_MIN_REGULARITY"]), np.nan,
                                         min_pay),
        AMT_PAYMENT_CURRENT=np.where(payment_missing, np.nan, paid),
        AMT_PAYMENT_TOTAL_CURRENT=paid,
        AMT_RECEIVABLE_PRINCIPAL=np.round(balance * 0.97, 3), AMT_RECIVABLE=balance,
        AMT_TOTAL_RECEIVABLE=balance,
        CNT_INSTALMENT_MATURE_CUM=np.where(np.isnan(cols["CNT_INSTALMENT_MATURE_CUM"]), np.nan,
                                           k.astype(np.float64)),
        NAME_CONTRACT_STATUS=np.where(open_row, levels.index("Active"),
                                      levels.index("Completed")),
        SK_DPD=np.where(used, risky_amount(s, marg["SK_DPD"], latent, LOADINGS["card_dpd"]), 0),
    )
    cols["SK_DPD_DEF"] = np.where(s.uniform(n) < 0.05, cols["SK_DPD"], 0)
    return cols, latent


# --- chunks and files -------------------------------------------------------------------------

@dataclass
class IdCounters:
    """Next free ids of the side tables, carried from chunk to chunk."""

    bureau: int = FIRST_BUREAU_ID
    prev: int = FIRST_PREV_ID


def generate_chunk(seed: int, chunk: int, first_client: int, n: int, ids: IdCounters,
                   calibration_path: str | None = None) -> dict[str, pl.DataFrame]:
    """All tables for ``n`` clients from ``first_client`` on; applications hold TARGET."""
    cal = load_calibration(calibration_path)
    risk = planted_risk(calibration_path)
    s = Sampler(np.random.default_rng([seed, chunk]))
    client_ids = first_client + np.arange(n)
    app = generate_applications(s, cal.application, n)
    app["SK_ID_CURR"] = client_ids
    score = risk.model.score(to_frame("application_test", app))
    b = risk.behaviour(s, score)
    app[TARGET] = (s.uniform(n) < risk.probability(score, b)).astype(np.int64)

    bureau, bureau_owner = generate_bureau(s, cal, n, b, ids.bureau)
    bureau["SK_ID_CURR"] = client_ids[bureau_owner]
    balance = generate_bureau_balance(s, cal, bureau, b[bureau_owner])
    prev, prev_owner = generate_previous(s, cal, n, b, ids.prev)
    prev["SK_ID_CURR"] = client_ids[prev_owner]
    loans = select_loans(s, prev, prev_owner, b, ("Cash loans", "Consumer loans"),
                         cal.history.pos_per_instalment_loan.share_with_rows)
    cards = select_loans(s, prev, prev_owner, b, ("Revolving loans",),
                         cal.history.cc_per_card.share_with_rows)
    pos = generate_pos(s, cal, loans, client_ids)
    card_rows, card_latent = generate_credit_card(s, cal, cards, client_ids)
    installments = generate_installments(s, cal, loans, card_rows, card_latent, client_ids)
    ids.bureau += len(bureau_owner)
    ids.prev += len(prev_owner)
    return {
        "application_train": to_frame("application_train", app),
        "bureau": to_frame("bureau", bureau),
        "bureau_balance": to_frame("bureau_balance", balance),
        "previous_application": to_frame("previous_application", prev),
        "POS_CASH_balance": to_frame("POS_CASH_balance", pos),
        "installments_payments": to_frame("installments_payments", installments),
        "credit_card_balance": to_frame("credit_card_balance", card_rows),
    }


def test_mask(applications: int, seed: int, test_share: float) -> np.ndarray:
    """Which clients go to application_test: exactly round(n * share), spread over the ids."""
    n_test = int(round(applications * test_share))
    mask = np.zeros(applications, dtype=bool)
    rng = np.random.default_rng([seed, 2**31 - 1])  # a stream no chunk uses
    mask[rng.choice(applications, n_test, replace=False)] = True
    return mask


def generate(applications: int, seed: int = 0, out_dir: Path | str = "data/raw",
             fmt: str = "csv", test_share: float = KAGGLE_TEST_SHARE,
             progress: bool | None = None, calibration_path: str | None = None,
             ) -> dict[str, int]:
    """Write ``applications`` synthetic clients as the eight Kaggle tables.

    Returns the rows written per table. ``progress`` shows a tqdm bar on stderr (default:
    only for runs of 50,000 clients or more).
    """
    from tqdm import tqdm

    if applications < 1:
        raise ValueError("applications must be positive")
    is_test = test_mask(applications, seed, test_share)
    ids = IdCounters()
    show = applications >= 50_000 if progress is None else progress
    with ExitStack() as stack:
        writers = {t: stack.enter_context(TableWriter(out_dir, t, fmt)) for t in TABLES}
        bar = stack.enter_context(tqdm(total=applications, unit="clients", file=sys.stderr,
                                       disable=not show, desc="generate"))
        for chunk, start in enumerate(range(0, applications, CHUNK_CLIENTS)):
            n = min(CHUNK_CLIENTS, applications - start)
            frames = generate_chunk(seed, chunk, FIRST_CLIENT_ID + start, n, ids,
                                    calibration_path)
            apps = frames.pop("application_train")
            in_test = pl.Series(is_test[start:start + n])
            writers["application_train"].write(apps.filter(~in_test))
            writers["application_test"].write(apps.filter(in_test).drop(TARGET))
            for table, frame in frames.items():
                writers[table].write(frame)
            bar.update(n)
    return {t: w.rows for t, w in writers.items()}
