"""Typed calibration of the synthetic-data generator: what ``calibration.json`` holds.

Frozen dataclasses whose fields are the JSON keys, so the generator reads attributes and a
misspelt name fails at once. :meth:`Calibration.from_json` rejects an unknown or missing key
with its path (``application.risk_model: unknown key 'coefs'``); :meth:`Calibration.to_json`
writes the same compact format back. :mod:`synthetic.calibrate` computes the numbers from the
real samples.
"""

from __future__ import annotations

import json
import types
from dataclasses import MISSING, dataclass, fields, is_dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import numpy as np
import polars as pl

from scoring.names import DAYS_PER_YEAR
from scoring.schema import DAYS_EMPLOYED_PLACEHOLDER, TABLES
from synthetic.marginals import ColumnCalibration

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")


class CalibrationError(ValueError):
    """A calibration file that does not have the expected keys or types."""


# --- the application ------------------------------------------------------------------------

def risk_features(app: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    """Engineered application features of the planted risk model (names, float matrix).

    Used twice: fitted on the real training sample (:mod:`synthetic.calibrate`), and applied to
    generated applications (:meth:`RiskModel.score`), so both compute exactly the same thing.
    """
    employed = pl.col("DAYS_EMPLOYED") != DAYS_EMPLOYED_PLACEHOLDER
    exprs = {
        "ext1": pl.col("EXT_SOURCE_1").fill_null(0.5),
        "ext2": pl.col("EXT_SOURCE_2").fill_null(0.5),
        "ext3": pl.col("EXT_SOURCE_3").fill_null(0.5),
        "ext1_missing": pl.col("EXT_SOURCE_1").is_null(),
        "ext3_missing": pl.col("EXT_SOURCE_3").is_null(),
        "age": -pl.col("DAYS_BIRTH") / DAYS_PER_YEAR,
        "years_employed": pl.when(employed).then(-pl.col("DAYS_EMPLOYED") / DAYS_PER_YEAR)
        .otherwise(0.0).clip(0, 40),
        "not_employed": ~employed,
        "credit_term": (pl.col("AMT_CREDIT") / pl.col("AMT_ANNUITY")).fill_null(20).clip(5, 45),
        "log_credit_income": (pl.col("AMT_CREDIT") / pl.col("AMT_INCOME_TOTAL")).log(),
        "goods_ratio": (pl.col("AMT_GOODS_PRICE") / pl.col("AMT_CREDIT")).fill_null(1).clip(0, 2),
        "male": pl.col("CODE_GENDER") == "M",
        "own_car": pl.col("FLAG_OWN_CAR") == "Y",
        "higher_education": pl.col("NAME_EDUCATION_TYPE").is_in(
            ["Higher education", "Academic degree"]),
        "lower_education": pl.col("NAME_EDUCATION_TYPE") == "Lower secondary",
        "region_rating": pl.col("REGION_RATING_CLIENT_W_CITY"),
        "id_publish_years": -pl.col("DAYS_ID_PUBLISH") / DAYS_PER_YEAR,
        "phone_change_years": (-pl.col("DAYS_LAST_PHONE_CHANGE") / DAYS_PER_YEAR).fill_null(2),
        "def_30_social": pl.col("DEF_30_CNT_SOCIAL_CIRCLE").fill_null(0).clip(0, 4),
        "revolving": pl.col("NAME_CONTRACT_TYPE") == "Revolving loans",
        "document_3": pl.col("FLAG_DOCUMENT_3"),
        "city_not_work": pl.col("REG_CITY_NOT_WORK_CITY"),
        "married": pl.col("NAME_FAMILY_STATUS") == "Married",
    }
    frame = app.select(**{k: e.cast(pl.Float64) for k, e in exprs.items()})
    return list(exprs), frame.fill_null(0).to_numpy()


@dataclass(frozen=True)
class RiskModel:
    """Logistic default model fitted on the real training rows (standardised features)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    in_sample_auc_real: float

    def score(self, app: pl.DataFrame) -> np.ndarray:
        """Logit contribution of the application fields, without the intercept."""
        names, x = risk_features(app)
        if tuple(names) != self.features:
            raise CalibrationError(f"risk_model.features {self.features} do not match the "
                                   f"features computed by risk_features {tuple(names)}")
        return ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.coef)


@dataclass(frozen=True)
class SampleRows:
    train: int
    test: int


@dataclass(frozen=True)
class Copula:
    """Gaussian copula of the main application fields (category levels in risk order)."""

    columns: tuple[str, ...]
    corr: tuple[tuple[float, ...], ...]

    @cached_property
    def factor(self) -> np.ndarray:
        """Cholesky factor of the correlation."""
        return np.linalg.cholesky(np.asarray(self.corr))


@dataclass(frozen=True)
class ComissingGroup:
    """Columns missing together, and the share of rows where all of them are."""

    columns: tuple[str, ...]
    all_missing: float


@dataclass(frozen=True)
class ByEmployment:
    employed: ColumnCalibration
    not_employed: ColumnCalibration


@dataclass(frozen=True)
class Employment:
    """The DAYS_EMPLOYED placeholder and the fields that exist only for the employed."""

    placeholder_share: float
    placeholder_share_train: float
    placeholder_by_income_type: dict[str, float]
    conditional: dict[str, ByEmployment]


@dataclass(frozen=True)
class ApplicationCalibration:
    """Application rows: marginals, copula, twins, co-missing groups, employment, risk."""

    rows: SampleRows
    default_rate: float
    columns: dict[str, ColumnCalibration]
    copula: Copula
    twins: dict[str, str]
    comissing: dict[str, ComissingGroup]
    employment: Employment
    risk_model: RiskModel


# --- side tables and history ----------------------------------------------------------------

@dataclass(frozen=True)
class Strata:
    """Marginals per stratum: ``by`` columns, values joined with ``|`` as keys."""

    by: tuple[str, ...]
    values: dict[str, TableCalibration]


@dataclass(frozen=True)
class TableCalibration:
    """Marginals of a side table's columns, overall and per stratum where one is defined."""

    rows: int
    columns: dict[str, ColumnCalibration]
    strata: Strata | None = None

    def column(self, name: str, stratum: str | None = None) -> ColumnCalibration:
        """A column's marginal in ``stratum``, falling back to the whole table."""
        part = self.strata.values.get(stratum) if self.strata and stratum else None
        if part is not None and name in part.columns:
            return part.columns[name]
        return self.columns[name]

    def stratum_rows(self, stratum: str) -> int:
        """Real rows of a stratum (0 if it has too few rows to be stored)."""
        part = self.strata.values.get(stratum) if self.strata else None
        return part.rows if part else 0


@dataclass(frozen=True)
class CountDistribution:
    """Rows per parent: mean and the frequencies of 0, 1, 2..."""

    mean: float
    freq: tuple[float, ...]


@dataclass(frozen=True)
class ChildRows:
    """Monthly rows per parent record, and the share of records that have any."""

    mean: float
    share_with_rows: float


@dataclass(frozen=True)
class BureauBalanceRows(ChildRows):
    mean_span_months: float


@dataclass(frozen=True)
class CardRows(ChildRows):
    #: card histories without a previous application, per client (a Kaggle quirk)
    unlisted_cards_per_client: float


@dataclass(frozen=True)
class HistoryCalibration:
    """How many side-table rows each client and each record has."""

    clients: int
    rows_per_client: dict[str, float]
    rows_per_client_train_only: dict[str, float]
    bureau_per_client: CountDistribution
    previous_per_client: CountDistribution
    bureau_balance_per_bureau: BureauBalanceRows
    pos_per_instalment_loan: ChildRows
    cc_per_card: CardRows


@dataclass(frozen=True)
class Calibration:
    """Everything the generator draws from; aggregates only, never a row of the real data."""

    source: str
    application: ApplicationCalibration
    history: HistoryCalibration
    tables: dict[str, TableCalibration]

    def __post_init__(self) -> None:
        expected = [t for t in TABLES if not t.startswith("application")]
        if sorted(self.tables) != sorted(expected):
            raise CalibrationError(f"calibration.tables: has {', '.join(self.tables)}; "
                                   f"expected {', '.join(expected)}")

    @classmethod
    def from_json(cls, text: str, where: str = "calibration") -> Calibration:
        """Parse and check a calibration; ``where`` prefixes the path in error messages."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise CalibrationError(f"{where}: not valid JSON ({error})") from None
        return decode(cls, data, where)

    def to_json(self) -> str:
        """Compact JSON, the keys in field order."""
        return json.dumps(encode(self), separators=(",", ":"))

    @classmethod
    def load(cls, path: Path | str = CALIBRATION_PATH) -> Calibration:
        return cls.from_json(Path(path).read_text(), str(path))

    def save(self, path: Path | str = CALIBRATION_PATH) -> None:
        Path(path).write_text(self.to_json() + "\n")


# --- JSON <-> dataclasses -------------------------------------------------------------------

#: JSON types accepted for each scalar field type (an int is a valid float).
SCALARS: dict[type, tuple[type, ...]] = {float: (float, int), int: (int,), str: (str,),
                                         bool: (bool,)}


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def decode(tp: Any, value: Any, where: str) -> Any:
    """``value`` (parsed JSON) as type ``tp``, checked key by key; errors name the path."""
    if tp in SCALARS:
        if type(value) not in SCALARS[tp]:
            raise CalibrationError(f"{where}: expected {tp.__name__}, got {value!r:.60}")
        return tp(value)
    if tp is ColumnCalibration and isinstance(value, dict):
        tp = ColumnCalibration.kind(value)
    if is_dataclass(tp):
        return _decode_dataclass(tp, value, where)
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return decode(next(a for a in args if a is not type(None)), value, where)
    if origin is tuple:
        _expect(value, list, where)
        if args[0] in SCALARS and all(type(v) in SCALARS[args[0]] for v in value):
            return tuple(map(args[0], value))  # fast path for long number lists
        return tuple(decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        _expect(value, dict, where)
        return {k: decode(args[1], v, f"{where}.{k}") for k, v in value.items()}
    raise TypeError(f"{where}: no JSON decoding for {tp}")


def _decode_dataclass(tp: type, value: Any, where: str) -> Any:
    """A dataclass from a JSON object: every key known, every field without a default given."""
    _expect(value, dict, where)
    names = [f.name for f in fields(tp)]
    unknown = [k for k in value if k not in names]
    if unknown:
        raise CalibrationError(f"{where}: unknown key {unknown[0]!r} "
                               f"(expected {', '.join(names)})")
    absent = [f.name for f in fields(tp) if f.name not in value and f.default is MISSING]
    if absent:
        raise CalibrationError(f"{where}: missing key {absent[0]!r}")
    hints = _hints(tp)
    return tp(**{k: decode(hints[k], v, f"{where}.{k}") for k, v in value.items()})


def _expect(value: Any, tp: type, where: str) -> None:
    if not isinstance(value, tp):
        name = {dict: "an object", list: "a list"}[tp]
        raise CalibrationError(f"{where}: expected {name}, got {value!r:.60}")


def encode(obj: Any) -> Any:
    """Plain JSON values of a dataclass tree (``None`` fields left out)."""
    if is_dataclass(obj):
        return {f.name: encode(v) for f in fields(obj)
                if (v := getattr(obj, f.name)) is not None}
    if isinstance(obj, tuple | list):
        return [encode(v) for v in obj]
    if isinstance(obj, dict):
        return {k: encode(v) for k, v in obj.items()}
    return obj
