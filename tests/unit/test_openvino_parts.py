"""The openvino engine's parent-side pieces that need neither openvino nor an export: its
options, what a model folder must hold, the export Python's resolution, the maker's refusals,
find_test_model from the manifest, preflight and the registry entry."""

from __future__ import annotations

import json
import stat
import types

import pytest
from orchestrator.engines import registry as engine_registry
from orchestrator.engines.openvino import export, testmodels
from orchestrator.engines.openvino.model_folder import (
    IR_FILES,
    ModelFolderError,
    precision,
    random_model_kind,
    read_config,
)
from orchestrator.engines.openvino.options import OpenVINOOptions
from orchestrator.engines.openvino.preflight import problems_for
from orchestrator.engines.qwen3asr_weights import MakeError
from workers.engines.openvino import NEEDED_FILES, _first_line


def fake_export(folder, model_type="qwen3_asr", mark=None):
    folder.mkdir(parents=True)
    for name in IR_FILES:
        (folder / name).write_text("<net/>", encoding="utf-8")
    config = {"model_type": model_type}
    if mark is not None:
        config["orch_tiny_model"] = mark
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_the_registry_runs_what_the_pipeline_can_honestly_do():
    spec = engine_registry.get("openvino")
    assert spec.strategies == ("restart", "recreate", "fresh-process")
    assert spec.worker == "workers.engines.openvino:OpenVINOEngine"
    assert spec.options is OpenVINOOptions


def test_options_go_to_the_worker_with_their_defaults():
    assert OpenVINOOptions(threads=2).to_worker() == {
        "threads": 2,
        "max_new_tokens": None,
        "runtime": None,
        "trim_after_unload": None,
    }
    assert OpenVINOOptions(threads=0).problems() == ["threads must be an integer >= 1, not 0"]


def test_the_worker_and_the_parent_ask_for_the_same_files():
    assert set(IR_FILES) | {"config.json"} == set(NEEDED_FILES)


def test_a_folder_is_an_export_or_a_clear_one_line_refusal(tmp_path):
    with pytest.raises(ModelFolderError, match=f"^model folder not found: {tmp_path / 'nope'}$"):
        read_config(tmp_path / "nope")
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(ModelFolderError, match="takes an exported model folder, not a file"):
        read_config(tmp_path / "file.bin")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFolderError, match=r"no openvino_encoder_model.xml, openvino_decoder_model.xml, "):
        read_config(tmp_path / "empty")
    whisper = fake_export(tmp_path / "whisper", model_type="whisper")
    with pytest.raises(ModelFolderError, match=r"is not Qwen3-ASR \(model_type 'whisper'\)"):
        read_config(whisper)
    ours = fake_export(tmp_path / "ours", mark={"shape": "tiny", "mimics": ""})
    assert random_model_kind(read_config(ours)) == "test model, random weights"
    assert random_model_kind({"orch_tiny_model": {"shape": "full"}}) == "test model, random weights, full shape"
    assert random_model_kind({}) is None


def test_the_precision_comes_from_the_manifest_beside_the_folder(tmp_path):
    fake_export(tmp_path / "tiny-asr-a-int8")
    assert precision(tmp_path / "tiny-asr-a-int8") is None
    manifest = {"models": {"tiny-asr-a-int8": {"folder": "tiny-asr-a-int8", "precision": "int8"}}}
    (tmp_path / testmodels.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert precision(tmp_path / "tiny-asr-a-int8") == "int8"


def test_find_test_model_by_name_prefers_fp32_and_by_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / testmodels.DEFAULT_OUT
    assert testmodels.find_test_model("tiny-asr-a", "tiny") is None
    for folder in ("tiny-asr-a-int4", "tiny-asr-a"):
        fake_export(out / folder)
    entries = {
        "tiny-asr-a-int4": {"folder": "tiny-asr-a-int4", "name": "tiny-asr-a", "precision": "int4"},
        "tiny-asr-a": {"folder": "tiny-asr-a", "name": "tiny-asr-a", "precision": "fp32"},
        "tiny-asr-b": {"folder": "tiny-asr-b", "name": "tiny-asr-b", "precision": "fp32"},  # listed, not there
    }
    (out / testmodels.MANIFEST).write_text(json.dumps({"models": entries}), encoding="utf-8")
    assert testmodels.find_test_model("tiny-asr-a", "tiny") == testmodels.Path(testmodels.DEFAULT_OUT) / "tiny-asr-a"
    assert testmodels.find_test_model("tiny-asr-a-int4", "tiny").name == "tiny-asr-a-int4"
    assert testmodels.find_test_model("tiny-asr-b", "tiny") is None
    assert testmodels.find_test_model("tiny-asr-a", "full") is None


def test_folders_are_named_by_precision():
    assert testmodels.folder_name("tiny-asr-a", "fp32") == "tiny-asr-a"
    assert testmodels.folder_name("tiny-asr-a", "int4") == "tiny-asr-a-int4"


def test_the_export_python_is_the_flag_then_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(export.ENV, raising=False)
    with pytest.raises(export.ExportError, match=r"needs its own Python \(--export-python or ORCH_EXPORT_PYTHON\)"):
        export.export_python(None)
    with pytest.raises(export.ExportError, match="not an executable file"):
        export.export_python(str(tmp_path / "python"))
    exe = tmp_path / "python"
    exe.write_text("#!/bin/sh\n", encoding="utf-8")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(export.ENV, str(exe))
    assert export.export_python(None) == str(exe)


def test_the_maker_refuses_before_writing_anything(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(MakeError, match="optimum-intel exports no forced aligner"):
        testmodels.make_openvino_test_models(out, ["tiny-aligner"])
    with pytest.raises(MakeError, match="precision 'q4_0': choose from fp32, fp16, int8, int4"):
        testmodels.make_openvino_test_models(out, ["tiny-asr-a"], precision="q4_0")
    with pytest.raises(MakeError, match="unknown test model nope"):
        testmodels.make_openvino_test_models(out, ["nope"])
    with pytest.raises(MakeError, match="--quant q8_0: OpenVINO folders are exported as fp32, fp16, int8, int4"):
        testmodels.make(str(out), None, "q8_0", (), False, False)
    with pytest.raises(MakeError, match="tiny-aligner: optimum-intel exports no forced aligner"):
        testmodels.make(str(out), None, None, ("tiny-aligner",), False, False)
    assert not out.exists()


def test_a_model_made_before_is_kept_without_an_export_python(tmp_path, monkeypatch):
    monkeypatch.delenv(export.ENV, raising=False)
    fake_export(tmp_path / "tiny-asr-a")
    made = testmodels.make_openvino_test_models(tmp_path, ["tiny-asr-a"])
    assert made == [testmodels.MadeModel("tiny-asr-a", tmp_path / "tiny-asr-a", made=False)]


def test_needs_grow_with_the_shape_and_shrink_with_the_precision():
    from orchestrator.engines.qwen3asr_weights import ALL_SPECS

    full = ALL_SPECS["shape-qwen3-asr-0.6b"]
    mem32, disk32 = testmodels.needs(full, "fp32")
    _, disk4 = testmodels.needs(full, "int4")
    assert mem32 == int(testmodels.EXPORT_BASE + testmodels.EXPORT_COPIES * testmodels.float32_bytes(full))
    assert disk4 < disk32
    assert testmodels.needs(ALL_SPECS["tiny-asr-a"], "fp32")[0] < mem32


def test_preflight_names_every_problem(tmp_path):
    plan = types.SimpleNamespace(scenario="align", models=[str(tmp_path / "nope")], audio=None)
    problems = problems_for(plan)
    assert "--scenario align: the openvino engine has no forced aligner (optimum-intel exports none)" in problems
    assert f"model folder not found: {tmp_path / 'nope'}" in problems
    assert "no audio given: pass --audio FILE.wav" in problems


def test_openvinos_message_loses_its_cpp_trail():
    exc = RuntimeError(
        "Exception from src/inference/src/cpp/core.cpp:132:\nException from src/inference/src/dev/plugin.cpp:59:\n"
        'Unable to read the model: "x.xml" Please check\n\n'
    )
    assert _first_line(exc) == 'Unable to read the model: "x.xml" Please check'
    assert _first_line(RuntimeError("")) == "RuntimeError"
