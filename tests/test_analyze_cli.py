"""``dynsim analyze`` on point clouds, delay-embedded series and map runs; figures; bad input.

Tolerances come from the estimators' own uncertainties (K = 3): a correlation dimension within
3 x (slope SE + SD of the local slopes) of the truth, a QR Lyapunov exponent within 3 block SEs,
Rosenstein's within 3 x (SE + SD of the local slopes of its divergence curve).  References:
references.json (``henon_lyapunov``: lambda_1 = 0.4193, ``henon_correlation_dimension``: D2 = 1.21,
``henon_kaplan_yorke``); a plane has D2 = 2.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from dynsim import references, registry
from dynsim.cli.main import cli
from dynsim.sims.maps import henon

K = 3.0
HENON_LAMBDA1 = references.value("henon_lyapunov")[0]
HENON_D2 = references.value("henon_correlation_dimension")


def run(*args):
    return CliRunner().invoke(cli, ["--quiet", "analyze", *map(str, args)], prog_name="dynsim",
                              catch_exceptions=False)


def within(est: dict, truth: float, k: float = K) -> bool:
    """|value - truth| <= k x SE (a dimension's SE already is fit SE + local-slope spread)."""
    return abs(est["value"] - truth) <= k * est["stderr"]


@pytest.fixture(scope="module")
def henon_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "henon"
    registry.run("map.henon", n=20000, seed=1).save(path)
    return path


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    # 5000 uniform points on a unit square, rotated into R^3
    rng = np.random.default_rng(12)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    u = np.zeros((5000, 3))
    u[:, :2] = rng.uniform(size=(5000, 2))
    path = tmp_path_factory.mktemp("arrays") / "plane.npy"
    np.save(path, u @ q.T)
    return path


def test_point_cloud_gives_the_plane_dimension(plane):
    r = run(plane, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["measure"] == ["dimension"] and out["points"] == [5000, 3] and out["theiler"] == 0
    d2 = out["measures"]["correlation_dimension"]
    assert within(d2, 2.0), d2
    assert d2["r_range"][1] / d2["r_range"][0] >= 10          # at least a decade fitted
    # the table shows both parts of the uncertainty and the scaling region
    text = run(plane).stdout
    assert "correlation_dimension" in text and "SD of local slopes" in text and "fit SE" in text
    assert "scaling region r in" in text


def test_henon_series_csv_with_embed(tmp_path):
    x = henon(10_000, seed=1)["trajectory"][:, 0]
    csv, fig = tmp_path / "henon_x.csv", tmp_path / "series.png"
    np.savetxt(csv, x, delimiter=",")
    r = run(csv, "--embed", "--json", "--plot", fig)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    emb = out["embedding"]
    # Henon's x-series: autocorrelation -0.3 at lag 1 (delay 1), false neighbours vanish at dim 2
    assert (emb["delay"], emb["dim"], emb["theiler"]) == (1, 2, 1)
    assert emb["delay_rule"].startswith("first lag with autocorrelation below 1/e")
    d2 = out["measures"]["correlation_dimension"]
    assert within(d2, HENON_D2), d2
    lam = out["measures"]["lyapunov_rosenstein"]
    k0, k1 = lam["data"]["fit_range"]  # chosen from the divergence curve, the rule recorded
    assert lam["data"]["dim"] == 2 and k1 - k0 >= 5 and lam["data"]["fit_rule"]
    # Rosenstein's SE is statistical only; the curvature of the divergence over the fit range (its
    # first step is a transient: the pair is not yet along the unstable direction) is the SD of its
    # local slopes, printed beside it, as for a dimension
    slopes = np.diff(lam["data"]["divergence"][k0:k1])
    spread = float(np.std(slopes, ddof=1))
    assert abs(lam["value"] - HENON_LAMBDA1) <= K * (lam["stderr"] + spread), lam
    assert fig.stat().st_size > 30_000
    # --delay / --dim fix the embedding (and imply --embed); Rosenstein alone
    r = run(csv, "--delay", "1", "--dim", "2", "--measure", "lyapunov", "--lyap-fit", "1", "8")
    assert r.exit_code == 0, r.output
    assert "delay 1: given" in r.stdout and "lyapunov_rosenstein" in r.stdout
    assert "correlation_dimension" not in r.stdout and "k in [1, 8)" in r.stdout


def test_henon_run_prints_lyapunov_and_dimensions(henon_run, tmp_path):
    fig = tmp_path / "henon.png"
    r = run(henon_run, "--json", "--plot", fig)
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)["measures"]
    assert within(m["lyapunov_1"], HENON_LAMBDA1), m["lyapunov_1"]
    assert m["lyapunov_1"]["reference"] == HENON_LAMBDA1
    assert within(m["kaplan_yorke"], references.value("henon_kaplan_yorke"))
    assert within(m["correlation_dimension"], HENON_D2)
    # each reference cites its references.json key
    assert m["lyapunov_1"]["reference_source"] == references.source("henon_lyapunov")
    assert m["kaplan_yorke"]["reference_source"] == references.source("henon_kaplan_yorke")
    assert (m["correlation_dimension"]["reference_source"]
            == references.source("henon_correlation_dimension"))
    assert fig.stat().st_size > 50_000
    text = run(henon_run).stdout
    for name in ("lyapunov_1", "lyapunov_2", "kaplan_yorke", "correlation_dimension"):
        assert name in text
    assert "sum of exponents -1.20397" in text                 # ln 0.3, exactly up to rounding
    assert (f"lyapunov_1: reference {HENON_LAMBDA1:.6g} (henon_lyapunov: " in text
            and "agrees within 3" in text)
    assert ".md" not in text                                   # cited by key, not by a file
    # a run's 2-column channel is a point cloud by default
    r = run(henon_run, "--channel", "trajectory", "--json")
    assert r.exit_code == 0, r.output
    assert within(json.loads(r.stdout)["measures"]["correlation_dimension"], HENON_D2)


def test_one_column_stays_a_power_law_by_default(tmp_path):
    x = (np.random.default_rng(3).pareto(1.5, 3000) + 1.0)
    path = tmp_path / "samples.npy"
    np.save(path, x)
    r = run(path, "--boot", "0", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["measure"] == "powerlaw" and abs(out["fit"]["alpha"] - 2.5) < K * out["fit"]["stderr"]
    assert out["samples"].startswith("continuous") and not out["fit"]["discrete"]
    cand = out["candidates"]
    assert len(cand["xmin"]) == len(cand["alpha"]) == len(cand["ks"]) == out["fit"]["n_candidates"]
    assert out["fit"]["xmin"] in cand["xmin"] and cand["rule"] == out["fit"]["candidates_rule"]
    # the same column as a 1-D point set when asked
    r = run(path, "--measure", "dimension", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["points"] == [3000, 1]


def test_integer_csv_is_fitted_as_discrete(tmp_path):
    from dynsim.analysis.powerlaw import sample_power_law

    x = sample_power_law(3000, 2.5, 1, True, np.random.default_rng(4)).astype(np.int64)
    csv = tmp_path / "sizes.csv"
    np.savetxt(csv, np.r_[x, 0, 0], fmt="%d", delimiter=",")  # two zeros: left out, and said so
    r = run(csv, "--boot", "0", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["fit"]["discrete"] and out["samples"].startswith("discrete (integer values")
    assert "Hurwitz" in out["fit"]["method"] and out["fit"]["n_nonpositive"] == 2
    assert abs(out["fit"]["alpha"] - 2.5) < K * out["fit"]["stderr"]
    text = run(csv, "--boot", "0").stdout
    assert "samples  : discrete (integer values" in text and "2 values <= 0 left out" in text
    r = run(csv, "--boot", "0", "--continuous", "--json")
    assert not json.loads(r.stdout)["fit"]["discrete"]
    # a windowed fit with a given xmin: the bootstrap keeps xmin (was p = 0 on a true power law)
    y = sample_power_law(20_000, 2.0, 1, True, np.random.default_rng(5)).astype(np.int64)
    np.save(tmp_path / "w.npy", y[y <= 100])
    out = json.loads(run(tmp_path / "w.npy", "--xmin", "2", "--xmax", "100", "--boot", "100",
                         "--json").stdout)
    assert out["gof"]["xmin_ci"] == [2.0, 2.0] and out["gof"]["p"] > 0.01, out["gof"]
    fig = tmp_path / "w.png"  # the windowed fit's figure (CCDF with the mass beyond xmax added)
    r = run(tmp_path / "w.npy", "--xmin", "2", "--xmax", "50", "--boot", "0", "--plot", fig)
    assert r.exit_code == 0, r.output
    assert fig.stat().st_size > 20_000
    # an API error reaches the user under the flag's name
    r = run(csv, "--xmin", "5", "--xmax", "3")
    assert r.exit_code == 2 and "--xmax must be > --xmin" in r.stderr, r.stderr


def test_event_run_prints_the_tests_of_each_power_law_row(tmp_path):
    from dynsim.analysis.powerlaw import sample_power_law
    from dynsim.trace import make_trace

    r = np.random.default_rng(6)
    sizes = sample_power_law(3000, 1.8, 1, True, r).astype(np.int64)
    tr = make_trace("test.events", {}, 1, {"events_size": sizes,
                                           "events_time": np.cumsum(r.geometric(0.3, 3000))})
    tr.save(tmp_path / "ev")
    res = run(tmp_path / "ev", "--boot", "20")
    assert res.exit_code == 0, res.output
    text = res.stdout
    block = text[text.index("size_exponent: alpha = "):]
    for needle in ("xmin = ", "n_tail = ", "bootstrap: p = ", "fraction of synthetic KS",
                   "verdict: ", "waiting_exponent: alpha = ", "LR vs exponential: R = ",
                   "LR vs lognormal: R = ", "LR vs truncated_power_law: R = "):
        assert needle in block, (needle, text)
    # the windowed avalanche fit says why it has no likelihood-ratio tests
    assert "no likelihood-ratio tests on a window" in block


def test_help_documents_the_measure_switch():
    r = CliRunner().invoke(cli, ["analyze", "--help"], prog_name="dynsim")
    assert r.exit_code == 0
    for word in ("--measure", "powerlaw", "dimension", "lyapunov", "--embed", "--delay", "--dim",
                 "false", "Theiler"):
        assert word in r.output


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad")
    files = {"cube": np.zeros((4, 5, 6)), "wide": np.ones((2, 1000)),
             "nan": np.array([[1.0, np.nan]] * 100), "series": np.sin(np.arange(500) * 0.3), "empty": np.array([])}
    for name, arr in files.items():
        np.save(base / f"{name}.npy", arr)
    return base


@pytest.mark.parametrize("args,needle", [
    (["{cube}"], "(4, 5, 6) array"),                                  # wrong shape
    (["{cube}", "--measure", "dimension"], "(4, 5, 6) array"),
    (["{wide}"], "transpose"),                                        # points as columns
    (["{plane}", "--measure", "fractal"], "--measure"),               # unknown --measure
    (["{plane}", "--embed"], "--embed takes a scalar series"),        # --embed on a point cloud
    (["{plane}", "--delay", "2"], "--embed takes a scalar series"),
    (["{series}", "--embed", "--delay", "-3"], "--delay must be an integer >= 1"),
    (["{series}", "--dim", "0"], "--dim must be an integer in [1, 50]"),
    (["{plane}", "--measure", "powerlaw"], "one column of samples"),
    (["{plane}", "--measure", "powerlaw", "--measure", "dimension"], "cannot be combined"),
    (["{series}", "--theiler", "2"], "add --embed"),
    (["{series}", "--embed", "--xmin", "1"], "--xmin applies to --measure powerlaw"),
    (["{series}", "--embed", "--theiler", "400"], "--theiler 400 is too large"),
    (["{series}", "--embed", "--lyap-fit", "3", "4"], "--lyap-fit must hold >= 2 steps"),
    (["{series}", "--embed", "--measure", "dimension", "--dt", "0.1"], "--dt applies to"),
    (["{nan}"], "finite"),
    (["{empty}"], "the samples are empty: '"),                      # an empty .npy
    (["{run}", "--embed"], "add --channel"),
    (["{run}", "--channel", "jacobian", "--measure", "dimension"], "(20000, 2, 2) array"),
])
def test_bad_input_one_line_exit_2(args, needle, bad_files, plane, henon_run):
    paths = {name: bad_files / f"{name}.npy" for name in ("cube", "wide", "nan", "series", "empty")}
    args = [a.format(plane=plane, run=henon_run, **paths) for a in args]
    r = run(*args)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dynsim") and "error:" in lines[0], r.stderr
    assert needle in lines[0] and r.stdout == ""


@pytest.mark.parametrize("extra", [["--measure", "lyapunovv"], ["--embed"]])
def test_bad_input_in_a_real_process(extra, plane):
    proc = subprocess.run([sys.executable, "-m", "dynsim.cli.main", "analyze", str(plane), *extra],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("dynsim") and proc.stdout == ""


def test_whole_run_includes_the_transient(tmp_path):
    # the analyzer uses the stationary part unless told otherwise (--whole-run)
    from dynsim.analysis import measure

    tr = registry.run("sandpile.manna", L=16, grains=20000, seed=1)
    assert 0 < tr.meta["stationary_from"]
    n_all, n_st = tr["events_size"].size, tr.stationary("events_size").size
    assert n_st < n_all
    assert measure(tr, only=["size_exponent"])["size_exponent"].fit.n_total == n_st
    assert measure(tr, only=["size_exponent"], stationary_only=False)[
        "size_exponent"].fit.n_total == n_all
    tr.save(tmp_path / "mn")
    default = json.loads(run(tmp_path / "mn", "--boot", "0", "--json").output)
    whole = json.loads(run(tmp_path / "mn", "--boot", "0", "--whole-run", "--json").output)
    assert default["measures"]["waiting_burstiness"]["n"] < whole["measures"]["waiting_burstiness"]["n"]
    np.save(tmp_path / "sizes.npy", tr["events_size"])
    r = run(tmp_path / "sizes.npy", "--whole-run")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
