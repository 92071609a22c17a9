"""Tables that a class can read: full text in every cell (no ``...``), no pandas index, left-aligned text.

``show_table(frame)`` displays a DataFrame in a notebook (and in the HTML report) through a pandas ``Styler``
with the index hidden; :func:`table_html` gives the same HTML as a string (for tests and the reports index).
"""

from __future__ import annotations

import hashlib

import pandas as pd

_STYLES = [
    {"selector": "th", "props": [("text-align", "left"), ("padding", "4px 10px")]},
    {"selector": "td", "props": [("text-align", "left"), ("padding", "4px 10px"), ("vertical-align", "top"),
                                 ("white-space", "normal"), ("max-width", "34em")]},
]


def _styler(frame: pd.DataFrame, digits: int = 1, caption: str | None = None):
    if _named_index(frame) and all(n is None for n in frame.index.names):
        # row labels without a name get an empty header, not pandas' "index"
        frame = frame.rename_axis([""] * frame.index.nlevels)
    frame = frame.reset_index(drop=not _named_index(frame))
    # a content hash as the element id keeps executed reports byte-stable between runs
    uid = hashlib.sha1(frame.to_json().encode()).hexdigest()[:8]
    styler = frame.style.set_uuid(uid).hide(axis="index").format(precision=digits, na_rep="")
    styler = styler.set_table_styles(_STYLES)
    if caption:
        styler = styler.set_caption(caption)
    return styler


def _named_index(frame: pd.DataFrame) -> bool:
    """A meaningful index (named, or not the default 0..n-1) becomes a column instead of being dropped."""
    return any(n is not None for n in frame.index.names) or not isinstance(frame.index, pd.RangeIndex)


def table_html(frame: pd.DataFrame, digits: int = 1, caption: str | None = None) -> str:
    """The table as HTML: every cell's full text, numbers with ``digits`` decimals, no index column."""
    return _styler(frame, digits, caption).to_html()


def show_table(frame: pd.DataFrame, digits: int = 1, caption: str | None = None) -> None:
    """Display ``frame`` in a notebook with full text and no index (see :func:`table_html`)."""
    from IPython.display import HTML, display

    display(HTML(table_html(frame, digits, caption)))
