import json

from click.testing import CliRunner

from dynsim.cli.main import cli


def test_walk_claims_quick_verdicts():
    r = CliRunner().invoke(cli, ["--quiet", "walk", "claims", "--quick", "--json", "--seed", "1"],
                           prog_name="dynsim")
    assert r.exit_code == 0, r.output
    claims = json.loads(r.output)["claims"]
    verdicts = [c["verdict"] for c in claims]
    # the teacher's table: which intuitions of MISSION.md section 3 hold
    assert verdicts == ["true", "true", "depends", "false", "true", "true", "depends", "depends",
                        "true", "true"]
    for c in claims:
        assert c["measured"] and c["reference"]
    assert 0.30 < claims[3]["values"]["median"] / 100 < 0.32  # ~ sqrt(1000) = 31.6, not 10
