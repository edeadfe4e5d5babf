"""Application features: computed from the application's own fields, for any number of rows.

``derive_application_features`` is the one definition; training calls it through
``application_features`` (pandas) and the served model on its request's arrays. numpy is
imported by the functions that compute: the store build only reads this module's column lists,
and importing numpy costs its start-up about 0.15 s of CPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from scoring.features.aggregate import KEY
from scoring.names import DAYS_PER_YEAR
from scoring.schema import DAYS_EMPLOYED_PLACEHOLDER, TABLES, TARGET

if TYPE_CHECKING:  # pandas and numpy are imported where they are used
    import numpy as np
    import pandas as pd

APPLICATION = TABLES["application_train"]
_BUILDING_DUPLICATES = tuple(
    c.name for c in APPLICATION.columns
    if c.kind != "category" and c.name != "TOTALAREA_MODE"
    and c.name.endswith(("_MODE", "_MEDI")))
_RARE_DOCUMENTS = tuple(f"FLAG_DOCUMENT_{i}" for i in range(2, 22) if i not in (3, 6, 8))
_DROPPED_RAW = {KEY, TARGET, "DAYS_EMPLOYED", "FLAG_MOBIL", *_BUILDING_DUPLICATES,
                *_RARE_DOCUMENTS}

#: Raw application columns the model reads as they are (DAYS_EMPLOYED is replaced by its
#: cleaned version; MODE/MEDI building statistics duplicate the AVG ones; rare documents and
#: the constant FLAG_MOBIL are summarised by DOCUMENT_COUNT or dropped).
RAW_FEATURES: tuple[str, ...] = tuple(c for c in APPLICATION.names if c not in _DROPPED_RAW)
#: Categorical model inputs and their fixed levels, from the schema.
CATEGORIES: dict[str, tuple[str, ...]] = {
    c.name: c.levels for c in APPLICATION.columns
    if c.kind == "category" and c.name in RAW_FEATURES}

#: Features computed from the application's own fields, with their descriptions.
APPLICATION_FEATURES: dict[str, str] = {
    "DAYS_EMPLOYED_CLEAN": "Employment length in days (negative; missing when not employed)",
    "NOT_EMPLOYED_FLAG": "DAYS_EMPLOYED holds the 365243 placeholder (no employment, "
                         "mostly pensioners)",
    "CREDIT_INCOME_RATIO": "Credit amount / annual income",
    "ANNUITY_INCOME_RATIO": "Loan annuity / annual income",
    "ANNUITY_CREDIT_RATIO": "Loan annuity / credit amount (payment rate)",
    "GOODS_CREDIT_RATIO": "Price of the goods financed / credit amount",
    "INCOME_PER_PERSON": "Annual income per family member",
    "CHILDREN_RATIO": "Children / family members",
    "EMPLOYED_AGE_RATIO": "Employment length / age",
    "ID_PUBLISH_AGE_RATIO": "Days since identity document change / age",
    "PHONE_CHANGE_AGE_RATIO": "Days since phone change / age",
    "EXT_SOURCE_MEAN": "Mean of the available external scores",
    "EXT_SOURCE_MIN": "Lowest available external score",
    "EXT_SOURCE_MAX": "Highest available external score",
    "EXT_SOURCE_PROD": "Product of the three external scores (missing if one is missing)",
    "EXT_SOURCE_MISSING": "Number of missing external scores (0 to 3)",
    "EXT_SOURCE_WEIGHTED": "Weighted mean of the available external scores (weights 2, 1, 3 "
                           "for scores 1, 2, 3)",
    "EXT_SOURCE_STD": "Standard deviation of the available external scores (0 with one)",
    "EXT_SOURCE_PROD_12": "External score 1 x external score 2",
    "EXT_SOURCE_PROD_13": "External score 1 x external score 3",
    "EXT_SOURCE_PROD_23": "External score 2 x external score 3",
    "EXT_SOURCE_2_AGE_RATIO": "External score 2 / age in days (negative)",
    "DOCUMENT_COUNT": "Number of documents provided (FLAG_DOCUMENT_2 to 21)",
    "BUREAU_ENQUIRIES": "Credit bureau enquiries in the year before the application (sum of "
                        "the hour to year counts)",
    "CREDIT_TERM": "Credit amount / annuity: the loan term in months at a zero interest rate",
    "DOWN_PAYMENT": "Price of the goods financed - credit amount (the client's own share; "
                    "negative when the credit exceeds the price)",
    "AGE_AT_END": "Age in years when the loan ends (age + credit amount / annuity months)",
}
_EXT = ("EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3")
#: Weights of the external scores in EXT_SOURCE_WEIGHTED (the Home Credit kernels' 2, 1, 3).
_EXT_WEIGHTS = (2.0, 1.0, 3.0)
_DOCUMENTS = tuple(f"FLAG_DOCUMENT_{i}" for i in range(2, 22))
_ENQUIRIES = tuple(f"AMT_REQ_CREDIT_BUREAU_{p}"
                   for p in ("HOUR", "DAY", "WEEK", "MON", "QRT", "YEAR"))


#: The raw fields that application features read.
APPLICATION_INPUTS: tuple[str, ...] = (
    "DAYS_EMPLOYED", "DAYS_BIRTH", "AMT_CREDIT", "AMT_INCOME_TOTAL", "AMT_ANNUITY",
    "AMT_GOODS_PRICE", "CNT_FAM_MEMBERS", "CNT_CHILDREN", "DAYS_ID_PUBLISH",
    "DAYS_LAST_PHONE_CHANGE", *_EXT, *_DOCUMENTS, *_ENQUIRIES)


def _numbers(app: pd.DataFrame, column: str) -> np.ndarray:
    """A column as a float array with NaN for missing (accepts nullable and object dtypes)."""
    import numpy as np

    try:
        return app[column].to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        import pandas as pd

        return pd.to_numeric(app[column], errors="coerce").to_numpy(dtype="float64",
                                                                    na_value=np.nan)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, missing where den is 0 or missing."""
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    out[~np.isfinite(out)] = np.nan
    return out


def application_features(app: pd.DataFrame) -> pd.DataFrame:
    """The application features (``APPLICATION_FEATURES``) of each row of raw application fields.

    Pure and row-wise: the result for a row depends on that row only, so one row gives the
    same values as the batch. Returns a frame with the input's index.
    """
    import pandas as pd

    x = {c: _numbers(app, c) for c in APPLICATION_INPUTS}
    return pd.DataFrame(derive_application_features(x), index=app.index)


def derive_application_features(x: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The definitions: application features from the ``APPLICATION_INPUTS`` as float arrays
    (NaN for missing), for any number of rows. The served model calls this directly on its
    request's arrays; ``application_features`` wraps it for frames.
    """
    import numpy as np

    placeholder = x["DAYS_EMPLOYED"] == DAYS_EMPLOYED_PLACEHOLDER
    employed = np.where(placeholder, np.nan, x["DAYS_EMPLOYED"])
    ext = np.column_stack([x[c] for c in _EXT])
    known = ~np.isnan(ext)
    n_known = known.sum(axis=1)
    with np.errstate(invalid="ignore"):
        ext_mean = np.where(known, ext, 0.0).sum(axis=1) / n_known
    all_missing = n_known == 0
    term = _ratio(x["AMT_CREDIT"], x["AMT_ANNUITY"])
    weights = np.where(known, _EXT_WEIGHTS, 0.0)
    with np.errstate(invalid="ignore"):
        ext_weighted = np.where(known, ext * _EXT_WEIGHTS, 0.0).sum(axis=1) / weights.sum(1)
        ext_var = np.where(known, (ext - ext_mean[:, None]) ** 2, 0.0).sum(axis=1) / n_known
    return {
        "DAYS_EMPLOYED_CLEAN": employed,
        "NOT_EMPLOYED_FLAG": np.where(np.isnan(x["DAYS_EMPLOYED"]), np.nan,
                                      placeholder.astype("float64")),
        "CREDIT_INCOME_RATIO": _ratio(x["AMT_CREDIT"], x["AMT_INCOME_TOTAL"]),
        "ANNUITY_INCOME_RATIO": _ratio(x["AMT_ANNUITY"], x["AMT_INCOME_TOTAL"]),
        "ANNUITY_CREDIT_RATIO": _ratio(x["AMT_ANNUITY"], x["AMT_CREDIT"]),
        "GOODS_CREDIT_RATIO": _ratio(x["AMT_GOODS_PRICE"], x["AMT_CREDIT"]),
        "INCOME_PER_PERSON": _ratio(x["AMT_INCOME_TOTAL"], x["CNT_FAM_MEMBERS"]),
        "CHILDREN_RATIO": _ratio(x["CNT_CHILDREN"], x["CNT_FAM_MEMBERS"]),
        "EMPLOYED_AGE_RATIO": _ratio(employed, x["DAYS_BIRTH"]),
        "ID_PUBLISH_AGE_RATIO": _ratio(x["DAYS_ID_PUBLISH"], x["DAYS_BIRTH"]),
        "PHONE_CHANGE_AGE_RATIO": _ratio(x["DAYS_LAST_PHONE_CHANGE"], x["DAYS_BIRTH"]),
        "EXT_SOURCE_MEAN": np.where(all_missing, np.nan, ext_mean),
        "EXT_SOURCE_MIN": np.where(all_missing, np.nan, np.where(known, ext, np.inf).min(1)),
        "EXT_SOURCE_MAX": np.where(all_missing, np.nan, np.where(known, ext, -np.inf).max(1)),
        "EXT_SOURCE_PROD": ext.prod(axis=1),
        "EXT_SOURCE_MISSING": (3 - n_known).astype("float64"),
        "EXT_SOURCE_WEIGHTED": ext_weighted,
        "EXT_SOURCE_STD": np.sqrt(ext_var),
        "EXT_SOURCE_PROD_12": x["EXT_SOURCE_1"] * x["EXT_SOURCE_2"],
        "EXT_SOURCE_PROD_13": x["EXT_SOURCE_1"] * x["EXT_SOURCE_3"],
        "EXT_SOURCE_PROD_23": x["EXT_SOURCE_2"] * x["EXT_SOURCE_3"],
        "EXT_SOURCE_2_AGE_RATIO": _ratio(x["EXT_SOURCE_2"], x["DAYS_BIRTH"]),
        "DOCUMENT_COUNT": _row_sum([x[c] for c in _DOCUMENTS]),
        "BUREAU_ENQUIRIES": _row_sum([x[c] for c in _ENQUIRIES]),
        "CREDIT_TERM": term,
        "DOWN_PAYMENT": x["AMT_GOODS_PRICE"] - x["AMT_CREDIT"],
        "AGE_AT_END": -x["DAYS_BIRTH"] / DAYS_PER_YEAR + term / 12,
    }


def _row_sum(columns: Sequence[np.ndarray]) -> np.ndarray:
    """Row sums of the present values of ``columns``; missing when all are missing."""
    import numpy as np

    values = np.column_stack(columns)
    known = ~np.isnan(values)
    return np.where(known.any(axis=1), np.where(known, values, 0.0).sum(axis=1), np.nan)
