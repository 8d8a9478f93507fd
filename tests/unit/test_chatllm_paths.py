"""orchestrator.engines.chatllm.paths: a checkout's commit is asked of git only where the
checkout has its own `.git` (git run elsewhere answers for the repository around the folder)."""

import subprocess

from orchestrator.engines.chatllm import paths


def test_a_folder_without_its_own_git_is_not_asked(tmp_path, monkeypatch):
    def no_git(*args, **kwargs):
        raise AssertionError(f"git was run: {args}")

    monkeypatch.setattr(paths.subprocess, "run", no_git)
    (tmp_path / "orch" / ".git").mkdir(parents=True)
    inside = tmp_path / "orch" / "chatllm.cpp"  # a copy without git metadata, inside another repository
    inside.mkdir()
    assert paths.checkout_commit(str(inside)) is None
    assert paths.checkout_commit(str(tmp_path / "absent")) is None


def test_a_checkout_s_own_git_gives_its_commit(tmp_path, monkeypatch):
    asked = []

    def git(argv, **kwargs):
        asked.append(argv)
        return subprocess.CompletedProcess(argv, 0, stdout="4a4310e165ca\n", stderr="")

    monkeypatch.setattr(paths.subprocess, "run", git)
    (tmp_path / ".git").write_text("gitdir: /elsewhere/worktrees/chatllm.cpp\n")  # a worktree's or submodule's
    assert paths.checkout_commit(str(tmp_path)) == "4a4310e165ca"
    assert asked == [["git", "-C", str(tmp_path), "rev-parse", "--short=12", "HEAD"]]
