"""Atomic on-disk caches: a file is either absent or complete, never half-written.

Every writer goes through :func:`atomic_write`: write to a temporary file in the same folder, flush and
fsync, then ``os.replace`` it over the destination (atomic on POSIX and Windows). Readers that find a
corrupt file warn, delete it and let the caller recompute.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable

import numpy as np


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_npz(path: Path | str, **arrays: np.ndarray) -> Path:
    """Save arrays as a compressed ``.npz``, atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write(path, buf.getvalue())


def save_json(path: Path | str, obj) -> Path:
    """Save JSON (sorted keys, indented), atomically."""
    return atomic_write(path, (json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n").encode())


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"Cannot store {type(obj).__name__} in JSON")


def config_key(config: dict) -> str:
    """A short stable hash of a JSON-able configuration (sorted keys): the cache key of a run."""
    text = json.dumps(config, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_npz(path: Path | str, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Load ``path`` if it holds a valid ``.npz``; otherwise call ``build()``, save its arrays and return them."""
    path = Path(path)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except Exception as exc:  # truncated or corrupt file: recompute rather than fail
            warnings.warn(f"Cache file {path} is unreadable ({exc}); rebuilding it.", stacklevel=2)
            path.unlink(missing_ok=True)
    arrays = build()
    save_npz(path, **arrays)
    return arrays


def load_json(path: Path | str):
    """Read JSON, or return ``None`` (with a warning, deleting the file) when it is corrupt; ``None`` if absent."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except Exception as exc:
        warnings.warn(f"Cache file {path} is unreadable ({exc}); it will be recomputed.", stacklevel=2)
        path.unlink(missing_ok=True)
        return None
