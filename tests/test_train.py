"""The trainer: data made offline, seeded nets, one loop with probes, the edge of stability."""

import json
import math
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from dynsim.analysis import measure  # noqa: E402
from dynsim.cli.main import cli  # noqa: E402
from dynsim.models.config import threshold  # noqa: E402
from dynsim.models.data import load_data, mnist1d, modular  # noqa: E402
from dynsim.models.nets import NetConfig, make_net  # noqa: E402
from dynsim.models.train import train  # noqa: E402
from dynsim.trace import load_run  # noqa: E402

SMALL = dict(data="mnist1d", subset=300, width=16, steps=40, probe_every=10, lanczos_iter=12)


def test_mnist1d_is_offline_deterministic_and_leaves_global_rng_alone():
    np.random.seed(123)
    random.seed(5)
    before_np, before_py = np.random.get_state()[1].copy(), random.getstate()
    a = mnist1d()
    assert np.array_equal(np.random.get_state()[1], before_np) and random.getstate() == before_py
    b = mnist1d()
    assert a.meta["sha256"] == b.meta["sha256"] and a.x_train.shape == (4000, 40)
    assert abs(float(a.x_train.mean())) < 1e-5 and a.n_classes == 10
    m = modular(p=11, frac_train=0.5)
    assert m.x_train.shape[1] == 22 and int(m.y_train.max()) < 11
    with pytest.raises(ValueError, match="--data-dir"):
        load_data("mnist")
    with pytest.raises(ValueError, match="not found"):
        load_data("cifar10", folder="/nonexistent")


def test_nets_are_seeded_without_touching_global_state():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    cfg = NetConfig(n_in=40, n_out=10, width=8)
    a, b = make_net(cfg, 3), make_net(cfg, 3)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    for model in ("cnn", "transformer"):
        net = make_net(NetConfig(model=model, n_in=40, n_out=10, width=16, heads=2), 1)
        assert net(torch.zeros(3, 40)).shape == (3, 10)


def test_training_records_the_standard_channels_and_is_deterministic(tmp_path):
    tr = train(**SMALL, seed=4)
    ch = tr.channels
    for name in ("loss", "lr", "update_norm", "proj", "update_hist", "update_hist_edges",
                 "update_sample", "update_interval_hist", "sharpness", "sharpness_step",
                 "threshold", "test_loss", "accuracy"):
        assert name in ch, name
    assert ch["loss"].size == 40 and list(ch["sharpness_step"]) == [0, 10, 20, 30, 40]
    assert tr.meta["threshold_convention"] == "gd" and np.allclose(ch["threshold"], 2 / 0.1)
    assert ch["update_hist"].shape[1] == len(tr.meta["update_hist_layers"])
    again = train(**SMALL, seed=4)
    assert np.array_equal(ch["loss"], again["loss"]) and np.allclose(ch["sharpness"],
                                                                      again["sharpness"])
    tr.save(tmp_path / "run")
    back = load_run(tmp_path / "run")
    assert back.system == "train" and np.array_equal(back["loss"], ch["loss"])
    assert len(measure(back)) > 0


def test_divergence_is_a_status_not_a_crash():
    tr = train(**{**SMALL, "lr": 30.0}, seed=1)
    assert tr.meta["status"] == "diverged" and 0 < tr.meta["diverged_step"] < 40
    assert tr["loss"].size == tr.meta["diverged_step"]


@pytest.mark.parametrize("opt,conv", [("momentum", "heavy_ball"), ("nesterov", "nesterov"),
                                      ("adam", "adam_precond"), ("rmsprop", "rmsprop_precond"),
                                      ("sgd", "gd")])
def test_optimizers_and_threshold_conventions(opt, conv):
    lr = 0.01 if opt in ("adam", "rmsprop") else 0.05
    tr = train(**{**SMALL, "steps": 20, "opt": opt, "lr": lr,
                  "batch_size": 64 if opt == "sgd" else None}, seed=2)
    assert tr.meta["threshold_convention"] == conv
    assert np.allclose(tr["threshold"], threshold(opt, lr, 0.9))
    if opt in ("adam", "rmsprop"):
        assert "precond_sharpness" in tr.channels and np.all(tr["precond_sharpness"] > 0)


def test_train_cli(tmp_path):
    r = CliRunner().invoke(cli, ["--quiet", "train", "--subset", "200", "--width", "8", "--steps",
                                 "12", "--probe-every", "6", "--json", "--out", str(tmp_path / "r"),
                                 "--plot", str(tmp_path / "t.png")], prog_name="dynsim")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["status"] == "ok" and math.isfinite(out["final"]["sharpness"])
    assert (tmp_path / "t.png").stat().st_size > 10_000 and load_run(tmp_path / "r").system == "train"
    bad = CliRunner().invoke(cli, ["train", "--opt", "lbfgs"], prog_name="dynsim")
    assert bad.exit_code == 2 and "--opt" in bad.output


def test_edge_of_stability_on_mnist1d():
    # Cohen et al. (2021): full-batch GD sharpens until sharpness reaches 2/lr, then hovers there.
    # The default setup at lr 0.2 gets there within ~300 steps (sharpness 7.8 at the start, 10 =
    # 2/lr); measured here over 1000 steps: late sharpness * lr / 2 in [0.99, 1.07], median 1.04
    # (benchmarks/RESULTS.md).  The band below allows for the oscillation, not for a miss.
    tr = train(lr=0.2, steps=600, probe_every=50, seed=0)
    ratio = tr["sharpness"] * 0.2 / 2
    steps = tr["sharpness_step"]
    assert ratio[0] < 0.85  # it starts well below the threshold
    late = ratio[steps >= 300]
    assert 0.95 < np.median(late) < 1.10 and late.min() > 0.85 and late.max() < 1.25, ratio
    st = measure(tr)["stability"]
    assert st.verdict in ("edge", "oscillating"), st


def test_probes_do_not_change_the_training_trajectory():
    base = {**SMALL, "opt": "adam", "lr": 0.01, "batch_size": 32, "steps": 20}
    a = train(**{**base, "probe_every": 5}, seed=3)
    b = train(**{**base, "probe_every": 20, "hessian_trace": True}, seed=3)
    assert np.array_equal(a["loss"], b["loss"])


def test_every_model_trains_and_is_probed():
    for model, data in (("cnn", "mnist1d"), ("transformer", "modular")):
        tr = train(model=model, data=data, width=8, steps=4, probe_every=2, lanczos_iter=6,
                   **({"subset": 200} if data == "mnist1d" else {}), seed=0)
        assert tr.meta["status"] == "ok" and np.all(np.isfinite(tr["sharpness"]))
    with pytest.raises(ValueError, match="full-batch"):
        train(**{**SMALL, "batch_size": 32}, seed=0)
