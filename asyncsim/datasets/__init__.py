"""Data to run on: spike-count frames (:mod:`.frames`), generated tasks (:mod:`.generated`,
:mod:`.tasks`), readers of published dataset formats (:mod:`.readers`) and the registry of
dataset names (:mod:`.registry`: :data:`BUILTIN`, :func:`load_dataset`).
"""

from .frames import (
    FrameDataset,
    events_to_frames,
    events_to_frames_2d,
    from_arrays,
    load_npz,
)
from .generated import cifar_like, dvs_like, nmnist_like, shd_like
from .registry import BUILTIN, load_dataset
from .tasks import randman, sequence_detection, yin_yang

__all__ = ["BUILTIN", "FrameDataset", "cifar_like", "dvs_like", "events_to_frames",
           "events_to_frames_2d", "from_arrays", "load_dataset", "load_npz", "nmnist_like",
           "randman", "sequence_detection", "shd_like", "yin_yang"]
