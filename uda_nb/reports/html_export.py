"""HTML copies of executed notebooks that work offline and say what is interactive.

:func:`export_html` turns an executed notebook into one self-contained HTML file:

- **Equations render with no internet.** nbconvert's default page loads MathJax from a CDN, so offline every
  equation shows as raw LaTeX. Here MathJax 3 (the ``tex-svg-full`` bundle: TeX input, SVG output, every TeX
  extension preloaded, glyphs drawn as SVG paths so no font files are needed) is inlined into the page. It comes
  from the ``django-static-mathjax`` wheel (a plain copy of MathJax 3.2, no Django needed), so a fresh
  ``pip install`` sets it up. A notebook with no math gets no MathJax. The other CDN scripts of the template
  (require.js, the widget manager, mermaid) are left out: the reports use none of them.
- **No plumbing.** Widget outputs (``application/vnd.jupyter.widget-view+json``: tqdm progress bars in a
  kernel where ``UDA_NB_QUIET`` was not set, or a slider) and the notebook's saved widget state are removed, and
  so are tqdm bars written to a stream, so the page never shows "Loading widget..." or a frozen ``0/1500 0%``.
- **Interactive cells say so.** A code cell tagged ``interactive`` (the convention: the Markdown above it says what
  its controls do, and which static figure of the page, if any, the same function drew) has its outputs replaced
  by :data:`INTERACTIVE_NOTE`, so the page shows neither a dead slider nor a duplicate figure. A cell that is not
  tagged but showed a widget other than a progress bar gets the same note. The executed ``.ipynb`` keeps its outputs; :func:`label_widget_outputs` only replaces a
  widget's plain-text fallback (a raw ``interactive(children=...`` repr) by that note.

- **Reads as a page, not a notebook.** Each code cell's source is folded into a ``<details>`` element ("code",
  one click opens it); the executed ``.ipynb`` is unchanged. Every figure gets alt text from its caption
  (:func:`figure_caption`: the first sentence of the Markdown the cell displays after the figure, else of the
  Markdown cell right after the code cell when that cell is not a heading, else of the Markdown cell above it)
  instead of nbconvert's "No description has been provided for this image".

:func:`html_problems` lists what should never be in a report (a remote script, a widget placeholder, a progress
bar, a table cell that pandas cut with ``...``); the reports runner prints them as warnings.
:func:`key_figure_png` gives the first PNG of the cell tagged ``key-figure`` (the reports index's thumbnail).
"""

from __future__ import annotations

import base64
import copy
import functools
import gzip
import html as html_lib
import importlib.metadata
import re
from pathlib import Path

import nbformat

from ..cache import atomic_write

INTERACTIVE_TAG = "interactive"
KEY_FIGURE_TAG = "key-figure"
INTERACTIVE_NOTE = ("Interactive in Jupyter: run this notebook (make lab) to use the controls described above; "
                    "this page cannot run them.")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
MATHJAX_DIST = "django-static-mathjax"
MATHJAX_FILE = "es5/tex-svg-full.js"

# tqdm's text bar: "source_only seed 0:   0%|          | 0/1500 [00:00<?, ?it/s]"
_PROGRESS = re.compile(r"\d+/\d+ \[\d+:\d\d|\d+%\|[^|\n]*\|\s*\d+/\d+|it/s\]|s/it\]")
_MATH = re.compile(r"\$|\\\(|\\\[|\\begin\{")
# a table cell whose text pandas cut at display.max_colwidth ends with "..."
_TRUNCATED_CELL = re.compile(r"<t[dh][^>]*>[^<]*\.\.\.\s*</t[dh]>")
_REMOTE_SCRIPT = re.compile(r"""<script[^>]*\ssrc\s*=\s*["']?(?:https?:)?//""", re.I)
_REMOTE_CSS = re.compile(r"""<link[^>]*\shref\s*=\s*["']?(?:https?:)?//""", re.I)

# MathJax 3 configured like Jupyter's MathJax: $...$ and \(...\) inline, $$...$$ and \[...\] display,
# \$ for a literal dollar, LaTeX environments outside $$ too; code, pre and raw outputs are skipped.
_MATHJAX_CONFIG = r"""window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
        processEscapes: true, processEnvironments: true},
  options: {ignoreHtmlClass: 'tex2jax_ignore', processHtmlClass: 'tex2jax_process'},
  svg: {fontCache: 'global'}
};"""

_EXTRA_CSS = """<style type="text/css">
.uda-interactive-note { margin: 0.3em 0; padding: 0.45em 0.8em; border-left: 4px solid #6a8fc7;
  background: #f2f6fc; color: #234; font-family: var(--jp-ui-font-family, sans-serif); font-size: 0.95em; }
mjx-container[display="true"] { overflow-x: auto; overflow-y: hidden; }
details.uda-code > summary { cursor: pointer; color: #667; font-family: var(--jp-ui-font-family, sans-serif);
  font-size: 0.85em; margin: 0.2em 0 0.2em 0.5em; }
</style>"""

# The lab template without its CDN scripts: no require.js, no widget manager, no mermaid; MathJax inlined.
_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}{{ resources.uda_nb_extra_css }}{% endblock extra_css %}
{% block input_group -%}
{%- if cell.cell_type == 'code' -%}
<details class="uda-code"><summary>code</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock input_group %}
{% block data_png scoped %}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
alt="{{ output.metadata.get('uda_nb_alt', 'a figure') | escape_html }}"
{%- set width=output | get_metadata('width', 'image/png') -%}
{%- if width is not none %} width={{ width | escape_html }}{%- endif %}
{%- set height=output | get_metadata('height', 'image/png') -%}
{%- if height is not none %} height={{ height | escape_html }}{%- endif %}
>
</div>
{%- endblock data_png %}
{%- block html_head_js_mathjax -%}
{%- if resources.uda_nb_mathjax -%}
<!-- MathJax 3 (tex-svg-full), inlined (gzip + base64) so that equations render offline -->
<script type="text/javascript">{{ resources.uda_nb_mathjax_config }}</script>
<script type="application/gzip;base64" id="uda-nb-mathjax">{{ resources.uda_nb_mathjax }}</script>
<script type="text/javascript">{{ resources.uda_nb_mathjax_loader }}</script>
{%- endif -%}
{%- endblock html_head_js_mathjax -%}
"""


# Unpacks the inlined MathJax (DecompressionStream: Chrome 80, Firefox 113, Safari 16.4) and runs it; MathJax
# then typesets the page. Inlined gzipped, MathJax adds about 1 MB to a page instead of 2.3 MB.
_MATHJAX_LOADER = r"""(function () {
  var data = document.getElementById('uda-nb-mathjax');
  if (!data || typeof DecompressionStream === 'undefined') { return; }
  var bytes = Uint8Array.from(atob(data.textContent.trim()), function (c) { return c.charCodeAt(0); });
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  new Response(stream).text().then(function (js) {
    var script = document.createElement('script');
    script.textContent = js;
    document.head.appendChild(script);
  });
})();"""


@functools.lru_cache(maxsize=1)
def mathjax_js() -> str:
    """The MathJax 3 ``tex-svg-full`` bundle from the installed ``django-static-mathjax`` wheel."""
    try:
        dist = importlib.metadata.distribution(MATHJAX_DIST)
    except importlib.metadata.PackageNotFoundError as exc:
        raise RuntimeError(f"{MATHJAX_DIST} is not installed: it ships MathJax for the offline reports "
                           "(pip install -e . or make venv installs it).") from exc
    for f in dist.files or ():
        if str(f).replace("\\", "/").endswith(MATHJAX_FILE):
            return Path(dist.locate_file(f)).read_text(encoding="utf-8")
    raise RuntimeError(f"{MATHJAX_DIST} has no {MATHJAX_FILE}; reinstall it.")


@functools.lru_cache(maxsize=1)
def mathjax_payload() -> str:
    """:func:`mathjax_js` gzipped (``mtime=0``: the same bytes every export) and base64-encoded."""
    return base64.b64encode(gzip.compress(mathjax_js().encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


def _tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []) or [])


def _is_progress_bar(output) -> bool:
    text = output.get("data", {}).get("text/plain", "")
    text = "".join(text) if isinstance(text, list) else str(text)
    return bool(_PROGRESS.search(text))


def _note_output():
    note = html_lib.escape(INTERACTIVE_NOTE)
    return nbformat.v4.new_output("display_data", data={
        "text/html": f'<p class="uda-interactive-note">{note}</p>', "text/plain": INTERACTIVE_NOTE})


def _strip_progress_lines(text: str) -> str:
    # tqdm redraws with \r: keep only what is left on each line after the last \r, then drop bar lines
    lines = [line.rsplit("\r", 1)[-1] for line in text.split("\n")]
    return "\n".join(line for line in lines if not _PROGRESS.search(line))


#: TeX commands an alt text spells as the character a reader sees
_TEX_SYMBOLS = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eta": "η", "theta": "θ",
                "lambda": "λ", "mu": "μ", "pi": "π", "sigma": "σ", "tau": "τ", "phi": "φ", "psi": "ψ", "Phi": "Φ",
                "Psi": "Ψ", "Delta": "Δ", "Lambda": "Λ", "sum": "Σ", "partial": "∂", "nabla": "∇", "cdot": "·",
                "times": "×", "to": "→", "rightarrow": "→", "leftarrow": "←", "le": "≤", "leq": "≤", "ge": "≥",
                "geq": "≥", "approx": "≈", "neq": "≠", "in": "∈", "infty": "∞", "odot": "⊙", "log": "log",
                "min": "min", "max": "max", "exp": "exp"}


def _plain_math(tex: str) -> str:
    """A TeX formula as plain text for alt text: ``G_f(\\cdot;\\theta_f)`` -> ``G_f(·;θ_f)``; layout commands
    (``\\mathcal``, ``\\left``, ...) are dropped, known symbols become their characters, braces go."""
    tex = re.sub(r"\\(?:mathcal|mathbf|mathrm|mathbb|boldsymbol|operatorname|text|textrm|left|right|big|Big|bigg)\b",
                 "", tex)
    tex = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", tex)
    tex = re.sub(r"\\([A-Za-z]+)", lambda m: _TEX_SYMBOLS.get(m.group(1), m.group(1)), tex)
    tex = re.sub(r"\\[,;:! ]", " ", tex)
    return re.sub(r"[{}]", "", tex)


def _first_sentence(text: str, limit: int = 300) -> str:
    """The first sentence of Markdown ``text``, as plain text (markup, links and math delimiters dropped, formulas
    spelled out by :func:`_plain_math`)."""
    text = re.sub(r"^#+\s*(?:\d+(?:\.\d+)*\.?\s+)?(.*)$", r"\1:", text.strip(), flags=re.M)  # "## 1. The idea" -> "The idea:"
    text = re.sub(r"^\s*(?:\d+\.|[-*])\s+", "", text, flags=re.M)  # list markers
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)   # [label](url) -> label
    text = re.sub(r"\$\$(.+?)\$\$|\$(.+?)\$", lambda m: _plain_math(m.group(1) or m.group(2)), text, flags=re.S)
    text = re.sub(r"[*`$]", "", text)
    text = re.sub(r"(?<!\w)_|_(?![\w{])", "", text)  # emphasis underscores, not subscripts
    text = " ".join(text.split())
    m = re.search(r"^(.+?[.!?])(\s|$)", text)
    sentence = m.group(1) if m else text
    return sentence if len(sentence) <= limit else sentence[:limit - 1].rstrip() + "…"


def _markdown_of(output) -> str:
    text = output.get("data", {}).get("text/markdown", "")
    return "".join(text) if isinstance(text, list) else str(text)


def figure_caption(cell, previous_markdown: str) -> str:
    """Alt text for the figures of a code cell: the first sentence of the first Markdown output the cell displays
    after its first figure (the notebooks say what each figure shows right below it), else of ``previous_markdown``
    (:func:`prepare` passes the Markdown cell right after the code cell unless it is a heading, else the one above
    it), else "a figure"."""
    outputs = cell.get("outputs", [])
    first = next((i for i, o in enumerate(outputs) if "image/png" in o.get("data", {})), None)
    if first is not None:
        for out in outputs[first + 1:]:
            if _markdown_of(out).strip():
                return _first_sentence(_markdown_of(out))
    return _first_sentence(previous_markdown) if previous_markdown.strip() else "a figure"


def _report_links(markdown: str) -> str:
    """Relative links as the report page needs them: every page sits in ``reports/``, one folder below the
    repository, while an ablation's source sits two below (``notebooks/ablations/``), so its ``../../docs/...``
    becomes ``../docs/...``."""
    return re.sub(r"\]\(\.\./\.\./", "](../", markdown)


def prepare(nb):
    """A copy of the executed notebook as the HTML report shows it (see the module docstring)."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    previous_markdown = ""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = _report_links(cell.source)
            previous_markdown = cell.source
            continue
        if cell.cell_type == "code":
            after = nb.cells[index + 1] if index + 1 < len(nb.cells) else None
            next_markdown = (after.source if after is not None and after.cell_type == "markdown"
                             and not after.source.lstrip().startswith("#") else "")
            caption = figure_caption(cell, next_markdown or previous_markdown)
            for out in cell.get("outputs", []):
                if "image/png" in out.get("data", {}):
                    out.setdefault("metadata", {})["uda_nb_alt"] = caption
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if INTERACTIVE_TAG in _tags(cell):
            cell.outputs = [_note_output()]
            continue
        outputs, showed_widget = [], False
        for out in cell.get("outputs", []):
            if WIDGET_MIME in out.get("data", {}):
                showed_widget |= not _is_progress_bar(out)
                continue
            if out.output_type == "stream":
                text = "".join(out.text) if isinstance(out.text, list) else out.text
                text = _strip_progress_lines(text)
                if not text.strip():
                    continue
                out = copy.deepcopy(out)
                out.text = text
            elif "text/markdown" in out.get("data", {}):
                out.data["text/markdown"] = _report_links(_markdown_of(out))
            outputs.append(out)
        cell.outputs = outputs + ([_note_output()] if showed_widget else [])
    return nb


def label_widget_outputs(nb):
    """The executed notebook with every widget output's plain-text fallback (``interactive(children=(...``, what a
    viewer without the widget state shows) replaced by :data:`INTERACTIVE_NOTE`. The widget itself stays, so
    Jupyter still draws it. Progress bars keep their text (the HTML report drops them). Changes ``nb`` in place
    and returns it."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if WIDGET_MIME in out.get("data", {}) and not _is_progress_bar(out):
                out["data"]["text/plain"] = INTERACTIVE_NOTE
    return nb


def needs_math(nb) -> bool:
    """Whether any markdown cell or markdown/LaTeX output has TeX that MathJax would typeset."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and _MATH.search(cell.source):
            return True
        for out in cell.get("outputs", []) if cell.cell_type == "code" else ():
            for mime in ("text/markdown", "text/latex"):
                text = out.get("data", {}).get(mime, "")
                if _MATH.search("".join(text) if isinstance(text, list) else text):
                    return True
    return False


def exporter():
    """nbconvert's ``lab`` HTML exporter with the offline template (no CDN script)."""
    import jinja2
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", template_file="uda_nb_report.html.j2",
                        extra_loaders=[jinja2.DictLoader({"uda_nb_report.html.j2": _TEMPLATE})])


def to_html(nb) -> str:
    """The report's HTML for an executed notebook node (:func:`prepare` first, MathJax inlined if needed)."""
    page = prepare(nb)
    resources = {"uda_nb_extra_css": _EXTRA_CSS, "uda_nb_mathjax": mathjax_payload() if needs_math(page) else "",
                 "uda_nb_mathjax_config": _MATHJAX_CONFIG, "uda_nb_mathjax_loader": _MATHJAX_LOADER}
    body, _ = exporter().from_notebook_node(page, resources=resources)
    return with_title_and_index_link(body, page_title(nb))


def page_title(nb) -> str:
    """The notebook's first Markdown heading (``# DANN: ...``), the page's title; ``"uda_nb report"`` if none."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "uda_nb report"


def with_title_and_index_link(body: str, title: str) -> str:
    """``body`` with ``<title>`` set to ``title`` (nbconvert writes "Notebook") and a link back to the reports
    index (``index.html`` beside every report) at the top of the page."""
    safe = html_lib.escape(title)
    body = re.sub(r"<title>.*?</title>", f"<title>{safe}</title>", body, count=1, flags=re.S)
    link = ("<nav style='margin:0.6em 1em;font-family:system-ui,sans-serif'>"
            "<a href='index.html'>← all reports</a></nav>")
    return re.sub(r"(<body[^>]*>)", r"\1" + link, body, count=1)


def html_problems(page: str) -> list[str]:
    """What must never be in a report: remote scripts or styles, widget placeholders, progress bars, table
    cells cut by pandas. Empty when the page is clean."""
    problems = []
    for pattern, what in ((_REMOTE_SCRIPT, "a script loaded from the network"),
                          (_REMOTE_CSS, "a stylesheet loaded from the network")):
        for m in pattern.finditer(page):
            problems.append(f"{what}: {page[m.start():m.start() + 120]!r}")
    if WIDGET_MIME in page or "Loading widget" in page or WIDGET_STATE_MIME in page:
        problems.append("a widget placeholder (widget output or widget state)")
    text = re.sub(r"<script\b.*?</script>|<style\b.*?</style>", "", page, flags=re.S | re.I)
    for m in _PROGRESS.finditer(text):
        problems.append(f"a progress bar: {text[max(0, m.start() - 40):m.end() + 20]!r}")
    for m in _TRUNCATED_CELL.finditer(text):
        problems.append(f"a table cell cut with '...' (show it with uda_nb.tables.show_table): {m.group(0)[:120]!r}")
    return problems


def export_html(notebook: Path | str, html_path: Path | str | None = None) -> tuple[Path, list[str]]:
    """Write the HTML report of an executed notebook (default: beside it, ``.html``); return the path and
    :func:`html_problems` of the page."""
    notebook = Path(notebook)
    page = to_html(nbformat.read(notebook, as_version=4))
    path = atomic_write(Path(html_path) if html_path else notebook.with_suffix(".html"), page.encode())
    return path, html_problems(page)


def key_figure(nb) -> tuple[bytes, str] | None:
    """``(png bytes, cell id)`` of the first PNG output of the cell tagged ``key-figure``, or ``None``."""
    for cell in nb.cells:
        if cell.cell_type == "code" and KEY_FIGURE_TAG in _tags(cell):
            for out in cell.get("outputs", []):
                png = out.get("data", {}).get("image/png")
                if png:
                    png = "".join(png) if isinstance(png, list) else png
                    return base64.b64decode(png), str(cell.get("id", ""))
    return None


def key_figure_png(nb) -> bytes | None:
    """The first PNG output of the cell tagged ``key-figure`` (``None`` when no such cell or PNG)."""
    found = key_figure(nb)
    return found[0] if found else None
