"""Real datasets kept as folders of image files, loaded into the same in-memory objects the embedded data gives.

* Classification domains (:func:`load_image_folder_domain`, :func:`load_image_folder_domains`) in the
  Office-31, Office-Home, DomainNet and VisDA-2017 layouts (see :data:`LAYOUTS`) -> :class:`Domain`.
* Keypoint domains (:func:`load_keypoint_folder`): images plus one JSON or CSV file of pixel coordinates and
  visibility (schema in ``data/README.md``) -> :class:`KeypointDomain`.

So ``make_task(src, tgt, source_test=..., target_test=...)`` works with them unchanged.

Memory: a domain is decoded once and held in memory as float32 ``(N, 3, S, S)``: ``12 * S * S`` bytes per
image (602 kB at S = 224, 49 kB at S = 64). Office-31's amazon (2,817 images) is 1.7 GB at 224; Office-Home
(15,588) 9.4 GB; DomainNet does not fit: use ``max_per_class`` and/or a smaller ``image_size``.

Class order is the sorted list of class-folder names (Python string order, so ``'Bike'`` < ``'bike'``), unless
``class_names=`` forces a list; two domains of one task must have the same class folders
(:func:`load_image_folder_domains` checks it and says which folders differ).

Relative roots: a relative ``root`` that does not exist from the working directory is looked up under
``$UDA_NB_DATA/real/`` (``data/real/`` by default), so ``load_image_folder_domain("office31", "amazon")`` finds
``data/real/office31/amazon`` from any notebook.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..cache import cached_npz, config_key
from ..config import cache_dir, data_dir, quiet
from .domain import Domain
from .keypoints import KeypointDomain, inside_image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

LAYOUTS: dict[str, str] = {
    "office31": "<root>/<domain>/images/<class>/<image> (or <root>/<domain>/<class>/<image>); "
                "domains amazon, dslr, webcam",
    "officehome": "<root>/<Domain>/<class>/<image>; domains Art, Clipart, Product, Real_World ('Real World' "
                  "as unzipped also works)",
    "domainnet": "<root>/<domain>/<class>/<image>, with split lists <root>/<domain>_train.txt and "
                 "<root>/<domain>_test.txt (lines 'clipart/aircraft_carrier/clipart_001_000001.jpg 0'); "
                 "domains clipart, infograph, painting, quickdraw, real, sketch",
    "visda": "<root>/train/<class>/<image> (synthetic) and <root>/validation/<class>/<image> (real), each with an "
             "optional image_list.txt (lines 'aeroplane/src_1_02691156_10151027b.png 0')",
    "auto": "<root>/<domain>/<class>/<image> or <root>/<domain>/images/<class>/<image> (Office-31, Office-Home, "
            "DomainNet, VisDA-2017); with split='train'/'test' the list <root>/<domain>_<split>.txt (DomainNet)",
}
_VISDA_ALIASES = {"synthetic": "train", "real": "validation", "val": "validation"}
_MEMORY_WARN_BYTES = 2 * 1024 ** 3


class CorruptImageError(ValueError):
    """An image file that PIL cannot decode (truncated, not an image, unsupported); the message names it."""


def real_data_dir() -> Path:
    """Where real datasets live by default: ``$UDA_NB_DATA/real`` (``data/real`` in the repository)."""
    return data_dir() / "real"


def resolve_root(root: str | Path) -> Path:
    """``root`` as given if it exists or is absolute; else ``real_data_dir() / root`` if that exists."""
    path = Path(root).expanduser()
    if path.is_absolute() or path.exists():
        return path
    alt = real_data_dir() / path
    return alt if alt.exists() else path


def _where(root: Path, given: str | Path) -> str:
    """How a missing root was searched, for error messages."""
    given = Path(given).expanduser()
    if given.is_absolute():
        return str(root)
    return f"{root.resolve()} (also looked for {real_data_dir() / given})"


def _listing(folder: Path, limit: int = 20) -> str:
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir() if not p.name.startswith("."))
    except OSError:
        return "(unreadable)"
    if not names:
        return "nothing (empty folder)"
    more = f" ... and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


# ----------------------------------------------------------------------------------------------- decoding

def open_rgb(path: Path, draft_size: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """Decode ``path`` to an RGB PIL image; return it and the file's original ``(width, height)``.

    ``draft_size`` lets JPEG decoding skip detail (DCT scaling) while keeping both sides >= that size: several
    times faster for large photos, which are shrunk afterwards anyway. Alpha is dropped; grey is repeated.
    Raises :class:`CorruptImageError` naming the file when it cannot be decoded.
    """
    try:
        with Image.open(path) as img:
            size = img.size
            if draft_size is not None and img.format == "JPEG":
                img.draft("RGB", (draft_size, draft_size))
            img.load()  # decode now: a truncated file fails here, where we can name it
            return img.convert("RGB"), size
    except Exception as exc:
        raise CorruptImageError(f"Cannot read image {path} ({type(exc).__name__}: {exc}). Replace or delete the "
                                "file (or pass skip_corrupt=True to skip unreadable images with a warning).") from exc


def resize_rgb(img: Image.Image, size: int | tuple[int, int], resize: str = "crop") -> np.ndarray:
    """``(S, S, 3)`` uint8 (or ``(H, W, 3)`` for a ``(H, W)`` size) from a PIL RGB image.

    ``crop``: scale the shorter side to S and cut the centre square (keeps the aspect ratio, loses the ends of
    the longer side; the usual Resize + CenterCrop). ``stretch``: resize the whole image to the target size
    (keeps everything, distorts non-square images). Bilinear, antialiased when shrinking (PIL).
    """
    h, w = (size, size) if isinstance(size, int) else size
    if resize == "crop":
        if h != w:
            raise ValueError("resize='crop' makes square images: give an int image_size.")
        iw, ih = img.size
        side = min(iw, ih)
        left, top = (iw - side) / 2, (ih - side) / 2
        out = img.resize((w, h), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side))
    elif resize == "stretch":
        out = img.resize((w, h), Image.Resampling.BILINEAR)
    else:
        raise ValueError(f"Unknown resize mode {resize!r}: use 'crop' (shorter side + centre crop) or 'stretch'.")
    return np.asarray(out, dtype=np.uint8)


def _progress(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=quiet() or total < 50, leave=False, unit="img")


# ----------------------------------------------------------------------------------- classification folders

def _find_domain_dir(root: Path, given_root, domain: str, layout: str) -> Path:
    help_ = LAYOUTS[layout]
    if not root.is_dir():
        raise FileNotFoundError(f"Data folder {_where(root, given_root)} does not exist. Expected the {layout} "
                                f"layout: {help_}.")
    names = [domain]
    if layout == "visda" and domain.lower() in _VISDA_ALIASES:
        names.append(_VISDA_ALIASES[domain.lower()])
    for name in names:
        if (root / name).is_dir():
            return root / name
    # Forgive case and space/underscore ('Real World' as unzipped vs 'Real_World' in most papers' code).
    key = (lambda s: s.lower().replace(" ", "_"))
    matches = [p for p in root.iterdir() if p.is_dir() and key(p.name) in {key(n) for n in names}]
    if len(matches) == 1:
        return matches[0]
    raise FileNotFoundError(f"No folder for domain {domain!r} in {root}. Expected the {layout} layout: {help_}. "
                            f"Found in {root}: {_listing(root)}.")


def _class_root(domain_dir: Path, layout: str) -> Path:
    if layout in ("office31", "auto") and (domain_dir / "images").is_dir():
        return domain_dir / "images"  # Office-31 as distributed: <domain>/images/<class>
    return domain_dir


def _class_folders(class_root: Path, layout: str) -> list[str]:
    classes = sorted(p.name for p in class_root.iterdir()
                     if p.is_dir() and not p.name.startswith(".") and p.name != "__MACOSX")
    if not classes:
        raise FileNotFoundError(f"No class folders in {class_root}. Expected the {layout} layout: {LAYOUTS[layout]}. "
                                f"Found in {class_root}: {_listing(class_root)}.")
    return classes


def _resolve(root, domain: str, split: str | None, layout: str) -> dict:
    """Where a domain's images are and how they are listed (no decoding)."""
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}: use one of {sorted(LAYOUTS)}.")
    path = resolve_root(root)
    domain_dir = _find_domain_dir(path, root, domain, layout)
    class_root = _class_root(domain_dir, layout)
    list_file, list_base = None, None
    if split is not None:
        if layout in ("office31", "officehome", "visda"):
            hint = ("VisDA's domains are the splits: domain='train' (synthetic) or 'validation' (real)"
                    if layout == "visda" else
                    f"{layout} has no official train/test split: load the whole domain (split=None) and use "
                    "split_domain() for a held-out part")
            raise ValueError(f"split={split!r} is not available in the {layout} layout: {hint}.")
        list_file, list_base = path / f"{domain_dir.name}_{split}.txt", path
        if not list_file.is_file():
            raise FileNotFoundError(f"split={split!r} needs the list file {list_file} (the DomainNet layout: "
                                    f"{LAYOUTS['domainnet']}). Found in {path}: {_listing(path)}. Use split=None "
                                    "to load every image in the class folders.")
    elif layout in ("visda", "auto") and (domain_dir / "image_list.txt").is_file():
        list_file, list_base = domain_dir / "image_list.txt", domain_dir
    resolved = layout
    if layout == "auto":
        resolved = ("domainnet" if split is not None else "visda" if list_file is not None
                    else "office31" if class_root != domain_dir else "folder")
    return {"root": path, "domain_dir": domain_dir, "class_root": class_root, "list_file": list_file,
            "list_base": list_base, "layout": resolved, "classes": _class_folders(class_root, layout)}


def _check_classes(where: dict, class_names) -> tuple[str, ...]:
    found = where["classes"]
    if class_names is None:
        return tuple(found)
    class_names = tuple(class_names)
    missing = [c for c in class_names if c not in found]
    if missing:
        raise ValueError(f"Class folders missing in {where['class_root']}: {missing} (of the {len(class_names)} "
                         f"classes asked for). Found: {found}.")
    return class_names


def _list_images(where: dict, classes: tuple[str, ...], check_labels: bool) -> list[tuple[Path, int]]:
    """(file, class index) pairs, sorted by class then path (glob) or in list-file order."""
    class_root, index = where["class_root"], {c: i for i, c in enumerate(classes)}
    if where["list_file"] is None:
        items = []
        for c in classes:
            files = sorted(p for p in (class_root / c).rglob("*") if _is_image(p) and p.is_file())
            items += [(p, index[c]) for p in files]
        return items
    items, mismatched = [], []
    list_file, base = where["list_file"], where["list_base"]
    for lineno, line in enumerate(list_file.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        path = base / parts[0]
        try:
            cls = path.relative_to(class_root).parts[0]
        except ValueError:
            raise ValueError(f"{list_file}, line {lineno}: {parts[0]!r} is not inside the class folders of "
                             f"{class_root}.") from None
        if len(path.relative_to(class_root).parts) < 2:
            raise ValueError(f"{list_file}, line {lineno}: {parts[0]!r} is not inside a class folder of {class_root}.")
        if cls not in index:
            if check_labels:  # every class folder is a class: the list names a class with no folder
                raise ValueError(f"{list_file}, line {lineno}: class {cls!r} has no folder in {class_root}.")
            continue  # a class left out by class_names=
        if not path.is_file():
            raise FileNotFoundError(f"{list_file}, line {lineno} names {parts[0]!r}, which is not in {base} "
                                    f"(looked for {path}).")
        if check_labels and len(parts) > 1 and parts[1].lstrip("-").isdigit() and int(parts[1]) != index[cls]:
            mismatched.append(f"line {lineno}: {parts[0]} {parts[1]}")
        items.append((path, index[cls]))
    if mismatched:
        warnings.warn(f"{len(mismatched)} lines of {list_file} give a label other than the sorted index of the "
                      f"class folder (e.g. {mismatched[0]}); uda_nb labels images by their class folder.",
                      stacklevel=3)
    return items


def _subsample(items: list[tuple[Path, int]], max_per_class: int | None, seed: int) -> list[tuple[Path, int]]:
    if max_per_class is None:
        return items
    rng = np.random.default_rng(seed)
    labels = np.array([lab for _, lab in items])
    keep = [np.sort(rng.choice(np.flatnonzero(labels == c), min(int((labels == c).sum()), max_per_class),
                               replace=False)) for c in np.unique(labels)]
    keep = np.sort(np.concatenate(keep)) if keep else np.array([], dtype=int)
    return [items[i] for i in keep]


def _decode_all(paths: list[Path], size: int, resize: str, skip_corrupt: bool, desc: str) -> tuple[np.ndarray,
                                                                                                    np.ndarray]:
    """uint8 ``(N, 3, S, S)`` and a bool ``(N,)`` mask of the images that decoded."""
    out = np.zeros((len(paths), 3, size, size), dtype=np.uint8)  # uint8 while decoding: 1/4 of the float size
    ok = np.ones(len(paths), dtype=bool)
    with _progress(len(paths), desc) as bar:
        for i, path in enumerate(paths):
            try:
                img, _ = open_rgb(path, draft_size=size)
            except CorruptImageError:
                if not skip_corrupt:
                    raise
                ok[i] = False
            else:
                out[i] = resize_rgb(img, size, resize).transpose(2, 0, 1)
            bar.update(1)
    return out, ok


def load_image_folder_domain(root: str | Path, domain: str, split: str | None = None, layout: str = "auto",
                             image_size: int = 224, max_per_class: int | None = None,
                             class_names: list[str] | tuple[str, ...] | None = None, seed: int = 0,
                             resize: str = "crop", skip_corrupt: bool = False, cache: bool = False) -> Domain:
    """One domain of an image-folder dataset (Office-31, Office-Home, DomainNet, VisDA-2017) as a :class:`Domain`.

    root: the dataset folder (see :data:`LAYOUTS`; a relative path is also looked up under
    ``$UDA_NB_DATA/real``); domain: its sub-folder (``amazon``, ``Art``, ``clipart``, VisDA ``train`` /
    ``validation``); split: ``None`` for every image in the class folders (Office-31 / Office-Home have no
    official split; see :func:`split_domain`), or ``train`` / ``test`` to read DomainNet's
    ``<root>/<domain>_<split>.txt``. ``layout='auto'`` recognises all four.

    Returns images ``(N, 3, image_size, image_size)`` float32 in [0, 1] and labels ``(N,)`` int64, the index of
    each file's class folder in ``class_names`` (default: sorted class-folder names). Files are ordered by
    class then path (or as listed in a split file); ``meta['files']`` holds their paths.

    resize: ``crop`` (shorter side to image_size, centre crop) or ``stretch`` (whole image, distorted).
    max_per_class: keep at most that many images per class, chosen with ``seed`` (memory: 12 * S^2 bytes per
    image, so 1.7 GB for Office-31 amazon at 224). skip_corrupt: warn and skip undecodable files instead of
    raising :class:`CorruptImageError`. cache: save the decoded uint8 arrays under
    ``$UDA_NB_DATA/cache/real/`` keyed by the files' paths, sizes and modification times.
    """
    where = _resolve(root, domain, split, layout)
    classes = _check_classes(where, class_names)
    items = _subsample(_list_images(where, classes, check_labels=class_names is None), max_per_class, seed)
    if not items:
        raise FileNotFoundError(f"No image files ({', '.join(IMAGE_EXTENSIONS)}) for domain {domain!r} under "
                                f"{where['class_root']}. Expected the {layout} layout: {LAYOUTS[layout]}.")
    paths = [p for p, _ in items]
    labels = np.array([lab for _, lab in items], dtype=np.int64)
    need = len(paths) * 3 * image_size * image_size * 4
    if need > _MEMORY_WARN_BYTES:
        warnings.warn(f"Domain {domain!r}: {len(paths)} images at {image_size}x{image_size} take {need / 1e9:.1f} GB "
                      "as float32 in memory; pass max_per_class= or a smaller image_size if that is too much.",
                      stacklevel=2)

    def build() -> dict[str, np.ndarray]:
        images, ok = _decode_all(paths, image_size, resize, skip_corrupt, f"{domain} {split or 'all'}")
        return {"images": images, "ok": ok}

    if cache:
        stats = [(str(p.relative_to(where["root"])), *_stat(p)) for p in paths]
        key = config_key({"root": str(where["root"].resolve()), "domain": domain, "split": split,
                          "layout": where["layout"], "size": image_size, "resize": resize,
                          "skip_corrupt": skip_corrupt, "files": stats})
        arrays = cached_npz(cache_dir("real") / f"{where['domain_dir'].name}-{split or 'all'}-{image_size}-{key}.npz",
                            build)
    else:
        arrays = build()
    ok = arrays["ok"].astype(bool)
    skipped = [str(p) for p, good in zip(paths, ok) if not good]
    if skipped:
        warnings.warn(f"Skipped {len(skipped)} unreadable image(s) in domain {domain!r}: "
                      f"{', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}", stacklevel=2)
    images = torch.from_numpy(arrays["images"][ok]).float().div_(255.0)
    files = tuple(str(p.relative_to(where["class_root"])) for p, good in zip(paths, ok) if good)
    return Domain(name=domain, split=split or "all", images=images, labels=torch.from_numpy(labels[ok]),
                  class_names=classes,
                  meta={"source": "image_folder", "root": str(where["root"]), "folder": str(where["class_root"]),
                        "layout": where["layout"], "files": files, "image_size": image_size, "resize": resize,
                        "max_per_class": max_per_class, "seed": seed, "skipped": tuple(skipped)})


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def image_folder_classes(root: str | Path, domain: str, layout: str = "auto") -> list[str]:
    """The sorted class-folder names of one domain (cheap: no image is opened)."""
    return list(_resolve(root, domain, None, layout)["classes"])


def load_image_folder_domains(root: str | Path, domains: list[str] | tuple[str, ...], split: str | None = None,
                              layout: str = "auto", class_names: list[str] | tuple[str, ...] | None = None,
                              **kwargs) -> dict[str, Domain]:
    """Several domains of one dataset with one class list, as ``{domain: Domain}`` (in the order given).

    Before decoding anything it checks that every domain has the same class folders (or, with ``class_names``,
    at least those) and raises a :class:`ValueError` naming the folders that differ. Other keyword arguments go
    to :func:`load_image_folder_domain`.
    """
    if not domains:
        raise ValueError("load_image_folder_domains needs at least one domain name.")
    where = {d: _resolve(root, d, split, layout) for d in domains}
    if class_names is None:
        first = domains[0]
        ref = where[first]["classes"]
        for d in domains[1:]:
            got = where[d]["classes"]
            if got != ref:
                missing = sorted(set(ref) - set(got))
                extra = sorted(set(got) - set(ref))
                raise ValueError(f"Class folders differ between {first} and {d}: missing in {d}: {missing}; extra in "
                                 f"{d}: {extra} ({where[first]['class_root']} vs {where[d]['class_root']}). Every "
                                 "domain needs the same class folders; pass class_names=[...] to use a common subset.")
        class_names = ref
    else:
        for d in domains:
            _check_classes(where[d], class_names)
    return {d: load_image_folder_domain(root, d, split=split, layout=layout, class_names=class_names, **kwargs)
            for d in domains}


def split_domain(domain: Domain, test_fraction: float = 0.2, seed: int = 0) -> tuple[Domain, Domain]:
    """A disjoint, class-stratified ``(train, test)`` split of a labeled domain (for datasets without one).

    Per class, ``round(n * test_fraction)`` images (at least one when the class has two or more) go to the
    test part, chosen with ``seed``; both parts keep file order. ``meta['files']`` is split alongside.
    """
    if domain.labels is None:
        raise ValueError(f"split_domain needs a labeled domain; {domain.name!r} has no labels.")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}.")
    rng = np.random.default_rng(seed)
    labels = domain.labels.cpu().numpy()
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = int(round(len(idx) * test_fraction))
        k = min(max(k, 1 if len(idx) >= 2 else 0), len(idx) - 1)
        test[rng.choice(idx, k, replace=False)] = True
    parts = []
    for name, mask in (("train", ~test), ("test", test)):
        index = torch.from_numpy(np.flatnonzero(mask))
        meta = dict(domain.meta)
        if "files" in meta and len(meta["files"]) == len(labels):
            meta["files"] = tuple(meta["files"][i] for i in index.tolist())
        sub = domain.subset(index.to(domain.device))
        parts.append(Domain(domain.name, name, sub.images, sub.labels, domain.class_names,
                            {**meta, "split_of": domain.split, "test_fraction": test_fraction, "split_seed": seed}))
    return parts[0], parts[1]


# -------------------------------------------------------------------------------------------- keypoint folder

def _visibility(value, where: str) -> bool:
    """0/1, true/false (bool, number or text) -> bool; anything else is an error naming the entry."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "0.0", "1.0", "true", "false"):
        return value.strip().lower() in ("1", "1.0", "true")
    raise ValueError(f"{where}: bad visibility value {value!r}; use 1 (visible) or 0 (not visible or not "
                     "annotated), or true/false.")


def _coordinate(value, visible: bool, where: str) -> float:
    """A finite float; ``None`` / empty / NaN allowed (stored as 0) only for a keypoint that is not visible."""
    if value is None or (isinstance(value, str) and not value.strip()):
        x = math.nan
    else:
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: coordinate {value!r} is not a number.") from None
    if not math.isfinite(x):
        if visible:
            raise ValueError(f"{where}: a visible keypoint needs finite x and y (got {value!r}).")
        return 0.0
    return x


def _parse_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}). See data/README.md for the keypoint schema.") from exc
    if not isinstance(data, dict) or "keypoint_names" not in data or "images" not in data:
        raise ValueError(f"{path} must be a JSON object with 'keypoint_names' (list of names) and 'images' "
                         "(list of {'file': ..., 'keypoints': [[x, y, v], ...]}); see data/README.md.")
    names = [str(n) for n in data["keypoint_names"]]
    files, coords, vis = [], [], []
    for i, entry in enumerate(data["images"]):
        if not isinstance(entry, dict) or "file" not in entry or "keypoints" not in entry:
            raise ValueError(f"{path}, images[{i}]: each entry needs 'file' and 'keypoints'.")
        where = f"{path.name}, images[{i}] ({entry['file']})"
        kps = entry["keypoints"]
        if not isinstance(kps, list) or len(kps) != len(names):
            n = len(kps) if isinstance(kps, list) else type(kps).__name__
            raise ValueError(f"{where}: {n} keypoints, expected {len(names)} (one [x, y, v] per keypoint_names entry).")
        row_xy, row_v = [], []
        for name, kp in zip(names, kps):
            if not isinstance(kp, (list, tuple)) or len(kp) != 3:
                raise ValueError(f"{where}, keypoint {name!r}: expected [x, y, v], got {kp!r}.")
            v = _visibility(kp[2], f"{where}, keypoint {name!r}")
            row_xy.append([_coordinate(kp[0], v, f"{where}, keypoint {name!r}"),
                           _coordinate(kp[1], v, f"{where}, keypoint {name!r}")])
            row_v.append(v)
        files.append(str(entry["file"]))
        coords.append(row_xy)
        vis.append(row_v)
    return {"names": names, "files": files, "coords": coords, "visible": vis,
            "skeleton": data.get("skeleton"), "groups": data.get("groups")}


def _parse_csv(path: Path) -> dict:
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh) if any(cell.strip() for cell in r)]
    if not rows:
        raise ValueError(f"{path} is empty: expected a header 'file,<name>_x,<name>_y,<name>_v,...'.")
    header = [h.strip() for h in rows[0]]
    if header[0] != "file" or (len(header) - 1) % 3 or len(header) < 4:
        raise ValueError(f"{path}: the header must be 'file' then three columns per keypoint "
                         f"'<name>_x,<name>_y,<name>_v'; got {header}.")
    names = []
    for j in range(1, len(header), 3):
        x, y, v = header[j:j + 3]
        name = x[:-2]
        if not (x.endswith("_x") and y == f"{name}_y" and v == f"{name}_v"):
            raise ValueError(f"{path}: columns {j + 1}-{j + 3} must be '<name>_x,<name>_y,<name>_v' for one keypoint; "
                             f"got {[x, y, v]}.")
        names.append(name)
    files, coords, vis = [], [], []
    for lineno, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise ValueError(f"{path}, line {lineno}: {len(row)} values, expected {len(header)} (file + 3 per each "
                             f"of the {len(names)} keypoints {names}).")
        where = f"{path.name}, line {lineno} ({row[0]})"
        row_xy, row_v = [], []
        for k, name in enumerate(names):
            x, y, v = row[1 + 3 * k: 4 + 3 * k]
            v = _visibility(v, f"{where}, keypoint {name!r}")
            row_xy.append([_coordinate(x, v, f"{where}, keypoint {name!r}"),
                           _coordinate(y, v, f"{where}, keypoint {name!r}")])
            row_v.append(v)
        files.append(row[0].strip())
        coords.append(row_xy)
        vis.append(row_v)
    return {"names": names, "files": files, "coords": coords, "visible": vis, "skeleton": None, "groups": None}


def _indices(items, names: list[str], what: str) -> list[int]:
    """Keypoint references (indices or names) -> indices into ``names``."""
    out = []
    for it in items:
        if isinstance(it, str):
            if it not in names:
                raise ValueError(f"{what} names keypoint {it!r}, which is not in keypoint_names {names}.")
            out.append(names.index(it))
        else:
            out.append(int(it))
    return out


def load_keypoint_folder(root: str | Path, annotations: str = "keypoints.json",
                         image_size: int | tuple[int, int] | None = None,
                         keypoint_names: list[str] | tuple[str, ...] | None = None, skeleton=None, groups=None,
                         name: str | None = None, split: str = "train", outside: str = "error") -> KeypointDomain:
    """A folder of images plus one annotation file (JSON or CSV, schema in ``data/README.md``) as a
    :class:`KeypointDomain`.

    Coordinates in the file are pixels ``(x, y)`` of the original image (x = column, y = row, from the top-left
    corner of the top-left pixel; a pixel's centre is at ``i + 0.5``), with a visibility flag 0/1 each.
    ``image_size=None`` keeps the images' size (they must all have the same); an int ``S`` (or ``(H, W)``)
    resizes the whole image (no crop, so non-square images are distorted) and scales the coordinates with it:
    ``x * W_new / W_old``, ``y * H_new / H_old``.

    Returns images ``(N, 3, H, W)`` float32 in [0, 1], keypoints ``(N, K, 2)`` float32, visible ``(N, K)`` bool.
    ``keypoint_names`` picks and orders keypoints from the file (e.g. to match another domain); ``skeleton`` /
    ``groups`` (indices or names) override those in the JSON (CSV has none). ``name`` defaults to the folder name.
    ``outside``: what to do with a keypoint flagged visible that lies outside its (resized) image: ``"error"`` (the
    default: usually a wrong scale or swapped x / y) or ``"hide"`` (mark it not visible, as for a hand that leaves
    the crop; how many were hidden is in ``meta["hidden_outside"]``).
    """
    if outside not in ("error", "hide"):
        raise ValueError(f"outside must be 'error' or 'hide' (mark visible keypoints outside the image not visible), "
                         f"got {outside!r}.")
    path = resolve_root(root)
    if not path.is_dir():
        raise FileNotFoundError(f"Keypoint folder {_where(path, root)} does not exist. Expected <root>/{annotations} "
                                "and the image files it names (schema in data/README.md).")
    ann = Path(annotations) if Path(annotations).is_absolute() else path / annotations
    if not ann.is_file():
        found = sorted(p.name for p in path.iterdir() if p.suffix.lower() in (".json", ".csv"))
        raise FileNotFoundError(f"Annotation file {ann} not found. Expected a JSON or CSV file of keypoints (schema "
                                f"in data/README.md) in {path}; JSON/CSV files there: {found or 'none'}.")
    suffix = ann.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise ValueError(f"{ann}: annotation files must be .json or .csv (schema in data/README.md).")
    parsed = _parse_json(ann) if suffix == ".json" else _parse_csv(ann)
    names, files = parsed["names"], parsed["files"]
    if not files:
        raise ValueError(f"{ann} lists no images.")
    if len(set(names)) != len(names):
        raise ValueError(f"{ann}: keypoint names must be unique, got {names}.")
    coords = np.asarray(parsed["coords"], dtype=np.float64).reshape(len(files), len(names), 2)
    visible = np.asarray(parsed["visible"], dtype=bool).reshape(len(files), len(names))

    # Optional selection / reordering of keypoints; skeleton and groups follow the kept keypoints.
    file_skeleton = [tuple(_indices(e, names, f"{ann.name} skeleton")) for e in (parsed["skeleton"] or [])]
    file_groups = {g: _indices(v, names, f"{ann.name} group {g!r}") for g, v in (parsed["groups"] or {}).items()}
    if keypoint_names is not None:
        keypoint_names = [str(n) for n in keypoint_names]
        missing = [n for n in keypoint_names if n not in names]
        if missing:
            raise ValueError(f"keypoint_names {missing} are not in {ann} (it has {names}).")
        order = [names.index(n) for n in keypoint_names]
        remap = {old: new for new, old in enumerate(order)}
        coords, visible = coords[:, order], visible[:, order]
        file_skeleton = [(remap[a], remap[b]) for a, b in file_skeleton if a in remap and b in remap]
        file_groups = {g: [remap[i] for i in idx if i in remap] for g, idx in file_groups.items()}
        names = keypoint_names
    skel = [tuple(_indices(e, names, "skeleton")) for e in skeleton] if skeleton is not None else file_skeleton
    grp = ({g: _indices(v, names, f"group {g!r}") for g, v in groups.items()} if groups is not None
           else {g: idx for g, idx in file_groups.items() if idx})

    missing = [f for f in files if not (path / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{ann.name} names image {missing[0]!r}, which is not in {path}"
                                f"{f' ({len(missing)} missing in all)' if len(missing) > 1 else ''}. Image paths in "
                                "the annotation file are relative to the folder that holds it.")

    images, sizes = [], []
    first = None
    with _progress(len(files), f"{name or path.name} keypoints") as bar:
        for f in files:
            img, (w, h) = open_rgb(path / f)
            if image_size is None:
                if first is None:
                    first = (f, (w, h))
                elif (w, h) != first[1]:
                    raise ValueError(f"Images differ in size: {path / first[0]} is {first[1][0]}x{first[1][1]} but "
                                     f"{path / f} is {w}x{h} (width x height). Pass image_size= to resize them all "
                                     "(coordinates are scaled to match).")
                arr = np.asarray(img, dtype=np.uint8)
            else:
                arr = resize_rgb(img, image_size, "stretch")
            images.append(arr.transpose(2, 0, 1))
            sizes.append((w, h))
            bar.update(1)
    sizes = np.asarray(sizes, dtype=np.float64)  # (N, 2) original (width, height)
    if image_size is not None:
        out_h, out_w = (image_size, image_size) if isinstance(image_size, int) else image_size
        # Corner-based pixel coordinates scale exactly with the image (PIL resizes corner to corner).
        coords = coords * (np.array([out_w, out_h], dtype=np.float64) / sizes)[:, None, :]
    hidden = 0
    if outside == "hide":
        out_of_image = visible & ~inside_image(torch.from_numpy(coords), *images[0].shape[1:]).numpy()
        hidden = int(out_of_image.sum())
        visible = visible & ~out_of_image
    return KeypointDomain(
        name=name or path.name, split=split,
        images=torch.from_numpy(np.stack(images)).float().div_(255.0),
        keypoints=torch.from_numpy(coords.astype(np.float32)), visible=torch.from_numpy(visible),
        keypoint_names=tuple(names), skeleton=tuple(skel), groups={g: tuple(v) for g, v in grp.items()},
        meta={"source": "keypoint_folder", "root": str(path), "annotations": str(ann), "files": tuple(files),
              "original_sizes": sizes.astype(np.int64), "image_size": image_size, "hidden_outside": hidden})


__all__ = ["CorruptImageError", "IMAGE_EXTENSIONS", "LAYOUTS", "image_folder_classes", "load_image_folder_domain",
           "load_image_folder_domains", "load_keypoint_folder", "open_rgb", "real_data_dir", "resize_rgb",
           "resolve_root", "split_domain"]
