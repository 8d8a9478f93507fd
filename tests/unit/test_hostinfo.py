"""The host facts a leak-vs-retention call depends on, read from fake /proc and /sys trees."""

import pytest
from orchestrator.run import hostinfo

X86_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC 7B13 64-Core Processor
cpu MHz\t\t: 2450.000

processor\t: 1
model name\t: AMD EPYC 7B13 64-Core Processor
"""

PI_CPUINFO = """processor\t: 0
BogoMIPS\t: 108.00
CPU implementer\t: 0x41
CPU part\t: 0xd08

Hardware\t: BCM2835
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


def fake_root(tmp_path, files: dict[str, str]):
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_facts_from_a_fake_host(tmp_path):
    root = fake_root(
        tmp_path,
        {
            "proc/cpuinfo": X86_CPUINFO,
            "sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never\n",
            "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "performance\n",
        },
    )
    assert hostinfo.cpu_model(root) == "AMD EPYC 7B13 64-Core Processor"
    assert hostinfo.transparent_hugepage(root) == "madvise"
    assert hostinfo.cpu_governor(root) == "performance"


def test_an_arm_board_names_its_model(tmp_path):
    root = fake_root(tmp_path, {"proc/cpuinfo": PI_CPUINFO})
    assert hostinfo.cpu_model(root) == "Raspberry Pi 4 Model B Rev 1.4"


@pytest.mark.parametrize("enabled, mode", [("[always] madvise never", "always"), ("always madvise [never]", "never")])
def test_the_bracketed_hugepage_mode_is_the_one_in_force(tmp_path, enabled, mode):
    root = fake_root(tmp_path, {"sys/kernel/mm/transparent_hugepage/enabled": enabled + "\n"})
    assert hostinfo.transparent_hugepage(root) == mode


def test_what_the_host_does_not_have_is_none(tmp_path):
    """A VM or container without cpufreq, a kernel without THP, no /proc at all."""
    assert hostinfo.cpu_governor(tmp_path) is None
    assert hostinfo.transparent_hugepage(tmp_path) is None
    assert hostinfo.cpu_model(tmp_path) is None
    assert hostinfo.cpu_model(fake_root(tmp_path, {"proc/cpuinfo": "processor\t: 0\n"})) is None


def test_glibc_version_and_other_c_libraries():
    assert hostinfo.glibc_version(lambda name: "glibc 2.36") == "2.36"
    assert hostinfo.glibc_version(lambda name: None) is None  # musl

    def unknown(name):
        raise ValueError("unrecognized configuration name")

    assert hostinfo.glibc_version(unknown) is None


def test_load_average_rounded_and_absent():
    assert hostinfo.load_average(lambda: (0.123, 1.0, 10.555)) == [0.12, 1.0, 10.55]

    def none():
        raise OSError("no load average")

    assert hostinfo.load_average(none) is None


def test_the_host_block_carries_the_new_facts(tmp_path):
    root = fake_root(
        tmp_path,
        {"proc/cpuinfo": X86_CPUINFO, "sys/kernel/mm/transparent_hugepage/enabled": "[always] madvise never\n"},
    )
    facts = hostinfo.host_facts(root)
    assert facts["cpu_model"] == "AMD EPYC 7B13 64-Core Processor"
    assert facts["transparent_hugepage"] == "always"
    assert facts["cpu_governor"] is None
    assert list(facts)[-5:] == ["glibc", "transparent_hugepage", "cpu_model", "cpu_governor", "load_avg_start"]
    assert list(facts)[:9] == [
        "hostname",
        "os",
        "machine",
        "python",
        "cpus",
        "cpus_physical",
        "cpu_mhz",
        "mem_total_mb",
        "orch_version",
    ]  # the keys every result had before, first and unchanged
