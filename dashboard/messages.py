"""The messages the catalogues must translate, and ``python -m dashboard.messages`` to update
the ``.po`` files after a change of the code.

Messages come from three places: the sentences of the code (``_()``, ``gettext``,
``N_()``, found by Babel's extractor), the feature labels (``words.english_label`` of every
model input and profile field), and the category levels an advisor reads. The English
catalogue repeats each message; a new French message is left empty for a translator, and the
test suite fails until it is filled.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import write_po

from dashboard.i18n import DOMAIN, LOCALES, catalogue_path, read_catalogue

PACKAGE = Path(__file__).resolve().parent
KEYWORDS = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)}


def code_messages() -> dict[str, list[tuple[str, int]]]:
    """Message -> places (file, line) of the sentences written in the dashboard's code."""
    found: dict[str, list[tuple[str, int]]] = {}
    for filename, line, message, _comments, _context in extract_from_dir(
            PACKAGE, method_map=[("**.py", "python")], keywords=KEYWORDS,
            comment_tags=(), strip_comment_tags=True):
        for text in message if isinstance(message, tuple) else (message,):
            if text:
                found.setdefault(text, []).append((f"dashboard/{filename}", line))
    return found


def data_messages() -> list[str]:
    """Feature labels and category levels: messages that come from the schema, not code."""
    from dashboard.words import _CODES, LEVEL_FIELDS, PROFILE_FIELDS, english_label
    from scoring.features import FEATURES
    from scoring.schema import APPLICATION_TEST

    labels = [english_label(f) for f in dict.fromkeys([*PROFILE_FIELDS, *FEATURES])]
    levels = [lvl for name in LEVEL_FIELDS for lvl in APPLICATION_TEST.column(name).levels]
    codes = [word for mapping in _CODES.values() for word in mapping.values()]
    return list(dict.fromkeys([*labels, *levels, *codes]))


def expected_messages() -> list[str]:
    """Every message the catalogues must hold."""
    return list(dict.fromkeys([*code_messages(), *data_messages()]))


def update() -> dict[str, int]:
    """Rewrite each ``.po``: keep the translations, add new messages, drop the unused ones.

    Returns, per language, how many messages still lack a translation.
    """
    places = code_messages()
    missing = {}
    for code, locale in LOCALES.items():
        path = catalogue_path(code)
        old = read_catalogue(code) if path.is_file() else Catalog(locale=locale)
        new = Catalog(locale=locale, domain=DOMAIN, project="credit-scoring dashboard",
                      fuzzy=False)
        for text in expected_messages():
            kept = old.get(text)
            string = kept.string if kept is not None and kept.string else ""
            if not string and code == "en":
                string = text
            new.add(text, string, locations=places.get(text, [("schema", 0)])[:3])
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            write_po(f, new, width=100, sort_output=False, include_previous=False)
        missing[code] = sum(1 for m in new if m.id and not m.string)
    return missing


if __name__ == "__main__":
    for language_code, count in update().items():
        print(f"{catalogue_path(language_code)}: {count} message(s) to translate")
