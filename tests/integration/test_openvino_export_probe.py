"""The OpenVINO export Python asked for its packages by running it (tests/unit/test_openvino_parts.py
has the rest of the engine's parts)."""

import pytest
from orchestrator.engines.openvino import export


def test_an_export_python_without_the_packages_is_named(tmp_path):
    import sys

    versions = export.export_versions(sys.executable)
    assert set(versions) == {dist for _mod, dist in export.EXPORT_PACKAGES}
    if versions["qwen-asr"] is None:  # orch's own Python has no qwen-asr (it pins transformers 4.57.6)
        with pytest.raises(export.ExportError, match="has no .*qwen-asr"):
            export.check_export_python(sys.executable)
    assert export.export_versions(str(tmp_path / "none")) == {d: None for _m, d in export.EXPORT_PACKAGES}
