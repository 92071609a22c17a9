"""Do the executed reports read right in a real browser, and do the notebooks' widgets answer in JupyterLab?

Two checks in headless Chromium (selenium, with the system chromedriver), one subcommand each:

``pages``: every ``reports/*.html`` page (``index.html`` first) at a 1280-px-wide window, as ``file://``: a
full-page screenshot, then, in the live DOM, once MathJax has typeset: the title is not nbconvert's "Notebook";
there is a link to ``index.html`` (not needed on the index); every code cell is folded (its
``<details class="uda-code">`` closed, no input ``<pre>`` visible); no image says "No description has been
provided for this image"; no raw TeX is left in the visible text (``$$``, ``\\(``, ``\\[``, ``\\begin{``, or an
inline ``$...$``; code, ``<pre>`` and MathJax's own output are skipped); local links point at files that exist;
each image's rendered width in CSS px against its natural width (printed, not judged: a ratio below 1 is a figure
scaled down to the column, above 1 a figure blown up). On the index: a summary table, and every card has a
loaded image and no placeholder ("no key figure", ``.thumb .none``). Prints a table; exits 1 if a check fails.

``lab NOTEBOOK...``: starts JupyterLab headless (port 8899, token ``uda``) with the environment of this process
(so ``UDA_NB_BUDGET`` and friends reach the kernel; ``UDA_NB_DATA`` defaults to ``<repo>/data``), opens each
notebook in turn, and reports whether opening alone marks it modified (the tab's dirty mark and the model's
``dirty`` flag after autosave had time to run, the file's bytes before/after, and what JupyterLab changed), runs
all cells from the Run menu, waits for the kernel to go idle, then for every ipywidget control (slider, dropdown,
checkbox, toggle button) changes its value as a user would (arrow key on a slider handle, another option in a
dropdown, a click on a checkbox) and times until the widget's output area has its new content (a
MutationObserver on the ``.widget-output``: the last change before the kernel is idle again and the output has been
quiet for 0.5 s; the clock starts at the browser's own input event), takes a screenshot, changes it back and
times that too. By default the notebook is opened from a copy in a temporary folder laid out like the repository
(``<tmp>/notebooks/01_dann.ipynb``: uda_nb is installed editable and data comes from ``UDA_NB_DATA``, so the copy
runs as the original does), so JupyterLab's autosave can never write outputs into ``notebooks/``; there autosave
runs every 3 s, which makes the before/after bytes meaningful. ``--in-place`` opens the file in the repository
instead, with autosave off, and puts its bytes back if they changed anyway. Ends with ``git status --short
notebooks/``.

Needs: ``apt-get install -y chromium chromium-driver`` and ``.venv/bin/pip install selenium``.

Commands (from the repository root):

    .venv/bin/python studies/browser_check.py pages [--out /tmp/browser_check] [reports/01_dann.html ...]
    .venv/bin/python studies/browser_check.py lab notebooks/01_dann.ipynb [notebooks/05_gsda.ipynb ...]
        [--out /tmp/browser_check] [--in-place] [--env UDA_NB_BUDGET=lecture] [--run-timeout 3600]

Screenshots: ``<out>/pages/<page>.png``; ``<out>/lab/<notebook>/{opened,ran,wNN_<kind>_<label>[_back]}.png``.
Results are printed, not recorded under benchmarks/results/ (a one-off check of the pages and of the widgets).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

REPO = Path(__file__).resolve().parents[1]
REPORTS = REPO / "reports"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WIDTH = 1280
NO_DESCRIPTION = "No description has been provided for this image"


# ----------------------------------------------------------------------------------------------------------- browser

def make_driver(width: int = WIDTH, height: int = 1000):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        sys.exit("selenium is missing: .venv/bin/pip install selenium (and apt-get install -y chromium-driver)")
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not Path(exe).exists():
            sys.exit(f"{exe} is missing: apt-get install -y chromium chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--force-device-scale-factor=1", f"--window-size={width},{height}", "--no-first-run",
                "--disable-extensions", "--allow-file-access-from-files"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    opts.set_capability("unhandledPromptBehavior", "accept")  # a "leave page?" prompt must not stop the run
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_script_timeout(120)
    driver.set_page_load_timeout(120)
    return driver


def browser_errors(driver) -> list[str]:
    try:
        return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    except Exception:  # noqa: BLE001 - a driver without the log endpoint
        return []


def full_page_png(driver, path: Path, max_height: int = 60000) -> tuple[int, int]:
    """A screenshot of the whole page (not just the window) through the DevTools protocol; (width, height) in CSS px."""
    m = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = m.get("cssContentSize") or m["contentSize"]
    w, h = int(size["width"]), min(int(size["height"]), max_height)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True, "fromSurface": True,
        "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return w, h


def table(rows: list[dict], cols: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) if rows else len(c) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols), "  ".join("-" * widths[c] for c in cols)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in cols) for r in rows]
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------------------------- pages

# Runs in the page once loaded: waits for MathJax's first typeset and for every image, then measures.
PAGE_JS = r"""
const done = arguments[arguments.length - 1];
(async () => {
  const t0 = performance.now();
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  let mathjax = 'not on page';
  if (document.getElementById('uda-nb-mathjax')) {
    while (!(window.MathJax && MathJax.startup && MathJax.startup.promise) && performance.now() - t0 < 60000) await sleep(100);
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      await MathJax.startup.promise; mathjax = 'typeset';
    } else { mathjax = 'never loaded'; }
  }
  const mathjaxSeconds = (performance.now() - t0) / 1000;
  await Promise.all([...document.images].map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  const visible = el => !!el && (el.checkVisibility ? el.checkVisibility({visibilityProperty: true}) : el.getClientRects().length > 0);

  // code cells: folded in <details class="uda-code">, no visible input
  const details = [...document.querySelectorAll('details.uda-code')];
  const inputs = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea, .jp-CodeCell .jp-Cell-inputWrapper')];
  const codeCells = document.querySelectorAll('.jp-CodeCell').length;
  const unwrapped = [...document.querySelectorAll('.jp-CodeCell')].filter(c => {
    const inp = c.querySelector('.jp-InputArea'); return inp && !inp.closest('details.uda-code'); }).length;
  const visibleInputPre = [...document.querySelectorAll('.jp-InputArea pre, .jp-InputArea .highlight')].filter(visible).length;

  // raw TeX in the visible text (not in code, pre, scripts or MathJax's own output)
  const skip = 'script,style,pre,code,mjx-container,mjx-assistive-mml,textarea,.jp-InputArea';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const tex = [];
  const texRe = /\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$[^\s$][^$\n]{0,200}?[^\s$\\]\$|\$[^\s$]\$/g;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (!p || p.closest(skip) || !visible(p)) continue;
    const s = n.textContent;
    for (const m of s.matchAll(texRe)) tex.push(s.slice(Math.max(0, m.index - 30), m.index + 50).replace(/\s+/g, ' '));
  }

  const imgs = [...document.images].map(i => {
    const r = i.getBoundingClientRect();
    // rendered width of the picture itself (no border): clientWidth, else the box
    return {alt: (i.getAttribute('alt') || ''), w: i.clientWidth || r.width, h: r.height, nw: i.naturalWidth, nh: i.naturalHeight,
            attrw: i.getAttribute('width'), visible: visible(i),
            cell: (i.closest('.jp-Cell') && i.closest('.jp-Cell').id) || ''};
  });
  const hrefs = [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));

  let index = null;
  if (/(^|\/)index\.html$/.test(location.pathname)) {
    const summary = document.querySelector('table.summary');
    const cards = [...document.querySelectorAll('section.card')].map(c => {
      const img = c.querySelector('.thumb img');
      return {id: c.id, img: !!img, imgLoaded: !!img && img.complete && img.naturalWidth > 0,
              placeholder: !!c.querySelector('.thumb .none, div.none') || /no key figure|placeholder/i.test(c.innerText)};
    });
    index = {summary: !!summary, summaryRows: summary ? summary.querySelectorAll('tr').length - 1 : 0, cards};
  }
  return {title: document.title, innerWidth: window.innerWidth, clientWidth: document.documentElement.clientWidth,
          height: document.documentElement.scrollHeight, mathjax, mathjaxSeconds,
          mjx: document.querySelectorAll('mjx-container').length,
          details: details.length, detailsOpen: details.filter(d => d.open).length, codeCells, unwrapped,
          visibleInputs: inputs.filter(visible).length, visibleInputPre, tex, imgs, hrefs, index};
})().then(done, e => done({error: String(e && e.stack || e)}));
"""


def check_page(driver, page: Path, out: Path) -> tuple[dict, list[str], list[dict]]:
    """(row of the results table, failures, image rows) for one page."""
    driver.get_log("browser") if hasattr(driver, "get_log") else None  # drop what an earlier page logged
    t0 = time.perf_counter()
    driver.get(page.resolve().as_uri())
    res = driver.execute_async_script(PAGE_JS)
    load_s = time.perf_counter() - t0
    if "error" in res:
        return {"page": page.name, "result": "FAIL"}, [f"the check script failed: {res['error']}"], []
    shot = out / "pages" / f"{page.stem}.png"
    w, h = full_page_png(driver, shot)
    errors = browser_errors(driver)
    is_index = page.name == "index.html"
    fails = []
    if res["title"].strip() in ("", "Notebook"):
        fails.append(f"title is {res['title']!r}")
    has_index_link = any(unquote(urlparse(h).path).endswith("index.html") for h in res["hrefs"])
    if not is_index and not has_index_link:
        fails.append("no link to index.html")
    if res["detailsOpen"] or res["visibleInputs"] or res["visibleInputPre"] or res["unwrapped"]:
        fails.append(f"code not folded: {res['detailsOpen']} of {res['details']} details open, "
                     f"{res['unwrapped']} code cells outside details, {res['visibleInputs']} inputs visible")
    no_desc = sum(i["alt"] == NO_DESCRIPTION for i in res["imgs"])
    if no_desc:
        fails.append(f"{no_desc} images with alt {NO_DESCRIPTION!r}")
    broken = [i["alt"][:40] for i in res["imgs"] if not i["nw"]]
    if broken:
        fails.append(f"{len(broken)} images that did not load: {broken[:3]}")
    if res["mathjax"] == "never loaded":
        fails.append("MathJax never loaded")
    if res["tex"]:
        fails.append(f"{len(res['tex'])} raw TeX left, e.g. {res['tex'][:3]}")
    missing = []
    for href in res["hrefs"]:
        u = urlparse(href)
        if u.scheme in ("http", "https", "mailto", "data", "javascript") or not u.path:
            continue
        target = (page.parent / unquote(u.path)).resolve()
        if not target.exists():
            missing.append(href)
    if missing:
        fails.append(f"{len(missing)} local links to missing files: {missing[:5]}")
    if errors:
        fails.append(f"{len(errors)} browser console errors: {[e[:160] for e in errors[:3]]}")
    idx = ""
    if is_index:
        ix = res["index"] or {}
        cards = ix.get("cards", [])
        bad = [c["id"] for c in cards if not c["imgLoaded"] or c["placeholder"]]
        if not ix.get("summary") or not ix.get("summaryRows"):
            fails.append("index: no summary table (or no rows)")
        if not cards:
            fails.append("index: no cards")
        if bad:
            fails.append(f"index: cards without a loaded image or with a placeholder: {bad}")
        idx = f"summary {ix.get('summaryRows', 0)} rows; {len(cards) - len(bad)}/{len(cards)} cards ok"
    imgs = [i for i in res["imgs"] if i["nw"]]
    ratios = [i["w"] / i["nw"] for i in imgs if i["visible"] and i["w"]]
    img_rows = [{"page": page.name, "n": k, "cell": i["cell"], "css_w": f"{i['w']:.0f}", "natural_w": i["nw"],
                 "width_attr": i["attrw"] or "", "ratio": f"{i['w'] / i['nw']:.2f}" if i["w"] else "hidden",
                 "alt": (i["alt"][:60] + ("…" if len(i["alt"]) > 60 else ""))} for k, i in enumerate(imgs)]
    row = {"page": page.name, "title": res["title"][:38], "index link": "-" if is_index else ("yes" if has_index_link else "NO"),
           "code folded": f"{res['details'] - res['detailsOpen']}/{res['details']}" + (f" +{res['visibleInputs']} visible" if res["visibleInputs"] else ""),
           "no-desc alt": no_desc, "raw TeX": len(res["tex"]),
           "MathJax": f"{res['mathjax']} ({res['mjx']})" if res["mathjax"] != "not on page" else "-",
           "imgs": len(res["imgs"]),
           "css/natural w": f"{min(ratios):.2f}..{max(ratios):.2f}" if ratios else "-",
           "scaled <0.99": sum(r < 0.99 for r in ratios), "blown up >1.01": sum(r > 1.01 for r in ratios),
           "index": idx, "js err": len(errors), "page px": f"{w}x{h}", "load s": f"{load_s:.1f}",
           "result": "FAIL" if fails else "ok", "screenshot": str(shot)}
    return row, fails, img_rows


def cmd_pages(args) -> int:
    out = Path(args.out)
    pages = [Path(p) for p in args.pages] if args.pages else (
        [REPORTS / "index.html"] + sorted(p for p in REPORTS.glob("*.html") if p.name != "index.html"))
    driver = make_driver(WIDTH, 1000)
    rows, failures, img_rows = [], {}, []
    try:
        print(f"window: {driver.execute_script('return window.innerWidth')} CSS px wide "
              f"(devicePixelRatio {driver.execute_script('return window.devicePixelRatio')})", flush=True)
        for page in pages:
            row, fails, imgs = check_page(driver, page, out)
            rows.append(row)
            img_rows += imgs
            if fails:
                failures[page.name] = fails
            print(f"  {page.name}: {row['result']} ({row.get('load s', '?')} s)", flush=True)
    finally:
        driver.quit()
    cols = ["page", "title", "index link", "code folded", "no-desc alt", "raw TeX", "MathJax", "imgs",
            "css/natural w", "scaled <0.99", "blown up >1.01", "index", "js err", "page px", "result"]
    print("\n" + table(rows, cols))
    print("\nimages (css_w: rendered width in CSS px at a 1280-px window; ratio = css_w / natural_w):")
    print(table(img_rows, ["page", "n", "cell", "css_w", "natural_w", "width_attr", "ratio", "alt"]))
    print("\nscreenshots:")
    for r in rows:
        print(f"  {r.get('screenshot', '')}")
    if failures:
        print("\nFAILURES:")
        for name, fails in failures.items():
            for f in fails:
                print(f"  {name}: {f}")
        return 1
    print("\nall checks pass")
    return 0


# ---------------------------------------------------------------------------------------------------------------- lab

LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}

# The notebook panel of `path` (JupyterLab's app is exposed as window.jupyterapp by --LabApp.expose_app_in_browser).
FIND_PANEL_JS = r"""
const path = arguments[0];
const app = window.jupyterapp;
if (!app || !app.shell) return {app: false};
const panel = Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path === path);
if (!panel) return {app: true, panel: false};
window.__bcPanel = panel;
const s = panel.sessionContext && panel.sessionContext.session;
return {app: true, panel: true, ready: panel.context.isReady, kernel: s && s.kernel ? s.kernel.status : null,
        kernelName: s && s.kernel ? s.kernel.name : null};
"""

STATE_JS = r"""
const p = window.__bcPanel;
const s = p.sessionContext.session;
const tab = [...document.querySelectorAll('.lm-DockPanel-tabBar .lm-TabBar-tab')].find(
    t => t.classList.contains('lm-mod-current') && t.querySelector('.lm-TabBar-tabLabel'));
const cells = p.content.model.cells;
let code = 0, executed = 0; const errors = [];
for (let i = 0; i < cells.length; i++) {
  const c = cells.get(i);
  if (c.type !== 'code') continue;
  code++;
  if (c.executionCount) executed++;
  for (let j = 0; j < c.outputs.length; j++) {
    const o = c.outputs.get(j).toJSON();
    if (o.output_type === 'error') errors.push({cell: i, ename: o.ename, evalue: String(o.evalue).slice(0, 300)});
  }
}
const running = [...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')].filter(e => e.textContent.includes('*')).length;
return {kernel: s && s.kernel ? s.kernel.status : null, dirtyModel: p.context.model.dirty,
        dirtyTab: !!document.querySelector('.lm-DockPanel-tabBar .lm-TabBar-tab.jp-mod-dirty'),
        tabLabel: tab ? tab.querySelector('.lm-TabBar-tabLabel').textContent : null,
        code, executed, running, errors};
"""

MODEL_JSON_JS = "return JSON.stringify(window.__bcPanel.context.model.toJSON());"

# Every ipywidget control in the notebook's outputs, tagged data-bc-w=<n>, with its output area tagged data-bc-o=<n>.
FIND_WIDGETS_JS = r"""
const root = window.__bcPanel.content.node;
const found = [];
const kinds = [
  ['slider', '.widget-hslider, .widget-vslider, .widget-slider'],
  ['dropdown', '.widget-dropdown'],
  ['checkbox', '.widget-checkbox'],
  ['toggle', '.widget-toggle-button'],
  ['toggles', '.widget-toggle-buttons'],
  ['radio', '.widget-radio'],
];
const seen = new Set();
for (const [kind, sel] of kinds) {
  for (const el of root.querySelectorAll('.jp-OutputArea ' + sel.split(', ').join(', .jp-OutputArea '))) {
    if (seen.has(el) || el.closest('.widget-hprogress')) continue;
    // one slider widget carries several of the slider classes; skip parts nested in a slider already taken
    if (kind === 'slider' && el.parentElement.closest('.widget-hslider, .widget-vslider, .widget-slider')) continue;
    seen.add(el);
    found.push([kind, el]);
  }
}
// document order
found.sort((a, b) => (a[1].compareDocumentPosition(b[1]) & Node.DOCUMENT_POSITION_FOLLOWING) ? -1 : 1);
const cellsArr = [...root.querySelectorAll('.jp-Cell')];
return found.map(([kind, el], n) => {
  el.setAttribute('data-bc-w', n);
  const box = el.closest('.widget-interact') || el.parentElement;
  let out = box.querySelector(':scope > .widget-output') || box.querySelector('.widget-output');
  if (!out) out = el.closest('.jp-OutputArea');
  out.setAttribute('data-bc-o', (out.getAttribute('data-bc-o') || '') + ' ' + n);
  // a checkbox's .widget-label is hidden and holds a zero-width space; its description is in .widget-label-basic
  const labels = [...el.querySelectorAll('.widget-label, .widget-label-basic')]
    .map(l => l.textContent.replace(/[\u200b\s]+/g, ' ').trim()).filter(t => t);
  const label = labels.length ? labels[0] : (el.getAttribute('title') || el.textContent.trim().slice(0, 30));
  const cell = el.closest('.jp-Cell');
  return {n, kind, label, cell: cellsArr.indexOf(cell), interact: !!el.closest('.widget-interact'),
          value: valueOf(kind, el)};
});
function valueOf(kind, el) {
  if (kind === 'slider') {
    const r = el.querySelector('.widget-readout'); const h = el.querySelector('.noUi-handle');
    return (r ? r.textContent.trim() : '') + (h ? ' @' + h.getAttribute('aria-valuenow') : '');
  }
  if (kind === 'dropdown') { const s = el.querySelector('select'); return s ? s.options[s.selectedIndex]?.text : ''; }
  if (kind === 'checkbox') { const c = el.querySelector('input[type=checkbox]'); return c ? String(c.checked) : ''; }
  if (kind === 'toggle') return String(el.classList.contains('mod-active'));
  const a = el.querySelector('.mod-active, input:checked'); return a ? (a.textContent || a.value) : '';
}
"""

VALUE_JS = r"""
const el = document.querySelector(`[data-bc-w="${arguments[0]}"]`); const kind = arguments[1];
if (kind === 'slider') {
  const r = el.querySelector('.widget-readout'); const h = el.querySelector('.noUi-handle');
  return {v: (r ? r.textContent.trim() : ''), now: h && +h.getAttribute('aria-valuenow'),
          min: h && +h.getAttribute('aria-valuemin'), max: h && +h.getAttribute('aria-valuemax')};
}
if (kind === 'dropdown') { const s = el.querySelector('select'); return {v: s.options[s.selectedIndex]?.text, i: s.selectedIndex, n: s.options.length}; }
if (kind === 'checkbox') return {v: String(el.querySelector('input[type=checkbox]').checked)};
if (kind === 'toggle') return {v: String(el.classList.contains('mod-active'))};
const a = el.querySelector('.mod-active, input:checked'); return {v: a ? (a.textContent || a.value) : ''};
"""

# Arm: a MutationObserver on widget n's output area, and the first input event from now on starts the clock.
ARM_JS = r"""
const n = arguments[0];
const out = [...document.querySelectorAll('[data-bc-o]')].find(e => e.getAttribute('data-bc-o').split(' ').includes(String(n)));
if (window.__bc && window.__bc.stop) window.__bc.stop();
const bc = window.__bc = {t0: null, first: null, last: null, n: 0, armed: performance.now()};
const obs = new MutationObserver(ms => { const t = performance.now(); if (bc.first === null) bc.first = t; bc.last = t; bc.n += ms.length; });
obs.observe(out, {subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['src']});
const types = ['keydown', 'pointerdown', 'mousedown', 'click', 'input', 'change'];
const start = ev => { if (bc.t0 === null) bc.t0 = performance.now(); };
types.forEach(t => window.addEventListener(t, start, true));
bc.stop = () => { obs.disconnect(); types.forEach(t => window.removeEventListener(t, start, true)); };
bc.out = out;
return true;
"""

POLL_JS = r"""
const bc = window.__bc; const s = window.__bcPanel.sessionContext.session;
const imgs = [...bc.out.querySelectorAll('img')];
return {t0: bc.t0, first: bc.first, last: bc.last, n: bc.n, now: performance.now(),
        kernel: s && s.kernel ? s.kernel.status : null, imgsLoaded: imgs.every(i => i.complete),
        imgs: imgs.length, children: bc.out.querySelectorAll('.jp-OutputArea-child').length,
        text: bc.out.innerText.slice(0, 200),
        hash: bc.out.innerHTML.length + ':' + [...bc.out.innerHTML].reduce((h, c) => (h * 31 + c.charCodeAt(0)) | 0, 0)};
"""


def http_json(url: str, method: str = "GET", timeout: float = 10):
    req = urllib.request.Request(url, method=method, headers={"Authorization": "token uda"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
    return json.loads(body) if body else None


def wait_for(fn, timeout: float, interval: float = 0.25, what: str = "a condition"):
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def model_diff(saved: dict, model: dict) -> list[str]:
    """What JupyterLab's model has that the file on disk has not (a dirty-on-open diagnosis)."""
    diffs = []
    for key in ("nbformat", "nbformat_minor"):
        if saved.get(key) != model.get(key):
            diffs.append(f"{key}: {saved.get(key)!r} -> {model.get(key)!r}")
    sm, mm = saved.get("metadata", {}), model.get("metadata", {})
    for key in sorted(set(sm) | set(mm)):
        if sm.get(key) != mm.get(key):
            diffs.append(f"metadata.{key}: {json.dumps(sm.get(key))[:200]} -> {json.dumps(mm.get(key))[:200]}")
    sc, mc = saved.get("cells", []), model.get("cells", [])
    if len(sc) != len(mc):
        diffs.append(f"cells: {len(sc)} -> {len(mc)}")
    for i, (a, b) in enumerate(zip(sc, mc)):
        for key in sorted(set(a) | set(b)):
            va, vb = a.get(key), b.get(key)
            if key == "source":
                va = "".join(va) if isinstance(va, list) else va
                vb = "".join(vb) if isinstance(vb, list) else vb
            if va != vb:
                diffs.append(f"cell {i} {key}: {json.dumps(va)[:120]} -> {json.dumps(vb)[:120]}")
    return diffs


class Lab:
    """A JupyterLab server started by this script (and only that one is stopped at the end)."""

    def __init__(self, root: Path, port: int, settings_dir: Path, autosave: bool, env: dict, log: Path):
        self.root, self.port, self.url = root, port, f"http://127.0.0.1:{port}"
        for name, values in {**LAB_SETTINGS, "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings":
                             {"autosave": autosave, "autosaveInterval": 3}}.items():
            f = settings_dir / "settings" / name
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps(values, indent=1))
        (settings_dir / "workspaces").mkdir(parents=True, exist_ok=True)
        self.cmd = [str(REPO / ".venv/bin/jupyter"), "lab", "--no-browser", "--allow-root", "--port", str(port),
                    "--ServerApp.port_retries=0", "--ServerApp.token=uda", "--notebook-dir", str(root),
                    f"--LabApp.user_settings_dir={settings_dir / 'settings'}",
                    f"--LabApp.workspaces_dir={settings_dir / 'workspaces'}",
                    "--LabApp.expose_app_in_browser=True"]
        self.log = log
        self.env = env
        self.proc = None

    def __enter__(self):
        try:
            http_json(f"{self.url}/api/status", timeout=2)
            sys.exit(f"port {self.port} already answers: another server is running there; stop it or use --port")
        except (urllib.error.URLError, OSError):
            pass
        self.logf = open(self.log, "w")
        print("server:", " ".join(self.cmd), flush=True)
        self.proc = subprocess.Popen(self.cmd, cwd=REPO, env=self.env, stdout=self.logf, stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}; see {self.log}")
            try:
                return http_json(f"{self.url}/api/status", timeout=2) is not None
            except (urllib.error.URLError, OSError):
                return False

        wait_for(up, 120, 0.5, "the JupyterLab server")
        return self

    def kernels(self) -> list[dict]:
        return http_json(f"{self.url}/api/kernels") or []

    def shutdown_kernels(self):
        for k in self.kernels():
            try:
                http_json(f"{self.url}/api/kernels/{k['id']}", method="DELETE", timeout=30)
            except (urllib.error.URLError, OSError) as exc:
                print(f"  could not shut down kernel {k['id']}: {exc}")

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            try:
                self.shutdown_kernels()
            except (urllib.error.URLError, OSError):
                pass
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.logf.close()


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()[:12]


def slug(text: str) -> str:
    """An ASCII file-name part: "γ" -> "gamma"."""
    import unicodedata

    text = "".join(c if c.isascii() else "_" + unicodedata.name(c, "x").split()[-1].lower() + "_" for c in text)
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:30] or "x"


def change_widget(driver, n: int, kind: str, back_of: dict | None = None, slider_mode: str = "key"):
    """Change widget n as a user would; with back_of (what the forward change did), undo it. Returns what was done
    (for the undo). A slider gets an arrow key on its handle (slider_mode "key") or a drag of its handle ("drag")."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    el = driver.find_element(By.CSS_SELECTOR, f'[data-bc-w="{n}"]')
    if kind == "slider":
        handle = el.find_element(By.CSS_SELECTOR, ".noUi-handle")
        if back_of:
            right = back_of["dir"] == "left"
            mode = back_of["mode"]
        else:
            v = driver.execute_script(VALUE_JS, n, kind)
            right = v["now"] is not None and v["max"] is not None and v["now"] < v["max"]
            mode = slider_mode
        if mode == "key":
            handle.send_keys(Keys.ARROW_RIGHT if right else Keys.ARROW_LEFT)
        else:
            track = el.find_element(By.CSS_SELECTOR, ".noUi-target, .slider")
            v = driver.execute_script(VALUE_JS, n, kind)
            steps = max(1, (v["max"] or 0) - (v["min"] or 0))
            dx = max(8, int(track.size["width"] / steps))
            ActionChains(driver).click_and_hold(handle).move_by_offset(dx if right else -dx, 0).release().perform()
        return {"dir": "right" if right else "left", "mode": mode}
    if kind == "dropdown":
        select = el.find_element(By.CSS_SELECTOR, "select")
        sel = Select(select)
        cur = driver.execute_script("return arguments[0].selectedIndex", select)
        target = back_of["from"] if back_of else (cur + 1) % len(sel.options)
        sel.select_by_index(target)
        return {"from": cur, "to": target}
    if kind == "checkbox":
        el.find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
        return "click"
    if kind == "toggle":
        el.click()
        return "click"
    if kind in ("toggles", "radio"):
        items = el.find_elements(By.CSS_SELECTOR, "button, input[type=radio]")
        active = [i for i, b in enumerate(items) if "mod-active" in (b.get_attribute("class") or "") or b.is_selected()]
        cur = active[0] if active else 0
        target = back_of["from"] if back_of else (cur + 1) % len(items)
        items[target].click()
        return {"from": cur, "to": target}
    raise ValueError(kind)


def time_change(driver, n: int, kind: str, back_of=None, timeout: float = 600, settle: float = 0.5,
                no_change_after: float = 20, slider_mode: str = "key"):
    """Change widget n and time it: (method, seconds to the first change of the output, seconds to the last change
    before the kernel is idle and the output quiet, poll state)."""
    driver.execute_script(ARM_JS, n)
    method = change_widget(driver, n, kind, back_of, slider_mode)
    t_start = time.monotonic()
    while True:
        st = driver.execute_script(POLL_JS)
        elapsed = time.monotonic() - t_start
        quiet = st["last"] is not None and (st["now"] - st["last"]) / 1000 >= settle
        if st["n"] and st["kernel"] == "idle" and quiet and st["imgsLoaded"]:
            break
        if not st["n"] and st["kernel"] == "idle" and elapsed > no_change_after:
            driver.execute_script("window.__bc.stop()")
            return method, None, None, st
        if elapsed > timeout:
            driver.execute_script("window.__bc.stop()")
            return method, None, None, {**st, "timeout": True}
        time.sleep(0.05)
    driver.execute_script("window.__bc.stop()")
    t0 = st["t0"]
    if t0 is None:  # no input event reached the window: time from arming instead (a few ms early)
        t0 = driver.execute_script("return window.__bc.armed")
        st = {**st, "note": "clock from arming (no input event seen)"}
    return method, (st["first"] - t0) / 1000, (st["last"] - t0) / 1000, st


def shot(driver, path: Path, n: int | None = None):
    path.parent.mkdir(parents=True, exist_ok=True)
    if n is not None:
        driver.execute_script(
            "const el = document.querySelector(`[data-bc-w=\"${arguments[0]}\"]`);"
            "(el.closest('.widget-interact') || el).scrollIntoView({block: 'start'});"
            "const sc = el.closest('.jp-WindowedPanel-outer'); if (sc) sc.scrollTop -= 60;", n)
        time.sleep(0.3)
    driver.save_screenshot(str(path))
    return path


def run_notebook(driver, lab: Lab, rel: Path, lab_path: Path, original: bytes, out: Path, args) -> dict:
    """Open, check modified-on-open, run all, exercise every widget. Returns a summary dict."""
    from selenium.webdriver.common.by import By

    res = {"notebook": str(rel), "widgets": [], "errors": [], "problems": []}
    out.mkdir(parents=True, exist_ok=True)
    url = f"{lab.url}/lab/tree/{rel.as_posix()}?token=uda&reset"
    t0 = time.monotonic()
    driver.get(url)
    path = rel.as_posix()

    def opened():
        try:
            st = driver.execute_script(FIND_PANEL_JS, path)
        except Exception:  # noqa: BLE001 - the app is still starting
            return False
        return st if st.get("panel") and st.get("ready") and st.get("kernel") == "idle" else False

    st = wait_for(opened, args.open_timeout, 0.5, f"{path} to open with an idle kernel")
    res["kernel_name"] = st.get("kernelName")
    res["open_s"] = time.monotonic() - t0
    dialogs = driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog")
    if dialogs:
        res["problems"].append(f"a dialog on open: {dialogs[0].text[:200]!r}")
        shot(driver, out / "dialog_on_open.png")
    time.sleep(args.open_settle)  # autosave (every 3 s in a copy) has had its chance to write
    state = driver.execute_script(STATE_JS)
    after = lab_path.read_bytes()
    res["dirty_tab"], res["dirty_model"] = state["dirtyTab"], state["dirtyModel"]
    res["bytes_same"] = after == original
    res["sha_before"], res["sha_after"] = sha(original), sha(after)
    if state["dirtyModel"] or state["dirtyTab"] or not res["bytes_same"]:
        model = json.loads(driver.execute_script(MODEL_JSON_JS))
        res["open_diff"] = model_diff(json.loads(original), model)
        if not res["bytes_same"]:
            res["open_diff"] += ["file on disk: " + d for d in model_diff(json.loads(original), json.loads(after))]
    res["modified_on_open"] = bool(state["dirtyModel"] or state["dirtyTab"] or not res["bytes_same"])
    shot(driver, out / "opened.png")

    # Run > Run All Cells (the menu, as a user would; the app's command if the menu is not found)
    prompt = driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell .jp-InputPrompt")
    if prompt:
        prompt[0].click()
    t_run = time.monotonic()
    how = "menu Run > Run All Cells"
    try:
        menu = [m for m in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel") if m.text.strip() == "Run"][0]
        menu.click()
        item = wait_for(lambda: [i for i in driver.find_elements(By.CSS_SELECTOR, ".lm-Menu .lm-Menu-item")
                                 if i.text.strip().startswith("Run All Cells")], 10, 0.2, "the Run menu")[0]
        item.click()
    except (IndexError, TimeoutError) as exc:
        how = f"command notebook:run-all-cells (menu failed: {exc})"
        driver.execute_script("return window.jupyterapp.commands.execute('notebook:run-all-cells')")
    res["run_how"] = how
    started = time.monotonic()
    quiet_since = None
    last_print = 0.0
    saw_busy = False
    while True:
        state = driver.execute_script(STATE_JS)
        busy = state["kernel"] != "idle" or state["running"]
        saw_busy |= bool(busy)
        finished = saw_busy and not busy and (state["executed"] == state["code"] or state["errors"])
        now = time.monotonic()
        if not saw_busy and now - started > 60:
            res["problems"].append(f"run all never started ({how})")
            break
        if finished:
            quiet_since = quiet_since or now
            if now - quiet_since >= 3:
                break
        else:
            quiet_since = None
        if now - last_print > 30:
            print(f"    running: {state['executed']}/{state['code']} code cells executed, kernel {state['kernel']}, "
                  f"{now - started:.0f} s", flush=True)
            last_print = now
        if now - started > args.run_timeout:
            res["problems"].append(f"run all did not finish in {args.run_timeout} s ({state['executed']}/{state['code']})")
            break
        time.sleep(0.5)
    res["run_s"] = time.monotonic() - t_run
    res["cells"] = f"{state['executed']}/{state['code']}"
    res["errors"] = state["errors"]
    shot(driver, out / "ran.png")
    if state["errors"]:
        return res

    widgets = driver.execute_script(FIND_WIDGETS_JS)
    print(f"    {len(widgets)} widgets: " + ", ".join(f"{w['kind']} {w['label']!r}" for w in widgets), flush=True)
    for w in widgets:
        n, kind = w["n"], w["kind"]
        driver.execute_script(
            "document.querySelector(`[data-bc-w=\"${arguments[0]}\"]`).scrollIntoView({block: 'center'});", n)
        time.sleep(0.3)
        before = driver.execute_script(VALUE_JS, n, kind)["v"]
        method, first, last, st = time_change(driver, n, kind, timeout=args.widget_timeout)
        after = driver.execute_script(VALUE_JS, n, kind)["v"]
        how = "arrow key" if kind == "slider" else ""
        if kind == "slider" and last is None and before == after:  # the key did not move it: drag the handle
            method, first, last, st = time_change(driver, n, kind, timeout=args.widget_timeout, slider_mode="drag")
            after = driver.execute_script(VALUE_JS, n, kind)["v"]
            how = "drag (arrow key did not move it)"
        name = f"w{n:02d}_{kind}_{slug(w['label'])}"
        p1 = shot(driver, out / f"{name}.png", n)
        row = {"notebook": rel.stem, "cell": w["cell"], "kind": kind, "label": w["label"], "how": how,
               "change": f"{before} -> {after}", "first_s": first, "update_s": last, "screenshot": str(p1),
               "output": st.get("text", "").replace("\n", " ")[:60]}
        if st.get("note"):
            row["note"] = st["note"]
        if last is None:
            row["note"] = ("timed out" if st.get("timeout") else "output never changed") + f" (kernel {st['kernel']})"
            if before == after:
                row["note"] += "; the value did not change either"
        # change it back, so the next widget starts from the notebook's own state
        b_method, b_first, b_last, b_st = time_change(driver, n, kind, back_of=method if isinstance(method, dict)
                                                      else None, timeout=args.widget_timeout)
        row["back_s"] = b_last
        row["screenshot_back"] = str(shot(driver, out / f"{name}_back.png", n))
        res["widgets"].append(row)
        fmt = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
        print(f"    {kind} {w['label']!r}: {row['change']}: update {fmt(last)} s (first change {fmt(first)} s), "
              f"back {fmt(b_last)} s {row.get('note', '')}", flush=True)
    return res


def cmd_lab(args) -> int:
    out = Path(args.out) / "lab"
    env = dict(os.environ)
    env.setdefault("UDA_NB_DATA", str(REPO / "data"))
    if env.get("MPLBACKEND") and "inline" not in env["MPLBACKEND"]:
        print(f"MPLBACKEND={env.pop('MPLBACKEND')} is not passed on: the kernel would draw no figures")
    for kv in args.env:
        k, _, v = kv.partition("=")
        env[k] = v
    budget = env.get("UDA_NB_BUDGET") or "report (UDA_NB_BUDGET unset)"
    print(f"kernel environment: UDA_NB_BUDGET={budget}; UDA_NB_DATA={env['UDA_NB_DATA']}; "
          f"UDA_NB_QUIET={env.get('UDA_NB_QUIET', '(unset)')}; UDA_NB_DEVICE={env.get('UDA_NB_DEVICE', '(unset)')}")
    rels = []
    for nb in args.notebooks:
        p = Path(nb).resolve()
        if not p.exists():
            sys.exit(f"no such notebook: {nb}")
        rels.append(p.relative_to(REPO))
    git_before = subprocess.run(["git", "status", "--short", "notebooks/"], cwd=REPO, capture_output=True,
                                text=True).stdout
    scratch = Path(tempfile.mkdtemp(prefix="browser_check_lab_"))
    root = REPO if args.in_place else scratch / "repo"
    originals = {rel: (REPO / rel).read_bytes() for rel in rels}
    if not args.in_place:
        for rel in rels:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, root / rel)
    print(f"notebooks opened from {root}" + ("" if args.in_place else " (copies; the repository's notebooks are not opened)"))
    results = []
    code = 0
    try:
        with Lab(root, args.port, scratch, autosave=not args.in_place, env=env, log=scratch / "jupyter.log") as lab:
            driver = make_driver(WIDTH, args.height)
            try:
                for rel in rels:
                    print(f"\n== {rel}", flush=True)
                    try:
                        r = run_notebook(driver, lab, rel, root / rel, originals[rel], out / rel.stem, args)
                    except Exception as exc:  # noqa: BLE001 - report it and go on with the next notebook
                        r = {"notebook": str(rel), "widgets": [], "errors": [], "problems": [f"{type(exc).__name__}: {exc}"]}
                        try:
                            shot(driver, out / rel.stem / "failure.png")
                        except Exception:  # noqa: BLE001
                            pass
                    r["browser_errors"] = browser_errors(driver)
                    results.append(r)
                    # leave the page without a "leave page?" prompt (in place, autosave is off: nothing is saved)
                    try:
                        driver.execute_script("if (window.__bcPanel) window.__bcPanel.context.model.dirty = false;")
                    except Exception:  # noqa: BLE001
                        pass
                    driver.get("about:blank")
                    lab.shutdown_kernels()
            finally:
                driver.quit()
    finally:
        if args.in_place:
            for rel in rels:
                if (REPO / rel).read_bytes() != originals[rel]:
                    (REPO / rel).write_bytes(originals[rel])
                    print(f"{rel} changed on disk during the run: its bytes are put back")
        print(f"server log: {scratch / 'jupyter.log'}")
        if not args.keep:
            shutil.rmtree(scratch / "repo", ignore_errors=True)

    print("\n== opening (modified on open?)")
    rows = []
    for r in results:
        rows.append({"notebook": r["notebook"], "kernel": r.get("kernel_name", ""),
                     "modified on open": {True: "YES", False: "no"}.get(r.get("modified_on_open"), "?"),
                     "tab dirty": r.get("dirty_tab", ""), "model dirty": r.get("dirty_model", ""),
                     "bytes same": r.get("bytes_same", ""),
                     "open s": f"{r['open_s']:.1f}" if "open_s" in r else "",
                     "run all s": f"{r['run_s']:.0f}" if "run_s" in r else "", "cells run": r.get("cells", ""),
                     "errors": len(r["errors"]), "widgets": len(r["widgets"])})
    print(table(rows, list(rows[0]) if rows else ["notebook"]))
    wrows = []
    for r in results:
        for w in r["widgets"]:
            f = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
            wrows.append({**w, "first_s": f(w["first_s"]), "update_s": f(w["update_s"]), "back_s": f(w["back_s"]),
                          "note": w.get("note", "")})
    print("\n== widgets (seconds from the input event to the output's last change before the kernel is idle)")
    print(table(wrows, ["notebook", "cell", "kind", "label", "how", "change", "update_s", "first_s", "back_s", "output",
                        "note"]))
    print("\n== screenshots")
    for r in results:
        print(f"  {out / Path(r['notebook']).stem}/opened.png, ran.png")
        for w in r["widgets"]:
            print(f"  {w['screenshot']}\n  {w['screenshot_back']}")
    for r in results:
        for d in r.get("open_diff", []):
            print(f"  {r['notebook']} open diff: {d}")
        for e in r["errors"]:
            print(f"  {r['notebook']} ERROR in cell {e['cell']}: {e['ename']}: {e['evalue']}")
            code = 1
        for p in r["problems"]:
            print(f"  {r['notebook']} PROBLEM: {p}")
            code = 1
        for w in r["widgets"]:
            if w["update_s"] is None:
                code = 1
        if r.get("modified_on_open"):
            code = 1
        if r["browser_errors"]:
            print(f"  {r['notebook']}: {len(r['browser_errors'])} browser console errors, e.g. "
                  f"{[e[:200] for e in r['browser_errors'][:3]]}")
    git_after = subprocess.run(["git", "status", "--short", "notebooks/"], cwd=REPO, capture_output=True,
                               text=True).stdout
    print("\ngit status --short notebooks/ before:\n" + (git_before or "  (clean)\n") + "after:\n" + (git_after or "  (clean)"))
    if git_after != git_before:
        print("  notebooks/ changed while this ran (this script never writes there unless --in-place):")
    for rel in rels:
        now = (REPO / rel).read_bytes()
        if now == originals[rel]:
            continue
        cells = json.loads(now).get("cells", [])
        outputs = sum(bool(c.get("outputs")) or c.get("execution_count") is not None for c in cells)
        print(f"  {rel}: changed during the run; "
              + (f"{outputs} cells now carry outputs or execution counts: JupyterLab saved it" if outputs else
                 "no outputs or execution counts in it: an edit from elsewhere, not JupyterLab's save"))
        if outputs:
            code = 1
    return code


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pages", help="check reports/*.html in headless Chromium")
    p.add_argument("pages", nargs="*", help="pages (default: reports/index.html and every reports/*.html)")
    p.add_argument("--out", default="/tmp/browser_check", help="screenshot folder (default /tmp/browser_check)")
    p.set_defaults(func=cmd_pages)
    p = sub.add_parser("lab", help="open notebooks in JupyterLab, run them, time their widgets")
    p.add_argument("notebooks", nargs="+", help="e.g. notebooks/01_dann.ipynb (run one after the other)")
    p.add_argument("--out", default="/tmp/browser_check", help="screenshot folder (default /tmp/browser_check)")
    p.add_argument("--port", type=int, default=8899)
    p.add_argument("--in-place", action="store_true",
                   help="open the repository's file (autosave off; its bytes are put back if they change)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment for the server and kernels")
    p.add_argument("--height", type=int, default=1200, help="browser window height (screenshots)")
    p.add_argument("--open-timeout", type=float, default=180)
    p.add_argument("--open-settle", type=float, default=8, help="seconds after open before the dirty check (autosave every 3 s)")
    p.add_argument("--run-timeout", type=float, default=3600, help="seconds for Run All Cells")
    p.add_argument("--widget-timeout", type=float, default=600, help="seconds for one widget's output to update")
    p.add_argument("--keep", action="store_true", help="keep the notebook copies (and their autosaved outputs)")
    p.set_defaults(func=cmd_lab)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
