"""Stand-ins for the dashboard's collaborators (a scoring client and tiny client rows), and
Debian's headless Chromium for the browser tests."""

from __future__ import annotations

import math
from urllib.parse import urlparse

import pandas as pd
import pytest

from dashboard.population import Population, ScoredSample
from dashboard.registry import ModelCard
from scoring.request import RequestError
from serving.client import Score, ScoringError, UnknownClient
from testkit import CHROMIUM

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

THRESHOLD = 0.1


class StandInScorer:
    """Scores like a model server would, without one: the probability grows with the credit to
    income ratio; a negative income is refused with the server's 400 message."""

    base_url = "http://stand-in"

    def __init__(self) -> None:
        self.down = False
        self.calls: list[pd.DataFrame] = []

    def healthy(self) -> bool:
        return not self.down

    def score(self, rows: pd.DataFrame, explain: str = "top-k", top_k: int = 10,
              threshold: float | None = None) -> list[Score]:
        if self.down:
            raise ScoringError("model server at http://stand-in is unreachable")
        self.calls.append(rows)  # every request, refused or not
        out = []
        for _, row in rows.iterrows():
            income = float(row["AMT_INCOME_TOTAL"])
            if income < 0:
                raise _outside("AMT_INCOME_TOTAL", income, 0.0, 1e8)
            if float(row["AMT_CREDIT"]) > 1.5e6:
                raise _outside("AMT_CREDIT", float(row["AMT_CREDIT"]), 0.0, 1.5e6)
            ratio = float(row["AMT_CREDIT"]) / income
            p = 1 / (1 + math.exp(-(ratio - 4)))
            reasons = [{"feature": "AMT_CREDIT", "label": "Credit amount of the loan",
                        "value": float(row["AMT_CREDIT"]), "contribution": 0.4},
                       {"feature": "DAYS_BIRTH", "label": "Age", "value": row["DAYS_BIRTH"],
                        "contribution": -0.05}]
            out.append(Score(int(row["SK_ID_CURR"]), p, "refused" if p >= THRESHOLD
                             else "granted", THRESHOLD, p - THRESHOLD, reasons[:top_k]))
        return out


def _outside(field: str, value: float, low: float, high: float) -> ScoringError:
    """The model server's 400 refusal of a value outside its plausible range."""
    message = (f"{field}: value {value:g} is outside the plausible range [{low:g}, {high:g}]")
    return ScoringError(message, 400, RequestError(field, "outside_range", message, value=value,
                                                   low=low, high=high))


def client_rows() -> pd.DataFrame:
    """Three clients with the fields the dashboard shows and edits."""
    return pd.DataFrame({
        "SK_ID_CURR": [100001, 100002, 100003], "TARGET": [0, 1, None],
        "DATASET": ["train", "train", "test"],
        "NAME_CONTRACT_TYPE": ["Cash loans", "Cash loans", "Revolving loans"],
        "CODE_GENDER": ["F", "M", "F"], "NAME_INCOME_TYPE": ["Working", "Pensioner", "Working"],
        "NAME_EDUCATION_TYPE": ["Higher education"] * 3,
        "NAME_FAMILY_STATUS": ["Married", "Single / not married", "Married"],
        "AMT_INCOME_TOTAL": [200_000.0, 100_000.0, 150_000.0],
        "AMT_CREDIT": [400_000.0, 900_000.0, 300_000.0],
        "AMT_ANNUITY": [20_000.0, 40_000.0, 15_000.0],
        "AMT_GOODS_PRICE": [360_000.0, 810_000.0, None],
        "DAYS_BIRTH": [-12_000, -22_000, -15_000], "DAYS_EMPLOYED": [-2_000, 365_243, -400],
        "CNT_CHILDREN": [1, 0, 2], "EXT_SOURCE_2": [0.6, 0.2, 0.5],
    })


@pytest.fixture
def scorer() -> StandInScorer:
    return StandInScorer()


@pytest.fixture
def rows() -> pd.DataFrame:
    return client_rows()


@pytest.fixture
def lookup(rows: pd.DataFrame):
    def find(client_id: int) -> pd.DataFrame:
        found = rows[rows["SK_ID_CURR"] == client_id]
        if found.empty:
            raise UnknownClient(client_id)
        return found.reset_index(drop=True)
    return find


@pytest.fixture
def population(rows: pd.DataFrame) -> Population:
    frame = pd.concat([rows] * 20, ignore_index=True)
    frame["AGE_BAND"] = ["30-39", "60-69", "40-49"] * 20
    return Population(frame, ["AMT_CREDIT", "DAYS_BIRTH", "EXT_SOURCE_2"])


@pytest.fixture
def sample(rows: pd.DataFrame, scorer: StandInScorer) -> ScoredSample:
    done = ScoredSample(store="unused", client=scorer, size=3)
    done.frame = rows.assign(probability=[0.05, 0.4, 0.08])
    return done


@pytest.fixture
def card() -> ModelCard:
    return ModelCard(
        version="3", run_id="0123456789abcdef", trained_at=pd.Timestamp("2026-11-28", tz="UTC"),
        data_source="/data/features/clients.parquet", data_rows=1000, data_digest="abc",
        metrics={"test_roc_auc": 0.75, "test_business_cost": 0.5, "test_threshold": THRESHOLD,
                 "test_precision": 0.15, "test_recall": 0.6428571428571429,
                 "test_accuracy": 0.6756756756756757},
        params={"test_rows": "518", "train_rows": "2417", "fn_cost": "10", "fp_cost": "1"},
        importance=pd.DataFrame({"feature": ["AMT_CREDIT", "DAYS_BIRTH"],
                                 "mean_abs_shap": [0.3, 0.1],
                                 "description": ["Credit amount", "Age"]}),
        plots={})




@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _loopback_only(route) -> None:
    if urlparse(route.request.url).hostname in LOOPBACK:
        route.continue_()
    else:  # fonts.googleapis.com, fonts.gstatic.com, any CDN: never leave the machine
        route.abort()


def new_page(browser):
    """A page of a fresh browser context (its own cookies: one person's session)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    page = context.new_page()
    page.route("**/*", _loopback_only)
    return page


@pytest.fixture
def page(browser):
    page = new_page(browser)
    yield page
    page.context.close()


@pytest.fixture
def sessions(browser):
    """``sessions()`` opens a page in a fresh browser context (one person's cookies); all are
    closed afterwards."""
    opened = []

    def open_one():
        opened.append(new_page(browser))
        return opened[-1]
    yield open_one
    for page in opened:
        page.context.close()
