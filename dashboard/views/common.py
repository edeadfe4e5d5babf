"""What every view shares: colours, text panes, tables, cards and Bokeh figures.

Colours are Okabe-Ito (safe for colour-vision deficiencies) and never carry meaning alone:
icons, words, hatching and line dashes say the same thing. Text stays near-black on white
(contrast above 4.5:1).
"""

from __future__ import annotations

import html

import pandas as pd
import panel as pn
from bokeh.plotting import figure

BLUE, VERMILION, ORANGE, SKY, BLACK = "#0072B2", "#D55E00", "#E69F00", "#56B4E9", "#000000"
TEXT = "#1a1a1a"

TABLE_CSS = """
table { border-collapse: collapse; font-size: 0.95rem; color: #1a1a1a; }
caption { text-align: left; font-weight: bold; padding: 0.3rem 0; color: #1a1a1a; }
th, td { text-align: left; padding: 0.2rem 0.8rem 0.2rem 0.2rem;
         border-bottom: 1px solid #c8c8c8; }
th[scope=row] { font-weight: normal; }
"""


def note(text: str, **kwargs) -> pn.pane.Markdown:
    """A paragraph of text (a chart's text alternative, a status line)."""
    return pn.pane.Markdown(text, sizing_mode="stretch_width", **kwargs)


def alert(text: str, kind: str = "warning") -> pn.pane.Alert:
    """A message announced to screen readers."""
    return pn.pane.Alert(text, alert_type=kind, sizing_mode="stretch_width")


def table_html(frame: pd.DataFrame, caption: str) -> str:
    """A small accessible HTML table with a caption and column headers."""
    head = "".join(f'<th scope="col">{html.escape(str(c))}</th>' for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return (f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def pairs_html(pairs: list[tuple[str, str]], caption: str) -> str:
    """A two-column table of (label, value) rows, the label as row header."""
    body = "".join(f'<tr><th scope="row">{html.escape(str(k))}</th>'
                   f'<td>{html.escape(str(v))}</td></tr>' for k, v in pairs)
    return f"<table><caption>{html.escape(caption)}</caption><tbody>{body}</tbody></table>"


def table(frame: pd.DataFrame, caption: str) -> pn.pane.HTML:
    """A table pane (tables are every chart's fallback)."""
    return pn.pane.HTML(table_html(frame, caption), sizing_mode="stretch_width",
                        stylesheets=[TABLE_CSS])


def html_pane(text: str = "", **kwargs) -> pn.pane.HTML:
    return pn.pane.HTML(text, sizing_mode="stretch_width", stylesheets=[TABLE_CSS], **kwargs)


def bokeh(fig: figure) -> pn.pane.Bokeh:
    """A Bokeh figure without toolbar; its text alternative is always shown next to it."""
    fig.toolbar_location = None
    fig.title.text_font_size = "1rem"
    return pn.pane.Bokeh(fig, sizing_mode="stretch_width")


def heading(text: str, level: int = 2) -> pn.pane.HTML:
    """A heading of the page outline (h1 is the page title; cards are h2, their parts h3)."""
    size = {2: "1.2rem", 3: "1.05rem"}.get(level, "1rem")
    return pn.pane.HTML(f'<h{level} style="font-size:{size};margin:0.4rem 0 0.2rem;'
                        f'color:#1a1a1a">{html.escape(text)}</h{level}>',
                        sizing_mode="stretch_width")


def card(title: str, *objects, css_class: str = "", **kwargs) -> pn.Column:
    """A titled section of a page (a heading, then its content)."""
    classes = ["dash-card"] + ([css_class] if css_class else [])
    return pn.Column(heading(title), *objects, css_classes=classes,
                     sizing_mode="stretch_width", styles={
                         "border": "1px solid #c8c8c8", "border-radius": "6px",
                         "padding": "0.2rem 0.8rem 0.6rem", "margin-bottom": "0.8rem",
                         "background": "white"}, **kwargs)
