"""The shared machinery of the history families: a ``Block`` of aggregates, the helper that
turns blocks into one row per client, and the per-row expressions the families share."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from scoring.names import DAYS_PER_MONTH
from scoring.schema import KEY

# --- history features: blocks of aggregates -------------------------------------------------

_STAT_EXPRS: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "MIN": pl.Expr.min, "MAX": pl.Expr.max, "MEAN": pl.Expr.mean, "SUM": pl.Expr.sum,
    "VAR": pl.Expr.var,
}
STAT_WORDS = {"MIN": "Smallest", "MAX": "Largest", "MEAN": "Mean", "SUM": "Total",
               "VAR": "Variance of"}


@dataclass(frozen=True)
class Block:
    """Aggregates of one table's rows per client: which rows, which columns, which statistics.

    ``where`` keeps a subset of the rows (None: all rows); ``rows`` names them in words for the
    descriptions. Every block also yields ``<prefix>_COUNT``, the number of rows kept.
    """

    prefix: str
    rows: str
    stats: Mapping[str, tuple[str, ...]]
    where: pl.Expr | None = field(default=None, compare=False)

    def names(self, without: Iterable[str] = ()) -> list[str]:
        """The feature names of this block, in order, leaving out source columns ``without``."""
        skip = set(without)
        return [f"{self.prefix}_COUNT"] + [f"{self.prefix}_{col}_{s}"
                                           for col, stats in self.stats.items()
                                           if col not in skip for s in stats]

    def columns(self, available: Iterable[str]) -> list[str]:
        """The block's source columns that are ``available``."""
        available = set(available)
        return [col for col in self.stats if col in available]


def aggregate(rows: pl.LazyFrame, blocks: Sequence[Block]) -> pl.LazyFrame:
    """One row per client with every block's aggregates (the shared helper of all families).

    Each block groups only the rows it keeps; the first block keeps all rows, so its clients
    are every client of the table, and the other blocks are joined onto it: a client without
    rows in a subset gets 0 for its count and missing aggregates (a sum over no rows is
    missing, not 0).
    """
    if blocks[0].where is not None:
        raise ValueError("the first block of a family must keep all rows")
    available = rows.collect_schema().names()
    out, counts = None, []
    for b in blocks:
        kept = rows if b.where is None else rows.filter(b.where)
        counts.append(f"{b.prefix}_COUNT")
        exprs = [pl.len().cast(pl.Int64).alias(counts[-1])] + [
            _statistic(pl.col(col), stat, b.stats[col]).cast(pl.Float32)
            .alias(f"{b.prefix}_{col}_{stat}")
            for col in b.columns(available) for stat in b.stats[col]]
        agg = kept.group_by(KEY).agg(exprs)
        out = agg if out is None else out.join(agg, on=KEY, how="left")
    return out.with_columns(pl.col(counts).fill_null(0))


def _statistic(column: pl.Expr, stat: str, stats: Sequence[str]) -> pl.Expr:
    """One statistic of a column per group. When the block also takes the column's SUM, its
    MEAN is that sum over the count of present values: polars then sums once (instalments and
    bureau aggregate 5-10% faster)."""
    if stat == "MEAN" and "SUM" in stats:
        present = column.count()
        return pl.when(present > 0).then(column.sum() / present)
    return _STAT_EXPRS[stat](column)


def flag(condition: pl.Expr) -> pl.Expr:
    """A flag column: its MEAN is a share and its SUM a count (missing stays missing).

    Kept Boolean: bit-packed, it costs a 64th of the memory traffic of a 0/1 float column.
    """
    return condition


def safe_ratio(num: str, den: str) -> pl.Expr:
    """num / den, missing where den is 0 or missing."""
    return pl.when(pl.col(den) != 0).then(pl.col(num) / pl.col(den))


def not_after_application(*days: str) -> pl.Expr:
    """True for rows whose event dates (``days`` columns) are not after the application."""
    return pl.all_horizontal([pl.col(c).is_null() | (pl.col(c) <= 0) for c in days])


def in_last_months(months: int, column: str = "MONTHS_BALANCE") -> pl.Expr:
    return pl.col(column) >= -months


def in_last_days(months: int) -> pl.Expr:
    return pl.col("DAYS_INSTALMENT") >= -round(DAYS_PER_MONTH * months)


#: Readable labels of the per-row columns the families derive (flags are 0/1).
DERIVED_LABELS: dict[str, str] = {
    "BB_MONTHS": "months of bureau balance history",
    "BB_MONTHS_BALANCE_MIN": "oldest month of bureau balance history",
    "BB_SHARE_0": "share of months on time (status 0) in the bureau balance history",
    "BB_SHARE_C": "share of months closed (status C) in the bureau balance history",
    "BB_SHARE_X": "share of months of unknown status (X) in the bureau balance history",
    "BB_SHARE_LATE": "share of months late (status 1-5) in the bureau balance history",
    "BB_SHARE_LATE_6M": "share of months late (status 1-5) in the last 6 months",
    "BB_SHARE_LATE_12M": "share of months late (status 1-5) in the last 12 months",
    "BB_WORST_STATUS": "worst monthly status (0 on time to 5 = 120+ days late)",
    "DEBT_CREDIT_RATIO": "debt / credit amount",
    "APP_CREDIT_RATIO": "amount asked / amount granted",
    "INTEREST_RATE": "estimated yearly interest rate (from credit, annuity and term)",
    "PAYMENT_PERC": "amount paid / instalment amount",
    "PAYMENT_DIFF": "instalment amount - amount paid",
    "DPD": "days past due (payment after the due date)",
    "DBD": "days before due (payment before the due date)",
    "UTILISATION": "card balance / card limit",
    "PAYMENT_MIN_RATIO": "amount paid / minimum instalment",
}
#: Labels of the 0/1 flags, phrased to follow "where".
FLAG_LABELS: dict[str, str] = {
    "IS_ACTIVE": "the credit is active",
    "IS_SOLD_OR_BAD_DEBT": "the credit was sold or is bad debt",
    "IS_CREDIT_CARD": "the credit is a credit card",
    "IS_CAR_LOAN": "the credit is a car loan",
    "IS_MORTGAGE": "the credit is a mortgage",
    "IS_MICROLOAN": "the credit is a microloan",
    "IS_OVERDUE": "the credit is overdue now",
    "IS_APPROVED": "the application was approved",
    "IS_REFUSED": "the application was refused",
    "IS_CANCELED": "the application was canceled",
    "IS_CASH": "the contract is a cash loan",
    "IS_REVOLVING": "the contract is a revolving loan",
    "IS_YIELD_HIGH": "the interest-rate group is high",
    "IS_YIELD_LOW": "the interest-rate group is low",
    "IS_NEW_CLIENT": "the client was new",
    "IS_XSELL": "the product was a cross-sell",
    "IS_RUNNING": "the loan was planned to run past the application date",
    "IS_LATE": "a payment was late",
    "IS_UNDERPAID": "less than the instalment was paid",
    "IS_COMPLETED": "the contract was completed",
}
