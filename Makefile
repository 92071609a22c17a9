# uda_nb: `make reports` executes every notebook into reports/; `make test` runs unit tests, claims tests
# and nbval over the notebooks in the smoke budget. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NOTEBOOKS := $(shell find notebooks -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)

.PHONY: venv test unit reports lab clean-cache bench strip

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --progress-bar off -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# One pytest session so CI reads one summary line. nbval runs the notebooks in the smoke budget; their
# claims go to a scratch folder so the committed reports/ are never overwritten by a smoke run.
test: $(STAMP)
	UDA_NB_BUDGET=smoke UDA_NB_CLAIMS_DIR=$(CURDIR)/.nbval_out MPLBACKEND=Agg \
		$(PY) -m pytest -p no:cacheprovider tests $(NOTEBOOKS) --nbval-lax --nbval-current-env

unit: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests -m "not claims"

reports: $(STAMP)
	$(PY) -m uda_nb.reports $(NOTEBOOKS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

bench: $(STAMP)
	$(PY) benchmarks/bench_fit.py
	$(PY) benchmarks/bench_data.py

# Strip outputs from notebook sources before committing them.
strip: $(STAMP)
	$(VENV)/bin/nbstripout $(NOTEBOOKS)

clean-cache:
	rm -rf data/cache data/runs
