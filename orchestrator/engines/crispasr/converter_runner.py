"""Runs CrispASR's own Qwen3-ASR converter (models/convert-qwen3-asr-to-gguf.py of a CrispASR
checkout) in its own process, as `python converter_runner.py CONVERTER SRC OUT PRECISION KIND NAME`,
with two changes made in this process only (the checkout is not touched):

- PRECISION f32: every tensor is written float32 (the converter writes F16 matrices and F32
  norms/biases, and has no option for it): its `is_f32_tensor` answers True;
- the file gets two more header keys right after `general.architecture`: `orch.test_model`
  (KIND, "test model, random weights[, full shape]") and `orch.name` (NAME), so orch knows a
  test model by its file as it does a chatllm.cpp one. CrispASR's loader ignores keys it does
  not know.

Imports nothing from orch (it runs with the converter's needs only: gguf, safetensors, torch, numpy).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any


def main(converter: str, src: str, out: str, precision: str, kind: str, name: str) -> None:
    import gguf

    spec = importlib.util.spec_from_file_location("crispasr_convert_qwen3_asr", converter)
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if precision == "f32":
        module.is_f32_tensor = lambda name, shape: True
    elif precision != "f16":
        sys.exit(f"converter_runner: precision {precision!r}: f16 or f32")

    base = gguf.GGUFWriter

    class MarkedWriter(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.add_string("orch.test_model", kind)
            self.add_string("orch.name", name)

    gguf.GGUFWriter = MarkedWriter  # type: ignore[misc,unused-ignore]  # the converter calls gguf.GGUFWriter(...)
    module.convert(Path(src), Path(out))


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    main(*sys.argv[1:])
