"""Every start-up problem, click's own checks of a value among them, in one `orch: cannot
start:` message with a line each, exit 2, before any worker (docs/run.md, "Exit codes and start-up checks"); caps on
absurd values with the reason (issue 18, items 6 and 11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from orchestrator.cli import main


def _invoke(tmp: Path, argv: list[str]):
    return CliRunner().invoke(main, [a.replace("{tmp}", str(tmp)) for a in argv], prog_name="orch")


def test_the_issues_run_names_all_three_problems(isolated):
    """docs/run.md's example ("Exit codes and start-up checks"), word for word: the command
    it shows, run, prints the lines it shows."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "run.md").read_text(encoding="utf-8")
    shown = page.split("\n$ orch run --strategy restart --out AFILE", 1)[1].split("\n```", 1)[0].splitlines()
    (isolated / "AFILE").write_text("x")
    argv = ["run", "--strategy", "restart", "--out", "AFILE", *shown[0].split()]
    assert argv[5:] == ["--audio", "/nope.wav", "--sample-hz", "-1"]
    res = _invoke(isolated, argv)
    assert res.exit_code == 2
    assert res.stderr.splitlines() == shown[1:] == [
        "orch: cannot start:",
        "  --sample-hz must be a number >= 0, not -1.0",
        "  audio file not found: /nope.wav",
        "  --out AFILE is a file, not a folder",
    ]


def test_click_type_range_choice_and_path_checks_join_the_message(isolated):
    (isolated / "adir").mkdir()
    res = _invoke(isolated, ["run", "--strategy", "restart", "--iters", "0", "--audio", "adir", "--format", "xml",
                             "--threads", "x", "--crash-at", "0", "--no-history", "--out", "out"])
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        "orch: cannot start:",
        "  --format: 'xml' is not one of 'table', 'json', 'csv', 'md'",
        "  --threads: 'x' is not a valid integer",
        "  --iters must be an integer >= 1, not 0",
        "  --crash-at must be an integer >= 1, not 0",
        "  audio adir is a folder, not a file",
    ]
    assert not (isolated / "out").exists()


def test_run_without_a_strategy_and_compare_without_either(isolated):
    res = _invoke(isolated, ["run", "--no-history", "--iters", "ten"])
    assert (res.exit_code, res.stderr.splitlines()) == (2, [
        "orch: cannot start:",
        "  --iters: 'ten' is not a valid integer",
        "  --strategy is required: one of restart, recreate, recreate-destroy, fresh-process, cli, cli-interactive",
    ])
    res = _invoke(isolated, ["compare", "--all", "--strategies", "restart", "--no-history", "--sample-hz", "-2"])
    assert (res.exit_code, res.stderr.splitlines()) == (2, [
        "orch: cannot start:",
        "  give either --all or --strategies a,b, not both",
        "  --sample-hz must be a number >= 0, not -2.0",
    ])


@pytest.mark.parametrize("argv, named, see", [
    (["run", "--strategy", "restart", "--bogus"], "No such option", "orch run"),
    (["run", "--strategy", "restart", "--iters"], "'--iters' requires an argument", "orch run"),
    (["history", "--limit", "0"], "0 is not in the range x>=1", "orch history"),
    (["no-such-command"], "No such command 'no-such-command'", "orch"),
])
def test_what_click_parses_itself_is_one_orch_line(isolated, argv, named, see):
    """click's own words (they vary with its version) in one `orch: cannot start:` line."""
    res = _invoke(isolated, argv)
    assert res.exit_code == 2
    [line] = res.stderr.splitlines()
    assert line.startswith("orch: cannot start: ") and named in line and line.endswith(f" (see {see} --help)"), line
    assert "Usage:" not in res.output


def test_every_command_with_run_options_collects_unreadable_values(isolated):
    """`run`, `compare`, `ab`, `retention`, `attribute` share the run options: a value click
    cannot read is a start-up problem in each, never click's usage text."""
    for argv in (["run", "--strategy", "restart"], ["compare", "--strategies", "restart"],
                 ["ab", "--a", "", "--b", "--leak-mb 1", "--strategies", "restart"],
                 ["retention", "--strategy", "recreate"], ["attribute", "--strategy", "recreate"]):
        res = _invoke(isolated, [*argv, "--ttft-ms", "fast", "--no-history"])
        assert res.exit_code == 2, res.output
        assert "--ttft-ms: 'fast' is not a valid float" in res.stderr, (argv, res.stderr)
        assert res.stderr.startswith("orch: cannot start:") and "Usage:" not in res.output


# the two runs below also name a missing reference, so that an orch without the check refuses
# at once too (instead of starting a million iterations)
def test_several_models_in_one_model_scenarios_are_refused(isolated):
    res = _invoke(isolated, ["run", "--strategy", "restart", "--models", "a,b", "--reference", "nope.txt",
                             "--no-history"])
    assert (res.exit_code, res.stderr.splitlines()) == (2, [
        "orch: cannot start:",
        "  scenario asr takes one model (--model PATH), not 2 (a, b): several models are for --scenario switch",
        "  reference file not found: nope.txt",
    ])


def test_caps_on_iterations_and_sampling_rate_say_why(isolated):
    res = _invoke(isolated, ["run", "--strategy", "restart", "--iters", "1000001", "--sample-hz", "1e9",
                             "--reference", "nope.txt", "--no-history"])
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        "orch: cannot start:",
        "  --iters must be at most 1,000,000 (each iteration is a record of about 1 KB that the result keeps in "
        "memory and run.json rewrites after every strategy: a million is about 1 GB per strategy), not 1000001",
        "  --sample-hz must be at most 1,000 (a sample reads /proc for every process of the worker's tree, about "
        "0.1 ms a read: faster, the sampler takes a large share of a core and disturbs what it measures), "
        "not 1000000000.0",
        "  reference file not found: nope.txt",
    ]
    help_text = " ".join(_invoke(isolated, ["run", "--help"]).output.split())
    assert "1 to 1,000,000 (each iteration is a record of about 1 KB" in help_text
    assert "0 to 1000 (0: only at phase marks; at most 1000: a sample reads /proc" in help_text
