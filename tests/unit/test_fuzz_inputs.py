"""Fuzzing the command line's text inputs: whatever bytes `orch itn` and `orch score` read,
whatever a soak config holds, orch answers with an exit code of 0, 1 or 2 and a message,
never a traceback or an "internal error". Non-UTF-8 input is named with the offset of its
first bad byte. No worker ever starts: the soak harness is replaced by one that refuses."""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orchestrator.cli import main
from orchestrator.studies.soak import CELL_KEYS, SOAK_KEYS

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# mostly text (valid UTF-8 with Chinese numerals, \r, \n), sometimes raw bytes
TEXTISH = st.one_of(
    st.text(alphabet=st.sampled_from("一二三十百千万亿零两点年月日号 abcAB.,，。\r\n0123456789"), max_size=40).map(
        lambda t: t.encode("utf-8")
    ),
    st.text(max_size=40).map(lambda t: t.encode("utf-8")),
    st.binary(max_size=40),
)


def _first_bad_byte(data: bytes) -> int | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def _clean(result) -> None:
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


@pytest.mark.slow
@FUZZ
@given(data=TEXTISH, zh_tw=st.booleans())
def test_itn_stdin_any_bytes(data, zh_tw):
    result = CliRunner().invoke(main, ["itn"] + (["--zh-tw"] if zh_tw else []), input=data)
    _clean(result)
    bad = _first_bad_byte(data)
    if bad is None:
        assert result.exit_code == 0, result.output
        assert result.stdout_bytes.count(b"\n") == data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    else:
        assert result.exit_code == 2
        assert f"stdin is not UTF-8 text: byte 0x{data[bad]:02x} at offset {bad} " in result.stderr


@FUZZ
@given(data=TEXTISH)
def test_itn_file_any_bytes(tmp_path, data):
    path = tmp_path / "in.txt"
    path.write_bytes(data)
    result = CliRunner().invoke(main, ["itn", str(path)])
    _clean(result)
    bad = _first_bad_byte(data)
    if bad is None:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2 and result.stdout_bytes == b""  # checked before anything is written
        assert f"{path} is not UTF-8 text: byte 0x{data[bad]:02x} at offset {bad} " in result.stderr


@FUZZ
@given(
    ref=TEXTISH,
    hyp=TEXTISH,
    mode=st.sampled_from(["auto", "cer", "wer", "mixed"]),
    flags=st.lists(st.sampled_from(["--convert", "--no-normalize"]), unique=True),
    fmt=st.sampled_from(["table", "json", "csv", "md"]),
)
def test_score_files_any_bytes(tmp_path, ref, hyp, mode, flags, fmt):
    (tmp_path / "ref.txt").write_bytes(ref)
    (tmp_path / "hyp.txt").write_bytes(hyp)
    result = CliRunner().invoke(
        main,
        [
            "score",
            "--reference",
            str(tmp_path / "ref.txt"),
            "--hypothesis",
            str(tmp_path / "hyp.txt"),
            "--mode",
            mode,
            "--format",
            fmt,
            *flags,
        ],
    )
    _clean(result)
    bad = {what: _first_bad_byte(data) for what, data in (("reference", ref), ("hypothesis", hyp))}
    if bad["reference"] is None and bad["hypothesis"] is None:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2
        for what, offset in bad.items():
            if offset is not None:
                assert f"{what} {tmp_path}/" in result.stderr and f"at offset {offset} " in result.stderr


# --- soak configs ------------------------------------------------------------------------------------
def _toml_str(s: str) -> str:
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{_toml_str(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


def toml_document(doc: dict) -> str:
    """A dict as TOML: one `"key" = inline value` line per top-level key (an array of inline
    tables is a TOML array of tables as far as a reader can tell)."""
    return "".join(f"{_toml_str(k)} = {_toml_value(v)}\n" for k, v in doc.items())


KEYS = st.one_of(
    st.sampled_from(sorted(SOAK_KEYS | CELL_KEYS)),
    st.sampled_from(["itres", "engine_option", "leak_mb", "ttft_ms", "threads", "chatllm_dir", "x"]),
    st.text(max_size=8),
)
LIKELY = st.sampled_from(
    [
        "restart",
        "recreate",
        "cli",
        "cli-interactive",
        "fresh-process",
        "recreate-destroy",
        "calibration",
        "chatllm",
        "asr",
        "switch",
        "align",
        "a:1",
        "b:x",
        "x.wav",
        "",
        "ten",
        "restart,restart",
        "restart,cli",
        "/",
        ".",
        "nightly",
    ]
)
SCALARS = st.one_of(
    LIKELY, st.integers(-3, 40), st.integers(-(2**63), 2**63 - 1), st.floats(), st.booleans(), st.text(max_size=12)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=6,
)
CELL = st.dictionaries(st.one_of(st.sampled_from(sorted(CELL_KEYS)), KEYS), VALUES, max_size=6)
RANDOM_CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "name": VALUES,
        "baseline_runs": VALUES,
        "alpha": VALUES,
        "iters": VALUES,
        "strategies": VALUES,
        "change_min_size": VALUES,
        "change_max_pvalue": VALUES,
        "attribute": VALUES,
        "defaults": CELL,
        "matrix": st.one_of(st.lists(CELL, max_size=3), VALUES),
    },
).flatmap(lambda base: st.dictionaries(KEYS, VALUES, max_size=3).map(lambda extra: {**extra, **base}))
# valid cells (so that the later checks are reached too: models of scenario switch, repeated
# matrix keys, input files, the refusing harness), then sometimes one key set to anything
GOOD_CELL = st.fixed_dictionaries(
    {
        "strategies": st.lists(
            st.sampled_from(["restart", "recreate", "cli", "fresh-process"]), min_size=1, max_size=2, unique=True
        )
    },
    optional={
        "engine": st.sampled_from(["calibration", "chatllm"]),
        "scenario": st.sampled_from(["asr", "switch", "align"]),
        "iters": st.integers(1, 3),
        "warmup": st.integers(0, 2),
        "name": st.sampled_from(["a", "b"]),
        "model": st.one_of(
            st.sampled_from(["m", "m:8", "m:x", "/no/model.bin"]),
            st.lists(st.sampled_from(["m", "n:4"]), min_size=1, max_size=2),
        ),
        "models": st.lists(st.sampled_from(["m", "n:4", "o"]), min_size=1, max_size=3),
        "audio": st.sampled_from(["x.wav", "/no/such.wav"]),
        "reference": st.sampled_from(["ref.txt"]),
        "engine_options": st.sampled_from(
            [{}, {"leak_mb": 0}, {"ttft_ms": 1, "crash_at": 1}, {"threads": 2, "chatllm_dir": "."}]
        ),
    },
)
NEAR_GOOD_CONFIG = st.tuples(
    st.lists(GOOD_CELL, min_size=1, max_size=3),
    st.one_of(st.none(), st.tuples(st.sampled_from(sorted(CELL_KEYS)), VALUES)),
).map(lambda t: {"matrix": t[0] if t[1] is None else [{**t[0][0], t[1][0]: t[1][1]}] + t[0][1:]})
CONFIG = st.one_of(RANDOM_CONFIG, NEAR_GOOD_CONFIG)


@pytest.fixture
def soak_env(tmp_path, monkeypatch):
    """Everything the soak writes in tmp_path; the harness replaced by one that refuses, so
    a config that passes every check still starts no worker."""
    from orchestrator.run import runner

    def refuse(plan, progress_factory=None, on_strategy_done=None):
        raise RuntimeError("fuzz: no worker is started")

    monkeypatch.setattr(runner, "execute", refuse)
    monkeypatch.setenv("ORCH_DB", str(tmp_path / "h.sqlite3"))
    monkeypatch.setenv("ORCH_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.delenv("CHATLLM_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _soak(tmp, text: str | bytes):
    config = tmp / "fuzz.toml"
    if isinstance(text, bytes):
        config.write_bytes(text)
    else:
        config.write_text(text, encoding="utf-8")
    # --prometheus on the command line wins over a fuzzed `prometheus` path in the config
    return CliRunner().invoke(main, ["soak", "--config", str(config), "--prometheus", str(tmp / "p.prom")])


@settings(FUZZ, max_examples=60)
@given(doc=CONFIG)
def test_soak_config_values(soak_env, doc):
    result = _soak(soak_env, toml_document(doc))
    _clean(result)
    # invalid: refused before any cell (orch: ..., exit 2); valid: every cell a failed run
    # (its inputs refused, or the fake harness raised), exit 1 as a failed strategy
    refused = any(line.startswith("orch: ") for line in result.output.splitlines())
    assert result.exit_code == (2 if refused else 1), result.output
    assert "fuzz: no worker is started" in result.output or "cannot start" in result.output, result.output


@FUZZ
@given(text=st.one_of(st.text(max_size=80), st.binary(max_size=80)))
def test_soak_config_any_text(soak_env, text):
    result = _soak(soak_env, text)
    _clean(result)
    assert result.exit_code == 2, result.output


def test_toml_writer_round_trips():
    import tomllib

    doc = {
        "name": 'a"b\\c\n\x00ü',
        "iters": -3,
        "alpha": float("inf"),
        "x": [1, [2.5, True]],
        "matrix": [{"strategies": ["restart"], "engine_options": {"leak_mb": 0}}],
    }
    assert tomllib.loads(toml_document(doc)) == doc
