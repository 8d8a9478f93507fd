"""`orch doctor` lists every registered engine: whether it is ready, what its checks found,
and how to install what it lacks — an engine registered after orch's own included."""

import re
import sys
import types

import pytest
from click.testing import CliRunner
from orchestrator.commands.doctor import doctor
from orchestrator.engines import registry
from orchestrator.engines.registry import EngineSpec
from orchestrator.engines.transformers.options import TransformersOptions


def _fake_checks(add, options, strategies, models, blocking):
    add("fakert", False, "not installed", "pip install fakert", blocking=blocking)
    add("fakert models/", False, "not present", "orch make-test-models --runtime fake", blocking=False)


@pytest.fixture
def fake_engines(monkeypatch):
    module = types.ModuleType("fake_doctor_module")
    module.checks = _fake_checks
    module.find = lambda name, shape: None
    monkeypatch.setitem(sys.modules, "fake_doctor_module", module)
    specs = [
        EngineSpec("fake", "a runtime that is not installed", TransformersOptions, "w:W", ("restart",),
                   doctor="fake_doctor_module:checks", install="pip install fakert"),
        EngineSpec("unchecked", "a runtime without doctor rows", TransformersOptions, "w:W", ("restart",),
                   find_model="fake_doctor_module:find", install="pip install other"),
    ]  # fmt: skip
    for spec in specs:
        registry.register(spec)
    yield
    for spec in specs:
        registry.unregister(spec.name)


def _rows(stdout: str) -> dict[str, tuple[str, str]]:
    """item -> (state, detail), a wrapped row's lines joined (the table fits 100 columns)."""
    lines = stdout.splitlines()
    dashes = [m.span() for m in re.finditer(r"-+", lines[1])]
    rows: list[list[str]] = []
    for line in lines[2:]:
        if not line.strip():
            break
        item, state, detail = (line[lo : (dashes[k + 1][0] if k + 1 < len(dashes) else None)].strip()
                               for k, (lo, _) in enumerate(dashes))
        if state:
            rows.append([item, state, detail])
        else:  # a wrapped row's next line
            rows[-1][0] += ("" if rows[-1][0].endswith("/") or not item else " ") + item
            rows[-1][2] += ("" if rows[-1][2].endswith("/") else " ") + detail if detail else ""
    return {item: (state, detail) for item, state, detail in rows}


def test_every_engine_is_listed_with_whether_it_is_ready_and_how_to_install_it(fake_engines, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHATLLM_DIR", raising=False)
    res = CliRunner().invoke(doctor, ["--chatllm-dir", str(tmp_path / "absent")])
    assert res.exit_code == 0, res.output  # a calibration run needs none of them
    rows = _rows(res.stdout)
    assert rows["engine calibration"][0] == "ok" and rows["engine calibration"][1].startswith("ready: a fake engine")
    assert rows["engine fake"] == (
        "info",
        "not ready (fakert missing): a runtime that is not installed; to install: pip install fakert",
    )
    assert rows["fakert"] == ("info", "not installed: pip install fakert")
    assert rows["fakert models/"] == ("info", "not present: orch make-test-models --runtime fake")
    # no doctor rows of its own: not called ready; its test model looked up by its finder
    assert rows["engine unchecked"] == (
        "info",
        "not checked (it has no doctor checks): a runtime without doctor rows; to install: pip install other",
    )
    assert rows["tiny-asr-a (test model)"] == ("info", "not made: orch make-test-models --runtime unchecked")
    assert rows["engine chatllm"][1].startswith("not ready (chatllm.cpp checkout, main, libchatllm")
    table = res.stdout.split("\n\n")[0].splitlines()
    assert len(table) > len(rows) and max(len(line) for line in table) <= 100  # issue 27: it was about 450 wide
    summary = [line for line in res.stderr.splitlines() if line.startswith("engines: ")]
    # the runtimes' own engines are ready or not as this machine has their packages
    runtimes = [n for n in registry.NAMES if n not in ("calibration", "chatllm")]
    ready = ", ".join(f"{n} {'ready' if rows[f'engine {n}'][0] == 'ok' else 'not ready'}" for n in runtimes)
    assert summary == [f"engines: calibration ready, chatllm not ready, {ready}, fake not ready, unchecked not checked"]
    assert runtimes == ["transformers", "onnx", "openvino", "crispasr", "llamacpp"]
