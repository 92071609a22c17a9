"""Checkpoints of a training run, so that an interrupted run resumes where it stopped (:func:`uda_nb.train.fit`'s
``checkpoint``; :func:`uda_nb.experiments.run` keeps one in the run's cache folder).

A checkpoint holds what the next step depends on: the model, the optimizer (and TransPar's masks), the samplers'
positions and generators, the random states of torch, NumPy and Python per rank, the logged sums since the last
history row, the history so far and the callbacks' state. On the CPU a resumed run's weights equal an
uninterrupted run's bit for bit (``tests/test_checkpoint.py``).

The file is one atomic write: a header line, the SHA-256 of the payload, then the payload (``torch.save``).
A file whose hash does not match (a disk error, a copy cut short) is reported with a warning, removed, and the run
starts again from step 0. Payloads are loaded with ``weights_only=True``: tensors, numbers, strings, lists and dicts.
"""

from __future__ import annotations

import hashlib
import io
import random
import signal
import threading
import warnings
from pathlib import Path

import numpy as np
import torch

from .cache import atomic_write

MAGIC = b"uda_nb checkpoint 1\n"


def save_checkpoint(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` to ``path`` atomically, with its hash (module docstring)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    return atomic_write(path, MAGIC + hashlib.sha256(data).hexdigest().encode() + b"\n" + data)


def load_checkpoint(path: str | Path) -> dict | None:
    """The payload at ``path``; ``None`` when there is none, or when it is corrupt (then with a warning, and the
    file removed so that the run starts again from step 0)."""
    path = Path(path)
    if not path.is_file():
        return None
    raw = path.read_bytes()
    head, _, rest = raw.partition(b"\n")
    digest, _, data = rest.partition(b"\n")
    problem = None
    if head + b"\n" != MAGIC:
        problem = "it is not a uda_nb checkpoint"
    elif hashlib.sha256(data).hexdigest().encode() != digest:
        problem = "its hash does not match its contents (the file is damaged or was cut short)"
    if problem is None:
        try:
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:  # an older layout, an unpickling refusal
            problem = f"it cannot be read ({type(exc).__name__}: {exc})"
    warnings.warn(f"Checkpoint {str(path)!r} is unusable: {problem}. The run starts again from step 0.", stacklevel=3)
    path.unlink(missing_ok=True)
    return None


def rng_state() -> dict:
    """This process's random states: torch (CPU and every CUDA device), NumPy and Python, as tensors and lists."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    out = {"torch": torch.get_rng_state(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos),
                                                    int(has_gauss), float(gauss)],
           "python": [version, list(internal), gauss_next]}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class StopRequest:
    """While active (a ``with`` block in the main thread), SIGTERM sets :attr:`requested` instead of killing the
    process, so that ``fit()`` writes a checkpoint at the end of the current step and then stops
    (:class:`TrainingInterrupted`). The previous handler comes back on exit. Elsewhere than the main thread
    (signals cannot be caught there) it does nothing."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
        return False


class TrainingInterrupted(RuntimeError):
    """``fit()`` stopped on SIGTERM after writing its checkpoint; running the same call again resumes it."""
