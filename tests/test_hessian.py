"""Hessian probes (dynsim.models.hessian) against dense Hessians of tiny float64 nets."""

import copy
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dynsim.analysis.results import Estimate  # noqa: E402
from dynsim.jsonutil import to_json  # noqa: E402
from dynsim.models import hessian as hs  # noqa: E402

# torch.func registers its forward-mode decompositions through torch.jit.script on first use
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
F64 = torch.float64
CASES = [("plain", "eval", None), ("bn", "train", None), ("bn", "eval", None), ("bn", "ghost", 8)]
IDS = [f"{a}-{b}" for a, b, _ in CASES]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: the test machines have 2 shared cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def mse(out, y):
    """EoS convention: 0.5 * squared error summed over outputs, mean over samples."""
    return 0.5 * ((out - y) ** 2).sum(1).mean()


def make_mlp(bn=False, dropout=False, sizes=(4, 16, 16, 3), seed=0, dtype=F64):
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            if bn and i == 0:
                layers.append(torch.nn.BatchNorm1d(b))
            layers.append(torch.nn.Tanh())
            if dropout:
                layers.append(torch.nn.Dropout(0.5))
    model = torch.nn.Sequential(*layers).to(dtype)
    if bn:                                   # running statistics unlike the probe batch's
        g = torch.Generator().manual_seed(seed + 1)
        model.train()
        with torch.no_grad():
            for _ in range(3):
                model(2 * torch.randn(32, sizes[0], generator=g, dtype=dtype) + 1)
        model.eval()
    return model


def batch(n=32, din=4, dout=3, seed=5, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, din, generator=g, dtype=dtype),
            torch.randn(n, dout, generator=g, dtype=dtype))


def setup(case, **kw):
    kind, mode, chunk = case
    model = make_mlp(bn=kind == "bn")
    x, y = batch()
    op = hs.hvp_operator(model, mse, x, y, bn_mode=mode, chunk_size=chunk, **kw)
    return model, x, y, op


def plain_grad(model, x, y, theta, mode, chunk):
    """Gradient of the probe loss by ordinary autograd on a model copy (no functional_call)."""
    m = copy.deepcopy(model)
    torch.nn.utils.vector_to_parameters(theta, m.parameters())
    m.train(mode != "eval")
    chunks = [(0, len(x))] if chunk is None else [(s, s + chunk) for s in range(0, len(x), chunk)]
    loss = sum(mse(m(x[s:e]), y[s:e]) * (e - s) / len(x) for s, e in chunks)
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(m.parameters()))])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_hvp_matches_dense_and_finite_difference(case):
    model, x, y, op = setup(case)
    D = hs.dense_hessian(model, mse, x, y, bn_mode=case[1], chunk_size=case[2])
    assert torch.linalg.matrix_norm(D - D.T) <= 1e-12 * torch.linalg.matrix_norm(D)
    v = torch.randn(op.dim, generator=torch.Generator().manual_seed(3), dtype=F64)
    eps = 1e-5
    fd = (plain_grad(model, x, y, op.theta + eps * v, *case[1:])
          - plain_grad(model, x, y, op.theta - eps * v, *case[1:])) / (2 * eps)
    dv = D @ v
    assert torch.linalg.vector_norm(dv - fd) <= 1e-7 * torch.linalg.vector_norm(fd)   # oracle checked
    hv = {}
    for method in hs.METHODS:
        o = hs.hvp_operator(model, mse, x, y, bn_mode=case[1], method=method, chunk_size=case[2])
        hv[method] = o(v)
        assert torch.linalg.vector_norm(hv[method] - dv) <= 1e-12 * torch.linalg.vector_norm(dv)
        assert torch.linalg.vector_norm(hv[method] - fd) <= 1e-7 * torch.linalg.vector_norm(fd)
        assert o.n_hvp == 1 and o.info["bn_mode"] == case[1] and o.info["method"] == method
    a, b = hv.values()
    assert torch.linalg.vector_norm(a - b) <= 1e-13 * torch.linalg.vector_norm(a)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_lanczos_both_ends_match_dense(case):
    model, x, y, op = setup(case)
    D = hs.dense_hessian(model, mse, x, y, bn_mode=case[1], chunk_size=case[2])
    ev = torch.linalg.eigvalsh(D).numpy()
    s = hs.lanczos(op, k=3, which="both", tol=1e-6, max_iter=300,
                   generator=torch.Generator().manual_seed(1))
    lmax = abs(ev).max()
    assert s.converged and s.n_hvp < op.dim                       # converged, not exhausted
    np.testing.assert_allclose(s.top, ev[::-1][:3], rtol=0, atol=1e-4 * lmax)
    np.testing.assert_allclose(s.bottom, ev[:3], rtol=0, atol=1e-4 * lmax)
    assert s.headline() == s.top[0] and s.bottom[0] < 0           # a negative direction exists
    # the residual error bars are the true residuals ||H y - theta y|| and bound the error
    for vals, res, vecs in [(s.top, s.top_residuals, s.top_vectors),
                            (s.bottom, s.bottom_residuals, s.bottom_vectors)]:
        for theta, r, yv in zip(vals, res, vecs):
            true_r = float(torch.linalg.vector_norm(D @ yv - theta * yv))
            assert abs(true_r - r) <= 1e-9 * lmax
            assert np.abs(ev - theta).min() <= r + 1e-12 * lmax


@pytest.mark.parametrize("track", [True, False])
def test_conv_batchnorm2d_cross_entropy(track):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3, track_running_stats=track),
                                torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(48, 4)).to(F64)
    x = torch.randn(8, 2, 6, 6, dtype=F64)
    y = torch.randint(0, 4, (8,))
    ce = torch.nn.functional.cross_entropy
    D = hs.dense_hessian(model, ce, x, y, bn_mode="train")
    v = torch.randn(D.shape[0], dtype=F64)
    m = copy.deepcopy(model).train()

    def grad_at(theta):
        torch.nn.utils.vector_to_parameters(theta, m.parameters())
        return torch.cat([g.reshape(-1) for g in torch.autograd.grad(ce(m(x), y), list(m.parameters()))])

    theta = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    fd = (grad_at(theta + 1e-5 * v) - grad_at(theta - 1e-5 * v)) / 2e-5
    assert torch.linalg.vector_norm(D @ v - fd) <= 1e-7 * torch.linalg.vector_norm(fd)
    for method in hs.METHODS:
        hv = hs.hvp_operator(model, ce, x, y, bn_mode="train", method=method)(v)
        assert torch.linalg.vector_norm(hv - D @ v) <= 1e-12 * torch.linalg.vector_norm(hv)


def test_probes_leave_model_unchanged():
    model = make_mlp(bn=True, dropout=True)
    x, y = batch()
    for train_flag in (True, False):
        model.train(train_flag)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        flags = [m.training for m in model.modules()]
        for mode, chunk in [("train", None), ("eval", 8), ("ghost", 8)]:
            for method in hs.METHODS:
                op = hs.hvp_operator(model, mse, x, y, bn_mode=mode, method=method, chunk_size=chunk)
                v = torch.ones(op.dim, dtype=F64)
                assert torch.equal(op(v), op(v))                   # dropout off: deterministic
                hs.lanczos(op, k=2, which="both", max_iter=20, generator=torch.Generator())
                hs.hutchinson_trace(op, 3, generator=torch.Generator())
            hs.dense_hessian(model, mse, x, y, bn_mode=mode, chunk_size=chunk)
        assert [m.training for m in model.modules()] == flags
        after = model.state_dict()
        assert all(torch.equal(state[k], after[k]) for k in state)   # incl. BN running stats
        assert int(after["1.num_batches_tracked"]) == 3


def test_operator_is_a_snapshot():
    model, x, y, op = setup(CASES[0])
    v = torch.ones(op.dim, dtype=F64)
    before = op(v)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert torch.equal(op(v), before) and op.n_hvp == 2


def test_hutchinson_within_three_standard_errors():
    model, x, y, op = setup(CASES[1])
    tr = float(torch.trace(hs.dense_hessian(model, mse, x, y, bn_mode="train")))
    est = hs.hutchinson_trace(op, 200, generator=torch.Generator().manual_seed(0))
    assert isinstance(est, Estimate) and est.n == 200 and est.data["n_hvp"] == 200
    assert abs(est.value - tr) <= 3 * est.stderr, (est.value, tr, est.stderr)
    assert math.isclose(est.stderr, est.data["samples_sd"] / math.sqrt(200))
    again = hs.hutchinson_trace(op, 200, generator=torch.Generator().manual_seed(0))
    assert again.value == est.value                                # seed control


@pytest.mark.parametrize("kind", ["plain", "bn"])
def test_chunked_equals_unchunked(kind):
    model = make_mlp(bn=kind == "bn")
    x, y = batch()
    v = torch.randn(sum(p.numel() for p in model.parameters()), dtype=F64,
                    generator=torch.Generator().manual_seed(2))
    for method in hs.METHODS:
        whole = hs.hvp_operator(model, mse, x, y, method=method)(v)
        for chunk in (1, 5, 32, 100):
            op = hs.hvp_operator(model, mse, x, y, method=method, chunk_size=chunk)
            assert op.info["n_chunks"] == math.ceil(32 / min(chunk, 32))
            assert torch.linalg.vector_norm(op(v) - whole) <= 1e-13 * torch.linalg.vector_norm(whole)


def test_ghost_is_weighted_mean_of_train_mode_chunks():
    model = make_mlp(bn=True)
    x, y = batch(n=30)
    v = torch.randn(sum(p.numel() for p in model.parameters()), dtype=F64)
    ghost = hs.hvp_operator(model, mse, x, y, bn_mode="ghost", chunk_size=8)(v)
    parts = sum(hs.hvp_operator(model, mse, x[s:s + 8], y[s:s + 8], bn_mode="train")(v)
                * len(x[s:s + 8]) / 30 for s in range(0, 30, 8))
    assert torch.linalg.vector_norm(ghost - parts) <= 1e-13 * torch.linalg.vector_norm(parts)


def test_lanczos_fast_and_warm_start():
    model = make_mlp(sizes=(10, 32, 32, 4), seed=1)
    x, y = batch(n=128, din=10, dout=4, seed=7)
    op = hs.hvp_operator(model, mse, x, y)
    lmax = float(torch.linalg.eigvalsh(hs.dense_hessian(model, mse, x, y))[-1])
    cold = hs.lanczos(op, k=1, tol=1e-3, generator=torch.Generator().manual_seed(0))
    assert cold.converged and cold.n_hvp <= 30 and abs(cold.top[0] / lmax - 1) <= 1e-3
    assert cold.history[-1][0] == cold.n_hvp
    est = cold.estimate()
    assert est.value == cold.top[0] and est.stderr == cold.top_residuals[0] and est.n == cold.n_hvp
    # one GD step later: warm start from the previous top eigenvector needs fewer products
    g = torch.autograd.grad(mse(model(x), y), list(model.parameters()))
    with torch.no_grad():
        for p, gp in zip(model.parameters(), g):
            p.sub_(0.05 * gp)
    op2 = hs.hvp_operator(model, mse, x, y)
    ref = hs.lanczos(op2, k=1, tol=1e-4, generator=torch.Generator().manual_seed(1))
    warm = hs.lanczos(op2, k=1, tol=1e-4, v0=cold.top_vectors[0])
    assert warm.converged and warm.n_hvp < ref.n_hvp
    assert abs(warm.top[0] - ref.top[0]) <= 1e-4 * ref.top[0]
    assert warm.info["start"] == "v0 (warm)"


def test_warm_start_with_k_vectors_restarts_at_invariant_subspace():
    model, x, y, op = setup(CASES[0])
    ev = torch.linalg.eigvalsh(hs.dense_hessian(model, mse, x, y)).numpy()
    first = hs.lanczos(op, k=3, tol=1e-8, max_iter=300, generator=torch.Generator().manual_seed(4))
    again = hs.lanczos(op, k=3, tol=1e-6, v0=first.top_vectors, generator=torch.Generator())
    assert again.converged and again.n_hvp <= 5
    np.testing.assert_allclose(again.top, ev[::-1][:3], rtol=0, atol=1e-6 * ev[-1])


def test_power_iteration_baseline():
    model, x, y, op = setup(CASES[0])
    lmax = float(torch.linalg.eigvalsh(hs.dense_hessian(model, mse, x, y))[-1])
    s = hs.power_iteration(op, 300, tol=1e-5, generator=torch.Generator().manual_seed(0))
    assert s.method == "power iteration" and s.n_hvp == len(s.history) <= 300
    assert abs(s.top[0] - lmax) <= 1e-4 * lmax and s.converged


def test_preconditioned_operator_matches_dense():
    model, x, y, op = setup(CASES[0])
    D = hs.dense_hessian(model, mse, x, y)
    diag = 0.5 + 1.5 * torch.rand(op.dim, generator=torch.Generator().manual_seed(0), dtype=F64)
    pop = hs.preconditioned_operator(op, diag)
    s_half = diag.rsqrt()
    M = s_half[:, None] * D * s_half[None, :]
    v = torch.randn(op.dim, dtype=F64)
    assert torch.linalg.vector_norm(pop(v) - M @ v) <= 1e-12 * torch.linalg.vector_norm(M @ v)
    ev = torch.linalg.eigvalsh(M).numpy()
    s = hs.lanczos(pop, k=2, which="both", tol=1e-6, max_iter=300,
                   generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(s.top, ev[::-1][:2], rtol=0, atol=1e-4 * abs(ev).max())
    np.testing.assert_allclose(s.bottom, ev[:2], rtol=0, atol=1e-4 * abs(ev).max())
    # same spectrum as P^-1 H
    ev2 = np.sort(torch.linalg.eigvals(D / diag[:, None]).real.numpy())
    np.testing.assert_allclose(ev2[-1], ev[-1], rtol=1e-10)


@pytest.mark.parametrize("opt", ["adam", "rmsprop"])
def test_optimizer_diag(opt):
    model, x, y, op = setup(CASES[0])
    optim = (torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-6) if opt == "adam"
             else torch.optim.RMSprop(model.parameters(), lr=1e-3, eps=1e-6))
    for _ in range(3):
        optim.zero_grad()
        mse(model(x), y).backward()
        optim.step()
    P = hs.optimizer_diag(optim, list(model.parameters()))
    st = [optim.state[p] for p in model.parameters()]
    if opt == "adam":
        want = torch.cat([(s["exp_avg_sq"] / (1 - 0.999 ** 3)).sqrt().reshape(-1) for s in st]) + 1e-6
    else:
        want = torch.cat([s["square_avg"].sqrt().reshape(-1) for s in st]) + 1e-6
    assert P.shape == (op.dim,) and torch.allclose(P, want, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="state"):
        hs.optimizer_diag(torch.optim.SGD(model.parameters(), lr=0.1), list(model.parameters()))


def test_parameter_subset_is_a_block():
    model, x, y, _ = setup(CASES[0])
    D = hs.dense_hessian(model, mse, x, y)
    names = ["2.weight", "2.bias"]
    op = hs.hvp_operator(model, mse, x, y, params=[dict(model.named_parameters())[n] for n in names])
    assert op.names == names and op.info["params"] == names
    start = model[0].weight.numel() + model[0].bias.numel()
    idx = slice(start, start + op.dim)
    v = torch.randn(op.dim, dtype=F64)
    assert torch.allclose(op(v), D[idx, idx] @ v, rtol=1e-12, atol=1e-14)
    assert torch.allclose(hs.dense_hessian(model, mse, x, y, params=names), D[idx, idx])


def test_spectral_density():
    lam = torch.cat([torch.zeros(80), torch.full((20,), 5.0)]).to(F64)
    A = torch.diag(lam)
    d = hs.spectral_density(A, n_vectors=20, iters=30, generator=torch.Generator().manual_seed(0))
    grid, dens = d
    assert d.sigma > 0 and d.n_hvp == 20 * 2   # two distinct eigenvalues: Krylov space of dim 2
    assert np.all(dens >= 0) and abs(np.trapezoid(dens, grid) - 1) < 1e-12
    high = np.trapezoid(np.where(grid > 2.5, dens, 0), grid)
    assert abs(high - 0.2) < 0.1, high
    # on a net: nodes lie inside the spectrum (Ritz values interlace)
    model, x, y, op = setup(CASES[0])
    ev = torch.linalg.eigvalsh(hs.dense_hessian(model, mse, x, y)).numpy()
    d2 = hs.spectral_density(op, n_vectors=3, iters=40, sigma=0.05,
                             generator=torch.Generator().manual_seed(1))
    assert d2.sigma == 0.05 and d2.n_hvp == 120
    assert d2.nodes.min() >= ev[0] - 1e-9 and d2.nodes.max() <= ev[-1] + 1e-9
    assert abs(d2.weights.sum() - 1) < 1e-12


def test_results_are_recorded():
    model, x, y, op = setup(CASES[1])
    s = hs.lanczos(op, k=2, which="both", max_iter=40)
    assert s.info["start"].startswith("random (seed ") and s.info["bn_mode"] == "train"
    js = to_json(s)
    assert '"bn_mode": "train"' in js and "top_vectors" not in js
    assert "HVPs" in str(s) and "±" in str(s.estimate())
    a = hs.lanczos(op, k=2, max_iter=40, generator=torch.Generator().manual_seed(9))
    b = hs.lanczos(op, k=2, max_iter=40, generator=torch.Generator().manual_seed(9))
    assert a.top == b.top and a.n_hvp == b.n_hvp


def test_bad_inputs():
    model = make_mlp(bn=True)
    x, y = batch()
    with pytest.raises(ValueError, match="bn_mode"):
        hs.hvp_operator(model, mse, x, y, bn_mode="frozen")
    with pytest.raises(ValueError, match="ghost"):
        hs.hvp_operator(model, mse, x, y, bn_mode="train", chunk_size=8)
    with pytest.raises(ValueError, match="chunk_size"):
        hs.hvp_operator(model, mse, x, y, bn_mode="ghost")
    with pytest.raises(ValueError, match="one example"):
        hs.hvp_operator(model, mse, x[:17], y[:17], bn_mode="ghost", chunk_size=8)
    with pytest.raises(ValueError, match="method"):
        hs.hvp_operator(model, mse, x, y, method="finite_difference")
    with pytest.raises(ValueError, match="chunk_size"):
        hs.hvp_operator(model, mse, x, y, chunk_size=0)
    with pytest.raises(ValueError, match="same number"):
        hs.hvp_operator(model, mse, x, y[:5])
    with pytest.raises(ValueError, match="params"):
        hs.hvp_operator(model, mse, x, y, params=["nope.weight"])
    with pytest.raises(ValueError, match="scalar"):
        hs.hvp_operator(model, lambda o, t: (o - t) ** 2, x, y)(torch.ones(435, dtype=F64))
    op = hs.hvp_operator(model, mse, x, y)
    with pytest.raises(ValueError, match="flat vector"):
        op(torch.ones(3, dtype=F64))
    # plain nets may chunk in any bn_mode: nothing depends on batch statistics
    hs.hvp_operator(make_mlp(), mse, x, y, bn_mode="train", chunk_size=8)
    g = torch.Generator()
    for kw in [dict(which="middle"), dict(k=0), dict(k=op.dim + 1), dict(max_iter=0), dict(tol=-1.0),
               dict(v0=torch.zeros(op.dim, dtype=F64)), dict(v0=torch.ones(3))]:
        with pytest.raises(ValueError):
            hs.lanczos(op, generator=g, **kw)
    with pytest.raises(ValueError, match="n_samples"):
        hs.hutchinson_trace(op, 1, generator=g)
    with pytest.raises(ValueError, match="generator"):
        hs.hutchinson_trace(op, 10, generator=0)
    with pytest.raises(ValueError, match="sigma"):
        hs.spectral_density(op, sigma=0.0, generator=g)
    with pytest.raises(ValueError, match="diag"):
        hs.preconditioned_operator(op, -torch.ones(op.dim, dtype=F64))


@pytest.mark.parametrize("error", [MemoryError, lambda: RuntimeError("CUDA out of memory. Tried")])
def test_out_of_memory_gives_sizing_message(error):
    model = make_mlp()
    x, y = batch()

    def hungry(out, t):
        if len(out) > 8:
            raise error()
        return mse(out, t)

    op = hs.hvp_operator(model, hungry, x, y)
    with pytest.raises(ValueError, match=r"32 examples.*403 parameters.*chunk_size=8") as info:
        op(torch.ones(op.dim, dtype=F64))
    assert "out of memory" in str(info.value) and "--chunk-size 8" in str(info.value)
    small = hs.hvp_operator(model, hungry, x, y, chunk_size=8)
    whole = hs.hvp_operator(model, mse, x, y)
    v = torch.ones(op.dim, dtype=F64)
    assert torch.allclose(small(v), whole(v), rtol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    for dtype, tol in [(F64, 1e-10), (torch.float32, 2e-3)]:
        model = make_mlp(bn=True, dtype=dtype)
        x, y = batch(dtype=dtype)
        cpu = hs.hvp_operator(model, mse, x, y, bn_mode="train")
        s_cpu = hs.lanczos(cpu, k=2, tol=1e-5, max_iter=200, generator=torch.Generator().manual_seed(0))
        gpu_model = copy.deepcopy(model).cuda()
        state = {k: v.clone() for k, v in gpu_model.state_dict().items()}
        for method in hs.METHODS:
            op = hs.hvp_operator(gpu_model, mse, x.cuda(), y.cuda(), bn_mode="train", method=method)
            assert op.device.type == "cuda"
            v = torch.randn(op.dim, dtype=dtype)
            hv = op(v.cuda())
            assert hv.is_cuda and torch.allclose(hv.cpu(), cpu(v), rtol=tol, atol=tol * float(hv.abs().max()))
            s = hs.lanczos(op, k=2, tol=1e-5, max_iter=200, generator=torch.Generator().manual_seed(0))
            np.testing.assert_allclose(s.top, s_cpu.top, rtol=tol)
            est = hs.hutchinson_trace(op, 10, generator=torch.Generator().manual_seed(0))
            assert math.isfinite(est.value)
        assert all(torch.equal(state[k], v) for k, v in gpu_model.state_dict().items())


def test_retained_graph_products_equal_fresh_ones():
    # one chunk: the gradient's graph is built at the first product and reused; every later
    # product must equal one made by an operator that rebuilds it (chunks of the whole batch
    # count as one chunk, so use a fresh operator per product instead)
    model = make_mlp(bn=False, dtype=F64)
    x, y = batch(dtype=F64)
    op = hs.hvp_operator(model, mse, x, y)
    assert op.info["graph"] == "retained across products"
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        v = torch.randn(op.dim, dtype=F64, generator=g)
        fresh = hs.hvp_operator(model, mse, x, y)
        assert torch.allclose(op(v), fresh(v), rtol=1e-12, atol=1e-14)
    chunked = hs.hvp_operator(model, mse, x, y, chunk_size=max(1, x.shape[0] // 2))
    assert chunked.info["graph"] == "rebuilt per product"
    assert torch.allclose(op(v), chunked(v), rtol=1e-10, atol=1e-12)
