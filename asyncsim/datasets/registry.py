"""Datasets by name: the built-in generated tasks, and :func:`load_dataset`, which reads any
form asyncsim knows (a built-in name, ``.npz`` frames, SHD/SSC HDF5, an N-MNIST folder, a tonic
dataset or a NIR data file).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import InputError
from ..limits import check_memory
from . import readers
from .frames import FrameDataset, load_npz
from .generated import cifar_like, dvs_like, nmnist_like, shd_like
from .tasks import randman, sequence_detection, yin_yang

#: generated datasets by name: a function (n_samples, seed) -> FrameDataset
BUILTIN = {"nmnist-like": nmnist_like, "shd-like": shd_like, "dvs-like": dvs_like,
           "cifar-like": cifar_like,
           "yin-yang": yin_yang, "sequence": sequence_detection, "randman": randman}
#: (timesteps, features) of each generated dataset, for size estimates before generating
SHAPES = {"nmnist-like": (10, 2312), "shd-like": (100, 350), "dvs-like": (30, 2048),
          "cifar-like": (4, 3072),
          "yin-yang": (30, 5), "sequence": (11, 2), "randman": (50, 100)}


def load_dataset(spec: str, n_samples: int | None = None, seed: int = 0,
                 allow_large: bool = False,
                 announce: Callable[[int], None] | None = None) -> FrameDataset:
    """A built-in generated dataset, or a dataset file in one of the formats asyncsim reads.

    Args:
        spec: a name in :data:`BUILTIN` (``asyncsim data list``); a ``.npz`` path (see
            :func:`load_npz`); an SHD/SSC ``.h5`` file or an N-MNIST folder
            (:mod:`asyncsim.readers`); ``nir-data:FILE`` for a NIR data file; or
            ``tonic:NAME:ROOT`` for a tonic dataset (test split).
        n_samples: builtins: how many samples to generate (default 256); files: keep the first
            ``n_samples`` (default all).
        seed: seed of a builtin's sample draws; ignored for files.
        allow_large: generate datasets larger than this machine's memory share
            (:mod:`asyncsim.limits`).
        announce: called with the number of samples just before a builtin is generated
            (after the size check), so that a caller can say what the wait is for.
    """
    if n_samples is not None and n_samples < 1:
        raise InputError(f"field 'n_samples': expected >= 1 or None, got {n_samples}")
    if spec in BUILTIN:
        n = 256 if n_samples is None else n_samples
        steps, features = SHAPES[spec]
        # the frames, and about as much again while drawing them
        check_memory(2.0 * n * steps * features, f"dataset '{spec}' with {n} samples",
                     allow_large)
        if announce is not None:
            announce(n)
        return BUILTIN[spec](n_samples=n, seed=seed)
    if spec.startswith("nir-data:"):
        data = readers.read_nir_data(spec[len("nir-data:"):])
        return data if n_samples is None else data.subset(n_samples)
    if spec.startswith("tonic:"):
        parts = spec.split(":", 2)
        if len(parts) != 3:
            raise InputError(f"{spec}: expected tonic:NAME:ROOT, e.g. tonic:DVSGesture:data")
        return readers.tonic_dataset(parts[1], parts[2], n_samples=n_samples)
    path = Path(spec)
    if path.is_dir() or path.suffix.lower() in (".h5", ".hdf5"):
        if not path.exists():
            raise InputError(f"{spec}: no such file")
        return readers.read_path(path, n_samples=n_samples, allow_large=allow_large)
    if not path.is_file():
        raise InputError(f"{spec}: not a built-in dataset ({', '.join(BUILTIN)}) and no such "
                         f"file")
    data = load_npz(path)
    return data if n_samples is None else data.subset(n_samples)
