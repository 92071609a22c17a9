"""Tables for readers: full text, no pandas index, stable HTML (uda_nb.tables)."""

import pandas as pd

from uda_nb.tables import table_html


def test_long_text_is_kept_whole_and_the_index_is_hidden():
    long = "a claim that is much longer than pandas' default column width of fifty characters, kept whole"
    html = table_html(pd.DataFrame({"claim": [long, "short"], "value": [1.234, 5.0]}))
    assert long in html and "..." not in html
    assert "<th" in html and ">claim<" in html and ">value<" in html
    assert ">0<" not in html and ">1<" not in html  # no 0, 1 index column
    assert ">1.2<" in html  # numbers at one decimal by default


def test_a_named_index_becomes_a_column_and_html_is_stable():
    frame = pd.DataFrame({"acc": [52.5, 71.5]}, index=pd.Index(["source-only", "DANN"], name="method"))
    html = table_html(frame)
    assert ">method<" in html and ">source-only<" in html and ">DANN<" in html
    assert table_html(frame) == html  # the same table gives the same bytes (reports stay diff-stable)


def test_unnamed_row_labels_are_kept_under_an_empty_header_not_pandas_index():
    frame = pd.DataFrame({"acc": {"static": 79.3, "routing": 78.9}})  # string row labels, index without a name
    html = table_html(frame)
    assert ">static<" in html and ">routing<" in html
    assert ">index<" not in html and ">acc<" in html
