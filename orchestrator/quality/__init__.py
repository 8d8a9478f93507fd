"""Transcript quality: zh-TW conversion (zh_tw), Chinese inverse text normalization (itn),
CER/WER scoring with jiwer (scoring), the harness entry points (pipeline) and the ITN test
cases (cases). The `orch itn` / `orch score` commands are orchestrator/commands/quality.py.
See docs/quality.md.

May import: engines (and errors); nothing else of orch."""
