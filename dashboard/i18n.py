"""The dashboard's languages: gettext catalogues and locale formats of numbers and dates.

Every sentence a person reads goes through ``Language.gettext`` (bound to ``_`` where it is
used, so ``pybabel extract`` finds it); numbers, percentages, amounts and dates go through
``babel.numbers`` / ``babel.dates`` with the language's locale. The catalogues are the
``.po`` files of ``dashboard/locale/{fr,en}/LC_MESSAGES/``, compiled in memory when first
used (a fresh clone needs no build step). One ``Language`` per session: switching language
reloads the page.
"""

from __future__ import annotations

import functools
import io
import math
import os
from datetime import date, datetime
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "dashboard"
#: Language code -> babel locale of its formats.
LOCALES = {"fr": "fr_FR", "en": "en_GB"}
#: Language code -> Bokeh's number-format language (plot axes).
NUMERALS = {"fr": "fr", "en": "en-gb"}
#: Each language's name in itself (what the switch shows).
NAMES = {"fr": "Français", "en": "English"}
DEFAULT = "fr"
ENV = "DASHBOARD_LANG"


def default_language() -> str:
    """``DASHBOARD_LANG`` when it names a language, else French."""
    code = os.environ.get(ENV, DEFAULT).strip().lower()[:2]
    return code if code in LOCALES else DEFAULT


def catalogue_path(code: str, domain: str = DOMAIN) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{domain}.po"


def read_catalogue(code: str, domain: str = DOMAIN):
    """The babel ``Catalog`` of a language's ``.po`` file."""
    path = catalogue_path(code, domain)
    with path.open("rb") as f:
        return read_po(f, locale=LOCALES[code], domain=domain)


@functools.cache
def _translations(code: str) -> Translations:
    buffer = io.BytesIO()
    write_mo(buffer, read_catalogue(code))
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


class Language:
    """The words and formats of one language (``fr`` or ``en``)."""

    def __init__(self, code: str) -> None:
        if code not in LOCALES:
            raise ValueError(f"unknown language {code!r}: expected one of "
                             f"{', '.join(LOCALES)}")
        self.code = code
        self.locale = Locale.parse(LOCALES[code])
        self._t = _translations(code)
        percent = self.locale.percent_formats[None].pattern
        self._percent = percent.replace("0", "0.0", 1)

    def ticks(self, pattern: str):
        """A Bokeh tick formatter of ``pattern`` (numbro, e.g. '0,0' or '0.0%') in this
        language."""
        from bokeh.models import NumeralTickFormatter

        return NumeralTickFormatter(format=pattern, language=NUMERALS[self.code])

    def gettext(self, message: str) -> str:
        """The sentence in this language."""
        return self._t.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._t.ngettext(singular, plural, n)

    def number(self, value: float, decimals: int = 0) -> str:
        """A number with the locale's separators, e.g. '1 234 567' or '1,234,567'."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return self.gettext("not given")
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def short(self, value: float) -> str:
        """A number with few digits: whole thousands, or three significant digits."""
        if value is None or math.isnan(value):
            return self.gettext("not given")
        if abs(value) >= 1000 or float(value).is_integer():
            return self.number(value)
        return format_decimal(float(f"{value:.3g}"), format="#,##0.###", locale=self.locale)

    def percent(self, p: float) -> str:
        """A probability as a percentage with one decimal, e.g. '12,3 %' or '12.3%'."""
        return format_decimal(p, format=self._percent, locale=self.locale)

    def points(self, p: float) -> str:
        """A difference of probabilities in percentage points, one decimal."""
        return self.number(100 * p, 1)

    def date(self, when: date | datetime) -> str:
        """A date in the locale's long format, e.g. '29 novembre 2026'."""
        return format_date(when, "long", locale=self.locale)

    def datetime(self, when: datetime) -> str:
        return format_datetime(when, "medium", locale=self.locale)


@functools.cache
def language(code: str) -> Language:
    """The (cached) ``Language`` of a code."""
    return Language(code)


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "translated later")
    """Mark a message for the catalogues where it is defined; ``gettext`` it where shown."""
    return message
