"""`transcribe --srt PATH`: a folder (existing, or named with a trailing slash) gets one X.srt
per audio file; a missing parent is a clear problem, never created silently."""

from __future__ import annotations

import os

from orchestrator.run.transcribe_inputs import _srt_targets


def test_a_trailing_slash_names_a_folder_even_when_it_does_not_exist_yet(tmp_path):
    subs = str(tmp_path / "subs") + "/"
    assert _srt_targets(["/a/jfk.wav"], subs) == ([os.path.join(subs, "jfk.srt")], [])


def test_an_existing_folder_gets_the_per_file_name(tmp_path):
    (tmp_path / "subs").mkdir()
    assert _srt_targets(["/a/jfk.wav"], str(tmp_path / "subs")) == ([str(tmp_path / "subs" / "jfk.srt")], [])


def test_a_file_name_is_kept(tmp_path):
    assert _srt_targets(["/a/jfk.wav"], str(tmp_path / "x.srt")) == ([str(tmp_path / "x.srt")], [])


def test_missing_parents_are_a_problem_not_created(tmp_path):
    targets, problems = _srt_targets(["/a/jfk.wav"], str(tmp_path / "no" / "such" / "x.srt"))
    assert targets == []
    assert problems == [f"--srt {tmp_path}/no/such/x.srt: {tmp_path}/no/such does not exist (make it first; "
                        "orch makes only the file)"]
    _, problems = _srt_targets(["/a/a.wav", "/b/b.wav"], str(tmp_path / "no" / "subs") + "/")
    assert problems == [f"--srt {tmp_path}/no/subs/: {tmp_path}/no does not exist (make it first; "
                        "orch makes only the folder to write into)"]
    assert not (tmp_path / "no").exists()
