"""The model card page: the champion's version, data and quality, and what drives it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import ColorBar, ColumnDataSource, FactorRange, LinearColorMapper
from bokeh.palettes import Cividis256
from bokeh.plotting import figure
from panel.viewable import Viewer

from dashboard.i18n import Language
from dashboard.registry import ModelCard
from dashboard.views.client import _wrap
from dashboard.views.common import BLUE, TABLE_CSS, TEXT, bokeh, card, note, table
from dashboard.words import feature_label
from scoring.schema import KEY

GREY = "#595959"


class ModelPage(Viewer):
    """The champion: version, training date and data, metrics, confusion at the threshold."""

    card = param.ClassSelector(class_=ModelCard)
    t = param.ClassSelector(class_=Language)

    def __panel__(self) -> pn.viewable.Viewable:
        t = self.t
        _ = t.gettext
        model = self.card
        facts = "\n".join([
            "- " + _("**Version**: {v}").format(v=model.version),
            "- " + _("**Trained on**: {date}").format(date=t.date(model.trained_at)),
            "- " + _("**Data**: {n} labelled clients; {train} for training, {test} held out "
                     "for the test").format(
                n=t.number(model.data_rows) if model.data_rows else "?",
                train=t.number(int(model.params.get("cv_rows", model.params.get(
                    "train_rows", 0)))) or "?",
                test=t.number(int(model.params.get("test_rows", 0))) or "?"),
            "- " + _("**ROC AUC** on the test clients: {auc}").format(
                auc=t.number(model.metric("roc_auc"), 3)),
            "- " + _("**Business cost**: {cost} per application ({fn} per granted loan that "
                     "defaults, {fp} per refused client who would repay)").format(
                cost=t.number(model.metric("business_cost"), 3),
                fn=model.params.get("fn_cost", "10"), fp=model.params.get("fp_cost", "1")),
            "- " + _("**Threshold**: loans are refused from a probability of default of "
                     "{p}").format(p=t.percent(model.threshold)),
        ])
        parts = [note(facts, css_classes=["model-facts"])]
        counts = model.confusion()
        if counts:
            parts.append(table(pd.DataFrame({
                _("outcome"): [_("actually repaid"), _("actually defaulted")],
                _("granted (below the threshold)"): [t.number(counts["TN"]),
                                                     t.number(counts["FN"])],
                _("refused (at or above)"): [t.number(counts["FP"]), t.number(counts["TP"])]}),
                _("Test clients by decision and outcome at the threshold of {p}").format(
                    p=t.percent(model.threshold))))
        words = _("ROC curve of the test clients, AUC {auc}.").format(
            auc=t.number(model.metric("roc_auc"), 3))
        if model.roc is not None:
            parts += [pn.pane.Bokeh(roc_figure(t, model.roc, model.roc_auc), width=420),
                      note(words, css_classes=["roc-text"])]
        elif "roc_curve" in model.plots:  # a run without its predictions: the training's image
            parts.append(pn.pane.PNG(model.plots["roc_curve"], width=420, alt_text=words))
        return card(_("The champion model"), *parts, css_class="model-card")


def roc_figure(t: Language, roc: pd.DataFrame, auc: float | None) -> figure:
    """The ROC curve with the chance diagonal, labelled in the session's language."""
    _ = t.gettext
    fig = figure(width=420, height=400, x_range=(0, 1), y_range=(0, 1.02),
                 title=_("ROC curve"), toolbar_location=None)
    fig.line(roc["fpr"].tolist(), roc["tpr"].tolist(), color=BLUE, line_width=3,
             legend_label=_("model (AUC {auc})").format(auc=t.number(auc or 0.0, 3)))
    fig.line([0, 1], [0, 1], color=GREY, line_width=2, line_dash="dashed",
             legend_label=_("chance"))
    fig.xaxis.axis_label = _("False positive rate")
    fig.yaxis.axis_label = _("True positive rate")
    fig.xaxis.formatter = t.ticks("0.0")
    fig.yaxis.formatter = t.ticks("0.0")
    fig.title.text_font_size = "1rem"
    fig.legend.location = "bottom_right"
    return fig


def _card_headings(_) -> dict[str, str]:
    """The model card's section headings (``training/card.py``), in the session's language."""
    return {"Intended use and users": _("Intended use and users"),
            "Training data": _("Training data"),
            "Features and protected attributes": _("Features and protected attributes"),
            "Performance": _("Performance"), "Threshold and cost": _("Threshold and cost"),
            "Calibration": _("Calibration"), "Fairness": _("Fairness"),
            "Stability at training time": _("Stability at training time"),
            "Known limits": _("Known limits"), "Training parameters": _("Training parameters")}


class GovernanceCard(Viewer):
    """The champion's model card, as logged with its version at training: one section per
    heading (headings translated, figures and text as the card states them)."""

    card = param.ClassSelector(class_=ModelCard)
    t = param.ClassSelector(class_=Language)

    def sections(self) -> list[tuple[str, str]]:
        """(translated heading, Markdown body) of each section of the card document."""
        headings = _card_headings(self.t.gettext)
        out = []
        for part in (self.card.document or "").split("\n## ")[1:]:
            title, _sep, body = part.partition("\n")
            out.append((headings.get(title.strip(), title.strip()), body.strip()))
        return out

    def __panel__(self) -> pn.viewable.Viewable:
        _ = self.t.gettext
        title = _("Model card of version {v}").format(v=self.card.version)
        if not self.card.document:
            return card(title, note(_("This version was trained before model cards were "
                                      "written: it has none.")), css_class="governance-card")
        parts = [note(_("Written at training and logged with the version (`scoring card` "
                        "prints it); the figures are those of its run. The text is in "
                        "English."))]
        for heading_text, body in self.sections():
            parts.append(pn.pane.Markdown(f"#### {heading_text}\n\n{body}",
                                          sizing_mode="stretch_width",
                                          stylesheets=[TABLE_CSS]))
        return card(title, *parts, css_class="governance-card")


class GlobalImportance(Viewer):
    """The champion's most influential features (mean |SHAP|), with whole readable labels."""

    card = param.ClassSelector(class_=ModelCard)
    t = param.ClassSelector(class_=Language)
    top = param.Integer(default=15)

    def __panel__(self) -> pn.viewable.Viewable:
        t = self.t
        _ = t.gettext
        ranked = self.card.importance.head(self.top)
        labels = [_wrap(feature_label(t, f), 44) for f in ranked["feature"]]
        fig = figure(y_range=FactorRange(*reversed(labels)), height=60 + 40 * len(labels),
                     sizing_mode="stretch_width", title=_(
                         "The {n} most influential features of the model").format(
                         n=len(labels)))
        fig.hbar(y=list(reversed(labels)), right=list(reversed(ranked["mean_abs_shap"])),
                 height=0.7, color=BLUE)
        fig.x_range.start = 0
        fig.xaxis.axis_label = _("mean contribution to the risk, in absolute value (log-odds)")
        fig.yaxis.major_label_text_font_size = "0.8rem"
        shown = pd.DataFrame({_("feature"): [feature_label(t, f) for f in ranked["feature"]],
                              _("mean contribution"): [t.number(v, 3) for v in
                                                       ranked["mean_abs_shap"]]})
        return card(_("What drives the model overall"), bokeh(fig),
                    table(shown, _("The same ranking as a table")), css_class="importance")


class ShapSummary(Viewer):
    """Contributions across clients (SHAP summary, a beeswarm): one dot per client and
    feature, placed by its contribution and coloured by the feature's value (rank among the
    sampled clients); whole, translated labels."""

    t = param.ClassSelector(class_=Language)
    top = param.Integer(default=10)

    def __init__(self, contributions: pd.DataFrame, features: list[str], **params) -> None:
        super().__init__(**params)
        self.contributions = contributions
        self.features = features[:self.top]

    def __panel__(self) -> pn.viewable.Viewable:
        t = self.t
        _ = t.gettext
        data = self.contributions[self.contributions["feature"].isin(self.features)].copy()
        labels = {f: _wrap(feature_label(t, f), 44) for f in self.features}
        data["label"] = data["feature"].map(labels)
        values = pd.to_numeric(data["value"], errors="coerce")
        data["rank"] = values.groupby(data["feature"]).rank(pct=True)
        rng = np.random.default_rng(0)
        data["jitter"] = rng.uniform(-0.3, 0.3, len(data))
        source = ColumnDataSource({"x": data["contribution"].to_numpy(),
                                   "y": list(zip(data["label"], data["jitter"], strict=True)),
                                   "c": data["rank"].fillna(-1).to_numpy()})
        mapper = LinearColorMapper(palette=Cividis256, low=0, high=1, nan_color="#999999",
                                   low_color="#bbbbbb")
        order = [labels[f] for f in reversed(self.features)]
        fig = figure(y_range=FactorRange(*order), height=80 + 48 * len(order),
                     sizing_mode="stretch_width", title=_(
                         "Contributions of {n} clients (SHAP summary)").format(
                         n=t.number(data[KEY].nunique())))
        fig.scatter("x", "y", source=source, size=5, alpha=0.7,
                    color={"field": "c", "transform": mapper})
        fig.add_layout(ColorBar(color_mapper=mapper, title=_("value (low to high)"),
                                title_text_color=TEXT), "right")
        fig.xaxis.axis_label = _("contribution to the risk (log-odds): right = riskier")
        fig.yaxis.major_label_text_font_size = "0.8rem"
        return card(_("Contributions across clients"), bokeh(fig), note(_(
            "Each dot is a client: to the right the feature raised that client's risk, to "
            "the left it lowered it; the colour shows whether the client's value was low "
            "(dark blue) or high (yellow) among these clients; grey: no value. The ranking "
            "is the table above.")), css_class="shap-summary")
