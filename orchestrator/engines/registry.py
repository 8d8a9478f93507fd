"""The engine registry: what each engine is, in one place (as orchestrator/run/strategies.py
is for strategies). The command line's --engine choices and options, soak's schema, doctor,
preflight and `--all` read it. Importing it is cheap (no numpy/torch): what an engine needs
only when it runs (doctor checks, preflight, its test-model maker) is named as
"module:function" and imported when used.

Adding an engine: a package orchestrator/engines/<name>/ (its options dataclass, fields.py),
a worker module workers/engines/<name>.py, and one `EngineSpec` below (docs/engines.md shows
one end to end).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.engines.calibration.options import CalibrationOptions
from orchestrator.engines.chatllm import paths as chatllm_paths
from orchestrator.engines.chatllm.log_noise import LOG_NOISE as CHATLLM_LOG_NOISE
from orchestrator.engines.chatllm.options import DECODING_OPTIONS as CHATLLM_DECODING
from orchestrator.engines.chatllm.options import ChatLLMOptions
from orchestrator.engines.crispasr.options import INSTALL as CRISPASR_INSTALL
from orchestrator.engines.crispasr.options import CrispASROptions
from orchestrator.engines.llamacpp.options import INSTALL as LLAMACPP_INSTALL
from orchestrator.engines.llamacpp.options import LlamaCppOptions
from orchestrator.engines.onnx.options import INSTALL as ONNX_INSTALL
from orchestrator.engines.onnx.options import OnnxOptions
from orchestrator.engines.openvino.options import INSTALL as OPENVINO_INSTALL
from orchestrator.engines.openvino.options import OpenVINOOptions
from orchestrator.engines.transformers.options import INSTALL as TRANSFORMERS_INSTALL
from orchestrator.engines.transformers.options import TransformersOptions

# every strategy (orchestrator/run/strategies.py's order; a test checks the names)
ALL_STRATEGIES = ("restart", "recreate", "recreate-destroy", "fresh-process", "cli", "cli-interactive")


def _needs_nothing(strategy: str) -> str | None:
    return None


@dataclass(frozen=True)
class EngineSpec:
    name: str
    does: str  # one line: what the engine is
    options: type  # its options dataclass (fields.py: declared once)
    worker: str  # "workers.engines.<module>:<Class>", what the worker process runs
    strategies: tuple[str, ...]  # the strategies it can run
    # what a strategy needs of the engine ("main", "libchatllm", ...), None: nothing more
    needs: Callable[[str], str | None] = _needs_nothing
    # "module:function(add, options, strategies, models, blocking)": doctor's rows for it
    doctor: str | None = None
    # "module:function(plan) -> list[str]": what stops a run before a worker starts
    preflight: str | None = None
    # "module:function(plan, given, notes) -> options": the options the plan runs with (paths
    # resolved, language, a test model's bounds), notes on what was decided; None: as given
    plan_hook: str | None = None
    # "module:function(out_dir, shape, quant, only, keep_hf, force, chatllm_dir)" that makes
    # its test models (`orch make-test-models --runtime NAME`), or None
    test_models: str | None = None
    install: str = ""  # how to get what it needs (doctor says it); "": nothing to install
    # "module:function(name, shape) -> Path | None": its test model `name` (tiny / full shape)
    # as `orch make-test-models` made it into its default folder, found by its manifest;
    # `orch compare --engines` uses it when --model ENGINE=PATH does not name one. None: no test models
    find_model: str | None = None
    # per decoding (greedy, sampled): what the worker is given beside `decoding` (chatllm.cpp:
    # `decoding_args` for its command line); none: the engine reads `decoding` itself
    decoding_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # "module:function(models) -> list[str]": what is wrong with the models as named, judged
    # without reading a file (RunPlan.validate: calibration's NAME[:MB] labels); None: nothing
    model_problems: str | None = None
    # "module:function(engine_block, hash_lib) -> str | None": the build a run used, from its
    # result's engine block (the history's `build` column; chatllm.cpp: commit + library
    # hash); None: the engine's name
    build_identity: str | None = None
    # "module:function(options) -> str | None": `orch attribute`'s note on the engine's
    # debug symbols (which of its libraries carry DWARF); None: nothing to say
    symbols_note: str | None = None
    doctor_note: str = ""  # what `orch doctor --engine NAME` adds once the engine can start
    # regexes of what the engine prints that is never why a worker ended (dropped from a
    # crash's "why", kept in the worker log: orchestrator.run.crash_cause); declared in its package
    log_noise: tuple[str, ...] = ()

    def runs(self, strategy: str) -> bool:
        return strategy in self.strategies

    def doctor_checks(self) -> Callable[..., None] | None:
        return _load(self.doctor) if self.doctor else None

    def preflight_problems(self, plan: Any) -> list[str]:
        return list(_load(self.preflight)(plan)) if self.preflight else []

    def identity_of_build(self, engine_block: dict, hash_lib: bool) -> str | None:
        if self.build_identity is None:
            return self.name
        return _load(self.build_identity)(engine_block, hash_lib)

    def debug_symbols_note(self, options: Any) -> str | None:
        return _load(self.symbols_note)(options) if self.symbols_note else None

    def models_problems(self, models: list[str]) -> list[str]:
        return list(_load(self.model_problems)(models)) if self.model_problems else []

    def plan_options(self, plan: Any, given: dict, notes: list[str]) -> Any:
        if self.plan_hook:
            return _load(self.plan_hook)(plan, given, notes)
        from orchestrator.engines.planning import typed_options

        return typed_options(plan, self.options, given)

    def make_test_models(self) -> Callable[..., None] | None:
        return _load(self.test_models) if self.test_models else None

    def test_model(self, name: str, shape: str) -> Path | None:
        return _load(self.find_model)(name, shape) if self.find_model else None


def _load(target: str) -> Any:
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


REGISTRY: dict[str, EngineSpec] = {
    e.name: e
    for e in (
        EngineSpec(
            "calibration",
            "a fake engine with set timings and leaks that proves the harness; needs nothing installed",
            CalibrationOptions,
            "workers.engines.calibration:CalibrationEngine",
            ALL_STRATEGIES,
            model_problems="orchestrator.engines.calibration.models:label_problems",
            doctor_note="chatllm.cpp is optional: the calibration engine needs none of it (its rows above are "
            "information). To check a chatllm.cpp run: orch doctor --engine chatllm [--model PATH].",
        ),
        EngineSpec(
            "chatllm",
            "Qwen3-ASR through chatllm.cpp: its Python bindings in the worker, or its `main` program",
            ChatLLMOptions,
            "workers.engines.chatllm:ChatLLMEngine",
            ALL_STRATEGIES,
            needs=chatllm_paths.needs,
            doctor="orchestrator.engines.chatllm.doctor:checks",
            preflight="orchestrator.engines.chatllm.paths:problems_for",
            plan_hook="orchestrator.engines.chatllm.plan:options_for",
            test_models="orchestrator.engines.chatllm.testmodels:make",
            find_model="orchestrator.engines.chatllm.testmodels:find_test_model",
            log_noise=CHATLLM_LOG_NOISE,
            install=f"a chatllm.cpp checkout (--chatllm-dir or CHATLLM_DIR), {chatllm_paths.BUILD_HINT}",
            decoding_options=CHATLLM_DECODING,
            build_identity="orchestrator.engines.chatllm.identity:build_identity",
            symbols_note="orchestrator.engines.chatllm.elfdebug:symbols_note",
        ),
        EngineSpec(
            "transformers",
            "Qwen3-ASR through Hugging Face transformers on PyTorch (CPU), in the worker; models are folders",
            TransformersOptions,
            "workers.engines.transformers:TransformersEngine",
            # no destroy call in Python (recreate-destroy would be recreate), no command-line program (cli)
            ("restart", "recreate", "fresh-process"),
            doctor="orchestrator.engines.transformers.doctor:checks",
            preflight="orchestrator.engines.transformers.preflight:problems_for",
            plan_hook="orchestrator.engines.transformers.plan:options_for",
            test_models="orchestrator.engines.transformers.testmodels:make",
            find_model="orchestrator.engines.transformers.testmodels:find_test_model",
            install=TRANSFORMERS_INSTALL + " (torch and transformers in the Python orch runs with)",
        ),
        EngineSpec(
            "onnx",
            "Qwen3-ASR on ONNX Runtime through sherpa-onnx's offline recognizer (CPU, no streaming), in the worker; "
            "models are folders of ONNX files",
            OnnxOptions,
            "workers.engines.onnx:OnnxEngine",
            # no destroy call in Python (recreate-destroy would be recreate); the wheel's only
            # program, sherpa-onnx-cli, has no recognizer (text2token): no cli
            ("restart", "recreate", "fresh-process"),
            doctor="orchestrator.engines.onnx.doctor:checks",
            preflight="orchestrator.engines.onnx.preflight:problems_for",
            plan_hook="orchestrator.engines.onnx.plan:options_for",
            test_models="orchestrator.engines.onnx.testmodels:make",
            find_model="orchestrator.engines.onnx.testmodels:find_test_model",
            install=ONNX_INSTALL + " (sherpa-onnx in the Python orch runs with)",
        ),
        EngineSpec(
            "openvino",
            "Qwen3-ASR through OpenVINO GenAI's ASRPipeline (CPU plugin), in the worker; models are exported folders",
            OpenVINOOptions,
            "workers.engines.openvino:OpenVINOEngine",
            # no destroy call in Python (recreate-destroy would be recreate), no command-line program (cli)
            ("restart", "recreate", "fresh-process"),
            doctor="orchestrator.engines.openvino.doctor:checks",
            preflight="orchestrator.engines.openvino.preflight:problems_for",
            plan_hook="orchestrator.engines.openvino.plan:options_for",
            test_models="orchestrator.engines.openvino.testmodels:make",
            find_model="orchestrator.engines.openvino.testmodels:find_test_model",
            install=OPENVINO_INSTALL
            + " (openvino-genai in the Python orch runs with; models: an export Python, see doctor)",
        ),
        EngineSpec(
            "crispasr",
            "Qwen3-ASR GGUF files through CrispASR's Python session (PyPI crispasr, ggml), in the worker",
            CrispASROptions,
            "workers.engines.crispasr:CrispASREngine",
            # Session.close() is its destroy and recreate calls it (recreate-destroy would be
            # recreate); the wheel ships no command-line program (cli)
            ("restart", "recreate", "fresh-process"),
            doctor="orchestrator.engines.crispasr.doctor:checks",
            preflight="orchestrator.engines.crispasr.preflight:problems_for",
            plan_hook="orchestrator.engines.crispasr.plan:options_for",
            test_models="orchestrator.engines.crispasr.testmodels:make",
            find_model="orchestrator.engines.crispasr.testmodels:find_test_model",
            install=CRISPASR_INSTALL + " (the crispasr wheel in the Python orch runs with)",
        ),
        EngineSpec(
            "llamacpp",
            "Qwen3-ASR GGUF files (text + audio mmproj) through llama.cpp: a llama-server the worker starts on a "
            "loopback port (streamed chat completions), or its llama-mtmd-cli program",
            LlamaCppOptions,
            "workers.engines.llamacpp:LlamaCppEngine",
            # restart: one long-lived server; fresh-process: a server per request; cli: llama-mtmd-cli
            # per request. llama-server has no model unload/load call outside router mode (where a model
            # is a child server started and stopped): no recreate, no recreate-destroy; cli-interactive:
            # llama-mtmd-cli's chat mode is not driven
            ("restart", "fresh-process", "cli"),
            needs=lambda strategy: "llama-mtmd-cli" if strategy == "cli" else "llama-server",
            doctor="orchestrator.engines.llamacpp.doctor:checks",
            preflight="orchestrator.engines.llamacpp.preflight:problems_for",
            plan_hook="orchestrator.engines.llamacpp.plan:options_for",
            test_models="orchestrator.engines.llamacpp.testmodels:make",
            find_model="orchestrator.engines.llamacpp.testmodels:find_test_model",
            install=LLAMACPP_INSTALL,
        ),
    )
}

NAMES: tuple[str, ...] = tuple(REGISTRY)


def get(name: str) -> EngineSpec:
    return REGISTRY[name]


def register(spec: EngineSpec) -> None:
    """One more engine (an engine kept outside orch's tree, a test's example): the plan,
    preflight and the runner take it from here; the command line's choices are fixed at
    import and list only the engines above."""
    REGISTRY[spec.name] = spec


def unregister(name: str) -> None:
    REGISTRY.pop(name, None)
