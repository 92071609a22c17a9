"""pyproject.toml and environment.yml list the same packages; the README opens with the two commands."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r): r.replace(" ", "") for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    listed = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"\s{6,}- (\S.*)$", line)  # the entries under "- pip:"
        if m and not m.group(1).startswith("-e"):
            listed[_name(m.group(1))] = m.group(1).replace(" ", "")
    assert set(listed) == set(wanted), f"only in environment.yml: {set(listed) - set(wanted)}; only in pyproject: {set(wanted) - set(listed)}"
    for name, spec in wanted.items():
        assert listed[name] == spec, f"{name}: environment.yml says {listed[name]!r}, pyproject {spec!r}"


def test_readme_opens_with_the_two_commands():
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:15])
    assert "make reports" in head and "make test" in head


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_gives_one_notebook_and_the_lecture_budget_early_and_stays_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    head = "\n".join(lines[:40])
    assert "make reports NB=" in head and "lecture" in head
    assert len(lines) <= 150


def test_notebook_sources_carry_the_kernel_metadata_jupyter_would_write():
    """JupyterLab rewrites a notebook's kernelspec and language_info from the running kernel, which marks a
    notebook modified as soon as it opens when they differ: the sources carry what ipykernel reports."""
    import json

    for path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        meta = json.loads(path.read_text())["metadata"]
        assert meta["kernelspec"] == {"display_name": "Python 3 (ipykernel)", "language": "python",
                                      "name": "python3"}, path.name
        info = meta["language_info"]
        assert info["name"] == "python" and info["codemirror_mode"] == {"name": "ipython", "version": 3}, path.name
        assert {"mimetype", "pygments_lexer", "nbconvert_exporter", "file_extension", "version"} <= set(info)
