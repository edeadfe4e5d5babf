"""The Home Credit Default Risk tables: columns, dtypes, levels, keys, labels and quirks.

This is the one place that knows the Kaggle schema. Every other module asks it for names,
dtypes and readable labels instead of hard-coding them. It imports nothing of ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["int", "float", "category"]

#: ``DAYS_EMPLOYED`` holds this value for clients without employment (mostly pensioners):
#: it is a placeholder, not a number of days (about 18% of applications).
DAYS_EMPLOYED_PLACEHOLDER = 365243
#: Previous applications use the same placeholder in their ``DAYS_*`` date columns.
DAYS_PLACEHOLDER = 365243

#: The target column: 1 = the client had payment difficulties, 0 = repaid.
TARGET = "TARGET"
#: The application's (client's) id: the key of the applications and of every join per client.
KEY = "SK_ID_CURR"


@dataclass(frozen=True)
class Column:
    """One column of a Kaggle table, as the files hold it."""

    name: str
    kind: Kind
    label: str
    levels: tuple[str, ...] = ()
    #: False where the Kaggle files never leave the value empty (ints, most categories).
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    """One Kaggle table: its columns, unique key and the key that links it to its parent."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    parent: tuple[str, str] | None = None  # (column, parent table whose key it refers to)
    required: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    def pandas_dtypes(self) -> dict[str, str]:
        """Dtypes for reading this table with pandas (ints may hold NaN while unvalidated)."""
        return {c.name: _PANDAS[c.kind] for c in self.columns}


_PANDAS = {"int": "Int64", "float": "float64", "category": "string"}

# --- categorical levels, as spelt in the Kaggle files ------------------------------------
WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
SUITES = ("Unaccompanied", "Family", "Spouse, partner", "Children", "Other_A", "Other_B",
          "Group of people")
ORGANIZATIONS = (
    "Business Entity Type 3", "XNA", "Self-employed", "Other", "Medicine", "Government",
    "Business Entity Type 2", "School", "Trade: type 7", "Kindergarten", "Construction",
    "Business Entity Type 1", "Transport: type 4", "Trade: type 3", "Industry: type 9",
    "Industry: type 3", "Security", "Housing", "Industry: type 11", "Military", "Bank",
    "Agriculture", "Police", "Transport: type 2", "Postal", "Security Ministries",
    "Trade: type 2", "Restaurant", "Services", "University", "Industry: type 7",
    "Transport: type 3", "Industry: type 1", "Hotel", "Electricity", "Industry: type 4",
    "Trade: type 6", "Industry: type 5", "Insurance", "Telecom", "Emergency",
    "Industry: type 2", "Advertising", "Realtor", "Culture", "Industry: type 12",
    "Trade: type 1", "Mobile", "Legal Services", "Cleaning", "Transport: type 1",
    "Industry: type 6", "Industry: type 10", "Religion", "Industry: type 13", "Trade: type 4",
    "Trade: type 5", "Industry: type 8",
)
OCCUPATIONS = (
    "Laborers", "Sales staff", "Core staff", "Managers", "Drivers", "High skill tech staff",
    "Accountants", "Medicine staff", "Security staff", "Cooking staff", "Cleaning staff",
    "Private service staff", "Low-skill Laborers", "Waiters/barmen staff", "Secretaries",
    "Realty agents", "HR staff", "IT staff",
)

_APP_CATEGORIES: dict[str, tuple[str, ...]] = {
    "NAME_CONTRACT_TYPE": ("Cash loans", "Revolving loans"),
    "CODE_GENDER": ("F", "M", "XNA"),
    "FLAG_OWN_CAR": ("N", "Y"),
    "FLAG_OWN_REALTY": ("Y", "N"),
    "NAME_TYPE_SUITE": SUITES,
    "NAME_INCOME_TYPE": ("Working", "Commercial associate", "Pensioner", "State servant",
                         "Unemployed", "Student", "Businessman", "Maternity leave"),
    "NAME_EDUCATION_TYPE": ("Secondary / secondary special", "Higher education",
                            "Incomplete higher", "Lower secondary", "Academic degree"),
    "NAME_FAMILY_STATUS": ("Married", "Single / not married", "Civil marriage", "Separated",
                           "Widow", "Unknown"),
    "NAME_HOUSING_TYPE": ("House / apartment", "With parents", "Municipal apartment",
                          "Rented apartment", "Office apartment", "Co-op apartment"),
    "OCCUPATION_TYPE": OCCUPATIONS,
    "WEEKDAY_APPR_PROCESS_START": WEEKDAYS,
    "ORGANIZATION_TYPE": ORGANIZATIONS,
    "FONDKAPREMONT_MODE": ("reg oper account", "reg oper spec account", "not specified",
                           "org spec account"),
    "HOUSETYPE_MODE": ("block of flats", "specific housing", "terraced house"),
    "WALLSMATERIAL_MODE": ("Panel", "Stone, brick", "Block", "Wooden", "Mixed", "Monolithic",
                           "Others"),
    "EMERGENCYSTATE_MODE": ("No", "Yes"),
}

# --- readable labels ----------------------------------------------------------------------
_APP_LABELS: dict[str, str] = {
    "SK_ID_CURR": "Application id",
    "TARGET": "Payment difficulties (1 = yes)",
    "NAME_CONTRACT_TYPE": "Contract type",
    "CODE_GENDER": "Gender",
    "FLAG_OWN_CAR": "Owns a car",
    "FLAG_OWN_REALTY": "Owns a home",
    "CNT_CHILDREN": "Number of children",
    "AMT_INCOME_TOTAL": "Annual income",
    "AMT_CREDIT": "Credit amount",
    "AMT_ANNUITY": "Loan annuity",
    "AMT_GOODS_PRICE": "Price of the goods financed",
    "NAME_TYPE_SUITE": "Accompanied by",
    "NAME_INCOME_TYPE": "Income type",
    "NAME_EDUCATION_TYPE": "Education",
    "NAME_FAMILY_STATUS": "Family status",
    "NAME_HOUSING_TYPE": "Housing",
    "REGION_POPULATION_RELATIVE": "Population density of the region (normalized)",
    "DAYS_BIRTH": "Age (days before application, negative)",
    "DAYS_EMPLOYED": "Employment length (days before application, negative)",
    "DAYS_REGISTRATION": "Registration changed (days before application)",
    "DAYS_ID_PUBLISH": "Identity document changed (days before application)",
    "OWN_CAR_AGE": "Age of own car (years)",
    "FLAG_MOBIL": "Gave a mobile phone",
    "FLAG_EMP_PHONE": "Gave a work phone",
    "FLAG_WORK_PHONE": "Gave a home phone",
    "FLAG_CONT_MOBILE": "Mobile phone reachable",
    "FLAG_PHONE": "Gave a landline",
    "FLAG_EMAIL": "Gave an e-mail",
    "OCCUPATION_TYPE": "Occupation",
    "CNT_FAM_MEMBERS": "Family members",
    "REGION_RATING_CLIENT": "Region rating (1 best, 3 worst)",
    "REGION_RATING_CLIENT_W_CITY": "Region and city rating (1 best, 3 worst)",
    "WEEKDAY_APPR_PROCESS_START": "Weekday of application",
    "HOUR_APPR_PROCESS_START": "Hour of application",
    "REG_REGION_NOT_LIVE_REGION": "Registered region differs from region of residence",
    "REG_REGION_NOT_WORK_REGION": "Registered region differs from work region",
    "LIVE_REGION_NOT_WORK_REGION": "Region of residence differs from work region",
    "REG_CITY_NOT_LIVE_CITY": "Registered city differs from city of residence",
    "REG_CITY_NOT_WORK_CITY": "Registered city differs from work city",
    "LIVE_CITY_NOT_WORK_CITY": "City of residence differs from work city",
    "ORGANIZATION_TYPE": "Employer type",
    "EXT_SOURCE_1": "External score 1 (normalized)",
    "EXT_SOURCE_2": "External score 2 (normalized)",
    "EXT_SOURCE_3": "External score 3 (normalized)",
    "FONDKAPREMONT_MODE": "Building: repair fund",
    "HOUSETYPE_MODE": "Building: type",
    "TOTALAREA_MODE": "Building: total area (normalized)",
    "WALLSMATERIAL_MODE": "Building: wall material",
    "EMERGENCYSTATE_MODE": "Building: in emergency state",
    "OBS_30_CNT_SOCIAL_CIRCLE": "Acquaintances observed 30 days past due",
    "DEF_30_CNT_SOCIAL_CIRCLE": "Acquaintances defaulted 30 days past due",
    "OBS_60_CNT_SOCIAL_CIRCLE": "Acquaintances observed 60 days past due",
    "DEF_60_CNT_SOCIAL_CIRCLE": "Acquaintances defaulted 60 days past due",
    "DAYS_LAST_PHONE_CHANGE": "Phone changed (days before application)",
}
_BUILDING_STATS = {
    "APARTMENTS": "apartment size", "BASEMENTAREA": "basement area",
    "YEARS_BEGINEXPLUATATION": "years since start of use", "YEARS_BUILD": "building age",
    "COMMONAREA": "common area", "ELEVATORS": "elevators", "ENTRANCES": "entrances",
    "FLOORSMAX": "highest floor", "FLOORSMIN": "lowest floor", "LANDAREA": "land area",
    "LIVINGAPARTMENTS": "living apartments", "LIVINGAREA": "living area",
    "NONLIVINGAPARTMENTS": "non-living apartments", "NONLIVINGAREA": "non-living area",
}
_STAT_WORD = {"AVG": "average", "MODE": "mode", "MEDI": "median"}
_BUREAU_REQ = {"HOUR": "hour", "DAY": "day", "WEEK": "week", "MON": "month",
               "QRT": "quarter", "YEAR": "year"}


def _application_label(name: str) -> str:
    if name in _APP_LABELS:
        return _APP_LABELS[name]
    if m := re.fullmatch(r"(\w+)_(AVG|MODE|MEDI)", name):
        return f"Building: {_BUILDING_STATS[m[1]]} ({_STAT_WORD[m[2]]}, normalized)"
    if m := re.fullmatch(r"FLAG_DOCUMENT_(\d+)", name):
        return f"Provided document {m[1]}"
    if m := re.fullmatch(r"AMT_REQ_CREDIT_BUREAU_(\w+)", name):
        return f"Credit bureau enquiries in the last {_BUREAU_REQ[m[1]]}"
    raise KeyError(name)


_APP_KINDS = (
    "SK_ID_CURR:int TARGET:int NAME_CONTRACT_TYPE CODE_GENDER FLAG_OWN_CAR FLAG_OWN_REALTY "
    "CNT_CHILDREN:int AMT_INCOME_TOTAL AMT_CREDIT AMT_ANNUITY AMT_GOODS_PRICE NAME_TYPE_SUITE "
    "NAME_INCOME_TYPE NAME_EDUCATION_TYPE NAME_FAMILY_STATUS NAME_HOUSING_TYPE "
    "REGION_POPULATION_RELATIVE DAYS_BIRTH:int DAYS_EMPLOYED:int DAYS_REGISTRATION "
    "DAYS_ID_PUBLISH:int OWN_CAR_AGE FLAG_MOBIL:int FLAG_EMP_PHONE:int FLAG_WORK_PHONE:int "
    "FLAG_CONT_MOBILE:int FLAG_PHONE:int FLAG_EMAIL:int OCCUPATION_TYPE CNT_FAM_MEMBERS "
    "REGION_RATING_CLIENT:int REGION_RATING_CLIENT_W_CITY:int WEEKDAY_APPR_PROCESS_START "
    "HOUR_APPR_PROCESS_START:int REG_REGION_NOT_LIVE_REGION:int REG_REGION_NOT_WORK_REGION:int "
    "LIVE_REGION_NOT_WORK_REGION:int REG_CITY_NOT_LIVE_CITY:int REG_CITY_NOT_WORK_CITY:int "
    "LIVE_CITY_NOT_WORK_CITY:int ORGANIZATION_TYPE EXT_SOURCE_1 EXT_SOURCE_2 EXT_SOURCE_3 "
    + " ".join(f"{s}_{t}" for t in ("AVG", "MODE", "MEDI") for s in _BUILDING_STATS)
    + " FONDKAPREMONT_MODE HOUSETYPE_MODE TOTALAREA_MODE WALLSMATERIAL_MODE EMERGENCYSTATE_MODE "
    "OBS_30_CNT_SOCIAL_CIRCLE DEF_30_CNT_SOCIAL_CIRCLE OBS_60_CNT_SOCIAL_CIRCLE "
    "DEF_60_CNT_SOCIAL_CIRCLE DAYS_LAST_PHONE_CHANGE "
    + " ".join(f"FLAG_DOCUMENT_{i}:int" for i in range(2, 22))
    + " " + " ".join(f"AMT_REQ_CREDIT_BUREAU_{p}" for p in _BUREAU_REQ)
)


#: Application fields that may be empty in the Kaggle files besides the optional floats.
_APP_OPTIONAL_CATEGORIES = {"NAME_TYPE_SUITE", "OCCUPATION_TYPE", "FONDKAPREMONT_MODE",
                            "HOUSETYPE_MODE", "WALLSMATERIAL_MODE", "EMERGENCYSTATE_MODE"}
#: Float fields that are never empty: a credit application states income and amount.
_APP_REQUIRED_FLOATS = {"AMT_INCOME_TOTAL", "AMT_CREDIT"}


def _application_columns(with_target: bool) -> tuple[Column, ...]:
    cols = []
    for spec in _APP_KINDS.split():
        name, _, kind = spec.partition(":")
        if name == TARGET and not with_target:
            continue
        label_ = _application_label(name)
        if name in _APP_CATEGORIES:
            col = Column(name, "category", label_, _APP_CATEGORIES[name],
                         nullable=name in _APP_OPTIONAL_CATEGORIES)
        elif kind == "int":
            col = Column(name, "int", label_, nullable=False)
        else:
            col = Column(name, "float", label_, nullable=name not in _APP_REQUIRED_FLOATS)
        cols.append(col)
    return tuple(cols)


def _cols(*specs: tuple) -> tuple[Column, ...]:
    """Build columns from (name, kind, label[, levels]) tuples; int columns are never empty."""
    return tuple(Column(*s, nullable=s[1] != "int") for s in specs)


_CONTRACT_STATUS_MONTHLY = ("Active", "Completed", "Signed", "Demand", "Returned to the store",
                            "Approved", "Amortized debt", "Canceled", "XNA")

BUREAU = Table(
    "bureau",
    _cols(
        ("SK_ID_CURR", "int", "Application id"),
        ("SK_ID_BUREAU", "int", "Bureau credit id"),
        ("CREDIT_ACTIVE", "category", "Bureau credit status",
         ("Closed", "Active", "Sold", "Bad debt")),
        ("CREDIT_CURRENCY", "category", "Bureau credit currency",
         ("currency 1", "currency 2", "currency 3", "currency 4")),
        ("DAYS_CREDIT", "int", "Bureau credit applied (days before application)"),
        ("CREDIT_DAY_OVERDUE", "int", "Days overdue on the bureau credit"),
        ("DAYS_CREDIT_ENDDATE", "float", "Bureau credit planned end (days from application)"),
        ("DAYS_ENDDATE_FACT", "float", "Bureau credit actual end (days before application)"),
        ("AMT_CREDIT_MAX_OVERDUE", "float", "Largest overdue amount on the bureau credit"),
        ("CNT_CREDIT_PROLONG", "int", "Times the bureau credit was prolonged"),
        ("AMT_CREDIT_SUM", "float", "Bureau credit amount"),
        ("AMT_CREDIT_SUM_DEBT", "float", "Bureau credit current debt"),
        ("AMT_CREDIT_SUM_LIMIT", "float", "Bureau credit-card limit"),
        ("AMT_CREDIT_SUM_OVERDUE", "float", "Bureau credit amount overdue now"),
        ("CREDIT_TYPE", "category", "Bureau credit type",
         ("Consumer credit", "Credit card", "Car loan", "Mortgage", "Microloan",
          "Loan for business development", "Another type of loan",
          "Loan for working capital replenishment", "Unknown type of loan",
          "Cash loan (non-earmarked)", "Loan for the purchase of equipment",
          "Real estate loan", "Mobile operator loan", "Interbank credit",
          "Loan for purchase of shares (margin lending)")),
        ("DAYS_CREDIT_UPDATE", "int", "Last bureau update (days before application)"),
        ("AMT_ANNUITY", "float", "Bureau credit annuity"),
    ),
    key=("SK_ID_BUREAU",),
    parent=("SK_ID_CURR", "application"),
)

BUREAU_BALANCE = Table(
    "bureau_balance",
    _cols(
        ("SK_ID_BUREAU", "int", "Bureau credit id"),
        ("MONTHS_BALANCE", "int", "Month relative to application (0 = application month)"),
        ("STATUS", "category", "Monthly status (C closed, X unknown, 0 on time, 1-5 months late)",
         ("C", "0", "X", "1", "2", "3", "4", "5")),
    ),
    key=("SK_ID_BUREAU", "MONTHS_BALANCE"),
    parent=("SK_ID_BUREAU", "bureau"),
)

PREVIOUS_APPLICATION = Table(
    "previous_application",
    _cols(
        ("SK_ID_PREV", "int", "Previous application id"),
        ("SK_ID_CURR", "int", "Application id"),
        ("NAME_CONTRACT_TYPE", "category", "Previous contract type",
         ("Cash loans", "Consumer loans", "Revolving loans", "XNA")),
        ("AMT_ANNUITY", "float", "Previous annuity"),
        ("AMT_APPLICATION", "float", "Amount asked on the previous application"),
        ("AMT_CREDIT", "float", "Amount granted on the previous application"),
        ("AMT_DOWN_PAYMENT", "float", "Previous down payment"),
        ("AMT_GOODS_PRICE", "float", "Previous goods price"),
        ("WEEKDAY_APPR_PROCESS_START", "category", "Weekday of previous application", WEEKDAYS),
        ("HOUR_APPR_PROCESS_START", "int", "Hour of previous application"),
        ("FLAG_LAST_APPL_PER_CONTRACT", "category", "Last application for the contract",
         ("Y", "N")),
        ("NFLAG_LAST_APPL_IN_DAY", "int", "Last application of the day"),
        ("RATE_DOWN_PAYMENT", "float", "Down-payment rate (normalized)"),
        ("RATE_INTEREST_PRIMARY", "float", "Interest rate (normalized)"),
        ("RATE_INTEREST_PRIVILEGED", "float", "Privileged interest rate (normalized)"),
        ("NAME_CASH_LOAN_PURPOSE", "category", "Purpose of the cash loan",
         ("XAP", "XNA", "Repairs", "Other", "Urgent needs", "Buying a used car",
          "Building a house or an annex", "Everyday expenses", "Medicine",
          "Payments on other loans", "Education", "Journey", "Purchase of electronic equipment",
          "Buying a new car", "Wedding / gift / holiday", "Buying a home", "Car repairs",
          "Furniture", "Buying a holiday home / land", "Business development",
          "Gasification / water supply", "Buying a garage", "Hobby", "Money for a third person",
          "Refusal to name the goal")),
        ("NAME_CONTRACT_STATUS", "category", "Previous application outcome",
         ("Approved", "Canceled", "Refused", "Unused offer")),
        ("DAYS_DECISION", "int", "Decision on previous application (days before application)"),
        ("NAME_PAYMENT_TYPE", "category", "Payment method",
         ("Cash through the bank", "XNA", "Non-cash from your account",
          "Cashless from the account of the employer")),
        ("CODE_REJECT_REASON", "category", "Reason for refusal",
         ("XAP", "HC", "LIMIT", "SCO", "CLIENT", "SCOFR", "XNA", "VERIF", "SYSTEM")),
        ("NAME_TYPE_SUITE", "category", "Accompanied by (previous)", SUITES),
        ("NAME_CLIENT_TYPE", "category", "Client was new or repeat",
         ("Repeater", "New", "Refreshed", "XNA")),
        ("NAME_GOODS_CATEGORY", "category", "Goods category",
         ("XNA", "Mobile", "Consumer Electronics", "Computers", "Audio/Video", "Furniture",
          "Photo / Cinema Equipment", "Construction Materials", "Clothing and Accessories",
          "Auto Accessories", "Jewelry", "Homewares", "Medical Supplies", "Vehicles",
          "Sport and Leisure", "Gardening", "Other", "Office Appliances", "Tourism", "Medicine",
          "Direct Sales", "Fitness", "Additional Service", "Education", "Weapon", "Insurance",
          "House Construction", "Animals")),
        ("NAME_PORTFOLIO", "category", "Portfolio", ("POS", "Cash", "XNA", "Cards", "Cars")),
        ("NAME_PRODUCT_TYPE", "category", "Product type", ("XNA", "x-sell", "walk-in")),
        ("CHANNEL_TYPE", "category", "Acquisition channel",
         ("Credit and cash offices", "Country-wide", "Stone", "Regional / Local",
          "Contact center", "AP+ (Cash loan)", "Channel of corporate sales", "Car dealer")),
        ("SELLERPLACE_AREA", "int", "Seller's selling area"),
        ("NAME_SELLER_INDUSTRY", "category", "Seller industry",
         ("XNA", "Consumer electronics", "Connectivity", "Furniture", "Construction",
          "Clothing", "Industry", "Auto technology", "Jewelry", "MLM partners", "Tourism")),
        ("CNT_PAYMENT", "float", "Term of the previous credit (payments)"),
        ("NAME_YIELD_GROUP", "category", "Interest-rate group",
         ("XNA", "middle", "high", "low_normal", "low_action")),
        ("PRODUCT_COMBINATION", "category", "Product combination",
         ("Cash", "POS household with interest", "POS mobile with interest",
          "Cash X-Sell: middle", "Cash X-Sell: low", "Card Street",
          "POS industry with interest", "Card X-Sell", "POS household without interest",
          "Cash X-Sell: high", "Cash Street: high", "Cash Street: low", "Cash Street: middle",
          "POS mobile without interest", "POS other with interest",
          "POS industry without interest", "POS others without interest")),
        ("DAYS_FIRST_DRAWING", "float", "First drawing (days before application)"),
        ("DAYS_FIRST_DUE", "float", "First due date (days before application)"),
        ("DAYS_LAST_DUE_1ST_VERSION", "float", "First planned last due date (days)"),
        ("DAYS_LAST_DUE", "float", "Last due date (days before application)"),
        ("DAYS_TERMINATION", "float", "Expected termination (days before application)"),
        ("NFLAG_INSURED_ON_APPROVAL", "float", "Asked for insurance"),
    ),
    key=("SK_ID_PREV",),
    parent=("SK_ID_CURR", "application"),
    notes=("DAYS_* columns use 365243 as a placeholder for 'no date'.",),
)

POS_CASH_BALANCE = Table(
    "POS_CASH_balance",
    _cols(
        ("SK_ID_PREV", "int", "Previous credit id"),
        ("SK_ID_CURR", "int", "Application id"),
        ("MONTHS_BALANCE", "int", "Month relative to application"),
        ("CNT_INSTALMENT", "float", "Term of the previous credit (instalments)"),
        ("CNT_INSTALMENT_FUTURE", "float", "Instalments left to pay"),
        ("NAME_CONTRACT_STATUS", "category", "Monthly contract status",
         _CONTRACT_STATUS_MONTHLY),
        ("SK_DPD", "int", "Days past due"),
        ("SK_DPD_DEF", "int", "Days past due (ignoring small debts)"),
    ),
    key=("SK_ID_PREV", "MONTHS_BALANCE"),
    parent=("SK_ID_CURR", "application"),
)

INSTALLMENTS_PAYMENTS = Table(
    "installments_payments",
    _cols(
        ("SK_ID_PREV", "int", "Previous credit id"),
        ("SK_ID_CURR", "int", "Application id"),
        ("NUM_INSTALMENT_VERSION", "float", "Instalment calendar version"),
        ("NUM_INSTALMENT_NUMBER", "int", "Instalment number"),
        ("DAYS_INSTALMENT", "float", "Instalment due (days before application)"),
        ("DAYS_ENTRY_PAYMENT", "float", "Instalment paid (days before application)"),
        ("AMT_INSTALMENT", "float", "Instalment amount due"),
        ("AMT_PAYMENT", "float", "Amount paid"),
    ),
    parent=("SK_ID_CURR", "application"),
    notes=("An instalment paid in several parts has several rows: there is no unique key.",),
)

CREDIT_CARD_BALANCE = Table(
    "credit_card_balance",
    _cols(
        ("SK_ID_PREV", "int", "Previous credit id"),
        ("SK_ID_CURR", "int", "Application id"),
        ("MONTHS_BALANCE", "int", "Month relative to application"),
        ("AMT_BALANCE", "float", "Card balance"),
        ("AMT_CREDIT_LIMIT_ACTUAL", "int", "Card limit"),
        ("AMT_DRAWINGS_ATM_CURRENT", "float", "Cash withdrawn this month"),
        ("AMT_DRAWINGS_CURRENT", "float", "Drawn this month"),
        ("AMT_DRAWINGS_OTHER_CURRENT", "float", "Other drawings this month"),
        ("AMT_DRAWINGS_POS_CURRENT", "float", "Purchases this month"),
        ("AMT_INST_MIN_REGULARITY", "float", "Minimum instalment this month"),
        ("AMT_PAYMENT_CURRENT", "float", "Paid this month"),
        ("AMT_PAYMENT_TOTAL_CURRENT", "float", "Paid this month in total"),
        ("AMT_RECEIVABLE_PRINCIPAL", "float", "Principal receivable"),
        ("AMT_RECIVABLE", "float", "Amount receivable"),
        ("AMT_TOTAL_RECEIVABLE", "float", "Total receivable"),
        ("CNT_DRAWINGS_ATM_CURRENT", "float", "Cash withdrawals this month"),
        ("CNT_DRAWINGS_CURRENT", "int", "Drawings this month"),
        ("CNT_DRAWINGS_OTHER_CURRENT", "float", "Other drawings this month (count)"),
        ("CNT_DRAWINGS_POS_CURRENT", "float", "Purchases this month (count)"),
        ("CNT_INSTALMENT_MATURE_CUM", "float", "Instalments paid so far"),
        ("NAME_CONTRACT_STATUS", "category", "Monthly card status",
         ("Active", "Completed", "Signed", "Demand", "Sent proposal", "Refused", "Approved")),
        ("SK_DPD", "int", "Days past due"),
        ("SK_DPD_DEF", "int", "Days past due (ignoring small debts)"),
    ),
    key=("SK_ID_PREV", "MONTHS_BALANCE"),
    parent=("SK_ID_CURR", "application"),
)

APPLICATION_TRAIN = Table(
    "application_train", _application_columns(True), key=("SK_ID_CURR",), required=True,
    notes=("DAYS_EMPLOYED = 365243 means 'not employed' (about 18% of rows).",),
)
APPLICATION_TEST = Table(
    "application_test", _application_columns(False), key=("SK_ID_CURR",),
    notes=APPLICATION_TRAIN.notes,
)

#: All eight tables, in dependency order (parents before children).
TABLES: dict[str, Table] = {t.name: t for t in (
    APPLICATION_TRAIN, APPLICATION_TEST, BUREAU, BUREAU_BALANCE, PREVIOUS_APPLICATION,
    POS_CASH_BALANCE, INSTALLMENTS_PAYMENTS, CREDIT_CARD_BALANCE,
)}
#: The tables with a history per client (everything but the two application tables).
SIDE_TABLES: tuple[str, ...] = tuple(n for n in TABLES if not n.startswith("application"))


def label(column: str, table: str = "application_train") -> str:
    """A short readable label for a raw column (falls back to the column name)."""
    try:
        return TABLES[table].column(column).label
    except KeyError:
        return column
