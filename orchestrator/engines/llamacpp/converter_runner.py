"""Runs llama.cpp's own converter (convert_hf_to_gguf.py of a llama.cpp tree) in its own process,
as `python converter_runner.py CONVERTER SRC OUT OUTTYPE KIND NAME [--mmproj]`, with two changes
made in this process only (the tree is not touched):

- the audio encoder's tensor-name table gets at least MIN_MMPROJ_BLOCKS rows: the converter
  maps `audio_tower.conv2d1..3` through the per-layer table (`audio_tower.conv2d{bid}`), which
  has one row per encoder layer, so an encoder of fewer than 4 layers (orch's tiny models have
  2) fails with "Can not map tensor 'audio_tower.conv2d2.bias'". The published models (18 and
  24 layers) never meet it; the names and the weights written are the same either way;
- the files get two more header keys: `orch.test_model` (KIND, "test model, random
  weights[, full shape]") and `orch.name` (NAME), so orch knows a test model by its file.
  llama.cpp's loaders ignore keys they do not know.

Imports nothing from orch: it runs with the converter's needs only (the tree's own gguf-py,
torch, safetensors, numpy, sentencepiece, transformers).
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

MIN_MMPROJ_BLOCKS = 4  # conv2d1, conv2d2, conv2d3 are rows 1..3 of the per-layer table


def _patch(gguf, kind: str, name: str) -> None:
    table = gguf.get_tensor_name_map

    def name_map(arch, n_blocks):
        if arch == gguf.MODEL_ARCH.MMPROJ:
            n_blocks = max(n_blocks, MIN_MMPROJ_BLOCKS)
        return table(arch, n_blocks)

    gguf.get_tensor_name_map = name_map
    base = gguf.GGUFWriter

    class MarkedWriter(base):  # type: ignore[misc, valid-type]
        def add_architecture(self, *args, **kwargs):
            super().add_architecture(*args, **kwargs)
            self.add_string("orch.test_model", kind)
            self.add_string("orch.name", name)

    gguf.GGUFWriter = MarkedWriter


def main(converter: str, src: str, out: str, outtype: str, kind: str, name: str, *rest: str) -> None:
    script = Path(converter).resolve()
    # as the converter does itself (unless NO_LOCAL_GGUF): the tree's own gguf-py first
    sys.path.insert(1, str(script.parent / "gguf-py"))
    sys.path.insert(1, str(script.parent))
    import gguf

    _patch(gguf, kind, name)
    sys.argv = [str(script), src, "--outfile", out, "--outtype", outtype, *rest]
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    if len(sys.argv) not in (7, 8):
        sys.exit(__doc__)
    main(*sys.argv[1:])
