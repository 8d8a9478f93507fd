"""The onnx engine's parts that need neither sherpa-onnx nor a model: reading sherpa-onnx's
stderr lines, capturing fd 2, what a model folder holds, the exporter's command line and
checks, the test-model maker's refusals, the manifest lookup, preflight and the registry."""

import json
import os
import sys
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.engines import registry
from orchestrator.engines.onnx import export, preflight, testmodels
from orchestrator.engines.onnx.model_folder import ModelFolderError, available_precisions, files_for, random_model_kind
from orchestrator.engines.qwen3asr_weights import MakeError
from workers.engines.onnx import StderrCapture, runtime_messages, stop_reason

# sherpa-onnx 2.0.1's own lines, as it writes them to fd 2
TRUNCATED = (
    "/project/sherpa-onnx/csrc/offline-recognizer-qwen3-asr-impl.cc:GenerateText:1034 Result is truncated. "
    "max_new_tokens 32 is too small for this audio input. Please either use a shorter audio or use a larger max_new_tokens"
)
REPEATED = (
    "/project/sherpa-onnx/csrc/offline-recognizer-qwen3-asr-impl.cc:GenerateText:1090 qwen3-asr: decode collapsed "
    "into a repetition loop after 40 tokens; truncating the repetition"
)


def test_stop_reason_reads_sherpas_lines():
    assert stop_reason([TRUNCATED]) == "max_new_tokens"
    assert stop_reason(["something else", REPEATED]) == "repetition_guard"
    assert stop_reason([]) is None and stop_reason(["an unrelated warning"]) is None


def test_runtime_messages_drop_the_source_position_and_repeats():
    assert runtime_messages([TRUNCATED, TRUNCATED, "", "plain line"]) == [
        "Result is truncated. max_new_tokens 32 is too small for this audio input. "
        "Please either use a shorter audio or use a larger max_new_tokens",
        "plain line",
    ]


def test_stderr_capture_takes_fd2_and_gives_it_back(capfd):
    capture = StderrCapture()

    def noisy():
        os.write(2, b"from C: one\nfrom C: two\n")
        return 7

    value, lines = capture.run(noisy)
    assert value == 7 and lines == ["from C: one", "from C: two"]
    value, lines = capture.run(lambda: None)  # the file is emptied per call
    assert lines == []
    os.write(2, b"after\n")
    sys.stderr.flush()
    assert capfd.readouterr().err == "after\n"
    with pytest.raises(ZeroDivisionError):  # fd 2 is given back when the call raises too
        capture.run(lambda: 1 / 0)
    os.write(2, b"still here\n")
    assert capfd.readouterr().err == "still here\n"
    capture.close()


def _folder(tmp_path, names, config=None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    if config is not None:
        (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return tmp_path


TOKENIZER = ["vocab.json", "merges.txt", "tokenizer_config.json"]
FP32 = ["conv_frontend.onnx", "encoder.onnx", "decoder.onnx"]
INT8 = ["encoder.int8.onnx", "decoder.int8.onnx"]


def test_files_for_each_precision(tmp_path):
    folder = _folder(tmp_path / "m", FP32 + INT8 + TOKENIZER)
    assert available_precisions(folder) == ["fp32", "int8"]
    files = files_for(folder, "int8")
    assert (files.encoder.name, files.decoder.name, files.tokenizer) == (
        "encoder.int8.onnx",
        "decoder.int8.onnx",
        folder,
    )


def test_files_for_says_what_is_missing(tmp_path):
    folder = _folder(tmp_path / "m", FP32 + TOKENIZER)
    with pytest.raises(
        ModelFolderError, match=r"has no encoder.int8.onnx, decoder.int8.onnx: .* at int8 \(precisions there: fp32\)"
    ):
        files_for(folder, "int8")
    with pytest.raises(ModelFolderError, match="not a file"):
        files_for(folder / "encoder.onnx", "fp32")
    bare = _folder(tmp_path / "bare", FP32)
    with pytest.raises(ModelFolderError, match="no tokenizer files"):
        files_for(bare, "fp32")


def test_a_tokenizer_subfolder_counts(tmp_path):
    folder = _folder(tmp_path / "m", FP32)
    _folder(folder / "tokenizer", TOKENIZER)
    assert files_for(folder, "fp32").tokenizer == folder / "tokenizer"


def test_random_model_kind_from_the_copied_config(tmp_path):
    tiny = _folder(tmp_path / "t", [], config={"orch_tiny_model": {"shape": "tiny", "mimics": ""}})
    full = _folder(tmp_path / "f", [], config={"orch_tiny_model": {"shape": "full"}})
    real = _folder(tmp_path / "r", [], config={"architectures": ["Qwen3ASRForConditionalGeneration"]})
    assert random_model_kind(tiny) == "test model, random weights"
    assert random_model_kind(full) == "test model, random weights, full shape"
    assert random_model_kind(real) is None and random_model_kind(tmp_path / "none") is None


def test_the_export_command_line(tmp_path):
    exporter = export.Exporter("/venv/bin/python", tmp_path / "clone", "abc", {})
    argv = export.export_command(exporter, tmp_path / "src", tmp_path / "out", 512, int8=True)
    assert argv[:3] == ["/venv/bin/python", "-c", export.DRIVER]
    assert argv[3:] == [
        str((tmp_path / "clone").resolve()),
        "--model", str((tmp_path / "src").resolve()),
        "--outdir", str((tmp_path / "out").resolve()),
        "--device", "cpu", "--max-total-len", "512", "--verify",
    ]  # fmt: skip
    assert export.export_command(exporter, tmp_path, tmp_path, 512, int8=False)[-1] == "--no-int8"


def test_the_exporter_and_its_python_are_asked_for(tmp_path, monkeypatch):
    monkeypatch.delenv(export.EXPORTER_ENV, raising=False)
    monkeypatch.delenv(export.PYTHON_ENV, raising=False)
    with pytest.raises(export.ExportError, match="git clone https://github.com/Wasser1462/Qwen3-ASR-onnx"):
        export.exporter_folder(None)
    with pytest.raises(export.ExportError, match="has no export_qwen3_asr_onnx.py"):
        export.exporter_folder(str(tmp_path))
    monkeypatch.setenv(export.EXPORTER_ENV, str(_folder(tmp_path / "clone", [export.EXPORTER_SCRIPT])))
    assert export.exporter_folder(None) == tmp_path / "clone"
    with pytest.raises(export.ExportError, match=r"pip install qwen-asr==0\.0\.6 transformers==4\.57\.6"):
        export.export_python(None)
    with pytest.raises(export.ExportError, match="not an executable file"):
        export.export_python(str(tmp_path / "nope"))
    assert isinstance(export.ExportError("x"), MakeError)  # exit 2 like every refusal of the maker


def test_package_problems_name_what_is_missing_or_other():
    good = {"qwen-asr": "0.0.6", "transformers": "4.57.6", "torch": "2.13.0", "onnx": "1.23.2", "onnxruntime": "1.32.0"}
    assert export.package_problems(good) == []
    assert export.package_problems({**good, "qwen-asr": None, "transformers": "5.24.0", "onnx": "1.20"}) == [
        "qwen-asr missing",
        "transformers 5.24.0 (the exporter is known to work with 4.57.6)",
    ]
    assert export.package_problems({**good, "torch": None}) == ["torch missing"]


def test_the_maker_refuses_the_aligner_and_other_precisions(tmp_path):
    exporter = export.Exporter(sys.executable, tmp_path, None, {})
    with pytest.raises(MakeError, match="tiny-aligner: sherpa-onnx's Qwen3-ASR recognizer has no forced aligner"):
        testmodels.make_onnx_test_models(exporter, tmp_path, names=["tiny-aligner"])
    with pytest.raises(MakeError, match="unknown test model nope"):
        testmodels.make_onnx_test_models(exporter, tmp_path, names=["nope"])
    with pytest.raises(MakeError, match="--quant q8_0: the ONNX exporter writes fp32, int8"):
        testmodels.make(str(tmp_path), None, "q8_0", ("tiny-asr-a",), False, False, None)


def test_export_needs_grow_with_the_model():
    tiny, full = (
        testmodels.export_needs("tiny-asr-a", ["fp32", "int8"]),
        testmodels.export_needs("shape-qwen3-asr-0.6b", ["fp32", "int8"]),
    )
    assert tiny.memory < full.memory and tiny.disk < full.disk
    assert testmodels.export_needs("tiny-asr-a", ["fp32"]).disk < tiny.disk


def test_make_test_models_without_the_exporter_is_one_line_exit_2(isolated, monkeypatch):
    monkeypatch.delenv(export.EXPORTER_ENV, raising=False)
    result = CliRunner().invoke(main, ["make-test-models", "--runtime", "onnx", "--only", "tiny-asr-a"])
    assert result.exit_code == 2, result.output
    assert (
        "the onnx export needs the exporter's clone: git clone https://github.com/Wasser1462/Qwen3-ASR-onnx"
        in result.output
    )
    assert "Traceback" not in result.output and not (isolated / "models").exists()


def test_find_test_model_reads_the_manifest(isolated):
    out = isolated / testmodels.DEFAULT_OUT
    _folder(out / "tiny-asr-a", FP32 + TOKENIZER)
    assert testmodels.find_test_model("tiny-asr-a", "tiny") is None  # no manifest: not made by orch
    (out / testmodels.MANIFEST).write_text(json.dumps({"models": {"tiny-asr-a": {"folder": "tiny-asr-a"}}}))
    assert testmodels.find_test_model("tiny-asr-a", "tiny") == out / "tiny-asr-a"
    assert testmodels.find_test_model("tiny-asr-b", "tiny") is None
    assert testmodels.find_test_model("tiny-asr-a", "full") is None


def test_preflight_names_the_align_scenario_and_a_missing_precision(tmp_path):
    folder = _folder(tmp_path / "m", FP32 + TOKENIZER)
    plan = SimpleNamespace(
        scenario="align", models=[str(folder)], audio="a.wav", engine_options=SimpleNamespace(precision="int8")
    )
    problems = [p for p in preflight.problems_for(plan) if "sherpa-onnx is not installed" not in p]
    assert problems[0] == "the onnx engine has no forced aligner (sherpa-onnx's Qwen3-ASR recognizer transcribes only)"
    assert "has no encoder.int8.onnx, decoder.int8.onnx" in problems[1] and len(problems) == 2


def test_the_registry_entry():
    spec = registry.get("onnx")
    assert spec.strategies == ("restart", "recreate", "fresh-process")
    assert spec.worker == "workers.engines.onnx:OnnxEngine"
    assert spec.install == "pip install -e '.[onnx]' (sherpa-onnx in the Python orch runs with)"
