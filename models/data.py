"""Data sets, all made offline or read from a folder the user names (nothing downloads here).

- ``mnist1d``: Greydanus' MNIST-1D, made by the ``mnist1d`` package's ``make_dataset`` (about 2 s).
  That function reseeds numpy's global RNG, so it is called with the global states of numpy, Python's
  ``random`` and torch saved and restored.  Default 4000 train / 1000 test, 40 features, 10 classes.
- ``teacher_student``: inputs N(0, I), targets from a random tanh teacher MLP plus noise (regression).
- ``modular``: a + b mod p with one-hot (a, b) inputs, a fraction of all p^2 pairs for training
  (the grokking task of Power et al. 2022).
- ``mnist`` / ``cifar10``: read from a local folder (IDX files / the python batches), a clear message
  says which files are missing and where to put them.
Inputs are standardised per feature with the training statistics (``standardize=True``).  Every
data set records a SHA-256 of its arrays, so two runs can show they trained on the same data.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dynsim.models.config import DATASETS


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor  # class indices (classification) or targets (regression)
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int | None  # None for regression
    meta: dict = field(default_factory=dict)

    @property
    def n_in(self) -> int:
        return int(np.prod(self.x_train.shape[1:]))

    @property
    def n_out(self) -> int:
        return self.n_classes if self.n_classes is not None else int(self.y_train.shape[1])


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _finish(name, x, y, xt, yt, n_classes, standardize, meta) -> Dataset:
    x, xt = np.asarray(x, np.float32), np.asarray(xt, np.float32)
    if standardize:
        mu = x.mean(axis=0, keepdims=True)
        sd = x.std(axis=0, keepdims=True)
        sd[sd == 0] = 1.0
        x, xt = (x - mu) / sd, (xt - mu) / sd
    ydt = np.int64 if n_classes is not None else np.float32
    y, yt = np.asarray(y, ydt), np.asarray(yt, ydt)
    meta = {**meta, "sha256": _digest(x, y, xt, yt), "n_train": int(len(x)), "n_test": int(len(xt)),
            "standardized": standardize}
    return Dataset(name, torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(xt),
                   torch.from_numpy(yt), n_classes, meta)


def mnist1d(num_samples: int = 5000, seed: int = 42, standardize: bool = True) -> Dataset:
    """MNIST-1D (Greydanus & Kobak 2020) from ``mnist1d.data.make_dataset``, offline."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise ValueError("the mnist1d data set needs the nets extra: pip install 'dynsim[nets]'"
                         ) from None
    args = get_dataset_args()
    args.num_samples, args.seed = int(num_samples), int(seed)
    np_state, py_state, torch_state = np.random.get_state(), random.getstate(), torch.get_rng_state()
    try:
        d = make_dataset(args)
    finally:  # make_dataset reseeds the global generators: give them back
        np.random.set_state(np_state)
        random.setstate(py_state)
        torch.set_rng_state(torch_state)
    return _finish("mnist1d", d["x"], d["y"], d["x_test"], d["y_test"], 10, standardize,
                   {"num_samples": num_samples, "seed": seed, "source": "mnist1d.make_dataset"})


def teacher_student(n_train: int = 2000, n_test: int = 1000, d_in: int = 20, d_out: int = 1,
                    width: int = 32, noise: float = 0.1, seed: int = 0,
                    standardize: bool = True) -> Dataset:
    """y = W2 tanh(W1 x) + noise, x ~ N(0, I_d_in), teacher weights N(0, 1/fan_in) from ``seed``."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 1 / np.sqrt(d_in), (d_in, width))
    w2 = rng.normal(0, 1 / np.sqrt(width), (width, d_out))
    x = rng.normal(size=(n_train + n_test, d_in))
    y = np.tanh(x @ w1) @ w2 + noise * rng.normal(size=(n_train + n_test, d_out))
    return _finish("teacher_student", x[:n_train], y[:n_train], x[n_train:], y[n_train:], None,
                   standardize, {"d_in": d_in, "d_out": d_out, "width": width, "noise": noise,
                                 "seed": seed})


def modular(p: int = 97, frac_train: float = 0.5, seed: int = 0) -> Dataset:
    """(a + b) mod p for all p^2 pairs, inputs one-hot(a) ++ one-hot(b); a random ``frac_train``
    of the pairs for training (Power et al. 2022, grokking)."""
    if not 0 < frac_train < 1:
        raise ValueError(f"`frac_train` must be in (0, 1), got {frac_train}")
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    a, b = a.ravel(), b.ravel()
    x = np.zeros((p * p, 2 * p), np.float32)
    x[np.arange(p * p), a] = 1
    x[np.arange(p * p), p + b] = 1
    y = (a + b) % p
    perm = np.random.default_rng(seed).permutation(p * p)
    n = int(round(frac_train * p * p))
    tr, te = perm[:n], perm[n:]
    return _finish("modular", x[tr], y[tr], x[te], y[te], p, False,
                   {"p": p, "frac_train": frac_train, "seed": seed})


def _need(folder: Path, files: list[str], name: str, where: str) -> None:
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise ValueError(f"{name}: {', '.join(missing)} not found in {str(folder)!r}; {where}")


def _idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def mnist(folder, subset: int | None = None, standardize: bool = True) -> Dataset:
    """MNIST from the four IDX files (optionally .gz) in ``folder``."""
    folder = Path(folder)
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte"]
    found = [n if (folder / n).is_file() else n + ".gz" for n in names]
    missing = [n for n, f in zip(names, found) if not (folder / f).is_file()]
    if missing:
        raise ValueError(f"MNIST: {', '.join(n + '[.gz]' for n in missing)} not found in "
                         f"{str(folder)!r}; put the four IDX files there, plain or gzipped (.gz) "
                         "both accepted (yann.lecun.com/exdb/mnist or a mirror); dynsim never "
                         "downloads")
    x, y, xt, yt = (_idx(folder / f) for f in found)
    x, y = (x[:subset], y[:subset]) if subset else (x, y)
    return _finish("mnist", x.reshape(len(x), -1) / 255.0, y, xt.reshape(len(xt), -1) / 255.0, yt,
                   10, standardize, {"folder": str(folder), "subset": subset})


def cifar10(folder, subset: int | None = None, standardize: bool = True) -> Dataset:
    """CIFAR-10 from the python batches (data_batch_1..5, test_batch) in ``folder``; the edge-of-
    stability papers use the first 5000 training images (``subset=5000``)."""
    folder = Path(folder)
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    _need(folder, files, "CIFAR-10", "unpack cifar-10-python.tar.gz (cs.toronto.edu/~kriz/cifar.html)"
          " into that folder yourself; dynsim never downloads")

    def load(name):
        with open(folder / name, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")
        return np.asarray(d[b"data"], np.float32) / 255.0, np.asarray(d[b"labels"])

    parts = [load(f) for f in files[:5]]
    x, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    xt, yt = load("test_batch")
    x, y = (x[:subset], y[:subset]) if subset else (x, y)
    return _finish("cifar10", x, y, xt, yt, 10, standardize, {"folder": str(folder),
                                                              "subset": subset})


def load_data(name: str, *, folder=None, subset: int | None = None, seed: int = 0) -> Dataset:
    """A data set by name (see the module docstring)."""
    if name == "mnist1d":
        ds = mnist1d()
    elif name == "teacher_student":
        ds = teacher_student(seed=seed)
    elif name == "modular":
        ds = modular(seed=seed)
    elif name in ("mnist", "cifar10"):
        if folder is None:
            raise ValueError(f"the {name} data set is read from a folder you name: pass `data_dir`")
        return (mnist if name == "mnist" else cifar10)(folder, subset)
    else:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    if subset:
        ds = Dataset(ds.name, ds.x_train[:subset], ds.y_train[:subset], ds.x_test, ds.y_test,
                     ds.n_classes, {**ds.meta, "subset": subset})
    return ds
