# uda_nb: `make reports` executes every notebook into reports/ (`make reports NB=01_dann` just one, then
# rewrites the index from every claims file there); `make html` re-exports the HTML of the notebooks already
# executed in reports/ without running them (NB= works there too); `make test` runs unit tests, claims tests
# and nbval over the notebooks in the smoke budget. All create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NOTEBOOKS := $(shell find notebooks -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)
# NB: notebook names (01_dann, 01_dann.ipynb or notebooks/01_dann.ipynb; several separated by spaces)
NB ?=
# (names are resolved by uda_nb.reports, which also looks in notebooks/ablations/; with no NB it runs every notebook,
# the main ones first: the ablations reuse their cached runs)
REPORT_NOTEBOOKS := $(if $(strip $(NB)),$(NB),)

.PHONY: venv test unit reports html lab clean-cache bench strip

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --progress-bar off -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# One pytest session so CI reads one summary line. nbval runs the notebooks in the smoke budget; their
# claims go to a scratch folder so the committed reports/ are never overwritten by a smoke run. A cell that
# hangs (a kernel that stops answering, seen once in an ipywidgets cell) fails after 15 minutes instead of
# holding the whole CI run.
test: $(STAMP)
	UDA_NB_BUDGET=smoke UDA_NB_CLAIMS_DIR=$(CURDIR)/.nbval_out MPLBACKEND=Agg \
		$(PY) -m pytest -p no:cacheprovider tests $(NOTEBOOKS) --nbval-lax --nbval-current-env --nbval-cell-timeout=900

unit: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests -m "not claims"

# UDA_NB_QUIET=1: no progress bars in the kernels (uda_nb.reports sets it too).
reports: $(STAMP)
	UDA_NB_QUIET=1 $(PY) -m uda_nb.reports $(REPORT_NOTEBOOKS)

html: $(STAMP)
	$(PY) -m uda_nb.reports --html-only $(foreach n,$(NB),$(basename $(notdir $(n))))

# --allow-root when run as root, as in many containers (Jupyter refuses to start as root otherwise)
lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks $(if $(filter 0,$(shell id -u)),--allow-root,)

bench: $(STAMP)
	$(PY) benchmarks/bench_fit.py
	$(PY) benchmarks/bench_data.py

# Strip outputs from notebook sources before committing them.
strip: $(STAMP)
	$(VENV)/bin/nbstripout $(NOTEBOOKS)

clean-cache:
	rm -rf data/cache data/runs
