"""The dashboard's page template, shared by the advisors' dashboard and a client's file."""

from __future__ import annotations

from pathlib import Path

import panel as pn


class Page(pn.template.BootstrapTemplate):
    """Panel's Bootstrap template with landmarks (``templates/page.html``): header, a
    labelled navigation, main, and the title as the level-one heading."""

    _template = Path(__file__).resolve().parent / "templates" / "page.html"
