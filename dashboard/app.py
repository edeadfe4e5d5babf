"""The advisor dashboard: ``panel serve dashboard/app.py --args --model-url URL --store DIR``.

Wires the real collaborators into the stores and views: client rows from the feature store,
scores and reasons from the model server over HTTP (``serving.client``), the champion's card
and artifacts from the MLflow registry (``registry.py``). Everything heavy (the population's
columns, the id index, the scored sample, the champion's artifacts) is read once per server
with ``pn.cache``. Importing this module starts nothing; serving it builds one page per
session. ``scoring dashboard`` runs it with sane defaults.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import panel as pn
import param

from dashboard import population as P
from dashboard.registry import ModelCard, champion_card, tracking_uri
from dashboard.store import Application, ClientScore, ServerStatus
from dashboard.views import (
    ApplicationForm,
    Bivariate,
    ClientPicker,
    ClientProfile,
    Explanation,
    GlobalImportance,
    ModelPage,
    PopulationView,
    ScoreCard,
    ServerBanner,
)
from serving.client import DEFAULT_URL, ClientScorer, ScoringClient

TITLE = "Credit scoring – client advisor dashboard"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Config:
    """Where the dashboard gets its data; from ``--args`` or ``DASHBOARD_*`` variables."""

    model_url: str = DEFAULT_URL
    store: str = "data/features"
    sample: int = 20_000
    health_seconds: float = 3.0
    timeout: float = 5.0

    @classmethod
    def from_argv(cls, argv: list[str] | None = None) -> Config:
        """Parse ``--model-url``, ``--store``, ``--sample``, ``--health-seconds``."""
        env = os.environ.get
        parser = argparse.ArgumentParser(prog="dashboard/app.py")
        parser.add_argument("--model-url", default=env("DASHBOARD_MODEL_URL", DEFAULT_URL))
        parser.add_argument("--store", default=env("DASHBOARD_STORE", "data/features"))
        parser.add_argument("--sample", type=int, default=int(env("DASHBOARD_SAMPLE", 20_000)))
        parser.add_argument("--health-seconds", type=float,
                            default=float(env("DASHBOARD_HEALTH_SECONDS", 3.0)))
        parser.add_argument("--timeout", type=float,
                            default=float(env("DASHBOARD_TIMEOUT", 5.0)))
        args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
        return cls(args.model_url, str(Path(args.store).resolve()), args.sample,
                   args.health_seconds, args.timeout)


# --- readers cached once per server ----------------------------------------------------------

@pn.cache
def id_index(store: str) -> P.IdIndex:
    return P.id_index(store)


@pn.cache
def model_card(uri: str) -> ModelCard:
    return champion_card(uri=uri)


@pn.cache
def population(store: str, features: tuple[str, ...]) -> P.Population:
    return P.Population.load(store, features)


@pn.cache
def scored_sample(store: str, model_url: str, size: int) -> P.ScoredSample:
    return P.score_sample(store, ScoringClient(model_url, timeout=120.0), size)


@pn.cache
def new_client_template(store: str) -> pd.DataFrame:
    return P.new_client_template(store)


def _card_or_none(uri: str) -> tuple[ModelCard | None, str]:
    try:
        return model_card(uri), ""
    except Exception as err:  # no registry, no champion: the model page says so
        log.warning("no champion card: %s", err)
        return None, f"No champion model could be read from the registry at `{uri}`: {err}"


# --- the page --------------------------------------------------------------------------------

CSS = """
:host { font-size: 1rem; color: #1a1a1a; }
"""


def build(config: Config) -> pn.viewable.Viewable:
    """One session's page."""
    client = ScoringClient(config.model_url, timeout=config.timeout)
    status = ServerStatus(client)
    lookup = ClientScorer(config.store, client).row
    chosen = ClientScore(client, lookup, status)
    card, card_problem = _card_or_none(tracking_uri())
    features = P.plot_features(config.store, card.importance if card else None)
    people = population(config.store, tuple(features))
    sample = scored_sample(config.store, config.model_url, config.sample)

    whatif = Application(client, status)
    chosen.param.watch(lambda e: setattr(whatif, "base", e.new), "row")
    newcomer = Application(client, status, base=new_client_template(config.store))
    bivariate = Bivariate(sample, features, store=chosen, live=False)
    compare = PopulationView(people, store=chosen, live=False)

    def heartbeat() -> None:
        chosen.heartbeat()
        if sample.ready and not bivariate.drawn_ready:
            bivariate.param.trigger("refresh")

    pn.state.add_periodic_callback(heartbeat, period=int(config.health_seconds * 1000))

    def model_tab() -> pn.viewable.Viewable:
        return (pn.Column(ModelPage(card=card), GlobalImportance(card=card))
                if card else pn.pane.Alert(card_problem, alert_type="warning"))

    def what_if_tab() -> pn.Column:
        return pn.Column(
            ApplicationForm(application=whatif, compare_with=chosen, title="### What if",
                            intro="Change the client's application and score it again. "
                                  "History (previous loans, payments) stays as stored."),
            ApplicationForm(application=newcomer, title="### A new client",
                            result_class="newclient-result",
                            intro="Enter a new application; a new client has no history."))

    # The forms (two widgets per field) and the model page are built when their tab is first
    # shown, not with every page: they were half of a page's build time.
    tabs = pn.Tabs(
        ("Reasons", Explanation(store=chosen)),
        ("Compare with other clients", pn.Column(compare, bivariate)),
        ("What if", pn.param.ParamFunction(what_if_tab, lazy=True)),
        ("Model", pn.param.ParamFunction(model_tab, lazy=True)),
        dynamic=True, sizing_mode="stretch_width")
    def follow(event: param.parameterized.Event) -> None:  # only the shown tab follows
        compare.live = bivariate.live = event.new == 1

    tabs.param.watch(follow, "active")
    header = pn.pane.Markdown(
        f"# {TITLE}\nScores come from the model server at {config.model_url}; client data "
        f"from {config.store}.", sizing_mode="stretch_width")
    top = pn.Row(pn.Column(ClientPicker(id_index(config.store), store=chosen),
                           ScoreCard(store=chosen), sizing_mode="stretch_width"),
                 ClientProfile(store=chosen), sizing_mode="stretch_width")
    return pn.Column(header, ServerBanner(status=status), top, tabs,
                     sizing_mode="stretch_width", max_width=1400, stylesheets=[CSS])


if pn.state.served:
    pn.extension(sizing_mode="stretch_width", notifications=False)
    build(Config.from_argv()).servable(title=TITLE)
