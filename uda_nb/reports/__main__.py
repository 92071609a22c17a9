"""``python -m uda_nb.reports [NOTEBOOK ...]``: what ``make reports`` runs (see :func:`uda_nb.reports.main`)."""

import sys

from . import main

sys.exit(main())
