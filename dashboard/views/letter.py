"""The letter card: download the client letter as PDF or HTML, in the client's language."""

from __future__ import annotations

import io

import panel as pn
import param
from panel.viewable import Viewer

from dashboard.desk import DecisionDesk
from dashboard.i18n import NAMES, language
from dashboard.letter import Letter, letter_html, letter_pdf
from dashboard.store import ClientScore
from dashboard.views.common import card, note


class LetterCard(Viewer):
    """Two downloads (PDF, HTML) of the letter in the language chosen for the client."""

    store = param.ClassSelector(class_=ClientScore)
    desk = param.ClassSelector(class_=DecisionDesk, default=None, allow_None=True)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        _ = self.store.t.gettext
        self.lang = pn.widgets.Select(label=_("Language of the letter"),
                                      options={name: code for code, name in NAMES.items()},
                                      value=self.store.t.code, width=200)
        self.pdf = pn.widgets.FileDownload(callback=self._pdf, filename="letter.pdf",
                                           label=_("Letter as PDF"), color="primary",
                                           width=200, css_classes=["letter-pdf"])
        self.html = pn.widgets.FileDownload(callback=self._html, filename="letter.html",
                                            label=_("Letter as a web page (HTML)"),
                                            color="light", width=260,
                                            css_classes=["letter-html"])
        self._layout = card(_("Letter to the client"), note(_(
            "One printable page: the decision, its principal reasons, what could change it and "
            "how to ask for a review by a person.")), pn.Row(self.lang, self.pdf, self.html),
            css_class="letter-card")
        self._update()

    def _letter(self) -> Letter:
        code = self.lang.value
        a = self.desk.assessment if self.desk is not None else None
        if a is not None and a.client_id == self.store.client_id:
            return Letter(self.store.client_id, self.store.result, self.store.curves,
                          client_reasons=[getattr(r, code) for r in a.reasons] or None,
                          proposals=[getattr(p, code) for p in a.recourse] or None)
        return Letter(self.store.client_id, self.store.result, self.store.curves)

    def _pdf(self) -> io.BytesIO:
        return io.BytesIO(letter_pdf(language(self.lang.value), self._letter()))

    def _html(self) -> io.BytesIO:
        return io.BytesIO(letter_html(language(self.lang.value), self._letter()).encode())

    @param.depends("store.result", watch=True)
    def _update(self) -> None:
        self._layout.visible = self.store.result is not None
        if self.store.result is not None:
            self.pdf.filename = f"letter-{self.store.client_id}.pdf"
            self.html.filename = f"letter-{self.store.client_id}.html"

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
