"""The HTML reports work offline and say what is interactive: equations typeset by an inlined MathJax (no
CDN), no widget placeholders or progress bars, a note in place of each interactive cell's output, tables
with their full text, the key figure as the index's thumbnail."""

from __future__ import annotations

import base64
import gzip
import io
import re
import shutil
import subprocess

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from uda_nb import reports
from uda_nb.reports import html_export as report_html
from uda_nb.claims import Claim, write_claims
from uda_nb.reports.html_export import (INTERACTIVE_NOTE, WIDGET_MIME, WIDGET_STATE_MIME, export_html, html_problems,
                                key_figure_png, to_html)
from uda_nb.tables import table_html

LONG_CLAIM = "DANN covers about half of the source-only -> oracle gap on every one of the three seeds (>= 50 %)"
PROGRESS = "source_only seed 0:   0%|          | 0/1500 [00:00<?, ?it/s]"


def _png(color) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (12, 8), color).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


STATIC_PNG, DUPLICATE_PNG, KEY_PNG = _png("red"), _png("green"), _png("blue")


def _widget(text: str):
    return new_output("display_data", data={WIDGET_MIME: {"model_id": "abc123", "version_major": 2,
                                                          "version_minor": 0}, "text/plain": text})


def _png_output(png: str):
    return new_output("display_data", data={"image/png": png, "text/plain": "<Figure size 640x480 with 1 Axes>"})


def tiny_executed_notebook(math: bool = True):
    """What an executed report looks like: math, a training cell that showed tqdm bars, a static figure with
    its interactive twin below (tagged), a key figure, a long-text claims table, saved widget state."""
    text = ("# A tiny report\n\nInline $x$ and a display equation:\n\n$$\\frac{a}{b}$$\n" if math
            else "# A tiny report\n\nNo equations here.\n")
    train = new_code_cell("results = fit(...)", execution_count=1, outputs=[
        _widget(PROGRESS), _widget("DANN seed 0: 100%|##########| 1500/1500 [00:50<00:00, 30.0it/s]"),
        new_output("stream", name="stderr", text="\r 50%|#####     | 750/1500 [00:10<00:10, 70.00it/s]"),
        new_output("stream", name="stdout", text="training done\n")])
    static = new_code_cell("draw_lambda(3.0)", execution_count=2, outputs=[_png_output(STATIC_PNG)])
    interactive = new_code_cell("widgets.interact(draw_lambda, gamma=widgets.FloatSlider(10.0))", execution_count=3,
                                metadata={"tags": ["interactive"]}, outputs=[
                                    _widget("interactive(children=(FloatSlider(value=10.0, description='gamma'), "
                                            "Output()), _dom_classes=('widget-interact',))"),
                                    _png_output(DUPLICATE_PNG)])
    untagged = new_code_cell("widgets.IntSlider(3)", execution_count=4,
                             outputs=[_widget("IntSlider(value=3)")])
    key = new_code_cell("viz.tsne_before_after(...)", execution_count=5, metadata={"tags": ["key-figure"]},
                        outputs=[_png_output(KEY_PNG)])
    frame = pd.DataFrame({"claim": [LONG_CLAIM], "paper": ["52.9 %"], "ours": ["46.5 ± 1.6 %"], "holds": ["✗"]})
    table = new_code_cell("show_table(claims_frame(claims))", execution_count=6, outputs=[
        new_output("display_data", data={"text/html": table_html(frame), "text/plain": "<IPython HTML>"})])
    nb = new_notebook(cells=[new_markdown_cell(text), train, static, interactive, untagged, key, table])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["widgets"] = {WIDGET_STATE_MIME: {"state": {}, "version_major": 2, "version_minor": 0}}
    return nb


@pytest.fixture(scope="module")
def page() -> str:
    return to_html(tiny_executed_notebook())


def _body(page: str) -> str:
    return page[page.index("<body"):]


def test_equations_render_offline_with_inlined_mathjax(page):
    srcs = re.findall(r"<script[^>]*\bsrc\s*=\s*[\"']?([^\"' >]+)", page)
    assert not [s for s in srcs if "cdn" in s or "://" in s], srcs  # nothing loaded from the network
    assert "cdnjs" not in page and "mathjax/2.7" not in page
    # MathJax 3 is in the page itself (gzip + base64) with a loader that runs it
    payload = re.search(r'<script (?=[^>]*type="application/gzip;base64")[^>]*id="uda-nb-mathjax"[^>]*>'
                        r'([A-Za-z0-9+/=\s]+)</script>', page)
    assert payload, "the inlined MathJax is missing"
    js = gzip.decompress(base64.b64decode(payload.group(1))).decode()
    assert "MathJax" in js and 'VERSION="3.2' in js and len(js) > 2_000_000  # the full tex-svg bundle
    assert "DecompressionStream('gzip')" in page and "inlineMath: [['$', '$']" in page
    # the TeX is in the page as text for MathJax to typeset (not in a code block, not escaped away)
    body = _body(page)
    assert "$$\\frac{a}{b}$$" in body and "Inline $x$ and" in body
    assert not re.search(r"<(pre|code)[^>]*>[^<]*\\frac", body)
    assert len(page) < 2_000_000  # the page stays small: MathJax adds about 1 MB


def test_a_notebook_without_math_gets_no_mathjax():
    page = to_html(tiny_executed_notebook(math=False))
    assert 'id="uda-nb-mathjax"' not in page and len(page) < 1_000_000


def test_no_widget_placeholders_or_progress_bars(page):
    for placeholder in (WIDGET_MIME, WIDGET_STATE_MIME, "Loading widget", "0/1500", "1500/1500", "it/s",
                        "interactive(children", "IntSlider(value", "unpkg.com", "require.min.js"):
        assert placeholder not in page, placeholder
    assert "training done" in page  # real output stays
    assert html_problems(page) == []


def test_interactive_cells_show_a_note_instead_of_a_dead_slider(page):
    assert page.count(INTERACTIVE_NOTE) == 2  # the tagged cell, and the untagged one that showed a widget
    assert "make lab" in INTERACTIVE_NOTE
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert STATIC_PNG in images and KEY_PNG in images
    assert DUPLICATE_PNG not in images  # no duplicate of the static figure under the interactive cell
    body = _body(page)
    assert body.index(STATIC_PNG) < body.index(INTERACTIVE_NOTE)  # the note sits below the static figure


def test_tables_keep_their_full_text(page):
    assert html_problems(page) == [] and LONG_CLAIM.replace(">", "&gt;") in page
    assert not re.search(r"<td[^>]*>[^<]*\.\.\.\s*</td>", page)
    # and a table that pandas cut at display.max_colwidth is reported
    with pd.option_context("display.max_colwidth", 50):
        cut = pd.DataFrame({"claim": [LONG_CLAIM]})._repr_html_()
    nb = tiny_executed_notebook()
    nb.cells[-1].outputs[0]["data"]["text/html"] = cut
    problems = html_problems(to_html(nb))
    assert len(problems) == 1 and "cut with '...'" in problems[0]


def test_html_problems_finds_cdn_scripts_and_widgets():
    assert html_problems("<html><body><p>fine</p></body></html>") == []
    bad = ('<script src="https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/latest.js"></script>'
           f'<script type="{WIDGET_MIME}">{{}}</script><pre>{PROGRESS}</pre>')
    problems = " | ".join(html_problems(bad))
    assert "network" in problems and "widget" in problems and "progress bar" in problems


def test_export_writes_html_and_keeps_the_executed_notebook(tmp_path):
    nb = tiny_executed_notebook()
    path = tmp_path / "02_tiny.ipynb"
    nbformat.write(nb, path)
    html_path, problems = export_html(path)
    assert html_path == tmp_path / "02_tiny.html" and problems == []
    assert INTERACTIVE_NOTE in html_path.read_text()
    kept = nbformat.read(path, as_version=4)  # the executed .ipynb is untouched
    assert WIDGET_MIME in kept.cells[3].outputs[0]["data"] and "widgets" in kept.metadata


def test_key_figure_becomes_the_index_thumbnail(tmp_path, monkeypatch):
    nb = tiny_executed_notebook()
    assert key_figure_png(nb) == base64.b64decode(KEY_PNG)
    nbformat.write(nb, tmp_path / "02_tiny.ipynb")
    monkeypatch.setenv("UDA_NB_CLAIMS_DIR", str(tmp_path))
    write_claims("02_tiny", [Claim(LONG_CLAIM, "52.9 %", "46.5 ± 1.6 %", False, "per seed 45.7 / 48.4 / 45.4.",
                                   "paired")], headline={"source-only": "54.5 ± 2.0"}, budget="smoke")
    assert reports.main(["--html-only", "--out", str(tmp_path)]) == 0
    index = (tmp_path / "index.html").read_text()
    thumbs = re.findall(r"<img alt='key figure of 02_tiny' src='data:image/png;base64,([A-Za-z0-9+/=]+)'>", index)
    assert thumbs == [KEY_PNG]  # small PNGs are embedded as they are
    assert f"02_tiny.html#cell-id={nb.cells[5].id}" in index
    assert (tmp_path / "02_tiny.html").exists() and html_problems(index) == []
    assert LONG_CLAIM.replace(">", "&gt;") in index and "per seed 45.7 / 48.4 / 45.4." in index
    # without a key-figure cell the card shows no thumbnail (it does not guess one) and no placeholder text
    del nb.cells[5].metadata["tags"]
    nbformat.write(nb, tmp_path / "02_tiny.ipynb")
    page = reports.index_html(reports.load_entries(tmp_path))
    assert "key figure of 02_tiny" not in page and "no cell tagged key-figure" not in page


def test_large_key_figures_are_scaled_down():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1800, 900), "white").save(buf, format="PNG")
    thumb = Image.open(io.BytesIO(reports._thumbnail(buf.getvalue())))
    assert thumb.size == (reports.THUMB_WIDTH, reports.THUMB_WIDTH // 2)


def test_mathjax_comes_from_the_installed_wheel():
    js = report_html.mathjax_js()
    assert 'VERSION="3.2' in js and "MathJax" in js and "tex-svg" not in report_html.MATHJAX_DIST
    assert report_html.mathjax_payload() == report_html.mathjax_payload()  # byte-stable between exports


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                    reason="no headless chromium on this machine")
def test_a_browser_typesets_the_equations_offline(tmp_path):
    path = tmp_path / "02_tiny.ipynb"
    nbformat.write(tiny_executed_notebook(), path)
    html_path, _ = export_html(path)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000",
                          "--dump-dom", html_path.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert "<mjx-container" in dom and 'display="true"' in dom  # typeset by MathJax, the display equation too
    assert "$$\\frac{a}{b}$$" not in dom and "Inline $x$" not in dom  # no raw TeX left


def test_executed_notebooks_keep_their_widgets_but_not_a_raw_widget_repr():
    slider = _widget("interactive(children=(IntSlider(value=3),), _dom_classes=('widget-interact',))")
    bar = _widget(PROGRESS)
    nb = new_notebook(cells=[new_code_cell("interact(draw)", outputs=[slider, bar]),
                             new_markdown_cell("interactive(children= in prose stays")])
    report_html.label_widget_outputs(nb)
    outs = nb.cells[0].outputs
    assert outs[0]["data"]["text/plain"] == INTERACTIVE_NOTE and WIDGET_MIME in outs[0]["data"]  # Jupyter still draws it
    assert outs[1]["data"]["text/plain"] == PROGRESS  # a progress bar is left for the HTML step to drop
    assert nb.cells[1].source == "interactive(children= in prose stays"


def test_report_pages_take_the_notebooks_title_and_link_back_to_the_index():
    from uda_nb.reports.html_export import page_title, to_html
    nb = tiny_executed_notebook()
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# DANN: a <tiny> report\n\nText."))
    page = to_html(nb)
    assert page_title(nb) == "DANN: a <tiny> report"
    assert "<title>DANN: a &lt;tiny&gt; report</title>" in page and "<title>Notebook</title>" not in page
    assert page.count("href='index.html'") == 1


def test_code_is_folded_and_figures_take_their_caption_as_alt_text():
    from uda_nb.reports.html_export import figure_caption, to_html
    nb = tiny_executed_notebook()
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("**The schedule.** How $\\lambda$ grows. More text."))
    nb.cells[3].outputs.append(new_output("display_data", data={
        "text/markdown": "*Left:* λ is 0.46 at 10 % of training. The rest follows.", "text/plain": "<Markdown>"}))
    page = to_html(nb)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert page.count('<details class="uda-code"><summary>code</summary>') == len(code_cells)
    assert "No description has been provided" not in page
    # the sentence the cell displays under its figure, else the Markdown cell above it
    assert 'alt="Left: λ is 0.46 at 10 % of training."' in page
    assert figure_caption(nb.cells[3], "") == "Left: λ is 0.46 at 10 % of training."
    assert figure_caption(nbformat.v4.new_code_cell("plot()", outputs=[_png_output(STATIC_PNG)]),
                          "**The schedule.** How it grows.") == "The schedule."
    assert figure_caption(nbformat.v4.new_code_cell("plot()"), "") == "a figure"


def test_alt_text_spells_formulas_out_and_ablation_links_point_from_reports():
    from uda_nb.reports.html_export import _first_sentence, prepare
    assert _first_sentence(r"The map $G_f(\cdot;\theta_f)$ sends _x_ to **y**. More.") == "The map G_f(·;θ_f) sends x to y."
    assert _first_sentence(r"Gap $|G^{dom} - \sum_q G^{grp}_q|$ over training.") == "Gap |G^dom - Σ_q G^grp_q| over training."
    assert _first_sentence(r"$$\lambda_p = \frac{2}{1+\exp(-\gamma p)} - 1$$ grows.") == "λ_p = (2)/(1+exp(-γ p)) - 1 grows."
    nb = tiny_executed_notebook()
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("See [MDD](../../docs/references/mdd.md) and [DANN](../docs/x.md)."))
    nb.cells[3].outputs.append(new_output("display_data", data={
        "text/markdown": "As in [TLlib](../../docs/references/mdd.md).", "text/plain": "<Markdown>"}))
    shown = prepare(nb)
    # a page sits in reports/, one folder below the repository; an ablation's source sits two below
    assert shown.cells[0].source == "See [MDD](../docs/references/mdd.md) and [DANN](../docs/x.md)."
    assert shown.cells[3].outputs[-1]["data"]["text/markdown"] == "As in [TLlib](../docs/references/mdd.md)."
    assert nb.cells[0].source.count("../../docs") == 1  # the notebook itself is unchanged
