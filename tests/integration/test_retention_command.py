"""`orch retention`: the memory probe's arms as a command, on the calibration engine (its
leak is a real malloc that is never freed, so trim cannot give it back)."""

import json

import pytest
from click.testing import CliRunner
from orchestrator.cli import main

from conftest import FAST


def retention(tmp_path, *args):
    fast = [f"--{k.replace('_', '-')}={v}" for k, v in FAST.items()]
    argv = ["retention", "--out", str(tmp_path / "runs"), "--iters", "6", "--warmup", "1", *fast, *args]
    return CliRunner().invoke(main, argv)


def test_a_real_leak_is_a_leak_in_every_arm(tmp_path):
    res = retention(tmp_path, "--strategy", "recreate", "--leak-mb", "2", "--json", str(tmp_path / "p.json"))
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0].startswith("recreate: leak")
    probe = json.loads((tmp_path / "p.json").read_text())
    assert probe["verdict"] == "leak" and probe["strategy"] == "recreate"
    assert [a["arm"] for a in probe["arms"]] == ["plain", "trim", "tunable"]
    for arm in probe["arms"]:
        assert arm["status"] == "ok"
        assert arm["growth_after_unload"][0] == pytest.approx(2.0, abs=0.1)  # 2 MiB a call, Theil-Sen over 5
    assert sorted(p.name.rsplit("-", 1)[1] for p in (tmp_path / "runs").iterdir()) == ["plain", "trim", "tunable"]


def test_no_growth_is_stable_and_arms_can_be_chosen(tmp_path):
    res = retention(tmp_path, "--strategy", "recreate", "--arms", "trim,plain")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith("recreate: stable")
    assert [line.split()[0] for line in lines[1:]] == ["plain", "trim"]


def test_bad_arms_cannot_start(tmp_path):
    res = retention(tmp_path, "--strategy", "recreate", "--arms", "plain,magic")
    assert res.exit_code == 2
    assert "--arms: unknown arm 'magic' (choose from plain, trim, tunable)" in res.stderr
    res = retention(tmp_path, "--strategy", "recreate", "--arms", "plain,tunable")
    assert res.exit_code == 2
    assert "--arms must include plain and trim: the verdict compares them" in res.stderr
    res = retention(tmp_path, "--strategy", "restart")
    assert res.exit_code == 2
    assert "--strategy restart keeps its model loaded: there is no after_unload mark per request" in res.stderr
    assert not (tmp_path / "runs").exists()
