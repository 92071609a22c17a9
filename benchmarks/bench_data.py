"""How long the embedded datasets take to build from scratch, and to load from the cache.

Each phase runs in a fresh Python process (imports included, as a user would see it) against an empty,
temporary data folder, so nothing cached elsewhere helps:

    .venv/bin/python benchmarks/bench_data.py            # all domains, train + test, data seed 0
    .venv/bin/python benchmarks/bench_data.py --keep DIR # keep the built cache in DIR
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

PHASE = r"""
import json, time
t0 = time.perf_counter()
from uda_nb.data import available_domains, load_domain
t_import = time.perf_counter() - t0
per = {}
for name in available_domains():
    start = time.perf_counter()
    for split in ("train", "test"):
        load_domain(name, split, seed=0)
    per[name] = time.perf_counter() - start
print(json.dumps({"import": t_import, "per_domain": per, "total": time.perf_counter() - t0}))
"""


def phase(data_dir: str) -> dict:
    env = {**os.environ, "UDA_NB_DATA": data_dir}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PHASE], env=env, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="build into this folder instead of a temporary one")
    args = parser.parse_args()
    data_dir = args.keep or tempfile.mkdtemp(prefix="uda_nb_bench_data_")
    build, load = phase(data_dir), phase(data_dir)
    print(f"{'domain':18s} {'build s':>8s} {'load s':>8s}")
    for name in build["per_domain"]:
        print(f"{name:18s} {build['per_domain'][name]:8.2f} {load['per_domain'][name]:8.2f}")
    print(f"{'all (process wall)':18s} {build['wall']:8.2f} {load['wall']:8.2f}")
    print(f"{'all (after import)':18s} {build['total'] - build['import']:8.2f} {load['total'] - load['import']:8.2f}")


if __name__ == "__main__":
    main()
