"""The trainer's settings (:class:`TrainConfig`), thresholds and conventions, importable without
torch (the CLI reads them to build its options before any torch import)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from dynsim.params import Bool, Choice, Float, Int, Text, check_params, param_table

MODELS = ("mlp", "cnn", "transformer")
DATASETS = ("mnist1d", "teacher_student", "modular", "mnist", "cifar10")
OPTIMIZERS = ("gd", "sgd", "momentum", "nesterov", "adam", "rmsprop")
DENSITY = ("off", "end", "probes")   # hessian_density: never, at the last probe, at every probe
CONVENTION = {"gd": "gd", "sgd": "gd", "momentum": "heavy_ball", "nesterov": "nesterov",
              "adam": "adam_precond", "rmsprop": "rmsprop_precond"}


def _setting(group: str, constraint):
    """A field of :class:`TrainConfig`: its default is the constraint's (written once)."""
    return field(default=constraint.default, metadata={"group": group, "constraint": constraint})


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of :func:`dynsim.models.train.train`, the one place where each is written:
    the trainer's schema ``PARAMS`` (registry, sweeps), ``train()``'s keyword arguments and
    signature, the ``dynsim train`` options (flag ``--name-with-dashes``) and the parameter table
    of ``train``'s docstring are all read from these fields.

    Flat, with each field tagged by its group (data, net, optimizer, probes, run): the registry,
    the sweep files, ``meta["params"]`` and the CLI all name a setting by one flat name
    (``lr``, ``probe_every``), so nested groups would need a second spelling of every name
    (``optimizer.lr``) and a translation between the two; the groups only order and head the
    docstring table and the help.  ``TrainConfig(**params)`` builds one, :meth:`checked`
    validates it (the schema and the combinations it cannot refuse)."""

    # data
    data: str = _setting("data", Choice(DATASETS, default="mnist1d", help="Data set (mnist / "
                                        "cifar10 are read from data_dir)."))
    subset: int | None = _setting("data", Int(1, 10**8, help="Use the first N training examples.",
                                              none_means="all"))
    data_dir: str | None = _setting("data", Text("a folder path",
                                                 help="Folder with the MNIST / CIFAR-10 files."))
    # net
    model: str = _setting("net", Choice(MODELS, default="mlp", help="Network."))
    width: int = _setting("net", Int(1, 100_000, default=200, help="Hidden width."))
    depth: int = _setting("net", Int(1, 100, default=2, help="Hidden layers."))
    activation: str = _setting("net", Choice(("tanh", "relu"), default="tanh", help="Activation."))
    dropout: float = _setting("net", Float(0, 1, hi_open=True, default=0.0, help="Dropout "
                                           "probability (off in the Hessian probes)."))
    batch_norm: bool = _setting("net", Bool(default=False, help="Batch norm layers."))
    # optimizer
    opt: str = _setting("optimizer", Choice(OPTIMIZERS, default="gd", help="Optimizer."))
    lr: float = _setting("optimizer", Float(0, None, lo_open=True, default=0.1,
                                            help="Learning rate."))
    steps: int = _setting("optimizer", Int(1, 10**8, default=1500, help="Optimizer steps."))
    batch_size: int | None = _setting("optimizer", Int(
        1, 10**8, help="Minibatch size (sgd-type optimizers need it).", none_means="full batch"))
    momentum: float = _setting("optimizer", Float(0, 1, hi_open=True, default=0.9,
                                                  help="Momentum / Adam beta1."))
    beta2: float = _setting("optimizer", Float(0, 1, lo_open=True, hi_open=True, default=0.999,
                                               help="Adam beta2 / RMSProp alpha."))
    eps: float = _setting("optimizer", Float(0, None, default=1e-8, help="Adam / RMSProp epsilon."))
    weight_decay: float = _setting("optimizer", Float(0, None, default=0.0,
                                                      help="L2 weight decay."))
    schedule: str = _setting("optimizer", Choice(("constant", "cosine", "step"), default="constant",
                                                 help="Learning-rate schedule."))
    loss: str = _setting("optimizer", Choice(("mse", "ce"), default="mse", help=(
        "mse: 0.5 sum over outputs, mean over samples (the EoS convention); ce: cross-entropy.")))
    # probes
    probe_every: int | None = _setting("probes", Int(
        1, 10**8, help="Steps between Hessian probes.",
        none_means="6 probes per run, at least 25 steps apart"))
    lanczos_iter: int = _setting("probes", Int(2, 1000, default=20,
                                               help="Lanczos iterations per probe."))
    probe_batch: int | None = _setting("probes", Int(
        1, 10**8, help="Examples in the Hessian probe batch.", none_means="the whole training set"))
    top_k: int = _setting("probes", Int(1, 64, default=1, help="Largest Hessian eigenvalues per "
                                        "probe (hessian_top)."))
    hessian_bottom: bool = _setting("probes", Bool(default=False,
                                                   help="Also the smallest eigenvalues."))
    bottom_k: int | None = _setting("probes", Int(1, 64, help="Smallest eigenvalues per probe, "
                                                  "with hessian_bottom.", none_means="1"))
    hessian_trace: bool = _setting("probes", Bool(default=False,
                                                  help="Hutchinson trace at each probe."))
    density: str = _setting("probes", Choice(DENSITY, default="off", help=(
        "Hessian spectral density by stochastic Lanczos quadrature: at the last probe (end) or "
        "at every probe; 800 HVPs each.")))
    bn_mode: str | None = _setting("probes", Choice(("eval", "train", "ghost"), help=(
        "Batch norm in the Hessian probes: eval (running statistics), train (probe batch), ghost "
        "(ghost batches of chunk_size); required with batch_norm, recorded in the run.")))
    grad_noise: bool = _setting("probes", Bool(default=False, help="Norms of minibatch minus full "
                                               "gradient at each probe (minibatch optimizers)."))
    grad_noise_samples: int = _setting("probes", Int(2, 10_000, default=32,
                                                     help="Minibatches per probe for grad_noise."))
    window: int = _setting("probes", Int(1, 10**6, default=100,
                                         help="Steps per window of the update statistics."))
    proj_k: int = _setting("probes", Int(1, 64, default=2, help="Random directions the "
                                         "parameters are projected on (channel param_proj)."))
    # run
    device: str = _setting("run", Choice(("auto", "cpu", "cuda"), default="auto", help="Device."))
    chunk_size: int | None = _setting("run", Int(
        1, 10**8, help="Examples per chunk of the full-batch gradient and the HVPs (memory), or "
        "the ghost batch size.", none_means="one chunk"))

    def checked(self) -> "TrainConfig":
        """This config validated (ValueError naming the bad value and what is allowed) before any
        data is made: the schema ``PARAMS`` and the combinations it can't refuse."""
        p = check_params(PARAMS, dataclasses.asdict(self), "train")
        for name, value in p.items():
            if value is None and PARAMS[name].default is not None:
                raise ValueError(f"`{name}` must be {PARAMS[name].allowed()}, got None")
        _check_choices(p)
        return dataclasses.replace(self, **p)


PARAMS = {f.name: f.metadata["constraint"] for f in dataclasses.fields(TrainConfig)}
GROUPS: dict[str, list[str]] = {}
for _f in dataclasses.fields(TrainConfig):
    GROUPS.setdefault(_f.metadata["group"], []).append(_f.name)


def make_config(config: TrainConfig | None = None, **params) -> TrainConfig:
    """``config`` (default: ``TrainConfig()``) with ``params`` (API names) replacing its fields,
    validated (:meth:`TrainConfig.checked`)."""
    check_params(PARAMS, params, "train")  # an unknown name is a ValueError naming what is allowed
    return dataclasses.replace(config or TrainConfig(), **params).checked()


def config_table() -> str:
    """The parameter table of ``train``'s docstring, by group."""
    return param_table(PARAMS, GROUPS)


def _check_choices(p: dict) -> None:
    if p["opt"] == "sgd" and p["batch_size"] is None:
        raise ValueError("`opt='sgd'` needs `batch_size` (full-batch training is `opt='gd'`)")
    if p["opt"] == "gd" and p["batch_size"] is not None:
        raise ValueError(f"`opt='gd'` is full-batch: `batch_size` must be left unset, got "
                         f"{p['batch_size']} (minibatches are `opt='sgd'`)")
    if p["batch_norm"] and p["bn_mode"] is None:
        raise ValueError("`batch_norm=True` needs an explicit `bn_mode` for the Hessian probes "
                         "(eval: running statistics, train: the probe batch's, ghost: "
                         "ghost batches of `chunk_size`); it is recorded in the run, got none")
    if p["bn_mode"] == "ghost" and p["chunk_size"] is None:
        raise ValueError("`bn_mode='ghost'` needs `chunk_size`, the ghost batch size")
    if p["bottom_k"] is not None and not p["hessian_bottom"]:
        raise ValueError(f"`bottom_k={p['bottom_k']}` needs `hessian_bottom=True`")
    k = max(p["top_k"], p["bottom_k"] or 1)
    if k > p["lanczos_iter"]:
        raise ValueError(f"`top_k` / `bottom_k` must be <= `lanczos_iter={p['lanczos_iter']}`, got {k}")
    if p["grad_noise"] and p["batch_size"] is None:
        raise ValueError("`grad_noise=True` needs minibatches (`batch_size`): full-batch GD has no "
                         "gradient noise")


def threshold(opt: str, lr: float, momentum: float) -> float:
    """The stability threshold of ``opt`` at ``lr``: :func:`dynsim.analysis.stability.threshold`
    under the optimizer's convention (``CONVENTION``; keys ``eos_threshold_*``)."""
    from dynsim.analysis.stability import threshold as by_convention

    return by_convention(CONVENTION[opt], lr, momentum)


def default_probe_every(steps: int) -> int:
    """The default probe schedule: 6 probes per run (and one after the last step), never more
    often than every 25 steps.  At the edge of stability the top eigenvector turns between probes
    and a warm-started Lanczos still needs about 11 HVPs a probe (lr 0.2 on mnist1d); 12 probes
    cost 24% of the training time there, 6 keep it at or under 15% (benchmarks/RESULTS.md).  Ask
    for ``probe_every`` (``--probe-every 25``) to see the sharpness in detail."""
    return max(25, steps // 6)
