"""The sampler and its /proc reader, on real process trees (no speed assertions: speed is
scripts/bench_overhead.py's business). Periodic sampling is driven by hand (HandTicker, a
fake clock): what a test asserts never depends on how fast this host runs."""

import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
from orchestrator.run import procfs, sampler
from orchestrator.run.sampler import Sampler

MiB = 1024 * 1024
linux = pytest.mark.skipif(not procfs.AVAILABLE, reason="needs Linux /proc")

# A worker-like tree: the child spawns a grandchild from a second thread (so the reader must
# look at every thread's children), the grandchild a great-grandchild. On "alloc" the child
# takes 50 MiB of touched anonymous memory; on "spawn" it starts a `sleep` from a new thread.
TREE = r"""
import subprocess, sys, threading, time
procs = []
def spawn():
    procs.append(subprocess.Popen([sys.executable, "-c",
        "import subprocess, time; p = subprocess.Popen(['sleep', '60']); time.sleep(60)"]))
t = threading.Thread(target=spawn); t.start(); t.join()
print("ready", flush=True)
hold = []
for line in sys.stdin:
    if line.strip() == "alloc":
        hold.append(b"\x01" * (50 * 1024 * 1024))
    if line.strip() == "spawn":
        t = threading.Thread(target=lambda: procs.append(subprocess.Popen(["sleep", "60"])))
        t.start(); t.join()
    print("ok", flush=True)
"""


def settled(pid: int) -> bool:
    """The grandchild has started `sleep` (exec done), so no process is still starting."""
    try:
        return any(k.name() == "sleep" for k in psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return False


def dead(proc: psutil.Process) -> bool:
    """Exited: a zombie (holds no memory) or gone."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def tree():
    p = subprocess.Popen(
        [sys.executable, "-c", TREE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: one kill ends the whole tree
    )
    assert p.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 10
    while not settled(p.pid):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    try:
        yield p
    finally:
        kids = psutil.Process(p.pid).children(recursive=True)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(5)
        # the descendants are orphans now: wait until each has exited, not until the
        # host's init reaps it (that can take a second or more, and holds nothing)
        deadline = time.monotonic() + 5
        while not all(dead(k) for k in kids):
            assert time.monotonic() < deadline, "the tree did not die"
            time.sleep(0.005)
        p.stdin.close()
        p.stdout.close()


class FakeClock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class HandTicker:
    """Stands in for the sampling thread: `run(n, period)` moves the fake clock on one
    period and ticks every watching Sampler, n times."""

    def __init__(self, clock: FakeClock):
        self.clock = clock
        self.watching: list[Sampler] = []

    def add(self, s: Sampler) -> None:
        if s not in self.watching:
            self.watching.append(s)

    def remove(self, s: Sampler) -> None:
        if s in self.watching:
            self.watching.remove(s)

    def run(self, n: int, period: float) -> None:
        for _ in range(n):
            self.clock.t += period
            for s in list(self.watching):
                s.tick(self.clock.t)


def by_hand(**kw) -> tuple[Sampler, HandTicker]:
    clock = FakeClock()
    hand = HandTicker(clock)
    return Sampler(clock=clock, ticker=hand, **kw), hand


def send(p, line: str) -> None:
    p.stdin.write(line + "\n")
    p.stdin.flush()
    assert p.stdout.readline().strip() == "ok"


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


@linux
def test_procfs_tree_agrees_with_psutil(tree):
    procs = procfs.read_tree(tree.pid, full=True)
    root = psutil.Process(tree.pid)
    ps = [root] + root.children(recursive=True)
    assert len(procs) == 3
    assert [p.pid for p in procs] == [p.pid for p in ps]  # root first, then breadth first
    for mine, theirs in zip(procs, ps, strict=True):
        full = theirs.memory_full_info()
        assert mine.rss == pytest.approx(full.rss, abs=2 * MiB)
        assert mine.uss == pytest.approx(full.uss, abs=2 * MiB)
        assert mine.pss == pytest.approx(full.pss, abs=2 * MiB)
        cpu = theirs.cpu_times()
        assert mine.cpu_user_s == pytest.approx(cpu.user, abs=0.1)
        assert mine.cpu_system_s == pytest.approx(cpu.system, abs=0.1)
        assert 0 < mine.rss_anon <= mine.rss
        assert mine.swap >= 0


@linux
def test_rss_anon_sees_an_allocation(tree):
    before = sampler.read_tree(tree.pid, full=False)
    send(tree, "alloc")
    after = sampler.read_tree(tree.pid, full=False)
    assert before.procs == after.procs == 3
    assert after.rss_anon_mb - before.rss_anon_mb == pytest.approx(50, abs=5)
    assert after.self_rss_mb - before.self_rss_mb == pytest.approx(50, abs=5)
    assert after.rss_mb == pytest.approx(before.rss_mb + 50, abs=5)
    assert after.swap_mb is not None
    assert after.uss_mb is None and after.pss_mb is None and after.self_uss_mb is None
    full = sampler.read_tree(tree.pid)  # full by default, as before
    assert full.uss_mb is not None and full.uss_mb > 50
    assert full.engine_uss_mb == pytest.approx(full.uss_mb - full.self_uss_mb)
    assert full.engine_rss_mb == pytest.approx(full.rss_mb - full.self_rss_mb)


def test_psutil_backend_still_reads_the_tree(tree, monkeypatch):
    monkeypatch.setattr(sampler, "BACKEND", "psutil")
    cheap, full = sampler.read_tree(tree.pid, full=False), sampler.read_tree(tree.pid)
    assert cheap.procs == full.procs == 3
    assert cheap.uss_mb is None and cheap.rss_mb > 0
    if sys.platform.startswith("linux"):
        assert full.uss_mb is not None and full.pss_mb is not None


def test_cheap_periodic_samples_and_full_marks(tree):
    s, hand = by_hand(hz=50, full_hz=0)
    s.watch(tree.pid)
    hand.run(20, 0.02)
    mark = s.mark()
    hand.run(5, 0.02)
    s.unwatch()
    s.tick(hand.clock.t + 0.02)  # a tick already under way when unwatch() ran takes nothing
    s.stop()
    periodic = [x for x in s.samples if x is not mark]
    assert len(periodic) == 25 and len(s.samples) == 26
    assert all(x.uss_mb is None and x.pss_mb is None and not x.full for x in periodic)
    assert all(x.procs == 3 and x.rss_mb > 0 for x in periodic)
    assert mark.full and mark.uss_mb is not None and mark.pss_mb is not None
    assert mark.self_uss_mb is not None
    assert mark in s.between(mark.t, mark.t)


def test_periodic_full_samples_at_full_hz(tree):
    s, hand = by_hand(hz=50, full_hz=5)
    s.watch(tree.pid)
    hand.run(50, 0.02)  # one second of ticks
    s.stop()
    assert len(s.samples) == 50
    # one full sample every 0.2 s: every 10th tick (half a tick's slack keeps it on the 10th)
    assert [k + 1 for k, x in enumerate(s.samples) if x.full] == [10, 20, 30, 40, 50]
    every, hand = by_hand(hz=20, full_hz=20)  # full_hz >= hz: every sample full, the old behaviour
    every.watch(tree.pid)
    hand.run(6, 0.05)
    every.stop()
    assert len(every.samples) == 6 and all(x.full for x in every.samples)


def test_vanished_root_and_children():
    p = sleeper()
    child = psutil.Process(p.pid)
    assert sampler.read_tree(p.pid) is not None
    p.kill()
    p.wait(5)
    assert sampler.read_tree(p.pid) is None
    assert procfs.AVAILABLE is False or procfs.read_tree(p.pid) is None
    s = Sampler(hz=0)
    s.watch(p.pid)
    assert s.mark() is None and s.samples == []
    assert not child.is_running()


def test_zombie_root_is_gone():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while psutil.Process(p.pid).status() != psutil.STATUS_ZOMBIE:  # exited, not yet reaped
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        if procfs.AVAILABLE:
            assert procfs.read_tree(p.pid) is None
            assert sampler.read_tree(p.pid) is None
    finally:
        p.wait(5)


@linux
def test_descendant_vanishing_mid_read_is_skipped(tree, monkeypatch):
    gone = sleeper()
    gone.kill()
    gone.wait(5)  # reaped: its pid has no /proc entry
    real = procfs._Proc.children
    monkeypatch.setattr(procfs._Proc, "children", lambda self, n: real(self, n) + [gone.pid])
    procs = procfs.read_tree(tree.pid, full=True)
    assert len(procs) == 3 and gone.pid not in [p.pid for p in procs]
    assert procfs.read_tree(gone.pid) is None


@linux
def test_tree_reader_keeps_files_open_and_follows_changes(tree):
    """Repeated readings reuse their open files, see a new child, and drop a dead one."""
    reader = procfs.TreeReader(tree.pid)
    try:
        first = reader.read()
        assert [p.pid for p in first] == [tree.pid] + procfs.descendants(tree.pid)
        send(tree, "alloc")
        again = reader.read(full=True)
        assert again[0].rss_anon - first[0].rss_anon == pytest.approx(50 * MiB, abs=5 * MiB)
        assert all(p.uss is not None for p in again)
        gchild, orphan = psutil.Process(again[1].pid), psutil.Process(again[2].pid)
        gchild.kill()  # a zombie (the child does not reap it); its `sleep` leaves the tree
        deadline = time.monotonic() + 5
        while len(reader.read()) != 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert gchild.status() == psutil.STATUS_ZOMBIE
        assert orphan.pid not in reader._procs  # its files were closed
        assert reader.read()[0].pid == tree.pid
        orphan.kill()
    finally:
        reader.close()
    assert reader._procs == {}


@linux
def test_churning_tree_reads_cleanly():
    """Children that come and go all the time: every read succeeds or skips them."""
    churn = subprocess.Popen([sys.executable, "-c", "import subprocess\nwhile True: subprocess.run(['true'])"])
    try:
        counts = set()
        for _ in range(300):
            s = sampler.read_tree(churn.pid, full=_ % 10 == 0)
            assert s is not None and s.rss_mb > 0
            counts.add(s.procs)
        assert counts <= {1, 2}
    finally:
        churn.kill()
        churn.wait(5)


def test_several_workers_watched_at_once_by_one_thread():
    """The real sampling thread: the test waits for samples to arrive (counted), never for
    an amount of time."""
    kids = [sleeper() for _ in range(3)]
    arrived = [threading.Event() for _ in kids]

    def counter(k):
        def on_sample(sample):
            if len(samplers[k].samples) >= 5:
                arrived[k].set()

        return on_sample

    samplers = [Sampler(hz=40, full_hz=0, on_sample=counter(k)) for k in range(len(kids))]
    try:
        for s, k in zip(samplers, kids, strict=True):
            s.watch(k.pid)
        for a in arrived:
            assert a.wait(30), "no 5 samples in 30 s"
        threads = [t for t in threading.enumerate() if t.name == "orch-sampler"]
        assert len(threads) == 1
        for s in samplers:
            s.unwatch()
        n = [len(s.samples) for s in samplers]
        threads[0].join(30)
        assert not threads[0].is_alive()  # nobody watching: the clock thread has ended
        assert [len(s.samples) for s in samplers] == n  # unwatched: no sample after unwatch()
        for s in samplers:
            assert len(s.samples) >= 5
            assert all(x.procs == 1 and x.rss_mb > 0 for x in s.samples)
    finally:
        for s in samplers:
            s.stop()
        for k in kids:
            k.kill()
            k.wait(5)


def test_on_sample_hook_and_a_broken_one(capsys):
    p = sleeper()
    try:
        seen = []
        s, hand = by_hand(hz=40, on_sample=seen.append)
        s.watch(p.pid)
        hand.run(4, 0.025)
        m = s.mark()
        s.stop()
        assert seen == s.samples and len(seen) == 5 and seen[-1] is m

        def broken(sample):
            raise RuntimeError("guard bug")

        b, hand = by_hand(hz=40, on_sample=broken)
        b.watch(p.pid)
        hand.run(3, 0.025)
        b.stop()
        assert isinstance(b.hook_error, RuntimeError) and b.on_sample is None
        assert len(b.samples) == 3  # sampling went on
        assert capsys.readouterr().err.count("RuntimeError: guard bug") == 1
    finally:
        p.kill()
        p.wait(5)


# ------------------------------------------------- TreeReader: a walk, or a re-read of statm
# Which one ran is observed by counting walks, so nothing here depends on timing.


@pytest.fixture
def walks(monkeypatch):
    """Counts TreeReader walks."""
    count = [0]
    real = procfs.TreeReader._walk

    def counted(self, full, swap):
        count[0] += 1
        return real(self, full, swap)

    monkeypatch.setattr(procfs.TreeReader, "_walk", counted)
    return count


@linux
def test_standing_cursor_rereads_statm_only(tree, walks, monkeypatch):
    monkeypatch.setattr(procfs, "pid_cursor", lambda: 1000)
    reader = procfs.TreeReader(tree.pid)
    try:
        walked = reader.rows()
        assert walks[0] == 1 and len(walked) == 3
        assert all(row[4] is not None for row in walked)  # a walk reads CPU times
        again = reader.rows()
        assert walks[0] == 1  # no walk: nothing can have joined the tree
        assert [r[0] for r in again] == [r[0] for r in walked]
        assert all(row[4] is None and row[5] is None for row in again)
        send(tree, "alloc")
        after = reader.rows()
        assert walks[0] == 1
        assert after[0][2] - again[0][2] == pytest.approx(50 * MiB, abs=5 * MiB)  # RssAnon
        full = reader.rows(full=True)
        assert walks[0] == 2  # a full reading always walks (smaps, CPU times)
        assert all(row[6] is not None for row in full)
    finally:
        reader.close()


@linux
def test_reread_matches_a_walk(tree):
    reader = procfs.TreeReader(tree.pid)
    try:
        reader.rows()
        reread = reader._reread(swap=False)
        walked = reader._walk(full=False, swap=False)
        assert [r[0] for r in reread] == [r[0] for r in walked]
        for a, b in zip(reread, walked, strict=True):
            assert a[1] == pytest.approx(b[1], abs=1 * MiB)  # RSS
            assert a[2] == pytest.approx(b[2], abs=1 * MiB)  # RssAnon
    finally:
        reader.close()


@linux
def test_a_moving_cursor_finds_a_new_child(tree, walks):
    reader = procfs.TreeReader(tree.pid)
    try:
        assert len(reader.rows()) == 3
        send(tree, "spawn")  # forked from a thread that did not exist at the last walk
        rows = reader.rows()
        assert walks[0] == 2
        assert len(rows) == 4
        assert sorted(r[0] for r in rows) == sorted(
            [tree.pid] + [k.pid for k in psutil.Process(tree.pid).children(recursive=True)]
        )
    finally:
        reader.close()


@linux
def test_an_exit_in_the_tree_forces_a_walk(tree, walks, monkeypatch):
    """An exit creates no pid, but can orphan a child out of the tree: a re-read that meets
    a gone or zombie process walks instead."""
    monkeypatch.setattr(procfs, "pid_cursor", lambda: 1000)
    reader = procfs.TreeReader(tree.pid)
    try:
        rows = reader.rows()
        assert len(rows) == 3
        gchild, orphan = psutil.Process(rows[1][0]), psutil.Process(rows[2][0])
        gchild.kill()  # a zombie (the child does not reap it); its `sleep` leaves the tree
        deadline = time.monotonic() + 5
        while gchild.status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        rows = reader.rows()
        assert walks[0] == 2
        assert [r[0] for r in rows] == [tree.pid]
        orphan.kill()
    finally:
        reader.close()


@linux
def test_pid_cursor_moves_when_a_thread_starts():
    before = procfs.pid_cursor()
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    after = procfs.pid_cursor()
    assert before is not None and after is not None
    assert after != before
    assert after >= t.native_id  # the thread's id came from that same counter


@linux
def test_vm_swap_and_swap_devices_parse():
    status = b"Name:\tpython\nVmRSS:\t  1000 kB\nRssAnon:\t  800 kB\nVmSwap:\t  1234 kB\n"
    assert procfs.vm_swap(status) == 1234 * 1024
    assert procfs.vm_swap(b"Name:\tkthreadd\nState:\tS\n") == 0
    header = b"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    assert procfs.swap_devices(header) == 0
    assert procfs.swap_devices(header + b"/dev/zram0  partition\t4194300\t0\t100\n") == 1


@linux
def test_status_is_read_only_on_a_host_with_swap(tree, monkeypatch):
    monkeypatch.setattr(procfs, "swap_in_use", lambda: False)
    reader = procfs.TreeReader(tree.pid)
    try:
        reader.rows()
        assert all(p.status is None for p in reader._procs.values())
        monkeypatch.setattr(procfs, "swap_in_use", lambda: True)
        rows = reader.rows(full=True)
        assert all(p.status is not None for p in reader._procs.values())
        with open(f"/proc/{tree.pid}/status", "rb") as f:
            assert rows[0][3] == pytest.approx(procfs.vm_swap(f.read()), abs=MiB)  # a swapping host moves it
    finally:
        reader.close()


@linux
def test_cheap_samples_carry_no_cpu_times(tree):
    cheap, full = sampler.read_tree(tree.pid, full=False), sampler.read_tree(tree.pid)
    assert cheap.cpu_user_s is None and cheap.cpu_system_s is None
    assert full.cpu_user_s is not None and full.cpu_user_s >= 0


def test_marks_put_the_periodic_full_sample_off(tree):
    """A phase mark is a full sample, so marks more often than `full_hz` leave no periodic
    full sample (docs/measurement.md's "under 5 s" claim, at a faster scale)."""
    s, hand = by_hand(hz=50, full_hz=1.0)
    s.watch(tree.pid)
    marks = []
    for _ in range(15):  # 1.5 s: a mark every 0.1 s
        hand.run(5, 0.02)
        marks.append(s.mark())
    s.stop()
    periodic = [x for x in s.samples if not any(x is m for m in marks)]
    assert len(periodic) == 75 and all(m.full for m in marks)
    assert [x for x in periodic if x.full] == []
    unmarked, hand = by_hand(hz=50, full_hz=1.0)  # without the marks: one full one a second
    unmarked.watch(tree.pid)
    hand.run(75, 0.02)
    unmarked.stop()
    assert [k + 1 for k, x in enumerate(unmarked.samples) if x.full] == [50]
