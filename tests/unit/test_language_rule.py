"""One language and metric rule for every command, per file (docs/quality.md, "Language and
metric"): a mixed folder is asked and scored file by file; the same reference is scored the
same way whatever an engine answers; `load` guesses as `run` and `transcribe` do."""

from __future__ import annotations

import shutil

import pytest
from orchestrator.commands.load_options import language as _language
from orchestrator.quality.pipeline import file_language, process_transcript
from orchestrator.run.transcribe import Workers
from orchestrator.run.transcribe_inputs import TranscribeRequest, prepare
from workers.loop import Session


@pytest.fixture
def mixed(shared, tmp_path):
    """A folder with a Chinese clip first (sorted) and an English one, with their references."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("hours-zh", "jfk"):
        for ext in (".wav", ".txt"):
            shutil.copy(shared / "samples" / (name + ext), folder / (name + ext))
    # a name that says nothing: only the reference can say the first file is Chinese
    (folder / "hours-zh.wav").rename(folder / "a.wav")
    (folder / "hours-zh.txt").rename(folder / "a.txt")
    return folder


def test_a_mixed_folder_is_asked_and_scored_per_file(mixed, tmp_path):
    job, _notes = prepare(TranscribeRequest(paths=[str(mixed)]))
    assert [(i.path.rsplit("/", 1)[1], i.language) for i in job.inputs] == [("a.wav", "Chinese"), ("jfk.wav", "English")]
    config = Workers(job, tmp_path)._config(job.plan, 1, "asr")
    session = Session(channel=None, engine=None, config=config)  # type: ignore[arg-type]
    # the worker asks each file in its own language, not the first file's
    assert [session.request_for(i).language for i in (1, 2)] == ["Chinese", "English"]


def test_the_same_reference_gets_the_same_metric_whatever_the_engine_answers():
    english = "And so my fellow Americans"
    latin = process_transcript("and so my fellow americans", None, english)
    cjk = process_transcript("那麼我的美國同胞們", None, english)  # an engine answering in Chinese
    assert latin["wer"] is not None and latin["cer"] is None
    assert cjk["wer"] is not None and cjk["cer"] is None
    chinese = "今天天氣很好"
    assert process_transcript("today is fine", None, chinese)["cer"] is not None
    assert process_transcript("today is fine", None, chinese)["wer"] is None


def test_file_language_is_decided_by_the_file_alone(mixed):
    assert file_language(None, str(mixed / "a.wav"), None)[0] == "Chinese"
    assert file_language(None, str(mixed / "jfk.wav"), None)[0] == "English"
    assert file_language("Japanese", str(mixed / "a.wav"), None) == ("Japanese", "--language")


def test_load_guesses_the_language_and_names_files_that_disagree(mixed, capsys):
    problems: list[str] = []
    assert _language(None, [(str(mixed / "jfk.wav"), 11.0)], problems) == "English" and not problems
    assert "note: --language not given: English" in capsys.readouterr().out
    both = [(str(mixed / "a.wav"), 5.9), (str(mixed / "jfk.wav"), 11.0)]
    assert _language(None, both, problems) is None
    assert problems == [
        "--language not given and the audio files are in different languages (Chinese: a.wav; English: jfk.wav): "
        "give --language"
    ]
    assert _language("English", both, []) == "English"


def test_chatllm_reloads_its_model_for_a_file_in_another_language():
    from workers.engines.base import Request
    from workers.engines.chatllm import ChatLLMEngine

    engine = ChatLLMEngine({"ttft_phases": False, "language": "Chinese", "main": "/x/main"})
    loads = []
    engine.model, engine.chat = "/m/asr.bin", object()
    engine.load = lambda model: loads.append((model, engine.language))  # type: ignore[method-assign]
    engine._language_for(Request(i=1, audio="a.wav", language="Chinese"))
    assert loads == []  # the language it loaded in: no re-load
    engine._language_for(Request(i=2, audio="b.wav", language="English"))
    assert loads == [("/m/asr.bin", "English")]
    # the command-line program is started in the request's language
    argv = engine.cli_invocation("/m/asr.bin", Request(i=3, audio="c.wav", language="Japanese")).argv
    assert argv[argv.index("language") + 1] == "Japanese"
