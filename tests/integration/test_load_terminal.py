"""What `orch load` tells its user (issue 27, items 7 and 8): the terminal output ends with
the run's answer, the max sustainable rate (the HTML report said it, the terminal did not);
load.json's host.load_avg_start is read when the run starts (it was the end's); --url to a
port nothing listens on is refused in one line on stderr, exit 2, before any request."""

from __future__ import annotations

import json
import socket
import time

from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.errors import ExitCode

FAST = ["--ttft-ms", "5", "--token-ms", "1", "--no-history"]


def test_the_terminal_output_ends_with_the_max_sustainable_rate(isolated):
    res = CliRunner().invoke(
        main, ["load", "--rates", "20,40", "--requests", "4", *FAST, "--out", "out"], prog_name="orch"
    )
    assert res.exit_code == 0, res.output
    last = res.stdout.rstrip("\n").splitlines()[-1]
    (result,) = (isolated / "out").glob("load-*/load.json")
    from orchestrator.results.load_run import LoadRun

    run = LoadRun.from_json(json.loads(result.read_text(encoding="utf-8")))
    assert last == run.max_rate_line() and last.startswith("max sustainable rate: ")


def test_the_load_average_at_start_is_read_at_the_start(isolated, monkeypatch):
    from orchestrator.run import hostinfo

    # the "load average" is the time it was read: start before the first request, end after the last
    monkeypatch.setattr(hostinfo, "load_average", lambda: [time.monotonic()] * 3)
    res = CliRunner().invoke(main, ["load", "--rate", "5", "--requests", "3", *FAST, "--out", "out"], prog_name="orch")
    assert res.exit_code == 0, res.output
    (result,) = (isolated / "out").glob("load-*/load.json")
    host = json.loads(result.read_text(encoding="utf-8"))["host"]
    records = [json.loads(line) for line in (result.parent / "requests.jsonl").read_text().splitlines()]
    assert host["load_avg_start"][0] < min(r["sent"] for r in records)
    assert host["load_avg_end"][0] > max(r["freed"] for r in records)


def test_a_url_nothing_listens_on_is_refused_in_one_line(isolated, shared):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = CliRunner().invoke(main, ["load", "--url", f"http://127.0.0.1:{port}", "--model", "m", "--audio",
                                    str(shared / "samples" / "jfk.wav"), "--rate", "2", "--requests", "3",
                                    "--no-history", "--out", "out"], prog_name="orch")  # fmt: skip
    assert res.exit_code == ExitCode.CANNOT_START, res.output
    assert res.stderr == (
        f"orch: cannot start: nothing answers at 127.0.0.1:{port} (connection refused): start the server first, "
        "or give --serve-cmd\n"
    )
    assert not list((isolated / "out").glob("load-*/requests.jsonl")) or not any(
        p.read_text() for p in (isolated / "out").glob("load-*/requests.jsonl")
    )  # nothing was sent


def test_a_short_level_says_too_few_requests_not_a_figure_per_1000(isolated):
    res = CliRunner().invoke(main, ["load", "--rate", "10", "--requests", "8", *FAST, "--out", "out"], prog_name="orch")
    assert res.exit_code == 0, res.output
    memory = [line.strip() for line in res.stdout.splitlines() if line.strip().startswith("memory ")]
    assert memory and all("too few requests for a figure per 1000 (" in line for line in memory), res.stdout
    assert all("; 50 needed)" in line and "95% CI" not in line for line in memory)
    assert "nan" not in res.stdout and "Warning" not in res.stderr
