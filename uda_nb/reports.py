"""``python -m uda_nb.reports NOTEBOOK...``: execute notebooks into ``reports/`` (``make reports``).

Each notebook runs through papermill with ``BUDGET`` left to ``$UDA_NB_BUDGET`` (default ``report``) and its
claims written beside it (``UDA_NB_CLAIMS_DIR=reports``); nbconvert then writes the HTML copy, and
``reports/index.html`` lists every executed notebook with its headline numbers and claims.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from pathlib import Path

from .cache import atomic_write
from .config import reports_dir


def execute(notebook: Path, out_dir: Path) -> Path:
    """Run one notebook with papermill into ``out_dir`` (same relative name) and convert it to HTML."""
    import nbformat
    import papermill as pm
    from nbconvert import HTMLExporter

    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / notebook.name
    tmp = out.with_name(f".{out.name}.running.ipynb")
    pm.execute_notebook(str(notebook), str(tmp), cwd=str(notebook.parent), kernel_name="python3",
                        progress_bar=False, log_output=False)
    os.replace(tmp, out)
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(out, as_version=4))
    atomic_write(out.with_suffix(".html"), body.encode())
    return out


def write_index(out_dir: Path) -> Path:
    """``index.html``: one section per ``*.claims.json`` with headline numbers and the claims table."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>uda_nb reports</title>",
             "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto}td,th{padding:4px 8px;"
             "border-bottom:1px solid #ddd;text-align:left}.ok{color:#2a7}.no{color:#c33}</style></head><body>",
             "<h1>uda_nb executed reports</h1>"]
    for claims_file in sorted(out_dir.glob("*.claims.json")):
        data = json.loads(claims_file.read_text())
        name = data.get("notebook", claims_file.name.split(".")[0])
        parts.append(f"<h2><a href='{html.escape(name)}.html'>{html.escape(name)}</a> "
                     f"<small>(budget: {html.escape(str(data.get('budget', '')))})</small></h2>")
        if data.get("headline"):
            parts.append("<ul>" + "".join(f"<li>{html.escape(str(k))}: <b>{html.escape(str(v))}</b></li>"
                                          for k, v in data["headline"].items()) + "</ul>")
        parts.append("<table><tr><th>claim</th><th>paper</th><th>ours</th><th>holds</th></tr>")
        for c in data.get("claims", []):
            cls, mark = ("ok", "yes") if c.get("holds") else ("no", "no")
            parts.append(f"<tr><td>{html.escape(c['claim'])}</td><td>{html.escape(str(c['paper']))}</td>"
                         f"<td>{html.escape(str(c['ours']))}</td><td class='{cls}'>{mark}</td></tr>")
        parts.append("</table>")
    parts.append(f"<p><small>Generated {time.strftime('%Y-%m-%d %H:%M')} by <code>make reports</code>.</small></p>"
                 "</body></html>")
    return atomic_write(out_dir / "index.html", "\n".join(parts).encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=reports_dir())
    args = parser.parse_args(argv)
    out_dir = args.out.resolve()
    os.environ["UDA_NB_CLAIMS_DIR"] = str(out_dir)
    os.environ.setdefault("UDA_NB_BUDGET", "report")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    for nb in args.notebooks:
        start = time.perf_counter()
        print(f"executing {nb} (budget {os.environ['UDA_NB_BUDGET']}) ...", flush=True)
        out = execute(nb.resolve(), out_dir)
        print(f"  -> {out} and .html in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"index: {write_index(out_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
