"""The client letter, rendered as HTML and as a one-page PDF in each language."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import pytest
from pypdf import PdfReader

from dashboard.i18n import language
from dashboard.letter import Letter, letter_html, letter_pdf
from dashboard.sensitivity import Curves
from serving.client import Score

REASONS = [{"feature": "AMT_CREDIT", "value": 900_000.0, "contribution": 0.5},
           {"feature": "EXT_SOURCE_2", "value": 0.2, "contribution": 0.3},
           {"feature": "DAYS_BIRTH", "value": -12_000, "contribution": -0.1}]


@pytest.fixture
def letter() -> Letter:
    curves = Curves(pd.DataFrame({"field": ["AMT_CREDIT"] * 3, "factor": [0.5, 1.0, 1.5],
                                  "value": [450_000.0, 900_000.0, 1_350_000.0],
                                  "probability": [0.08, 0.2, 0.3]}), 0.1, "refused")
    return Letter(100002, Score(100002, 0.2, "refused", 0.1, 0.1, REASONS), curves,
                  today=date(2026, 11, 29))


def _pdf_text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), " ".join(page.extract_text() for page in reader.pages)


def test_french_letter(letter):
    html = letter_html(language("fr"), letter)
    assert '<html lang="fr">' in html
    for text in ("Prêt refusé", "Paris, le 29 novembre 2026", "Demande n° 100002",
                 "Montant du crédit (900\u202f000) a fortement augmenté le risque",
                 "avec 450\u202f000 au lieu de 900\u202f000", "réexaminée par une personne",
                 "dans un délai de 30 jours"):
        assert text in html, text
    assert "Âge" not in html  # a reason that lowered the risk does not explain a refusal
    pages, text = _pdf_text(letter_pdf(language("fr"), letter))
    assert pages == 1
    squashed = " ".join(text.split())
    assert "Prêt refusé" in squashed and "réexamen par une personne" in squashed


def test_english_letter(letter):
    html = letter_html(language("en"), letter)
    for text in ("Loan refused", "29 November 2026", "Application number 100002",
                 "Credit amount (900,000) raised the risk strongly",
                 "with 450,000 instead of 900,000", "reviewed by a person within 30 days"):
        assert text in html, text
    pages, text = _pdf_text(letter_pdf(language("en"), letter))
    assert pages == 1 and "Asking for a review by a person" in " ".join(text.split())


def test_letter_escapes_html(letter):
    letter.score.reasons = [{"feature": "<b>X</b>", "value": "<i>", "contribution": 0.4}]
    html = letter_html(language("en"), letter)
    assert "<b>X</b>" not in html and "&lt;b&gt;X&lt;/b&gt;" in html
