"""Train a run on several processes with ``torchrun``, and read it back in a notebook.

From a shell, on a machine with 4 GPUs::

    torchrun --nproc_per_node=4 -m uda_nb.launch --spec spec.json --seeds 0 1 2

``spec.json`` holds a :class:`uda_nb.experiments.RunSpec` as :func:`spec_to_json` writes it, with
``world_size`` equal to ``--nproc_per_node``. Each rank trains on its own ``batch_size`` images per domain per
step (:mod:`uda_nb.distributed`), rank 0 writes the finished run into the run cache (``$UDA_NB_DATA``), and a
notebook then loads it with ``experiments.run(spec, seed)`` like any other cached run.

From a notebook cell, :func:`launch` does both: it writes the spec, calls torchrun, and returns the runs::

    from uda_nb.launch import launch
    runs = launch(spec, seeds=[0, 1, 2], nproc=4)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from . import distributed
from .cache import atomic_write

#: the RunSpec fields that hold tuples (JSON writes them as lists)
_TUPLE_FIELDS = ("init_modules", "target_classes")


def spec_to_json(spec) -> dict:
    """A :class:`~uda_nb.experiments.RunSpec` as a JSON-ready dict (``init_from`` nested)."""
    out = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    if spec.init_from is not None:
        out["init_from"] = spec_to_json(spec.init_from)
    return json.loads(json.dumps(out))


def spec_from_json(data: dict):
    """The :class:`~uda_nb.experiments.RunSpec` of a dict written by :func:`spec_to_json` (lists back to
    tuples where the spec holds tuples), with a clear error for an unknown field."""
    from .experiments import RunSpec

    if not isinstance(data, dict):
        raise TypeError(f"A spec file holds one JSON object of RunSpec fields, got {type(data).__name__}.")
    known = {f.name for f in dataclasses.fields(RunSpec)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"Unknown RunSpec fields {unknown} in the spec file: the fields are {sorted(known)}.")
    data = dict(data)
    if isinstance(data.get("source"), list):
        data["source"] = tuple(data["source"])
    for name in _TUPLE_FIELDS:
        if isinstance(data.get(name), list):
            data[name] = tuple(data[name])
    if data.get("init_from") is not None:
        data["init_from"] = spec_from_json(data["init_from"])
    return RunSpec(**data)


def write_spec(spec, path: str | Path) -> Path:
    """Write ``spec`` as JSON (atomically) for ``torchrun -m uda_nb.launch --spec <path>``."""
    return atomic_write(path, json.dumps(spec_to_json(spec), indent=1, sort_keys=True).encode())


def read_spec(path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--spec {str(path)!r}: no such file. Write one with uda_nb.launch.write_spec(spec, path).")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"--spec {str(path)!r} is not valid JSON ({exc}); write it with uda_nb.launch.write_spec.") from None
    return spec_from_json(data)


def with_world_size(spec, nproc: int):
    """``spec`` and the runs it starts from (``init_from``, recursively) set to train on ``nproc`` processes."""
    start = None if spec.init_from is None else with_world_size(spec.init_from, nproc)
    return dataclasses.replace(spec, world_size=nproc, init_from=start)


def main(argv: list[str] | None = None) -> int:
    """What each rank runs under torchrun: join the process group, train (or load) every seed, and on rank 0 print
    one JSON line per seed with its final metrics."""
    parser = argparse.ArgumentParser(prog="python -m uda_nb.launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", required=True, help="a RunSpec as JSON (uda_nb.launch.write_spec)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (default 0)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on rank 0")
    args = parser.parse_args(argv)
    spec = read_spec(args.spec)
    distributed.init_from_env()
    try:
        from .experiments import run

        distributed.check_world_size(spec.world_size, f"The spec in {args.spec}")
        for seed in args.seeds:
            result = run(spec, seed, device=args.device, progress=(not args.no_progress) and distributed.is_main())
            if distributed.is_main():
                print(json.dumps({"seed": seed, "final": result.final, "seconds": round(result.seconds, 2),
                                  "cached": result.cached}), flush=True)
    finally:
        if distributed.is_distributed():
            distributed.barrier()
            import torch.distributed as dist
            dist.destroy_process_group()
    return 0


def launch(spec, seeds=(0,), nproc: int = 2, *, device: str | None = None, timeout: float | None = None,
           torchrun_args: tuple[str, ...] = ()) -> list:
    """Train ``spec`` on ``nproc`` processes with torchrun (``spec.world_size`` set to ``nproc``), then load the
    runs from the run cache in this process and return them (:class:`uda_nb.experiments.RunResult` per seed).
    Runs already in the cache are not trained again. ``timeout``: seconds before the launch is stopped with an
    error. ``torchrun_args``: extra torchrun options (``--nnodes``, ``--rdzv-endpoint``, ...)."""
    from .experiments import run

    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be a whole number >= 1 (processes, one per GPU), got {nproc!r}.")
    spec = with_world_size(spec, nproc)
    seeds = [int(s) for s in seeds]
    missing = [s for s in seeds if not is_cached(spec, s, device)]
    if missing:
        _torchrun(spec, missing, nproc, device, timeout, torchrun_args)
    return [run(spec, s, device=device) for s in seeds]


def is_cached(spec, seed: int, device: str | None = None) -> bool:
    """Whether the run cache holds ``spec`` trained with ``seed`` on this device type."""
    from .config import cache_dir, get_device
    from .experiments import run_key

    return (cache_dir("runs") / run_key(spec, seed, get_device(device)) / "result.json").is_file()


def _torchrun(spec, seeds: list[int], nproc: int, device: str | None, timeout: float | None,
              torchrun_args: tuple[str, ...]) -> None:
    with tempfile.TemporaryDirectory(prefix="uda_nb_launch_") as tmp:
        path = write_spec(spec, Path(tmp) / "spec.json")
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               *torchrun_args, "-m", "uda_nb.launch", "--spec", str(path), "--seeds", *map(str, seeds),
               "--no-progress", *(["--device", device] if device else [])]
        done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"torchrun exited with {done.returncode} training {spec.method} on {nproc} processes:\n{tail}")


if __name__ == "__main__":
    sys.exit(main())
