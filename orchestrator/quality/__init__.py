"""Transcript quality: zh-TW conversion (zh_tw), Chinese inverse text normalization (itn),
CER/WER scoring with jiwer (scoring), the harness entry points (pipeline) and the
`orch itn` / `orch score` commands (commands). See docs/quality.md."""
