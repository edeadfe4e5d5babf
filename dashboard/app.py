"""The advisor dashboard: ``panel serve dashboard/app.py --args --model-url URL --store DIR``.

Wires the real collaborators into the stores and views: client rows from the feature store,
scores and reasons from the model server over HTTP (``serving.client``), the champion's card
from the MLflow registry (``registry.py``). Everything heavy (the population's columns, the id
index, the row copy, the scored samples, the champion's card, the model server's health) is
read once per server with ``pn.cache``; a session's first page holds the search and the
navigation; the client page is built when the advisor starts typing (or once the page is
drawn, for ``?client=``). Importing this module starts nothing; serving it builds one page per
session, in the language of ``?lang=fr|en``, else ``--lang`` / ``DASHBOARD_LANG``, else French.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import panel as pn
from bokeh.events import DocumentReady
from bokeh.models import CustomJS

from dashboard import people
from dashboard import population as P
from dashboard.client_file import ClientFile, no_access
from dashboard.decision_client import DecisionClient
from dashboard.desk import DecisionDesk
from dashboard.health import SharedHealth
from dashboard.i18n import LOCALES, N_, NAMES, Language, default_language, language
from dashboard.page import Page
from dashboard.people import ADVISOR, CLIENT, SUPERVISOR
from dashboard.registry import ModelCard, champion_card, tracking_uri
from dashboard.store import Application, ClientScore, ServerStatus
from dashboard.views import (
    ApplicationForm,
    Bivariate,
    ClientPicker,
    ClientProfile,
    GlobalImportance,
    GovernanceCard,
    ModelPage,
    PopulationView,
    Reasons,
    RecentClients,
    Recourse,
    ScoreCard,
    SensitivityView,
    ServerBanner,
    ServerState,
    ShapSummary,
)
from dashboard.views.common import alert, card, heading, note, pairs_html
from dashboard.views.decision import ClientReasons, DecisionPanel, ServiceRecourse
from dashboard.views.letter import LetterCard
from dashboard.views.review import PendingOverrides
from decisions.users import User
from scoring.names import DEFAULT_STORE
from scoring.rows import ClientRows
from serving.client import DEFAULT_URL, ScoringClient

TITLE = N_("Credit scoring – client advisor dashboard")
#: Page key -> its name in the navigation.
PAGES = {"client": N_("Client"), "compare": N_("Comparisons"), "whatif": N_("What if"),
         "model": N_("Model card"), "about": N_("About")}
SUPERVISOR_PAGES = {"review": N_("Overrides to review")}
ROLE_NAMES = {ADVISOR: N_("advisor"), SUPERVISOR: N_("supervisor"), CLIENT: N_("client")}
#: Milliseconds between a switch's changes sent and the work that follows it (recourse,
#: decision card): time for the browser to draw the decision first.
AFTER_DRAW_MS = 150
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Config:
    """Where the dashboard gets its data; from ``--args`` or ``DASHBOARD_*`` variables."""

    model_url: str = DEFAULT_URL
    store: str = DEFAULT_STORE
    sample: int = 20_000
    health_seconds: float = 3.0
    timeout: float = 5.0
    lang: str = "fr"
    decisions_url: str = ""
    advisor: str = ""
    decisions_key_file: str = ""

    @classmethod
    def from_argv(cls, argv: list[str] | None = None) -> Config:
        """Parse ``--model-url``, ``--store``, ``--sample``, ``--health-seconds``, ``--lang``."""
        env = os.environ.get
        parser = argparse.ArgumentParser(prog="dashboard/app.py")
        parser.add_argument("--model-url", default=env("DASHBOARD_MODEL_URL", DEFAULT_URL))
        parser.add_argument("--store", default=env("DASHBOARD_STORE", DEFAULT_STORE))
        parser.add_argument("--sample", type=int, default=int(env("DASHBOARD_SAMPLE", 20_000)))
        parser.add_argument("--health-seconds", type=float,
                            default=float(env("DASHBOARD_HEALTH_SECONDS", 3.0)))
        parser.add_argument("--timeout", type=float,
                            default=float(env("DASHBOARD_TIMEOUT", 5.0)))
        parser.add_argument("--lang", choices=list(LOCALES), default=default_language(),
                            help="language of the pages (default: DASHBOARD_LANG, else fr)")
        parser.add_argument("--decisions-url", default=env("DASHBOARD_DECISIONS_URL", ""),
                            help="the decision service; empty: no decision recording")
        parser.add_argument("--advisor", default=env("DASHBOARD_ADVISOR", ""),
                            help="without login only (loopback development): the one "
                                 "advisor id at the decision service (password: "
                                 "DASHBOARD_ADVISOR_PASSWORD)")
        parser.add_argument("--decisions-key-file",
                            default=env("DASHBOARD_DECISIONS_KEY_FILE", ""),
                            help="with login: the file of the dashboard's API key, allowed "
                                 "to act for the person logged in")
        args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
        return cls(args.model_url, str(Path(args.store).resolve()), args.sample,
                   args.health_seconds, args.timeout, args.lang, args.decisions_url,
                   args.advisor, args.decisions_key_file)


def decision_service(config: Config, who: User | None) -> DecisionClient | None:
    """The decision service for this session: acting for the person logged in (the
    dashboard's key), else as the one ``--advisor`` of a login-less development dashboard."""
    if not config.decisions_url:
        return None
    timeout = 3 * config.timeout
    if who is not None:
        key = Path(config.decisions_key_file).read_text().strip() \
            if config.decisions_key_file else ""
        return DecisionClient(config.decisions_url, api_key=key, acting_for=who.name,
                              timeout=timeout)
    return DecisionClient(config.decisions_url, config.advisor,
                          os.environ.get("DASHBOARD_ADVISOR_PASSWORD", ""), timeout=timeout)


# --- readers cached once per server ----------------------------------------------------------

@pn.cache
def id_index(store: str) -> P.IdIndex:
    return P.id_index(store)


@pn.cache
def client_rows(store: str) -> ClientRows:
    return ClientRows(store).start()


@pn.cache
def shared_health(url: str, seconds: float, timeout: float) -> SharedHealth:
    return SharedHealth(url, seconds, timeout)


@pn.cache
def model_card(uri: str) -> ModelCard:
    return champion_card(uri=uri)


@pn.cache
def population(store: str, features: tuple[str, ...]) -> P.Population:
    people = P.Population.load(store, features)
    threading.Thread(target=people.warm, args=(PopulationView.param.criteria.default,),
                     daemon=True, name="dashboard-groups").start()
    return people


@pn.cache
def scored_sample(store: str, model_url: str, size: int) -> P.ScoredSample:
    return P.score_sample(store, ScoringClient(model_url, timeout=120.0), size)


@pn.cache
def explained_sample(store: str, model_url: str) -> P.ExplainedSample:
    return P.ExplainedSample(store, ScoringClient(model_url, timeout=300.0)).start()


@pn.cache
def plot_features(store: str, ranked: tuple[str, ...]) -> list[str]:
    return P.plot_features(store, pd.DataFrame({"feature": list(ranked)}) if ranked else None)


@pn.cache
def new_client_template(store: str) -> pd.DataFrame:
    return P.new_client_template(store)


def _card_or_none(uri: str) -> tuple[ModelCard | None, str]:
    try:
        return model_card(uri), ""
    except Exception as err:  # no registry, no champion: the model page says so
        log.warning("no champion card: %s", err)
        return None, str(err)


# --- the page --------------------------------------------------------------------------------

CSS = """
:host { font-size: 1rem; color: #1a1a1a; }
"""


def _session_language(config: Config) -> str:
    asked = (pn.state.session_args.get("lang") or [b""])[0].decode()[:2].lower() \
        if pn.state.curdoc else ""
    return asked if asked in LOCALES else config.lang


def _account(t: Language, who: User | None) -> str:
    """Who is logged in, and the link to log out (nothing without login)."""
    if who is None:
        return ""
    _ = t.gettext
    role = _(ROLE_NAMES.get(who.role, who.role))
    logged = _("Logged in: {name} ({role})").format(name=html.escape(who.name), role=role)
    out = _("Log out")
    return (f'<span class="account" style="color:white;margin-left:1.5em">{logged} · '
            f'<a class="logout" href="/logout?lang={t.code}" style="color:white">{out}</a>'
            '</span>')


def _language_links(t: Language, client_id: int | None, who: User | None = None) -> str:
    """Links to the same page in each language (keeping the client), the current one marked,
    and the person logged in."""
    links = []
    for code, name in NAMES.items():
        query = f"?lang={code}" + (f"&client={client_id}" if client_id else "")
        current = ' aria-current="true" style="color:white;font-weight:bold"' \
            if code == t.code else ' style="color:white"'
        links.append(f'<a href="{query}" lang="{code}" hreflang="{code}"{current}>{name}</a>')
    label = t.gettext("Language")
    return (f'<nav aria-label="{label}" style="color:white">{" | ".join(links)}'
            f'{_account(t, who)}</nav>')


class Dashboard:
    """One session's pages, built when first shown."""

    def __init__(self, config: Config, t: Language, who: User | None = None) -> None:
        self.config, self.t, self.who = config, t, who
        _ = t.gettext
        client = ScoringClient(config.model_url, timeout=config.timeout)
        self.status = ServerStatus(shared_health(config.model_url, config.health_seconds,
                                                 config.timeout))
        self.chosen = ClientScore(client, client_rows(config.store), self.status, t=t)
        self.service = decision_service(config, who)
        self.desk = DecisionDesk(self.service, t=t)
        self.card, self.card_problem = _card_or_none(tracking_uri())
        self.features = plot_features(config.store, tuple(self.card.importance["feature"])
                                      if self.card else ())
        self.sample = scored_sample(config.store, config.model_url, config.sample)
        self.contributions = explained_sample(config.store, config.model_url)
        self._shap: pn.Column | None = None
        self.whatif = Application(client, self.status, t=t)
        self.newcomer = Application(client, self.status, t=t,
                                    base=new_client_template(config.store))
        self.chosen.param.watch(lambda e: setattr(self.whatif, "base", e.new), "row")
        self.chosen.param.watch(self._explore_later, "result")
        self._pages: dict[str, pn.viewable.Viewable] = {}
        self._compare: tuple[PopulationView, Bivariate] | None = None
        self.main = pn.Column(sizing_mode="stretch_width")
        pages = {**PAGES, **(SUPERVISOR_PAGES if who and who.role == SUPERVISOR else {})}
        self.nav = {key: pn.widgets.Button(label=_(name), color="light",
                                           sizing_mode="stretch_width",
                                           css_classes=["nav", f"nav-{key}"])
                    for key, name in pages.items()}
        for key, button in self.nav.items():
            button.on_click(lambda _e, k=key: self.show(k))
        self.state = ServerState(status=self.status, t=t, links=_language_links(t, None, who))
        self.chosen.param.watch(lambda e: setattr(
            self.state, "links", _language_links(t, e.new, who)), "client_id")

    def _explore_later(self, event) -> None:
        """Score the variants, then ask the decision service, once the decision is on screen
        (the decision first, then its recourse, then the decision card)."""
        if event.new is None:
            return
        self.later(self.chosen.explore)
        self.later(lambda: self.desk.load(self.chosen.client_id))

    @staticmethod
    def later(step) -> None:
        """Run ``step`` ``AFTER_DRAW_MS`` after the changes made so far are sent to the
        browser (at once outside a served session): building and scoring the 45 variants
        took the CPU the browser needed to draw the decision (a switch then took twice as
        long when the browser shares the server's cores, as in the benchmark)."""
        if pn.state.curdoc and pn.state.curdoc.session_context:
            pn.state.curdoc.add_timeout_callback(step, AFTER_DRAW_MS)  # changes sent at its end
        else:
            step()

    def heartbeat(self) -> None:
        self.chosen.heartbeat()
        if self._shap is not None and self.contributions.ready and not isinstance(
                self._shap.objects[0], ShapSummary):
            self._shap.objects = [self._shap_summary()]
        if self.sample.ready and self._compare and not self._compare[1].drawn_ready:
            self._compare[1].param.trigger("refresh")

    def show(self, key: str) -> None:
        """Show a page (built the first time) and mark its navigation button."""
        if key not in self._pages:
            self._pages[key] = getattr(self, f"_{key}_page")()
        for name, button in self.nav.items():
            button.color = "primary" if name == key else "light"
        if self._compare:
            self._compare[0].live = self._compare[1].live = key == "compare"
        self.main.objects = [self._pages[key]]

    # --- pages ---------------------------------------------------------------------------

    def _client_page(self) -> pn.viewable.Viewable:
        chosen = self.chosen
        return pn.Column(
            ScoreCard(store=chosen), DecisionPanel(desk=self.desk),
            Reasons(store=chosen, extra=[ClientReasons(desk=self.desk)]),
            pn.Row(Recourse(store=chosen, extra=[ServiceRecourse(desk=self.desk)]),
                   ClientProfile(store=chosen), sizing_mode="stretch_width"),
            LetterCard(store=chosen, desk=self.desk), sizing_mode="stretch_width")

    def _compare_page(self) -> pn.viewable.Viewable:
        people = population(self.config.store, tuple(self.features))
        self._compare = (PopulationView(people, store=self.chosen),
                         Bivariate(self.sample, self.features, store=self.chosen))
        return pn.Column(*self._compare, sizing_mode="stretch_width")

    def _whatif_page(self) -> pn.viewable.Viewable:
        _ = self.t.gettext
        return pn.Column(
            SensitivityView(store=self.chosen),
            ApplicationForm(application=self.whatif, compare_with=self.chosen,
                            title=_("What if the application changed"),
                            intro=_("Change the client's application and score it again. "
                                    "History (previous loans, payments) stays as stored.")),
            ApplicationForm(application=self.newcomer, title=_("A new client"),
                            result_class="newclient-result",
                            intro=_("Enter a new application; a new client has no history.")),
            sizing_mode="stretch_width")

    def _model_page(self) -> pn.viewable.Viewable:
        _ = self.t.gettext
        if self.card is None:
            return alert(_("No champion model could be read from the registry."))
        self._shap = pn.Column(self._shap_summary(), sizing_mode="stretch_width")
        return pn.Column(ModelPage(card=self.card, t=self.t),
                         GlobalImportance(card=self.card, t=self.t), self._shap,
                         GovernanceCard(card=self.card, t=self.t),
                         sizing_mode="stretch_width")

    def _shap_summary(self) -> pn.viewable.Viewable:
        """The SHAP summary once the contributions sample is scored (the heartbeat swaps it
        in), a note until then."""
        if not self.contributions.ready:
            return note(self.t.gettext("Computing the contributions of {n} clients for the "
                                       "SHAP summary…").format(n=self.contributions.size))
        return ShapSummary(self.contributions.frame, list(self.card.importance["feature"]),
                           t=self.t)

    def _review_page(self) -> pn.viewable.Viewable:
        return PendingOverrides(service=self.service, t=self.t, me=self.who.name)

    def _about_page(self) -> pn.viewable.Viewable:
        _ = self.t.gettext
        pairs = [(_("Model server"), self.config.model_url),
                 (_("Decision service"), self.config.decisions_url or _("none")),
                 (_("Logged in"), self.who.name if self.who else
                  (self.config.advisor or _("none"))),
                 (_("Feature store"), self.config.store),
                 (_("Model registry"), tracking_uri())]
        if self.card:
            pairs += [(_("Champion version"), self.card.version),
                      (_("Training run"), self.card.run_id),
                      (_("Training data"), self.card.data_source),
                      (_("Data digest"), self.card.data_digest)]
        elif self.card_problem:
            pairs.append((_("Model registry problem"), self.card_problem))
        return card(_("About this dashboard"), note(_(
            "For the support team: where the dashboard reads its data and scores.")),
            pn.pane.HTML(pairs_html(pairs, _("Services and data")),
                         sizing_mode="stretch_width"))

    # --- the template --------------------------------------------------------------------

    def template(self) -> Page:
        _ = self.t.gettext
        # One root per template area: Bokeh recomputes the document's models for each root
        # added, so fifteen small roots cost seconds where three cost a fraction. No busy
        # spinner: it is one more root, and it flickered at every health check.
        self.picker = ClientPicker(id_index(self.config.store), store=self.chosen)
        sidebar = pn.Column(self.picker, RecentClients(store=self.chosen), heading(_("Pages")),
                            *self.nav.values(), sizing_mode="stretch_width")
        self.state.version = str(self.card.version) if self.card else ""
        template = Page(
            title=_(TITLE), sidebar=[sidebar], sidebar_width=300, header=[self.state],
            main=[pn.Column(ServerBanner(status=self.status, t=self.t), self.main,
                            sizing_mode="stretch_width")],
            header_background="#0b3d63", busy_indicator=None)
        template._render_variables["nav_label"] = _("Client search and pages")
        return template

    def _typing(self, _event) -> None:
        """The advisor types a number: show the client page unless a page is shown."""
        if not self.main.objects:
            self.show("client")

    def start(self, first_client: str = "") -> None:
        """The first document holds the search and the navigation only. The client page
        (the decision, its reasons, the decision form, the letter: several times the
        models) is built when the advisor starts typing a number or opens a page, so its
        patch never competes with the first render; ``first_client`` is opened once the
        page is drawn."""
        def load() -> None:
            self.show("client")
            self.chosen.select(first_client)
        if not first_client:
            self.picker.input.param.watch(self._typing, "value_input")
        elif pn.state.curdoc and pn.state.curdoc.session_context:
            pn.state.onload(load)
        else:
            load()


def build(config: Config, lang: str | None = None, who: User | None = None) -> Page:
    """One session's page in ``lang`` (default: the configured language), for ``who``."""
    t = language(lang or config.lang)
    board = Dashboard(config, t, who)
    page = board.template()
    pn.state.add_periodic_callback(board.heartbeat, period=int(config.health_seconds * 1000))
    if pn.state.curdoc:
        pn.state.curdoc.js_on_event(DocumentReady, CustomJS(
            code=f"document.documentElement.lang = '{t.code}';"))
    board.start(_asked_client())
    return page


def _asked_client() -> str:
    """The client of ``?client=`` (empty without one, or outside a served session)."""
    return (pn.state.session_args.get("client") or [b""])[0].decode() \
        if pn.state.curdoc else ""


def serve() -> None:
    """Build the session's page for the person logged in (called by ``panel serve`` for each
    session): advisors and supervisors get the dashboard, a client their own file only,
    anyone else a refusal. Without login (loopback development) the dashboard as is."""
    config = Config.from_argv()
    lang = _session_language(config)
    if not people.login_enabled():
        build(config, lang).servable()
        return
    who = people.person(pn.state.user)
    t = language(lang)
    if who is not None and who.role in (ADVISOR, SUPERVISOR):
        build(config, lang, who).servable()
    elif who is not None and who.role == CLIENT:
        ClientFile(service=decision_service(config, who), t=t, who=who,
                   asked=_asked_client(), account=_account(t, who)).page().servable()
    else:
        no_access(t).servable()


if pn.state.served:
    # No browser-info root (nothing reads it): one model and its patches less per session.
    pn.extension(sizing_mode="stretch_width", notifications=False, browser_info=False)
    serve()

