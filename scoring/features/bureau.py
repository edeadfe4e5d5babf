"""The bureau family: bureau credits with their monthly bureau_balance statuses (``BURO_*``)."""

from __future__ import annotations

import polars as pl

from scoring.features.aggregate import Block, aggregate, flag, not_after_application, safe_ratio

#: The monthly statuses: on time, 1 to 5 = months late (5: 120+ days), closed, unknown.
_STATUSES = ("0", "1", "2", "3", "4", "5", "C", "X")


def _status_code(status: pl.Expr) -> pl.Expr:
    """A status as its index in ``_STATUSES`` (8 for any other text; missing stays missing).

    Integer tests on ~40M rows cost less than string ones: the code makes the per-credit
    aggregation about 15% faster.
    """
    code = status.cast(pl.Enum(_STATUSES), strict=False).to_physical()
    return code.fill_null(pl.when(status.is_not_null()).then(len(_STATUSES)))


def bureau_balance_per_credit(bureau_balance: pl.LazyFrame) -> pl.LazyFrame:
    """Monthly status counts and shares per bureau credit (``SK_ID_BUREAU``), up to month 0."""
    code, month = pl.col("STATUS_CODE"), pl.col("MONTHS_BALANCE")
    late = (code >= 1) & (code <= 5)
    return bureau_balance.filter(month <= 0).with_columns(
        _status_code(pl.col("STATUS")).alias("STATUS_CODE"),
    ).group_by("SK_ID_BUREAU").agg(
        pl.len().cast(pl.Float64).alias("BB_MONTHS"),
        month.min().cast(pl.Float64).alias("BB_MONTHS_BALANCE_MIN"),
        *[flag(code == _STATUSES.index(s)).mean().alias(f"BB_SHARE_{s}")
          for s in ("0", "C", "X")],
        flag(late).mean().alias("BB_SHARE_LATE"),
        *[pl.when(month >= -m).then(late).mean().alias(f"BB_SHARE_LATE_{m}M") for m in (6, 12)],
        pl.when(late).then(code).otherwise(0).max().cast(pl.Float64).alias("BB_WORST_STATUS"),
    )


def bureau_rows(bureau: pl.LazyFrame, bureau_balance: pl.LazyFrame | None) -> pl.LazyFrame:
    """Bureau credits known at the application, with derived columns and bureau_balance ones."""
    active, kind = pl.col("CREDIT_ACTIVE"), pl.col("CREDIT_TYPE")
    rows = bureau.filter(not_after_application(
        "DAYS_CREDIT", "DAYS_ENDDATE_FACT", "DAYS_CREDIT_UPDATE")).with_columns(
        flag(active == "Active").alias("IS_ACTIVE"),
        flag(active.is_in(("Sold", "Bad debt"))).alias("IS_SOLD_OR_BAD_DEBT"),
        flag(kind == "Credit card").alias("IS_CREDIT_CARD"),
        flag(kind == "Car loan").alias("IS_CAR_LOAN"),
        flag(kind == "Mortgage").alias("IS_MORTGAGE"),
        flag(kind == "Microloan").alias("IS_MICROLOAN"),
        flag(pl.col("CREDIT_DAY_OVERDUE") > 0).alias("IS_OVERDUE"),
        safe_ratio("AMT_CREDIT_SUM_DEBT", "AMT_CREDIT_SUM").alias("DEBT_CREDIT_RATIO"),
    )
    if bureau_balance is not None:
        rows = rows.join(bureau_balance_per_credit(bureau_balance), on="SK_ID_BUREAU",
                         how="left")
    return rows


_BUREAU_SUBSET_STATS = {
    "DAYS_CREDIT": ("MIN", "MAX", "MEAN"),
    "DAYS_CREDIT_ENDDATE": ("MAX", "MEAN"),
    "DAYS_ENDDATE_FACT": ("MAX",),
    "CREDIT_DAY_OVERDUE": ("MAX",),
    "AMT_CREDIT_MAX_OVERDUE": ("MAX",),
    "CNT_CREDIT_PROLONG": ("SUM",),
    "AMT_CREDIT_SUM": ("MEAN", "SUM"),
    "AMT_CREDIT_SUM_DEBT": ("MEAN", "SUM"),
    "AMT_CREDIT_SUM_OVERDUE": ("SUM",),
    "AMT_CREDIT_SUM_LIMIT": ("SUM",),
    "AMT_ANNUITY": ("SUM",),
    "DEBT_CREDIT_RATIO": ("MEAN", "MAX"),
    "BB_SHARE_LATE": ("MEAN",),
    "BB_SHARE_LATE_12M": ("MEAN",),
    "BB_WORST_STATUS": ("MAX",),
}
BUREAU_BLOCKS = (
    Block("BURO", "the client's bureau credits", {
        "DAYS_CREDIT": ("MIN", "MAX", "MEAN", "VAR"),
        "DAYS_CREDIT_ENDDATE": ("MIN", "MAX", "MEAN"),
        "DAYS_CREDIT_UPDATE": ("MEAN",),
        "CREDIT_DAY_OVERDUE": ("MAX", "MEAN"),
        "AMT_CREDIT_MAX_OVERDUE": ("MAX", "MEAN"),
        "CNT_CREDIT_PROLONG": ("SUM",),
        "AMT_CREDIT_SUM": ("MAX", "MEAN", "SUM"),
        "AMT_CREDIT_SUM_DEBT": ("MAX", "MEAN", "SUM"),
        "AMT_CREDIT_SUM_OVERDUE": ("MEAN", "SUM"),
        "AMT_CREDIT_SUM_LIMIT": ("MEAN", "SUM"),
        "AMT_ANNUITY": ("MAX", "MEAN"),
        "DEBT_CREDIT_RATIO": ("MEAN", "MAX"),
        "IS_ACTIVE": ("MEAN",),
        "IS_SOLD_OR_BAD_DEBT": ("SUM",),
        "IS_CREDIT_CARD": ("MEAN",),
        "IS_CAR_LOAN": ("MEAN",),
        "IS_MORTGAGE": ("MEAN",),
        "IS_MICROLOAN": ("MEAN",),
        "IS_OVERDUE": ("SUM",),
        "BB_MONTHS": ("MEAN", "SUM"),
        "BB_MONTHS_BALANCE_MIN": ("MIN",),
        "BB_SHARE_0": ("MEAN",),
        "BB_SHARE_C": ("MEAN",),
        "BB_SHARE_X": ("MEAN",),
        "BB_SHARE_LATE": ("MEAN", "MAX"),
        "BB_SHARE_LATE_6M": ("MEAN", "MAX"),
        "BB_SHARE_LATE_12M": ("MEAN", "MAX"),
        "BB_WORST_STATUS": ("MEAN", "MAX"),
    }),
    Block("BURO_ACTIVE", "the client's active bureau credits", _BUREAU_SUBSET_STATS,
          pl.col("CREDIT_ACTIVE") == "Active"),
    Block("BURO_CLOSED", "the client's closed bureau credits", _BUREAU_SUBSET_STATS,
          pl.col("CREDIT_ACTIVE") == "Closed"),
)


def bureau_features(bureau: pl.LazyFrame, bureau_balance: pl.LazyFrame | None = None,
                    ) -> pl.LazyFrame:
    """Bureau aggregates per client: all, active and closed credits (``BURO_*``)."""
    return aggregate(bureau_rows(bureau, bureau_balance), BUREAU_BLOCKS)
