"""The catalogue of model inputs: the history families, every feature's description, the
ordered list of model inputs (``FEATURES``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import polars as pl

from scoring.features.aggregate import DERIVED_LABELS, FLAG_LABELS, STAT_WORDS, Block
from scoring.features.application import APPLICATION, APPLICATION_FEATURES, RAW_FEATURES
from scoring.features.balances import (
    CREDIT_CARD_BLOCKS,
    INSTALLMENTS_BLOCKS,
    POS_CASH_BLOCKS,
    credit_card_features,
    installments_features,
    pos_cash_features,
)
from scoring.features.bureau import BUREAU_BLOCKS, bureau_features
from scoring.features.previous import PREVIOUS_BLOCKS, previous_features
from scoring.schema import TABLES, TARGET

#: Store column telling a training application ("train") from a test one ("test").
DATASET = "DATASET"
#: Store columns that are not model inputs (the data set and the label): every reader that
#: turns a stored row into a request leaves them out.
NOT_INPUTS: tuple[str, ...] = (TARGET, DATASET)
FROM_BUREAU_BALANCE = tuple(c for c in DERIVED_LABELS if c.startswith("BB_"))

@dataclass(frozen=True)
class Family:
    """A history family: the tables it reads (the first is required), its blocks, its function."""

    tables: tuple[str, ...]
    blocks: tuple[Block, ...]
    compute: Callable[..., pl.LazyFrame]


#: The history families, named after their main table, in feature order.
FAMILIES: dict[str, Family] = {
    "bureau": Family(("bureau", "bureau_balance"), BUREAU_BLOCKS, bureau_features),
    "previous_application": Family(("previous_application",), PREVIOUS_BLOCKS,
                                   previous_features),
    "POS_CASH_balance": Family(("POS_CASH_balance",), POS_CASH_BLOCKS, pos_cash_features),
    "installments_payments": Family(("installments_payments",), INSTALLMENTS_BLOCKS,
                                    installments_features),
    "credit_card_balance": Family(("credit_card_balance",), CREDIT_CARD_BLOCKS,
                                  credit_card_features),
}


def _column_label(table: str, column: str) -> tuple[str, bool]:
    """A column's label (lower-case first letter) and whether it is a 0/1 flag."""
    if column in FLAG_LABELS:
        return FLAG_LABELS[column], True
    if column in DERIVED_LABELS:
        return DERIVED_LABELS[column], False
    text = TABLES[table].column(column).label
    return text[0].lower() + text[1:], False


def _block_descriptions(table: str, block: Block) -> dict[str, str]:
    out = {f"{block.prefix}_COUNT": f"Number of {block.rows}"}
    for col, stats in block.stats.items():
        text, is_flag = _column_label(table, col)
        for s in stats:
            if is_flag and s == "MEAN":
                desc = f"Share of {block.rows} where {text}"
            elif is_flag and s == "SUM":
                desc = f"Number of {block.rows} where {text}"
            elif s in ("MIN", "MAX") and col.startswith(("DAYS_", "MONTHS_", "BB_MONTHS_")):
                desc = f"{'Earliest' if s == 'MIN' else 'Latest'} {text} over {block.rows}"
            else:
                desc = f"{STAT_WORDS[s]} {text} over {block.rows}"
            out[f"{block.prefix}_{col}_{s}"] = desc
    return out


def _history_descriptions() -> dict[str, str]:
    return {name: desc for table, family in FAMILIES.items() for block in family.blocks
            for name, desc in _block_descriptions(table, block).items()}


HISTORY_DESCRIPTIONS = _history_descriptions()
#: History features in order (those of absent tables are missing from a store).
HISTORY_FEATURES: tuple[str, ...] = tuple(HISTORY_DESCRIPTIONS)
#: Every model input, in order: raw application fields, application features, history.
FEATURES: tuple[str, ...] = RAW_FEATURES + tuple(APPLICATION_FEATURES) + HISTORY_FEATURES


def family_features(table: str, provided: Iterable[str] | None = None) -> list[str]:
    """The features of the family ``table``, in order, given which of its tables are provided.

    ``provided`` defaults to all of them; without ``bureau_balance`` the bureau family loses
    its ``BB_*`` aggregates.
    """
    family = FAMILIES[table]
    missing = set() if provided is None else set(family.tables[1:]) - set(provided)
    skipped = FROM_BUREAU_BALANCE if "bureau_balance" in missing else ()
    return [name for block in family.blocks for name in block.names(without=skipped)]


def describe(feature: str) -> str:
    """A short readable description of a feature or a store column."""
    if feature in APPLICATION_FEATURES:
        return APPLICATION_FEATURES[feature]
    if feature in HISTORY_DESCRIPTIONS:
        return HISTORY_DESCRIPTIONS[feature]
    if feature == DATASET:
        return "Kaggle file of the application: train (with TARGET) or test"
    if feature in APPLICATION.names:
        return APPLICATION.column(feature).label
    raise KeyError(f"unknown feature {feature!r}")


def model_features(columns: Iterable[str] | None = None) -> list[str]:
    """The model inputs in order; with ``columns`` (a store's), only the history ones present.

    Application inputs are always listed: ``to_model_frame`` computes them from raw fields.
    """
    if columns is None:
        return list(FEATURES)
    present = set(columns)
    return [f for f in FEATURES if f not in HISTORY_DESCRIPTIONS or f in present]
