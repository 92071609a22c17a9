"""Datasets: embedded domains built offline, and the `Domain` / `Task` abstractions.

>>> task = make_task("mnist", "mnistm")          # labeled MNIST -> unlabeled MNIST-M
>>> task.target.labels is None
True
"""


from .domain import Domain, ImageSet, Task, check_compatible, concat_domains  # noqa: F401
from .keypoints import KeypointDomain
from .registry import EMBEDDED, SPLITS, EmbeddedDomain, available_domains, domain_cache_path, load_domain  # noqa: F401
from .tasks import make_task, oracle_task, partial_domain, partial_task
from . import digits, dsprites, hands, street, syn  # noqa: F401  (uda_nb.data.dsprites etc. stay importable)
from .folders import (CorruptImageError, load_image_folder_domain, load_image_folder_domains,  # noqa: E402
                      load_keypoint_folder, real_data_dir, split_domain)
from .torchvision_digits import load_torchvision_digits  # noqa: E402
from .user import load_npz, load_task_npz, save_task_npz  # noqa: E402

__all__ = ["Domain", "KeypointDomain", "Task", "EMBEDDED", "available_domains", "load_domain", "make_task", "partial_task", "partial_domain",
           "oracle_task", "concat_domains", "check_compatible", "load_image_folder_domain", "load_image_folder_domains",
           "split_domain", "load_keypoint_folder", "load_torchvision_digits", "CorruptImageError", "real_data_dir",
           "load_npz", "load_task_npz", "save_task_npz"]
