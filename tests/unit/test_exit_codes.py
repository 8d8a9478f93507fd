"""Bad invocations and their exact exit codes (docs/commands.md, docs/history.md): 2 could not start
(bad option, config or input), 1 a strategy failed, each with a message naming the problem
and never a traceback. Most go through click's CliRunner and `orchestrator.cli.main` (where
errors become exit codes); those through a real `orch` process are in
tests/integration/test_exit_codes_processes.py."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.engines import registry as engine_registry

NOT_UTF8 = b"ab\xffcd\n"  # 0xff at offset 2


def _wav(path: Path) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 1600)


SOAK = """
name = "x"
[[matrix]]
name = "c"
strategies = ["restart"]
iters = 2
{extra}
"""

# (id, argv with {tmp}, stdin bytes, files to make {name: text|bytes}, exit code, substrings)
CASES = [
    (
        "run-chatllm-missing-all",
        [
            "run",
            "--engine",
            "chatllm",
            "--strategy",
            "restart",
            "--chatllm-dir",
            "{tmp}/no-chatllm",
            "--no-history",
            "--out",
            "{tmp}/out",
        ],
        None,
        {},
        2,
        ["cannot start:", "chatllm.cpp checkout not found", "no model given", "no audio given"],
    ),
    (
        "compare-chatllm-missing-all",
        [
            "compare",
            "--engine",
            "chatllm",
            "--strategies",
            "restart,cli",
            "--chatllm-dir",
            "{tmp}/no-chatllm",
            "--model",
            "{tmp}/no.bin",
            "--audio",
            "{tmp}/no.wav",
            "--no-history",
            "--out",
            "{tmp}/out",
        ],
        None,
        {},
        2,
        ["chatllm.cpp checkout not found", "model file not found", "audio file not found"],
    ),
    (
        "compare-duplicate-strategies",
        ["compare", "--strategies", "restart,restart", "--no-history", "--out", "{tmp}/out"],
        None,
        {},
        2,
        ["strategy restart given more than once"],
    ),
    (
        "compare-unknown-strategy",
        ["compare", "--strategies", "restart,bogus", "--no-history", "--out", "{tmp}/out"],
        None,
        {},
        2,
        ["unknown strategy 'bogus'"],
    ),
    (
        "compare-neither-all-nor-strategies",
        ["compare", "--no-history"],
        None,
        {},
        2,
        ["give either --all or --strategies"],
    ),
    ("run-unknown-strategy-option", ["run", "--strategy", "bogus"], None, {}, 2, ["bogus"]),
    (
        "run-reference-not-utf8",
        [
            "run",
            "--strategy",
            "restart",
            "--audio",
            "{tmp}/a.wav",
            "--reference",
            "{tmp}/bad.txt",
            "--no-history",
            "--out",
            "{tmp}/out",
        ],
        None,
        {"a.wav": "WAV", "bad.txt": NOT_UTF8},
        2,
        ["reference {tmp}/bad.txt is not UTF-8 text: byte 0xff at offset 2"],
    ),
    (
        "run-align-transcript-not-utf8-and-audio-missing",
        [
            "run",
            "--strategy",
            "restart",
            "--scenario",
            "align",
            "--audio",
            "{tmp}/none.wav",
            "--transcript",
            "{tmp}/bad.txt",
            "--no-history",
            "--out",
            "{tmp}/out",
        ],
        None,
        {"bad.txt": NOT_UTF8},
        2,
        ["audio file not found: {tmp}/none.wav", "transcript {tmp}/bad.txt is not UTF-8 text: byte 0xff at offset 2"],
    ),
    (
        "run-missing-reference-and-bad-numbers",
        [
            "run",
            "--strategy",
            "restart",
            "--reference",
            "{tmp}/none.txt",
            "--sample-hz",
            "-1",
            "--iter-timeout",
            "0",
            "--no-history",
            "--out",
            "{tmp}/out",
        ],
        None,
        {},
        2,
        [
            "reference file not found: {tmp}/none.txt",
            "--sample-hz must be a number >= 0",
            "--iter-timeout must be a number > 0",
        ],
    ),
    (
        "run-switch-one-model",
        ["run", "--strategy", "recreate", "--scenario", "switch", "--model", "a", "--no-history", "--out", "{tmp}/out"],
        None,
        {},
        2,
        ["scenario switch needs two or more models"],
    ),
    (
        "run-calibration-bad-model-label",
        ["run", "--strategy", "restart", "--model", "a:big", "--no-history", "--out", "{tmp}/out"],
        None,
        {},
        2,
        ["calibration model 'a:big'"],
    ),
    (
        "run-out-is-a-file",
        ["run", "--strategy", "restart", "--no-history", "--out", "{tmp}/ok.txt"],
        None,
        {"ok.txt": "x"},
        2,
        ["orch: cannot start: --out {tmp}/ok.txt is a file, not a folder"],
    ),
    (
        "run-db-in-missing-folder",
        ["run", "--strategy", "restart", "--db", "{tmp}/no/such/h.sqlite", "--out", "{tmp}/out"],
        None,
        {},
        2,
        ["folder {tmp}/no/such does not exist", "--no-history"],
    ),
    (
        "score-hypothesis-not-utf8",
        ["score", "--reference", "{tmp}/ok.txt", "--hypothesis", "{tmp}/bad.bin"],
        None,
        {"ok.txt": "你好\n", "bad.bin": NOT_UTF8},
        2,
        ["hypothesis {tmp}/bad.bin is not UTF-8 text: byte 0xff at offset 2 (invalid start byte)"],
    ),
    (
        "score-both-files-bad",
        ["score", "--reference", "{tmp}/none.txt", "--hypothesis", "{tmp}/bad.bin"],
        None,
        {"bad.bin": NOT_UTF8},
        2,
        ["cannot read reference {tmp}/none.txt", "hypothesis {tmp}/bad.bin is not UTF-8"],
    ),
    (
        "itn-stdin-not-utf8",
        ["itn"],
        "一万\n".encode() + NOT_UTF8,
        {},
        2,
        ["stdin is not UTF-8 text: byte 0xff at offset 9"],
    ),
    (
        "itn-file-not-utf8",
        ["itn", "{tmp}/bad.txt"],
        None,
        {"bad.txt": NOT_UTF8},
        2,
        ["{tmp}/bad.txt is not UTF-8 text: byte 0xff at offset 2"],
    ),
    (
        "history-db-in-missing-folder",
        ["history", "--db", "{tmp}/no/such/x.sqlite"],
        None,
        {},
        2,
        ["history database --db {tmp}/no/such/x.sqlite: folder {tmp}/no/such does not exist"],
    ),
    (
        "history-db-file-missing",
        ["history", "--db", "{tmp}/absent.sqlite"],
        None,
        {},
        2,
        ["no history database at --db {tmp}/absent.sqlite"],
    ),
    (
        "report-db-in-missing-folder",
        ["report", "latest", "--db", "{tmp}/no/such/x.sqlite"],
        None,
        {},
        2,
        ["folder {tmp}/no/such does not exist"],
    ),
    (
        "report-run-json-not-utf8",
        ["report", "{tmp}/run.json"],
        None,
        {"run.json": b'{"a": "\xff"}'},
        2,
        ["run file {tmp}/run.json is not UTF-8 text: byte 0xff at offset 7"],
    ),
    (
        "soak-iters-not-a-number",
        ["soak", "--config", "{tmp}/s.toml"],
        None,
        {"s.toml": SOAK.replace("iters = 2", 'iters = "ten"').format(extra="")},
        2,
        ["[[matrix]] #1 'c': iters must be an integer >= 1, not 'ten'"],
    ),
    (
        "soak-unknown-engine-scenario-strategy-all-at-once",
        ["soak", "--config", "{tmp}/s.toml"],
        None,
        {"s.toml": SOAK.replace('["restart"]', '["restart", "warp"]').format(extra='engine = "gpu"\nscenario = "x"')},
        2,
        [
            f"engine must be one of {', '.join(engine_registry.NAMES)}, not 'gpu'",
            "scenario must be one of asr, switch, align",
            "strategies has unknown 'warp'",
        ],
    ),
    (
        "soak-duplicate-strategies",
        ["soak", "--config", "{tmp}/s.toml"],
        None,
        {"s.toml": SOAK.replace('["restart"]', '["restart", "cli", "restart"]').format(extra="")},
        2,
        ["strategies names restart more than once"],
    ),
    (
        "soak-engine-option-type",
        ["soak", "--config", "{tmp}/s.toml"],
        None,
        {"s.toml": SOAK.format(extra='engine_options = {leak_mb = "lots", thread = 2}')},
        2,
        ["engine_options.leak_mb must be a number >= 0", "engine_options has unknown key 'thread'"],
    ),
    (
        "soak-change-point-settings",
        ["soak", "--config", "{tmp}/s.toml"],
        None,
        {"s.toml": "change_min_size = 1\nchange_max_pvalue = 1.5\n" + SOAK.format(extra="")},
        2,
        ["change_min_size must be an integer >= 2, not 1", "change_max_pvalue must be a number > 0 and < 1, not 1.5"],
    ),
    (
        "soak-config-not-utf8",
        ["soak", "--config", "{tmp}/s.toml"],
        None,
        {"s.toml": b'name = "\xff"\n'},
        2,
        ["soak config {tmp}/s.toml is not UTF-8 text: byte 0xff at offset 8"],
    ),
    (
        "soak-config-not-toml",
        ["soak", "--config", "{tmp}/s.toml"],
        None,
        {"s.toml": "name = \n"},
        2,
        ["is not valid TOML"],
    ),
    ("soak-config-missing", ["soak", "--config", "{tmp}/none.toml"], None, {}, 2, ["cannot read soak config"]),
    (
        "soak-db-in-missing-folder",
        ["soak", "--config", "{tmp}/s.toml", "--db", "{tmp}/no/such/x.sqlite"],
        None,
        {"s.toml": SOAK.format(extra="")},
        2,
        ["folder {tmp}/no/such does not exist"],
    ),
]


def _make(tmp: Path, files: dict) -> None:
    for name, content in files.items():
        path = tmp / name
        if content == "WAV":
            _wav(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


@pytest.mark.parametrize("argv, stdin, files, code, expect", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_invocation(isolated, argv, stdin, files, code, expect):
    tmp = isolated
    _make(tmp, files)
    args = [a.replace("{tmp}", str(tmp)) for a in argv]
    result = CliRunner().invoke(main, args, input=stdin)
    out = result.output
    assert result.exit_code == code, out
    for text in expect:
        assert text.replace("{tmp}", str(tmp)) in out, out
    assert "Traceback" not in out and "internal error" not in out, out
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), out
    # nothing was started or made: no run folder, no database folder
    assert not (tmp / "out").exists()
    assert not (tmp / "no").exists()


def test_problems_are_one_line_each_and_prefixed(isolated):
    result = CliRunner().invoke(
        main,
        [
            "compare",
            "--strategies",
            "restart,restart,bogus",
            "--sample-hz",
            "-1",
            "--no-history",
            "--out",
            str(isolated / "out"),
        ],
    )
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "orch: cannot start:"
    assert len(lines) == 4 and all(line.startswith("  ") for line in lines[1:]), lines


def test_history_db_from_env_in_missing_folder(isolated, monkeypatch):
    monkeypatch.setenv("ORCH_DB", str(isolated / "no" / "such" / "h.sqlite"))
    for argv in (["history"], ["report", "latest"]):
        result = CliRunner().invoke(main, argv)
        assert result.exit_code == 2
        assert f"ORCH_DB={isolated}/no/such/h.sqlite" in result.output
    assert not (isolated / "no").exists()
