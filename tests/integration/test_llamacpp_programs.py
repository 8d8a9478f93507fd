"""The llamacpp engine's programs (orchestrator.engines.llamacpp.programs) as orch runs them:
stand-in llama.cpp programs found in a folder and asked `--version`, their build line read
(the current form and the old one). Needs no llama.cpp build."""

from orchestrator.engines.llamacpp import programs


def test_the_build_line_is_read(tmp_path):
    prog = tmp_path / "llama-server"
    prog.write_text(
        "#!/bin/sh\necho 'version: 0.6.0-dev (build 11434, commit 515e85511)' >&2\necho 'built with GNU 12.2.0 for Linux x86_64' >&2\n"
    )
    prog.chmod(0o755)
    assert programs.find("llama-server", str(tmp_path)) == prog
    build = programs.build_of(prog)
    assert (build.number, build.commit) == (11434, "515e85511") and build.describe() == "llama.cpp b11434 (515e85511)"
    assert programs.find("llama-mtmd-cli", str(tmp_path)) is None
    old = tmp_path / "old"
    old.write_text("#!/bin/sh\necho 'version: 4567 (abc1234)' >&2\n")
    old.chmod(0o755)
    assert programs.build_of(old).describe() == "llama.cpp b4567 (abc1234)"
