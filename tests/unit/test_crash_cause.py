"""How the host tells an out-of-memory kill from a kill from outside (crash_cause's readers)."""

import subprocess

from orchestrator.engines.registry import REGISTRY
from orchestrator.run import crash_cause
from orchestrator.run.crash_cause import OomEvidence, kill_text


def cgroup(tmp_path, events="oom 0\noom_kill 2\n", limit="1073741824\n"):
    proc = tmp_path / "cgroup"
    proc.write_text("0::/job.slice\n")
    d = tmp_path / "fs" / "job.slice"
    d.mkdir(parents=True)
    (d / "memory.events").write_text(events)
    (d / "memory.max").write_text(limit)
    return proc, tmp_path / "fs"


def test_cgroup_oom_kill_count_and_limit_are_read_from_the_process_cgroup(tmp_path):
    proc, root = cgroup(tmp_path)
    assert crash_cause.oom_kill_count(proc, root) == 2
    assert crash_cause.memory_limit_mb(proc, root) == 1024.0


def test_unreadable_cgroup_is_none(tmp_path):
    assert crash_cause.oom_kill_count(tmp_path / "nope", tmp_path / "nofs") is None


def test_dmesg_is_searched_for_the_pid_and_unreadable_is_none():
    def fake(out, code=0):
        return lambda *a, **k: subprocess.CompletedProcess(a, code, stdout=out, stderr="")

    log = "[12.3] Out of memory: Killed process 4242 (python) total-vm:1kB\n"
    assert crash_cause.dmesg_names_oom(4242, run=fake(log)) is True
    assert crash_cause.dmesg_names_oom(4243, run=fake(log)) is False
    assert crash_cause.dmesg_names_oom(4242, run=fake("", code=1)) is None


def test_last_rss_near_the_limit_is_evidence_and_far_from_it_is_not():
    near = kill_text("SIGKILL", OomEvidence(last_rss_mb=950.0, limit_mb=1000.0))
    far = kill_text("SIGKILL", OomEvidence(last_rss_mb=100.0, limit_mb=1000.0))
    assert "OOM killer" in near and "near the 1000 MB limit" in near
    assert "no sign of an out-of-memory kill" in far and "last RSS 100 of 1000 MB" in far


def test_nothing_readable_says_so():
    assert kill_text("SIGKILL", OomEvidence()).endswith("(kernel log and cgroup not readable)")


def test_every_engine_noise_pattern_is_a_valid_regex_and_chatllm_declares_the_bindings_line():
    for spec in REGISTRY.values():
        crash_cause.meaningful_lines("x", spec.log_noise)
    lines = crash_cause.meaningful_lines(
        "`requests` is required. use `pip install requests`\nreal", REGISTRY["chatllm"].log_noise
    )
    assert lines == ["real"]


def test_cgroup_v1_memory_controller_is_read(tmp_path):
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/job\n0::/\n")
    d = tmp_path / "fs" / "memory" / "job"
    d.mkdir(parents=True)
    (d / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    (d / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert crash_cause.oom_kill_count(proc, tmp_path / "fs") == 3
    limit = crash_cause.memory_limit_mb(proc, tmp_path / "fs")  # unlimited: the host's MemTotal
    assert limit is None or limit > 1
