"""The what-if page: edit the chosen client's application or a new client's, and score it."""

from __future__ import annotations

import panel as pn
import param
from panel.viewable import Viewer

from dashboard.store import FIELDS, Application, ClientScore
from dashboard.views.common import alert, card, note
from dashboard.words import decision_text, distance_text, level


class ApplicationForm(Viewer):
    """Edit application fields and score them through the model server; a bad value gets its
    message at the field."""

    application = param.ClassSelector(class_=Application)
    title = param.String(default="")
    intro = param.String(default="")
    compare_with = param.ClassSelector(class_=ClientScore, default=None, allow_None=True)
    result_class = param.String(default="whatif-result", doc="CSS class of the result.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        t = self.application.t
        _ = t.gettext
        self.widgets = {}
        for f in FIELDS:
            if f.choices:
                options = {level(t, f.name, c): c for c in f.choices}
                self.widgets[f.name] = pn.widgets.Select(label=_(f.label), options=options)
            else:
                self.widgets[f.name] = pn.widgets.TextInput(label=_(f.label))
        for name, widget in self.widgets.items():
            widget.param.watch(lambda e, n=name: self._edit(n, e.new), "value")
        self.button = pn.widgets.Button(label=_("Score this application"),
                                        color="primary")
        self.button.on_click(lambda _e: self.application.submit())
        self._fill()

    @param.depends("application.values", watch=True)
    def _fill(self) -> None:
        for name, text in self.application.values.items():
            widget = self.widgets[name]
            if isinstance(widget, pn.widgets.Select) and text not in widget.values:
                text = widget.values[0]
            widget.value = text

    def _edit(self, name: str, value: str) -> None:
        if self.application.values.get(name) != value:
            self.application.values = {**self.application.values, name: value or ""}

    def _field(self, name: str) -> pn.viewable.Viewable:
        def error(errors: dict[str, str]) -> pn.viewable.Viewable:
            if name not in errors:
                return pn.Spacer(height=0)
            return pn.pane.Markdown(f"⚠ {errors[name]}", css_classes=["field-error"],
                                    styles={"color": "#8a2b00", "font-weight": "bold"})
        return pn.Column(self.widgets[name], pn.bind(error, self.application.param.errors),
                         width=280)

    @param.depends("application.result", "application.message")
    def _result(self) -> pn.viewable.Viewable:
        app = self.application
        t = app.t
        if app.message:
            return alert(app.message)
        if app.result is None:
            return pn.Spacer(height=0)
        text = f"**{decision_text(t, app.result)}**. {distance_text(t, app.result)}"
        current = self.compare_with.result if self.compare_with else None
        if current is not None:
            change = app.result.probability - current.probability
            text += " " + t.gettext("Before the changes: {p} ({change} points).").format(
                p=t.percent(current.probability),
                change=("+" if change >= 0 else "") + t.points(change))
        return note(text, css_classes=[self.result_class])

    def __panel__(self) -> pn.viewable.Viewable:
        _ = self.application.t.gettext
        return card(self.title, note(self.intro),
                    pn.FlexBox(*[self._field(f.name) for f in FIELDS]),
                    self.button, self._result)
