"""``python -m uda_nb.reports [NOTEBOOK...]``: execute notebooks into ``reports/`` (``make reports``), or
re-export the HTML of the notebooks already executed there (``--html-only``, ``make html``).

Each notebook runs through papermill with ``BUDGET`` left to ``$UDA_NB_BUDGET`` (default ``report``), its
claims written beside it (``UDA_NB_CLAIMS_DIR=reports``) and ``UDA_NB_QUIET=1`` (no progress bars in the kernel).
:mod:`uda_nb.reports.html_export` then writes the HTML copy (offline equations, no widget plumbing, a note where a cell
is interactive), and ``reports/index.html`` is rewritten from every ``*.claims.json`` present. ``NOTEBOOK`` is a
path or a name (``01_dann``); with none, every notebook (``notebooks/*.ipynb``, or ``reports/*.ipynb`` with
``--html-only``).

The index (:func:`write_index`), one card per notebook in name order:

- the key figure's thumbnail (first PNG of the cell tagged ``key-figure``, embedded, linking to that cell),
- the title (linking to the HTML report), the one-line description and the paper reference,
- the claims tally (``3 of 4 hold``, coloured by how many hold or fail) and the budget (defined in the lead),
- the headline numbers in the order the notebook gave them (``write_claims(headline=...)``; for a method:
  source-only, the method, train-on-target, gap covered),
- the baselines it measured per domain pair, and the claims table, folded (✓ holds / ✗ fails / ? inconclusive, full
  text, rule and note),

and above the cards a note wherever two notebooks report different baselines for the same pair, naming the
networks. Everything is in the one file: copy ``reports/`` anywhere and it still works.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import os
import re
import time
from pathlib import Path

import nbformat

from ..cache import atomic_write
from ..claims import CHECK, CROSS, FAILS, HOLDS, INCONCLUSIVE, MARKS, QUERY, counts
from ..config import REPO_ROOT, reports_dir
from .html_export import export_html, html_problems, key_figure, label_widget_outputs

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
THUMB_WIDTH = 640  # pixels of the embedded thumbnail (shown at half that: sharp on a high-DPI screen)
BASELINE_KEYS = ("source-only", "DANN", "MDD", "train-on-target")


#: seconds an ``interactive``-tagged (ipywidgets) cell may run before the notebook is executed again. nbclient
#: sometimes does not see the kernel's reply to a widget cell until its wait for that reply times out
#: (jupyter/nbclient#312): the kernel is idle after a fraction of a second, yet the reply is read only at the
#: timeout, and then the cell completes normally. (Seen on 2 of 3 executions of 02_regda on 2026-12-03, each
#: cell recorded as taking exactly 300.0 s, the value here then.) More rarely the reply never comes and the cell
#: times out. So this timeout is what each stall costs: the widget cells take 0.1-2.3 s (they only draw from
#: results computed above), and 30 s leaves them ten times that.
WIDGET_CELL_TIMEOUT = 30
#: executions of one notebook before giving up; the run cache makes a second execution cheap
ATTEMPTS = 3


def _cell_timeout(cell) -> int | None:
    """nbclient's per-cell timeout: :data:`WIDGET_CELL_TIMEOUT` for the widget cells, none for the others."""
    tags = cell.get("metadata", {}).get("tags", [])
    return WIDGET_CELL_TIMEOUT if "interactive" in tags else None


def execute(notebook: Path, out_dir: Path, attempts: int = ATTEMPTS) -> Path:
    """Run one notebook with papermill into ``out_dir`` (same name) and write its HTML report beside it. A widget
    cell that does not finish within :data:`WIDGET_CELL_TIMEOUT` (a lost kernel message, not a slow cell) runs
    the whole notebook again, up to ``attempts`` times; any other error is raised at once."""
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError

    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / notebook.name
    tmp = out.with_name(f".{out.name}.running.ipynb")
    for attempt in range(1, attempts + 1):
        try:
            pm.execute_notebook(str(notebook), str(tmp), cwd=str(notebook.parent), kernel_name="python3",
                                progress_bar=False, log_output=False, timeout_func=_cell_timeout)
            break
        except CellTimeoutError:
            tmp.unlink(missing_ok=True)
            if attempt == attempts:
                raise
            print(f"  a widget cell of {notebook.name} did not finish in {WIDGET_CELL_TIMEOUT} s (attempt {attempt} "
                  f"of {attempts}): executing it again", flush=True)
    executed = nbformat.read(tmp, as_version=4)
    nbformat.write(label_widget_outputs(executed), tmp)  # no raw widget repr where widgets cannot be drawn
    os.replace(tmp, out)
    return out


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _pair_key(pair: str) -> str:
    """``"MNIST -> MNIST-M"``, ``"mnist → mnistm"`` and ``"mnist->mnistm"`` are the same pair."""
    key = str(pair).lower().replace("->", "→").replace("⟶", "→")
    return re.sub(r"[\s_\-]", "", key)


def _thumbnail(png: bytes) -> bytes:
    """The PNG scaled down to :data:`THUMB_WIDTH` pixels wide (as is when smaller or Pillow is missing)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return png
    img = Image.open(io.BytesIO(png))
    if img.width <= THUMB_WIDTH:
        return png
    img = img.resize((THUMB_WIDTH, max(1, round(img.height * THUMB_WIDTH / img.width))), Image.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


_RAN_IN = re.compile(r"(?:This notebook ran in|the whole notebook) ([\d,]+) s")  # 00_data says the latter


def _notebook_facts(out_dir: Path, name: str) -> dict:
    """Title (first ``#`` heading) and key figure of the executed ``<name>.ipynb`` in ``out_dir``, if there."""
    facts = {"title": "", "key_png": None, "key_cell": "", "seconds": None}
    path = out_dir / f"{name}.ipynb"
    if not path.exists():
        return facts
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # the closing line every notebook prints: "This notebook ran in 627 s (budget ...)"
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            text = "".join(str(v) if not isinstance(v, list) else "".join(v) for v in out.get("data", {}).values())
            m = _RAN_IN.search(text + str(out.get("text", "")))
            if m:
                facts["seconds"] = int(m.group(1).replace(",", ""))
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                facts["title"] = m.group(1).strip()
                break
    found = key_figure(nb)
    if found:
        facts["key_png"], facts["key_cell"] = _thumbnail(found[0]), found[1]
    return facts


def load_entries(out_dir: Path) -> list[dict]:
    """One dict per ``*.claims.json`` in ``out_dir`` (name order), completed from the executed notebook."""
    entries = []
    for claims_file in sorted(out_dir.glob("*.claims.json")):
        data = json.loads(claims_file.read_text())
        name = data.get("notebook") or claims_file.name[: -len(".claims.json")]
        facts = _notebook_facts(out_dir, name)
        headline = data.get("headline") or {}
        order = [k for k in data.get("headline_order") or [] if k in headline]
        order += [k for k in headline if k not in order]
        claims = data.get("claims", [])
        entries.append({
            "name": name, "title": data.get("title") or facts["title"] or name,
            "description": data.get("description", ""), "paper": data.get("paper", ""),
            "budget": data.get("budget", ""), "headline": [(k, headline[k]) for k in order],
            "baselines": data.get("baselines") or {}, "claims": claims,
            "held": counts(claims)[HOLDS], "outcomes": counts(claims),
            "has_html": (out_dir / f"{name}.html").exists(),
            "key_png": facts["key_png"], "key_cell": facts["key_cell"], "seconds": facts["seconds"],
        })
    return entries


def headline_text(entry: dict) -> str:
    """An entry's headline numbers on one line, in the notebook's order: ``"DANN 64.3 %; GSDA 67.4 %"``."""
    return "; ".join(f"{k} {v}" for k, v in entry["headline"])


def baseline_notes(entries: list[dict]) -> list[str]:
    """Plain-text notes, one per domain pair, where notebooks report different baselines (:data:`BASELINE_KEYS`:
    source-only, DANN, MDD, train-on-target) for the same pair, with the values and network of each."""
    by_pair: dict[str, list[tuple[str, str, dict]]] = {}
    for entry in entries:
        for pair, row in entry["baselines"].items():
            by_pair.setdefault(_pair_key(pair), []).append((entry["name"], pair, row))
    notes = []
    for rows in by_pair.values():
        differ = [k for k in BASELINE_KEYS
                  if len({str(row.get(k, "")).strip() for _, _, row in rows if str(row.get(k, "")).strip()}) > 1]
        if len(rows) < 2 or not differ:
            continue
        sides = []
        for name, _, row in rows:
            values = ", ".join(f"{k} {row[k]}" for k in differ if str(row.get(k, "")).strip())
            sides.append(f"{name} reports {values or 'no ' + ' / '.join(differ)} "
                         f"({row.get('network') or 'network not stated'})")
        networks = {str(row.get("network", "")).strip() for _, _, row in rows}
        why = ("different networks or training lengths" if len(networks) > 1 else
               "the same network, different runs (budget, steps or seeds)")
        notes.append(f"{rows[0][1]}: {'; '.join(sides)}: {why}.")
    return notes


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 1080px; margin: 2em auto;
       padding: 0 1em; color: #1d232b; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } .lead { color: #4a5563; margin-top: 0; }
a { color: #1f5fae; }
.notes { border-left: 4px solid #d8a200; background: #fff8e1; padding: 0.6em 1em; margin: 1.2em 0; }
.notes h2 { font-size: 1em; margin: 0 0 0.3em; } .notes ul { margin: 0; padding-left: 1.2em; }
.card { border: 1px solid #d9dee5; border-radius: 8px; padding: 1em 1.2em; margin: 1.4em 0; }
.top { display: flex; gap: 1.2em; align-items: flex-start; }
.thumb { flex: 0 0 320px; } .thumb img { width: 320px; border: 1px solid #e3e7ec; border-radius: 4px; }
.thumb .none { width: 320px; height: 120px; display: flex; align-items: center; justify-content: center;
               color: #8a94a3; background: #f5f7fa; border-radius: 4px; font-size: 0.9em; text-align: center; }
.facts { flex: 1; min-width: 0; overflow-x: auto; }
.card h2 { margin: 0 0 0.25em; font-size: 1.3em; } .card h2 small { color: #6b7684; font-weight: normal; }
.desc { margin: 0.2em 0 0.5em; } .meta { color: #4a5563; font-size: 0.92em; margin: 0.3em 0; }
.tally { font-weight: 600; padding: 0.05em 0.5em; border-radius: 1em; }
.tally.all { background: #e3f5ea; color: #19733c; } .tally.some { background: #fdecec; color: #a12727; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
td, th { padding: 4px 10px; border-bottom: 1px solid #e3e7ec; text-align: left; vertical-align: top; }
th { background: #f5f7fa; }
table.headline td { font-size: 1.15em; font-weight: 600; }
table.claims { width: 100%; } table.claims td.holds { font-size: 1.1em; text-align: center; }
td.rule { white-space: nowrap; }
.ok { color: #19733c; } .no { color: #c0392b; } .maybe { color: #8a6d00; }
.tally.none { background: #fff4d6; color: #7a5b00; }
.tally.most { background: #eef6e4; color: #3b6b1e; }
h3 { font-size: 1em; margin: 1em 0 0.2em; color: #4a5563; }
footer { color: #6b7684; font-size: 0.85em; margin-top: 2em; }
"""


def _card(entry: dict) -> list[str]:
    name = entry["name"]
    link = f"{_e(name)}.html" if entry["has_html"] else ""
    parts = [f"<section class='card' id='{_e(name)}'><div class='top'>"]
    if entry["key_png"]:  # a report without a cell tagged key-figure gets no thumbnail (and no placeholder)
        img = (f"<img alt='key figure of {_e(name)}' "
               f"src='data:image/png;base64,{base64.b64encode(entry['key_png']).decode()}'>")
        target = f"{link}#cell-id={_e(entry['key_cell'])}" if link and entry["key_cell"] else link
        parts.append("<div class='thumb'>" + (f"<a href='{target}'>{img}</a>" if target else img) + "</div>")
    title = _e(entry["title"])
    parts.append("<div class='facts'>")
    if link:
        title = f"<a href='{link}'>{title}</a>"
    parts.append(f"<h2>{title} <small>{_e(name)}</small></h2>")
    if entry["description"]:
        parts.append(f"<p class='desc'>{_e(entry['description'])}</p>")
    meta = []
    if entry["paper"]:
        meta.append(f"Paper: {_e(entry['paper'])}")
    n = len(entry["claims"])
    if n:
        out = entry["outcomes"]
        cls = ("all" if out[HOLDS] == n else "most" if 2 * out[HOLDS] > n else
               "some" if out[FAILS] > out[HOLDS] else "none")
        words = [f"{out[HOLDS]} of {n} claims hold"] + [f"{out[k]} {w}" for k, w in
                                                          ((FAILS, "fail"), (INCONCLUSIVE, "inconclusive")) if out[k]]
        meta.append(f"<span class='tally {cls}'>{', '.join(words)}</span>")
    if entry["budget"]:
        meta.append(f"budget <code>{_e(entry['budget'])}</code>")
    if meta:
        parts.append(f"<p class='meta'>{' · '.join(meta)}</p>")
    if entry["headline"]:
        parts.append("<table class='headline'><tr>" + "".join(f"<th>{_e(k)}</th>" for k, _ in entry["headline"])
                     + "</tr><tr>" + "".join(f"<td>{_e(v)}</td>" for _, v in entry["headline"]) + "</tr></table>")
    if entry["baselines"]:
        keys = [k for k in BASELINE_KEYS if any(k in r for r in entry["baselines"].values())]
        parts.append("<h3>Baselines measured here</h3><table class='baselines'><tr><th>pair</th>"
                     + "".join(f"<th>{_e(k)}</th>" for k in keys) + "<th>network</th></tr>")
        for pair, row in entry["baselines"].items():
            parts.append(f"<tr><td>{_e(pair)}</td>" + "".join(f"<td>{_e(row.get(k, ''))}</td>" for k in keys)
                         + f"<td>{_e(row.get('network', ''))}</td></tr>")
        parts.append("</table>")
    parts.append("</div></div>")
    if entry["claims"]:
        cols = [c for c in ("paper", "ours", "rule", "note") if any(str(x.get(c, "")).strip() for x in entry["claims"])]
        parts.append(f"<details><summary>Claims ({len(entry['claims'])}): each with the paper's number, ours and the "
                     "rule (click to open)</summary><table class='claims'><tr><th>outcome</th><th>claim</th>"
                     + "".join(f"<th>{c}</th>" for c in cols) + "</tr>")
        for claim in entry["claims"]:
            outcome = claim.get("outcome") or (HOLDS if claim.get("holds") else FAILS)
            cls = {HOLDS: "ok", FAILS: "no"}.get(outcome, "maybe")
            mark = f"{MARKS.get(outcome, QUERY)} {outcome}"
            parts.append(f"<tr><td class='holds {cls}'>{mark}</td><td>{_e(claim.get('claim', ''))}</td>"
                         + "".join(f"<td class='{c}'>{_e(claim.get(c, ''))}</td>" for c in cols) + "</tr>")
        parts.append("</table></details>")
    parts.append("</section>")
    return parts


def _budget_sentence(entries: list[dict]) -> str:
    """The index's definition of a page's budget, naming the budget every page used when they agree."""
    budgets = sorted({e["budget"] for e in entries if e["budget"]})
    used = (f"every page here used the <code>{_e(budgets[0])}</code> budget, whose values each page states at its top"
            if len(budgets) == 1 else "each page states its budget and that budget's values at its top")
    return ("The <em>budget</em> of a page is how much training stands behind its numbers (steps per run, images "
            f"per step, training seeds); {used}.")


def index_html(entries: list[dict]) -> str:
    """The reports index page for :func:`load_entries`' entries (see the module docstring)."""
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             f"<title>uda_nb reports</title><style>{_CSS}</style></head><body>",
             "<h1>uda_nb: executed reports</h1>",
             "<p class='lead'>One notebook per paper, executed by <code>make reports</code>: what it reproduces, "
             "its key figure, headline numbers and which of the paper's claims hold here. Open a report for the "
             "whole story; every page works offline. " + _budget_sentence(entries) + "</p>"]
    if entries:
        parts.append("<table class='summary'><tr><th>report</th><th>headline</th><th>holds / fails / inconclusive</th>"
                     "<th>time of its last execution</th></tr>")
        for e in entries:
            out = e["outcomes"]
            counts_ = (f"<span class='ok'>{out[HOLDS]}</span> / <span class='no'>{out[FAILS]}</span> / "
                       f"<span class='maybe'>{out[INCONCLUSIVE]}</span>") if e["claims"] else ""
            head = headline_text(e)
            took = f"{e['seconds'] / 60:.0f} min" if e["seconds"] else ""
            parts.append(f"<tr><td><a href='#{_e(e['name'])}'>{_e(e['title'])}</a></td><td>{_e(head)}</td>"
                         f"<td>{counts_}</td><td>{took}</td></tr>")
        parts.append("</table>")
    notes = baseline_notes(entries)
    if notes:
        parts.append("<div class='notes'><h2>Same pair, different baselines</h2><ul>"
                     + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul></div>")
    for entry in entries:
        parts.extend(_card(entry))
    parts.append("<footer>Written from <code>reports/*.claims.json</code> and the executed notebooks by "
                 "<code>make reports</code> / <code>make html</code>. "
                 f"{CHECK} holds: the per-seed differences clear the claim's minimum effect and their 90 % interval "
                 f"excludes 0; {CROSS} fails: the interval lies below the minimum; {QUERY} inconclusive: the seeds "
                 "cannot tell the effect from noise.</footer>"
                 "</body></html>")
    return "\n".join(parts) + "\n"


def write_index(out_dir: Path) -> Path:
    """``index.html``: one card per ``*.claims.json`` in ``out_dir`` (see the module docstring)."""
    return atomic_write(Path(out_dir) / "index.html", index_html(load_entries(Path(out_dir))).encode())


def reproduces(outcomes: list[str]) -> str:
    """Whether a report reproduces its paper, from its claims' outcomes, the first being its headline claim:
    **yes** when the headline holds and no claim fails; **partly** when the headline holds but another claim fails,
    or the headline is inconclusive and another claim holds; **no** when the headline fails or nothing holds."""
    if not outcomes:
        return "no claims"
    head, others = outcomes[0], outcomes[1:]
    if head == HOLDS:
        return "yes" if FAILS not in others else "partly"
    if head == INCONCLUSIVE and HOLDS in others:
        return "partly"
    return "no"


def results_table(out_dir: Path) -> str:
    """The README's results table, one row per ``*.claims.json`` in ``out_dir``: the report (linked), the paper,
    its headline claim (the first) with the paper's number and ours, whether the report reproduces the paper
    (:func:`reproduces`) and the claims' outcome counts (holds / fails / inconclusive). ``python -m uda_nb.reports
    --results-table`` prints it; a test keeps README.md equal to it."""
    rows = ["| report | paper | headline claim | paper's number | ours | reproduces | holds / fails / inconclusive |",
            "|---|---|---|---|---|---|---|"]
    for e in load_entries(Path(out_dir)):
        n = e["outcomes"]
        claims = e["claims"]
        head = claims[0] if claims else {}
        verdict = reproduces([c.get("outcome", INCONCLUSIVE) for c in claims])
        rows.append(f"| [{e['name']}](reports/{e['name']}.html) | {e['title']} | {head.get('claim', '')} | "
                    f"{head.get('paper', '')} | {head.get('ours', '')} | {verdict} | {n[HOLDS]} / {n[FAILS]} / "
                    f"{n[INCONCLUSIVE]} |")
    return "\n".join(rows)


def default_out_dir() -> Path:
    """``reports/`` for the report budget (the committed pages); ``reports/<budget>/`` for any other
    ``$UDA_NB_BUDGET`` (git-ignored), created when needed."""
    budget = os.environ.get("UDA_NB_BUDGET", "report").strip() or "report"
    if budget == "report":
        return reports_dir()
    out = reports_dir() / budget
    out.mkdir(parents=True, exist_ok=True)
    return out


def _only_one_starting(stem: str, candidates) -> Path | None:
    """The one candidate named ``<stem>_...`` (a short name: "02a" for 02a_regda_minimax), or ``None``."""
    found = [p for p in candidates if p.stem.startswith(f"{stem}_")]
    return found[0] if len(found) == 1 else None


def _resolve(arg: str, html_only: bool, out_dir: Path) -> Path:
    """A notebook argument (path, name or short name) as the notebook to execute, or with ``html_only`` the
    executed copy."""
    name = Path(arg).name
    name = name if name.endswith(".ipynb") else f"{name}.ipynb"
    stem = Path(name).stem
    if html_only:
        exact = out_dir / name
        return exact if exact.exists() else _only_one_starting(stem, sorted(out_dir.glob("*.ipynb"))) or exact
    path = Path(arg)
    if path.suffix == ".ipynb" and path.exists():
        return path
    found = sorted(NOTEBOOKS_DIR.rglob(name))  # notebooks/ and notebooks/ablations/
    if found:
        return found[0]
    return _only_one_starting(stem, all_notebooks()) or NOTEBOOKS_DIR / name


def all_notebooks() -> list[Path]:
    """Every notebook source: ``notebooks/*.ipynb``, then ``notebooks/ablations/*.ipynb`` (which reuse the main
    notebooks' cached runs, so they run after them)."""
    return [p for pattern in ("*.ipynb", "ablations/*.ipynb") for p in sorted(NOTEBOOKS_DIR.glob(pattern))
            if not p.name.startswith(".")]


def _export(executed: Path) -> int:
    path, problems = export_html(executed)
    for problem in problems:
        print(f"  WARNING {path.name}: {problem}", flush=True)
    return len(problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m uda_nb.reports", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="paths or names (01_dann); default: every notebook")
    parser.add_argument("--out", type=Path, default=None,
                        help="the reports folder (default reports/ for the report budget, reports/<budget>/ for "
                             "another $UDA_NB_BUDGET, so that a lecture or smoke run never replaces the committed "
                             "report pages)")
    parser.add_argument("--html-only", action="store_true",
                        help="re-export the HTML of the notebooks already executed in --out, without running them")
    parser.add_argument("--results-table", action="store_true",
                        help="print README.md's results table from the claims files in --out, and stop")
    args = parser.parse_args(argv)
    out_dir = (args.out if args.out is not None else default_out_dir()).resolve()
    if args.results_table:
        print(results_table(out_dir))
        return 0
    if args.notebooks:
        notebooks = [_resolve(a, args.html_only, out_dir) for a in args.notebooks]
    elif args.html_only:
        notebooks = sorted(p for p in out_dir.glob("*.ipynb") if not p.name.startswith("."))
    else:
        notebooks = all_notebooks()
    missing = [str(p) for p in notebooks if not p.exists()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}; the notebooks are "
                     f"{', '.join(p.stem for p in all_notebooks())}"
                     + (" (--html-only re-exports notebooks already executed there)" if args.html_only else ""))
    problems = 0
    if args.html_only:
        for nb in notebooks:
            problems += _export(nb)
            print(f"  -> {nb.with_suffix('.html')}", flush=True)
    else:
        os.environ["UDA_NB_CLAIMS_DIR"] = str(out_dir)
        os.environ["UDA_NB_QUIET"] = "1"  # the kernel inherits it: no progress bars in the executed reports
        os.environ.setdefault("UDA_NB_BUDGET", "report")
        os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        for nb in notebooks:
            start = time.perf_counter()
            print(f"executing {nb} (budget {os.environ['UDA_NB_BUDGET']}) ...", flush=True)
            out = execute(nb.resolve(), out_dir)
            problems += _export(out)
            print(f"  -> {out} and .html in {time.perf_counter() - start:.0f} s", flush=True)
    index = write_index(out_dir)
    for problem in html_problems(index.read_text()):
        print(f"  WARNING index.html: {problem}", flush=True)
    print(f"index: {index}" + (f" ({problems} warning(s) above)" if problems else ""))
    return 0

