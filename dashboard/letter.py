"""The client letter: one printable page in the client's language with the decision, its
principal reasons, what could change it and how to ask for a human review, as HTML and PDF.

The sentences are written here with ``_()`` (so the catalogues hold them); the layout is the
Jinja template ``templates/letter.html``; WeasyPrint prints it to PDF.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import jinja2

from dashboard.i18n import Language
from dashboard.sensitivity import Curves
from dashboard.words import decision_words, reason_sentence, recourse_sentences
from serving.client import Score

TEMPLATES = Path(__file__).resolve().parent / "templates"
LENDER = "Prêt à dépenser"
#: Days the client has to ask for a human review.
REVIEW_DAYS = 30


@dataclass
class Letter:
    """What a letter says about one client's application."""

    client_id: int
    score: Score
    curves: Curves | None = None
    today: date = field(default_factory=date.today)
    reasons: int = 4
    #: The decision service's principal reasons and proposals in the letter's language
    #: (client's words, no protected attribute); else the model's contributions are used.
    client_reasons: list[str] | None = None
    proposals: list[str] | None = None


def _client_reason(t: Language, reason: dict) -> str:
    return reason_sentence(t, reason)


def _changes(t: Language, letter: Letter) -> list[str]:
    if letter.proposals:
        return letter.proposals
    if letter.curves is None:
        return [t.gettext("Your advisor can tell you which changes to your application "
                          "(amount, term, goods price) could change the decision.")]
    return recourse_sentences(t, letter.curves)


def texts(t: Language, letter: Letter) -> dict:
    """Every text of the letter, in the language ``t``."""
    _ = t.gettext
    score = letter.score
    granted = score.decision == "granted"
    reasons = [r for r in score.reasons if (r["contribution"] > 0) != granted] or score.reasons
    return {
        "lang": t.code, "lender": LENDER,
        "title": _("Your loan application: our decision"),
        "place_date": _("Paris, {date}").format(date=t.date(letter.today)),
        "reference": _("Application number {id}").format(id=letter.client_id),
        "greeting": _("Dear client,"),
        "decision": decision_words(t, score.decision),
        "explanation": (_("We have studied your application. We estimate the risk that the "
                          "loan could not be repaid at {p}; we grant loans up to a risk of "
                          "{threshold}.") if granted else
                        _("We have studied your application. We estimate the risk that the "
                          "loan could not be repaid at {p}; we grant loans only up to a risk of "
                          "{threshold}.")).format(p=t.percent(score.probability),
                                                  threshold=t.percent(score.threshold)),
        "reasons_title": _("The principal reasons for this decision"),
        "reasons": (letter.client_reasons[:letter.reasons] if letter.client_reasons else
                    [_client_reason(t, r) for r in reasons[:letter.reasons]]),
        "change_title": _("What could change the decision"),
        "changes": _changes(t, letter),
        "review_title": _("Asking for a review by a person"),
        "review": _("This decision was prepared with a statistical model and checked by your "
                    "advisor. You may ask for it to be reviewed by a person within {days} days: "
                    "reply to this letter or ask your advisor, quoting your application number "
                    "{id}. You may also send us any information you think we did not take into "
                    "account.").format(days=REVIEW_DAYS, id=letter.client_id),
        "closing": _("Yours sincerely,"),
        "signature": _("Your advisor at {lender}").format(lender=LENDER),
        "footer": _("{lender} - this letter was printed on {date}.").format(
            lender=LENDER, date=t.date(letter.today)),
    }


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                              autoescape=jinja2.select_autoescape(["html"]))


def letter_html(t: Language, letter: Letter) -> str:
    """The letter as a standalone HTML page."""
    return _environment().get_template("letter.html").render(**texts(t, letter))


def letter_pdf(t: Language, letter: Letter) -> bytes:
    """The letter as a one-page A4 PDF (WeasyPrint)."""
    from weasyprint import HTML

    return HTML(string=letter_html(t, letter), base_url=str(TEMPLATES)).write_pdf()
