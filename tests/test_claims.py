import json
import re

import pytest
from click.testing import CliRunner

from dynsim import references
from dynsim.cli.main import cli
from dynsim.studies import claims as mod

EXPECTED = ["true", "true", "depends", "false", "true", "true", "depends", "depends", "true", "true"]


@pytest.mark.parametrize("args", [["--quick", "--seed", "1"], ["--quick"], []],
                         ids=["quick-seed1", "quick-default", "default"])
def test_walk_claims_verdicts(args):
    r = CliRunner().invoke(cli, ["--quiet", "walk", "claims", "--json", *args], prog_name="dynsim")
    assert r.exit_code == 0, r.output
    claims = json.loads(r.output)["claims"]
    # the teacher's table: which intuitions about high-dimensional walks hold
    assert [c["verdict"] for c in claims] == EXPECTED
    for c in claims:  # every verdict comes with the numbers it was read from
        assert c["values"] and all(isinstance(v, (int, float, list)) for v in c["values"].values())
    assert 0.30 < claims[3]["values"]["median"] / 100 < 0.32  # ~ sqrt(1000) = 31.6, not 10


def test_claims_study_describes_each_claim_and_fits_a_terminal():
    res = mod.walk_claims(seed=2, quick=True)
    assert isinstance(res, mod.ClaimsResult) and res.verdicts == EXPECTED
    table = str(res)
    assert max(len(line) for line in table.splitlines()) <= mod.WIDTH
    for i, c in enumerate(res.claims, 1):
        # each claim stated in words, with a published source (a year, and a DOI, an arXiv id, a
        # journal's pages or the blog post)
        assert c.claim and c.short in table and c.verdict in table
        assert c.sources and all(re.search(r"\((1[89]|20)\d\d\)", s)
                                 and re.search(r"doi:|arXiv:|\d+-\d+|\(blog\)", s)
                                 for s in c.sources)
        assert (c.verdict in ("depends", "false")) <= bool(c.condition)  # when it holds
    for s in res.sources():  # every source printed once under the table
        assert table.count(s.split(",")[0]) == 1
    assert "MISSION" not in table and "REFERENCES" not in table
    payload = json.loads(res.to_json())
    assert payload["seed"] == 2 and [c["verdict"] for c in payload["claims"]] == EXPECTED
    assert payload["claims"][9]["claim"] == "In 3-D and above the walk may never return"


def test_claim_sources_agree_with_references_json():
    # a claim's source is the paper of a references.json entry: same year, DOI / arXiv id, pages
    res = mod.walk_claims(seed=2, quick=True)
    assert set(res.sources()) <= set(mod.SOURCE_KEYS) | {mod.PEARSON}  # Pearson: the claim only
    for src, key in mod.SOURCE_KEYS.items():
        cit = references.get(key)["citation"]
        assert re.search(r"\(((?:1[89]|20)\d\d)\)", src).group(1) in cit, (src, key)
        for loc in re.findall(r"(?:doi:|arXiv:)([^\s,;]+)", src) + re.findall(r"\d+-\d+", src):
            assert loc in cit, (loc, key)


def test_claims_study_refuses_a_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        mod.walk_claims(seed=-1, quick=True)


def test_a_simulation_that_disagrees_with_theory_is_not_a_verdict(monkeypatch):
    # every claim is checked against exact theory before its verdict is read off the measured
    # value: if those checks fail (a broken simulator), the verdict says so instead of "false"
    monkeypatch.setattr(mod, "_within", lambda est, k=mod.K_CLAIMS: False)
    verdicts = mod.walk_claims(seed=3, quick=True).verdicts
    assert set(verdicts) <= {"check failed", "true"}
    assert verdicts.count("check failed") >= 9  # claim 1 is a chi-square check, not _within


def test_claims_study_draws_and_records_a_seed_by_default():
    res = mod.walk_claims(quick=True)
    assert isinstance(res.seed, int) and res.to_dict()["seed"] == res.seed
    assert f"seed={res.seed}" in str(res)
