"""The trainer's parameters, thresholds and conventions, importable without torch (the CLI reads
them to build its options before any torch import)."""

from __future__ import annotations

from dynsim.params import Bool, Choice, Float, Int, Text

MODELS = ("mlp", "cnn", "transformer")
DATASETS = ("mnist1d", "teacher_student", "modular", "mnist", "cifar10")
OPTIMIZERS = ("gd", "sgd", "momentum", "nesterov", "adam", "rmsprop")
DENSITY = ("off", "end", "probes")   # hessian_density: never, at the last probe, at every probe
CONVENTION = {"gd": "gd", "sgd": "gd", "momentum": "heavy_ball", "nesterov": "nesterov",
              "adam": "adam_precond", "rmsprop": "rmsprop_precond"}

PARAMS = {
    "model": Choice(MODELS), "data": Choice(DATASETS), "opt": Choice(OPTIMIZERS),
    "lr": Float(0, None, lo_open=True), "steps": Int(1, 10**8), "batch_size": Int(1, 10**8),
    "momentum": Float(0, 1, hi_open=True), "beta2": Float(0, 1, lo_open=True, hi_open=True),
    "eps": Float(0, None), "weight_decay": Float(0, None),
    "schedule": Choice(("constant", "cosine", "step")), "loss": Choice(("mse", "ce")),
    "width": Int(1, 100_000), "depth": Int(1, 100), "activation": Choice(("tanh", "relu")),
    "dropout": Float(0, 1, hi_open=True), "batch_norm": Bool(),
    "probe_every": Int(1, 10**8), "lanczos_iter": Int(2, 1000), "probe_batch": Int(1, 10**8),
    "hessian_bottom": Bool(), "hessian_trace": Bool(), "bn_mode": Choice(("eval", "train", "ghost")),
    "top_k": Int(1, 64), "bottom_k": Int(1, 64), "density": Choice(DENSITY),
    "grad_noise": Bool(), "grad_noise_samples": Int(2, 10_000),
    "chunk_size": Int(1, 10**8), "window": Int(1, 10**6), "proj_k": Int(1, 64),
    "device": Choice(("auto", "cpu", "cuda")), "data_dir": Text("a folder path"),
    "subset": Int(1, 10**8),
}


def threshold(opt: str, lr: float, momentum: float) -> float:
    """The stability threshold of ``opt`` at ``lr``: :func:`dynsim.analysis.stability.threshold`
    under the optimizer's convention (``CONVENTION``; REFERENCES.md items 3 and 15)."""
    from dynsim.analysis.stability import threshold as by_convention

    return by_convention(CONVENTION[opt], lr, momentum)


def default_probe_every(steps: int) -> int:
    """The default probe schedule: 6 probes per run (and one after the last step), never more
    often than every 25 steps.  At the edge of stability the top eigenvector turns between probes
    and a warm-started Lanczos still needs about 11 HVPs a probe (lr 0.2 on mnist1d); 12 probes
    cost 24% of the training time there, 6 keep it at or under 15% (benchmarks/RESULTS.md).  Ask
    for ``probe_every`` (``--probe-every 25``) to see the sharpness in detail."""
    return max(25, steps // 6)
