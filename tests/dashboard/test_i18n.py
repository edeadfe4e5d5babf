"""The catalogues: every message of the code and the data translated, placeholders kept."""

from __future__ import annotations

import re

import pytest

from dashboard.i18n import LOCALES, language, read_catalogue
from dashboard.messages import code_messages, expected_messages
from scoring.features import FEATURES

PLACEHOLDER = re.compile(r"\{(\w*)\}")


@pytest.fixture(scope="module")
def expected() -> list[str]:
    return expected_messages()


def test_the_code_has_sentences_to_translate():
    found = code_messages()
    assert "Loan granted" in found and "Principal reasons" in found
    assert len(found) > 150


@pytest.mark.parametrize("code", list(LOCALES))
def test_every_message_is_translated(code, expected):
    catalogue = read_catalogue(code)
    missing = [m for m in expected if catalogue.get(m) is None or not catalogue.get(m).string]
    assert not missing, (f"{len(missing)} message(s) missing from the {code} catalogue "
                         f"(run `python -m dashboard.messages`, then translate): {missing[:5]}")


@pytest.mark.parametrize("code", list(LOCALES))
def test_translations_keep_the_placeholders(code, expected):
    catalogue = read_catalogue(code)
    for message in expected:
        string = catalogue.get(message).string
        assert sorted(PLACEHOLDER.findall(message)) == sorted(PLACEHOLDER.findall(string)), \
            f"{code}: {message!r} -> {string!r}"


def test_every_feature_label_is_french():
    fr = language("fr")
    from dashboard.words import english_label, feature_label

    same = [f for f in FEATURES if feature_label(fr, f) == english_label(f)
            and not english_label(f).startswith(("FLAG_", "DAYS_EMPLOYED"))]
    assert same == []


def test_numbers_and_dates_follow_the_locale():
    from datetime import date

    fr, en = language("fr"), language("en")
    assert fr.number(1234567) == "1\u202f234\u202f567" and en.number(1234567) == "1,234,567"
    assert fr.percent(0.1234) == "12,3\u00a0%" and en.percent(0.1234) == "12.3%"
    assert fr.date(date(2026, 11, 29)) == "29 novembre 2026"
    assert en.date(date(2026, 11, 29)) == "29 November 2026"


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="unknown language 'de'"):
        language("de")


def test_no_sentence_hides_in_an_f_string():
    """Babel's extractor does not read f-strings: `f"{_('x')}"` would never be translated."""
    from dashboard.messages import PACKAGE

    hidden = [f"{path.name}:{n}" for path in PACKAGE.rglob("*.py")
              for n, line in enumerate(path.read_text().splitlines(), 1)
              if re.search(r"""f(["']).*\{(_|t\.gettext|self\.t\.gettext)\(\s*["']""", line)]
    assert hidden == []
