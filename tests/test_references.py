"""references.json (the oracle of published and exact values), its loader and docs/references.md."""

import json
import re
import math
import pathlib
import subprocess
import sys

import pytest

from dynsim import references

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "dynsim" / "data" / "references.json"


def test_docs_references_md_is_current():
    # regenerate with: python -m dynsim.references --markdown > docs/references.md
    assert (ROOT / "docs" / "references.md").read_text(encoding="utf-8") == references.markdown()


def test_at_least_40_entries_each_with_a_value_or_band_and_a_citation():
    entries = references.load()
    assert len(entries) >= 40
    for key, e in entries.items():
        # snake_case; the field's symbols L (lattice side) and D (dimension) keep their capital
        assert re.fullmatch(r"[a-z][a-z0-9_]*", key.replace("L", "l").replace("D", "d")), key
        assert ("value" in e) != ("band" in e), key
        assert e["citation"].strip() and e["status"] in references.STATUSES, key
        if e["status"] == "measured here":
            assert e["how"].strip(), key


def test_every_family_is_in_the_docs_and_the_file_is_plain_json():
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    assert raw["schema"] == 1 and raw["entries"] == references.load()
    md = references.markdown()
    for key in raw["entries"]:
        assert f"`{key}`" in md


def test_values_agree_with_their_formulas():
    # the entries that state a closed form carry its value to the digits given
    v = references.value
    assert v("oslo_D") == 9 / 4 and v("oslo_tau") == pytest.approx(14 / 9, abs=1e-7)
    assert v("oslo_tau") == pytest.approx(2 - 1 / v("oslo_D"), abs=1e-7)
    assert v("btw_mean_height_2d") == 17 / 8
    assert v("henon_lyapunov_sum") == pytest.approx(math.log(0.3), abs=1e-7)
    assert v("lorenz_lyapunov_sum") == pytest.approx(-(10 + 1 + 8 / 3), abs=1e-7)
    assert v("logistic_r4_lyapunov") == pytest.approx(math.log(2), abs=1e-7)
    lam = v("henon_lyapunov")
    assert v("henon_kaplan_yorke") == pytest.approx(1 + lam[0] / abs(lam[1]), abs=1e-4)
    lam = v("lorenz_lyapunov")
    assert v("lorenz_kaplan_yorke") == pytest.approx(2 + lam[0] / abs(lam[2]), abs=1e-4)
    assert v("pca_walk_explained_limit") == pytest.approx(
        [6 / (math.pi ** 2 * k * k) for k in (1, 2, 3)], abs=1e-7)
    assert v("peak_fraction_iid_d10") == pytest.approx(1 / 21, abs=1e-10)
    assert v("peak_fraction_levels5_axis_top") == pytest.approx(0.2 * 0.8 ** 10, abs=1e-12)
    lr = 0.1
    assert references.band("zhu_minimalist_sharpness_band") == pytest.approx(
        (2 / lr - 20 * lr / 3, 2 / lr), abs=1e-7)
    assert v("eos_threshold_nesterov") == pytest.approx(3.8 / 2.8, abs=1e-7)
    assert v("product_balanced_period4_lr") == pytest.approx(math.sqrt(5) - 1, abs=1e-7)
    assert v("mean_field_size_duration_gamma") == pytest.approx(
        (v("mean_field_tau_t") - 1) / (v("mean_field_tau") - 1))


def test_polya_entries_are_the_integral():
    from dynsim.analysis.walks import polya_return_probability
    for d in range(3, 11):
        assert polya_return_probability(d) == pytest.approx(references.value(f"polya_return_d{d}"),
                                                            abs=2e-12)


def test_exact_mean_sizes_are_the_sine_sums():
    from dynsim.sims.sandpile.reference import dhar_mean
    assert dhar_mean(128, 2) == pytest.approx(references.value("btw_mean_size_2d_L128"), abs=1e-4)
    assert dhar_mean(256, 2) == pytest.approx(references.value("btw_mean_size_2d_L256"), abs=1e-4)
    assert dhar_mean(64, 1) == pytest.approx(references.value("btw_mean_size_1d"), rel=1e-12)


def test_band_value_and_cite():
    assert references.band("manna_2d_tau") == (1.27, 1.28)
    assert references.band("oslo_D") == (2.25, 2.25)
    line = references.cite("oslo_D")
    assert "Grassberger" in line and "2016" in line and "1606.02553" in line and "\n" not in line
    assert "measured here (" in references.cite("minimalist_gd_lr01")
    assert "caveat" in references.get("btw_2d_tau")


def test_source_is_the_key_and_the_first_authors():
    # the short form results print beside a reference: 'key: first author(s) year'
    assert references.source("henon_kaplan_yorke") == "henon_kaplan_yorke: Kaplan & Yorke 1979"
    assert references.source("logistic_r4_lyapunov") == "logistic_r4_lyapunov: May 1976"
    assert references.source("oslo_D") == "oslo_D: Grassberger et al. 2016"
    assert (references.source("minimalist_gd_lr01")
            == "minimalist_gd_lr01: Zhu et al. 2023, measured here")
    assert references.source("product_balanced_flip_lr") == "product_balanced_flip_lr: derived here"
    for key in references.load():  # every key has one: no raw citation text leaks into it
        src = references.source(key)
        assert src.startswith(f"{key}: ") and len(src) < len(key) + 60 and "\n" not in src, src
    with pytest.raises(ValueError, match="unknown reference 'oslo'"):
        references.source("oslo")


def test_copies_do_not_leak_into_the_cache():
    e = references.get("henon_lyapunov")
    e["value"].append(99.0)
    references.load()["oslo_D"]["value"] = 0.0
    assert references.value("henon_lyapunov") == [0.4193, -1.6233]
    assert references.value("oslo_D") == 2.25


@pytest.mark.parametrize("call, match", [
    (lambda: references.get("polya_d3"), r"unknown reference 'polya_d3'.*polya_return_d3"),
    (lambda: references.value("no_such_key"), "unknown reference 'no_such_key'"),
    (lambda: references.cite(3), "unknown reference 3"),
    (lambda: references.value("manna_2d_tau"), r"is a band .*band\('manna_2d_tau'\)"),
    (lambda: references.band("henon_lyapunov"), "holds a list"),
])
def test_errors_are_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("entry, match", [
    ({"family": "walks", "title": "t", "status": "exact", "citation": "c"}, "exactly one of value"),
    ({"family": "walks", "title": "t", "value": 1, "band": [0, 2], "status": "exact",
      "citation": "c"}, "exactly one of value"),
    ({"family": "walks", "title": "t", "band": [2, 1], "status": "exact", "citation": "c"},
     "low <= high"),
    ({"family": "walks", "title": "t", "value": float("nan"), "status": "exact", "citation": "c"},
     "finite number"),
    ({"family": "walks", "title": "t", "value": 1, "status": "guessed", "citation": "c"}, "status"),
    ({"family": "walks", "title": "t", "value": 1, "status": "measured here", "citation": "c"},
     "says not how"),
    ({"family": "walks", "title": "t", "value": 1, "status": "exact", "citation": " "}, "citation"),
    ({"family": "other", "title": "t", "value": 1, "status": "exact", "citation": "c"}, "family"),
    ({"family": "walks", "title": "t", "value": 1, "status": "exact", "citation": "c", "x": 1},
     "unknown fields"),
])
def test_malformed_entries_are_refused(entry, match):
    with pytest.raises(ValueError, match=match):
        references._check_entry("k", entry)


def test_module_cli():
    out = subprocess.run([sys.executable, "-m", "dynsim.references", "--cite", "oslo_D"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "Grassberger" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "dynsim.references", "--cite", "oslo"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown reference 'oslo'" in bad.stderr


def test_importing_references_pulls_no_simulator_or_torch():
    code = ("import sys, dynsim.references as r; r.load(); "
            "bad = [m for m in sys.modules if m.startswith(('dynsim.sims', 'dynsim.models', "
            "'dynsim.studies', 'torch', 'numba'))]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
