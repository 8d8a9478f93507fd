"""The pieces of orch load's server target, the sweep's rates and the weighted audio list:
loopback-only URLs, the multipart body, the SSE chunk shapes, GuideLLM's rate spacing, the
list's lines (each bad one named), and the command's one-line refusals (exit 2)."""

from __future__ import annotations

import email.parser
import email.policy

import pytest
from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.load import audio_list
from orchestrator.load.arrivals import ClosedLoop, OpenLoop
from orchestrator.load.http_target import ServerTarget, chunk_text, multipart
from orchestrator.load.sweep import Sweep


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://127.0.0.1:8000/v1/audio/transcriptions", ("127.0.0.1", 8000, "/v1/audio/transcriptions")),
        ("http://127.9.8.7:1/x", ("127.9.8.7", 1, "/x")),
        ("http://[::1]:9/v1/audio/transcriptions", ("::1", 9, "/v1/audio/transcriptions")),
        ("http://localhost", ("localhost", 80, "/")),
    ],
)
def test_loopback_urls_are_taken(url, expected):
    assert ServerTarget.split_url(url) == expected


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://10.0.0.1:8000/v1", "only loopback addresses (127.0.0.1, ::1, localhost), not 10.0.0.1"),
        ("http://example.com/v1", "only loopback addresses (127.0.0.1, ::1, localhost), not example.com"),
        ("http://0.0.0.0:80/", "only loopback addresses (127.0.0.1, ::1, localhost), not 0.0.0.0"),
        ("https://127.0.0.1/v1", "give an http:// URL (got https scheme)"),
        ("127.0.0.1:8000", "give an http:// URL"),
        ("http://127.0.0.1:99999/", "the port is not a number from 0 to 65535"),
    ],
)
def test_other_urls_are_refused(url, message):
    with pytest.raises(ValueError) as err:
        ServerTarget.split_url(url)
    assert str(err.value).startswith(f"--url {url}: ")
    assert message in str(err.value)


def test_multipart_body_carries_the_fields_and_the_audio():
    body, ctype = multipart({"model": "m", "stream": "true", "language": "English"}, 'a"b.wav', b"RIFF\x00\r\n--x")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {ctype}\r\n\r\n".encode() + body
    )
    parts = {p.get_param("name", header="content-disposition"): p for p in msg.iter_parts()}
    assert sorted(parts) == ["file", "language", "model", "stream"]
    assert parts["file"].get_payload(decode=True) == b"RIFF\x00\r\n--x"
    assert parts["file"].get_filename() == "a_b.wav"
    assert parts["stream"].get_payload(decode=True) == b"true"


@pytest.mark.parametrize(
    "payload, expected",
    [
        ('{"type": "transcript.text.delta", "delta": "he"}', ("he", False, None)),
        ('{"type": "transcript.text.done", "text": "hello"}', ("hello", True, None)),
        ('{"choices": [{"delta": {"content": "lo"}}]}', ("lo", False, None)),
        ('{"choices": [{"delta": {}}]}', ("", False, None)),
        ("plain words", ("plain words", False, None)),
        ('{"error": "boom"}', ("", False, "boom")),
        ('{"error": {"message": "bad audio"}}', ("", False, "bad audio")),
        ('{"text": "whole"}', ("whole", False, None)),
    ],
)
def test_sse_chunk_shapes(payload, expected):
    assert chunk_text(payload) == expected


def test_sweep_levels_are_guidellms_shape():
    sweep = Sweep(levels=5, servers=2, arrival="constant", seed=3)
    assert sweep.first() == [ClosedLoop(1, "synchronous"), ClosedLoop(4, "throughput")]
    assert [lv.describe() for lv in sweep.first()] == ["synchronous (concurrency 1)", "throughput (concurrency 4)"]
    # 4 points from 2 to 10 inclusive; the synchronous one is not run again
    assert sweep.rates(2.0, 10.0) == [4.667, 7.333, 10.0]
    assert sweep.rate_levels(2.0, 10.0) == [
        OpenLoop("constant", 4.667, 1.0, 5),
        OpenLoop("constant", 7.333, 1.0, 6),
        OpenLoop("constant", 10.0, 1.0, 7),
    ]
    assert Sweep(levels=3, servers=1).rates(1.0, 3.0) == [3.0]
    assert Sweep(levels=4, servers=1).rates(3.0, 2.0) == [3.0, 3.0]  # throughput under synchronous: no range
    assert Sweep(levels=4, servers=1).rates(0.0, 0.0) == []


def test_sweep_needs_three_levels():
    with pytest.raises(ValueError, match=r"--sweep-levels must be >= 3 \(got 2\)"):
        Sweep(levels=2, servers=1)


def test_audio_list_lines(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b c.wav").write_bytes(b"x")
    text = f"# mix\n\n3 a.wav\n0.5 sub/b c.wav\n1 {tmp_path / 'sub' / 'b c.wav'}x\n"
    with pytest.raises(ValueError, match="^line 5: .*b c.wavx: no such file$"):
        audio_list.parse(text, tmp_path)
    assert audio_list.parse("3 a.wav\n  0.5   sub/b c.wav  \n", tmp_path) == [
        (3.0, str(tmp_path / "a.wav")),
        (0.5, str(tmp_path / "sub" / "b c.wav")),
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("x a.wav\n", "line 1: 'x' is not a weight (write: WEIGHT PATH)"),
        ("1 a.wav\n0 a.wav\n", "line 2: the weight must be a number > 0 (got 0)"),
        ("-1 a.wav\n", "line 1: the weight must be a number > 0 (got -1)"),
        ("inf a.wav\n", "line 1: the weight must be a number > 0 (got inf)"),
        ("nan a.wav\n", "line 1: the weight must be a number > 0 (got nan)"),
        ("2\n", "line 1: no path after the weight (write: WEIGHT PATH)"),
        ("1 a.wav\n2 a.wav\n", "line 2: a.wav is listed twice (give it one weight)"),
        ("# nothing\n\n", "no entries (write one WEIGHT PATH a line)"),
    ],
)
def test_audio_list_bad_lines(tmp_path, text, message):
    (tmp_path / "a.wav").write_bytes(b"x")
    with pytest.raises(ValueError) as err:
        audio_list.parse(text, tmp_path)
    assert str(err.value) == message


def _invoke(args: list[str]):
    return CliRunner().invoke(main, ["load", *args])


def test_a_non_loopback_url_is_one_line_and_exit_2(isolated):
    result = _invoke(["--url", "http://192.168.1.5:8000/v1/audio/transcriptions", "--model", "m", "--rate", "1"])
    assert result.exit_code == 2
    assert result.output == (
        "orch: cannot start: --url http://192.168.1.5:8000/v1/audio/transcriptions: only loopback addresses "
        "(127.0.0.1, ::1, localhost), not 192.168.1.5\n"
    )


def test_a_bad_audio_list_line_is_one_line_and_exit_2(isolated):
    (isolated / "mix.txt").write_text("1 nowhere.wav\n")
    result = _invoke(["--audio-list", "mix.txt", "--rate", "1"])
    assert result.exit_code == 2
    assert result.output == "orch: cannot start: --audio-list mix.txt line 1: nowhere.wav: no such file\n"


def test_url_options_are_checked_together(isolated):
    result = _invoke(
        ["--url", "http://127.0.0.1:1/v1/audio/transcriptions", "--rate", "1", "--workers", "2", "--pid", "1",
         "--serve-cmd", "x", "--requests", "10000", "--warmup-requests", "1", "--rates", "1,2"]
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "orch: cannot start:",
        "  give one of --rate, --rates, --concurrency, --sweep",
        "  --workers does not apply to --url (the server runs its own engine)",
        "  give --serve-cmd or --pid, not both",
        "  --url needs --model NAME (the model the server is asked for)",
        "  --url needs --audio FILE|DIR or --audio-list FILE",
        "  1 level(s) x 10001 requests is over the 10000 a run may send a server",
    ]


def test_server_options_need_url(isolated):
    result = _invoke(["--rate", "1", "--pid", "5", "--connections", "2"])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "orch: cannot start:",
        "  --pid goes with --url",
        "  --connections goes with --url",
    ]


def test_sweep_levels_need_sweep_and_serve_timeout_needs_url(isolated):
    result = _invoke(["--rate", "1", "--sweep-levels", "4", "--serve-timeout", "5"])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "orch: cannot start:",
        "  --sweep-levels goes with --sweep",
        "  --serve-timeout goes with --url",
    ]
