"""A process tree's memory and CPU, read straight from Linux's /proc (no psutil).

Why: psutil finds descendants by scanning every process on the host (about 0.9 ms a call
here) and takes USS/PSS from smaps_rollup (0.2-0.4 ms a process, more for big mappings).
This reads only the tree's own files:

- descendants: `/proc/PID/task/*/children`, recursively (needs CONFIG_PROC_CHILDREN; without
  it, one scan of `/proc/*/stat` parent ids per tree read);
- `/proc/PID/stat`: state, user and system CPU time (clock ticks), thread count;
- `/proc/PID/statm`: resident and file-backed/shared pages, so RSS and RssAnon (their
  difference: the counters /proc/PID/status adds up for VmRSS and RssAnon);
- `/proc/PID/status`, only on a host with swap: VmSwap. Anonymous and swapped pages are
  kept apart because leaked pages that get swapped out leave RSS flat while RssAnon +
  VmSwap keeps rising; without a swap device VmSwap is 0 and the file is not read;
- at a phase mark only (`TreeReader.resources`): `/proc/PID/status` (threads, VmSize,
  VmHWM), the `fd` folder and `maps` (maps and mapped-file bytes), and the CPU times with
  the waited-for children's; `reset_peak` writes `5` to `clear_refs` (VmHWM := RSS);
- `/proc/PID/smaps_rollup` (only when asked, `full=True`): USS = Private_Clean +
  Private_Dirty, and Pss, as psutil computes them; `/proc/PID/smaps` summed on kernels
  before 4.14. This is the expensive file: the kernel walks the page tables.

`TreeReader` keeps those files open between readings and re-reads them with `pread` at
offset 0 (a /proc file is generated afresh each time): no path lookup, open or close per
reading, and an open file stays bound to its process, so a reused pid cannot be misread.
It walks the tree (children, stat, statm) only when the tree may have changed: while the
host's pid counter (`/proc/loadavg`) stands still, no process or thread was created, so it
re-reads the known processes' `statm` and nothing else, unless one of them has exited.

A process that exits between two reads is left out, and so is a zombie (it holds no
memory); a reading returns None when the root itself is gone or a zombie. The kernel
documents the `children` file as exact only while the tree is not changing: a process
forked during a reading can be missed by that one reading, not by the next.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
import time
from dataclasses import dataclass

PROC = "/proc"
KIB = 1024
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class ProcMem:
    """One process. Bytes and seconds; `uss`/`pss` None unless read with full=True, or when
    smaps is not readable (another user's process); CPU times None when a `TreeReader`
    re-read the tree without walking it."""

    pid: int
    rss: int
    rss_anon: int
    swap: int
    cpu_user_s: float | None
    cpu_system_s: float | None
    uss: int | None = None
    pss: int | None = None


class Gone(Exception):
    """The process exited (or was reaped) while being read."""


def _read(path: str) -> bytes:
    # os.open/os.read: a third cheaper than open().read() for these tiny files
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, ProcessLookupError) as exc:
        raise Gone(path) from exc
    try:
        chunks = []
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)
    except (ProcessLookupError, FileNotFoundError) as exc:
        raise Gone(path) from exc
    finally:
        os.close(fd)


def _has_children_file() -> bool:
    return os.path.exists(f"{PROC}/{os.getpid()}/task/{os.getpid()}/children")


def available() -> bool:
    """True on a Linux /proc this module can read."""
    return os.path.exists(f"{PROC}/self/statm") and os.path.exists(f"{PROC}/self/status")


AVAILABLE = available()
HAS_CHILDREN_FILE = AVAILABLE and _has_children_file()


def children(pid: int) -> list[int]:
    """Direct children of `pid`, across all its threads; [] if it is gone."""
    try:
        tids = os.listdir(f"{PROC}/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return []
    out: list[int] = []
    for tid in tids:
        try:
            out += [int(c) for c in _read(f"{PROC}/{pid}/task/{tid}/children").split()]
        except Gone:
            continue  # the thread ended
    return out


def _parent_map() -> dict[int, list[int]]:
    """parent -> children, from every process's stat (the slow way, as psutil does it)."""
    kids: dict[int, list[int]] = {}
    for name in os.listdir(PROC):
        if not name.isdigit():
            continue
        try:
            fields = _read(f"{PROC}/{name}/stat").rsplit(b")", 1)[1].split()
        except (Gone, IndexError, PermissionError):
            continue
        kids.setdefault(int(fields[1]), []).append(int(name))
    return kids


def descendants(pid: int) -> list[int]:
    """All descendants of `pid`, breadth first (not `pid` itself)."""
    parents = None if HAS_CHILDREN_FILE else _parent_map()
    out, seen, frontier = [], {pid}, [pid]
    while frontier:
        nxt = []
        for p in frontier:
            for c in children(p) if parents is None else parents.get(p, ()):
                if c not in seen:  # a reused pid cannot make a cycle
                    seen.add(c)
                    nxt.append(c)
        out += nxt
        frontier = nxt
    return out


def smaps(pid: int) -> tuple[int, int] | None:
    """(USS, PSS) in bytes; None if not permitted. Raises Gone."""
    try:
        try:
            data = _read(f"{PROC}/{pid}/smaps_rollup")
        except Gone:
            if not os.path.exists(f"{PROC}/{pid}"):
                raise
            data = _read(f"{PROC}/{pid}/smaps")  # before Linux 4.14: one entry per mapping
    except PermissionError:
        return None
    uss = pss = 0
    for line in data.split(b"\n"):
        if line.startswith((b"Private_Clean:", b"Private_Dirty:")):
            uss += int(line.split()[1]) * KIB
        elif line.startswith(b"Pss:"):
            pss += int(line.split()[1]) * KIB
    return uss, pss


def read_tree(pid: int, full: bool = False) -> list[ProcMem] | None:
    """`pid` and its live descendants, root first then breadth first; None if the root is
    gone. With `full`, also USS/PSS (from smaps_rollup: the expensive part). One-off: for
    repeated readings of one tree `TreeReader` is cheaper."""
    reader = TreeReader(pid)
    try:
        return reader.read(full)
    finally:
        reader.close()


# ------------------------------------------------------------------ resources (at phase marks)
# what `process_resources` reads, by the names results.figures declares (kind resource)
_STATUS_FIELDS = {b"Threads:": "threads", b"VmSize:": "vm_size_mb", b"VmHWM:": "vm_hwm_mb"}
RESOURCE_KEYS = ("threads", "fds", "maps", "mapped_file_mb", "vm_size_mb", "vm_hwm_mb")


def _maps(data: bytes) -> tuple[int, int]:
    """(number of maps, bytes of the maps backed by a file) from /proc/PID/maps text."""
    count = file_bytes = 0
    for line in data.split(b"\n"):
        if not line:
            continue
        count += 1
        fields = line.split(None, 5)
        if len(fields) > 5 and fields[4] != b"0" and fields[5].startswith(b"/"):
            lo, _, hi = fields[0].partition(b"-")
            file_bytes += int(hi, 16) - int(lo, 16)
    return count, file_bytes


def process_resources(pid: int) -> dict[str, float]:
    """One process's threads, open fds, maps, mapped-file MB, VmSize and VmHWM (MB): the
    status file, the fd folder and the maps file. Raises Gone (or PermissionError). A phase
    mark's reading only: the maps file of a big process takes the kernel a while."""
    out = dict.fromkeys(RESOURCE_KEYS, 0.0)
    for line in _read(f"{PROC}/{pid}/status").split(b"\n"):
        key = _STATUS_FIELDS.get(line.split(b"\t", 1)[0].split(b" ", 1)[0])
        if key is not None:
            value = int(line.split()[1])
            out[key] = float(value) if key == "threads" else value * KIB / 2**20
    try:
        out["fds"] = float(len(os.listdir(f"{PROC}/{pid}/fd")))
    except (FileNotFoundError, ProcessLookupError) as exc:
        raise Gone(pid) from exc
    count, file_bytes = _maps(_read(f"{PROC}/{pid}/maps"))
    out["maps"], out["mapped_file_mb"] = float(count), file_bytes / 2**20
    return out


def cpu_seconds(stat: bytes) -> float:
    """User + system CPU of a process and of its children it has waited for (utime, stime,
    cutime, cstime of /proc/PID/stat): a tree's sum counts every process that ran in it."""
    f = stat[stat.rindex(b")") + 2 :].split(b" ", 16)
    return (int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / CLK_TCK


def tree_cpu_s(pid: int) -> float | None:
    """CPU seconds of `pid`'s live tree (cpu_seconds of each process); None if it is gone."""
    total, found = 0.0, False
    for p in [pid, *descendants(pid)]:
        try:
            total += cpu_seconds(_read(f"{PROC}/{p}/stat"))
            found = True
        except (Gone, OSError, ValueError, IndexError):
            continue
    return total if found else None


def reset_peak(pids: list[int]) -> bool:
    """Reset each process's VmHWM to its current RSS (`5` to /proc/PID/clear_refs, Linux 4.0+),
    so the next reading is the peak since now. False where the kernel or permissions refuse."""
    ok = True
    for pid in pids:
        try:
            fd = os.open(f"{PROC}/{pid}/clear_refs", os.O_WRONLY)
        except (FileNotFoundError, ProcessLookupError):
            continue  # gone
        except OSError:
            ok = False
            continue
        try:
            os.write(fd, b"5")
        except OSError:
            ok = False
        finally:
            os.close(fd)
    return ok


def _read_int(path: str) -> int | None:
    try:
        return int(_read(path).split()[0])
    except (Gone, OSError, ValueError, IndexError):
        return None


def resource_limits() -> dict[str, float]:
    """The limits a resource runs into (a worker inherits orch's rlimits): `maps`
    vm.max_map_count (per process), `fds` RLIMIT_NOFILE's soft limit (per process),
    `threads` the least of kernel.threads-max, kernel.pid_max and RLIMIT_NPROC's soft limit
    (per user). Only those that can be read and are not unlimited."""
    import resource

    out: dict[str, float] = {}
    maps = _read_int(f"{PROC}/sys/vm/max_map_count")
    if maps:
        out["maps"] = float(maps)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY:
        out["fds"] = float(soft)
    threads = [_read_int(f"{PROC}/sys/kernel/threads-max"), _read_int(f"{PROC}/sys/kernel/pid_max")]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    threads.append(None if nproc == resource.RLIM_INFINITY else nproc)
    known = [t for t in threads if t]
    if known:
        out["threads"] = float(min(known))
    return out


# ------------------------------------------------------------------ repeated readings
BUF = 4096
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
SWAP_RECHECK_S = 5.0  # how often "does this host swap at all?" is asked again

_VM_SWAP = re.compile(rb"\nVmSwap:\s*(\d+) kB")
_open_lock = threading.Lock()
_loadavg_fd: int | None = None
_swap = {"on": True, "checked": -math.inf}


def pid_cursor() -> int | None:
    """The pid this host handed out last (the last field of /proc/loadavg). It moves
    whenever any process or thread is created in this pid namespace or one below it, so
    while it stands still no tree can have gained a member. None if unreadable."""
    global _loadavg_fd
    try:
        if _loadavg_fd is None:
            with _open_lock:
                if _loadavg_fd is None:
                    _loadavg_fd = os.open(f"{PROC}/loadavg", os.O_RDONLY)
        return int(os.pread(_loadavg_fd, 128, 0).rsplit(b" ", 1)[1])
    except (OSError, IndexError, ValueError):
        return None


def swap_in_use() -> bool:
    """Whether the host has any swap device (re-asked every SWAP_RECHECK_S). Without one
    VmSwap is 0 for every process, and /proc/PID/status (the dearest per-process file of
    a cheap sample) need not be read."""
    now = time.monotonic()
    if now - _swap["checked"] >= SWAP_RECHECK_S:
        try:
            _swap["on"] = swap_devices(_read(f"{PROC}/swaps")) > 0
        except (Gone, OSError):
            _swap["on"] = True  # cannot tell: read VmSwap
        _swap["checked"] = now
    return bool(_swap["on"])


def swap_devices(swaps: bytes) -> int:
    """How many swap devices /proc/swaps lists (a header line, then one line a device)."""
    return max(0, len(swaps.strip().split(b"\n")) - 1)


def vm_swap(status: bytes) -> int:
    """VmSwap from /proc/PID/status text, in bytes (0 where the line is missing: no memory)."""
    m = _VM_SWAP.search(status)
    return int(m[1]) * KIB if m else 0


def _pread(fd: int) -> bytes:
    """The whole file again: a /proc file read from offset 0 is generated afresh."""
    try:
        data = os.pread(fd, BUF, 0)
        if len(data) == BUF:  # a long children list: read on
            parts = [data]
            while len(parts[-1]) == BUF:
                parts.append(os.pread(fd, BUF, BUF * len(parts)))
            data = b"".join(parts)
        return data
    except (ProcessLookupError, FileNotFoundError) as exc:
        raise Gone(fd) from exc


def _open(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY)  # not inherited by the workers (PEP 446)
    except (FileNotFoundError, ProcessLookupError) as exc:
        raise Gone(path) from exc


class _Proc:
    """A process's open /proc files. An open file stays bound to the process it was opened
    for: once that process is gone it reads ESRCH, even if its number is reused."""

    __slots__ = ("nthreads", "pid", "stat", "statm", "status", "threads")

    def __init__(self, pid: int):
        self.pid = pid
        self.statm = _open(f"{PROC}/{pid}/statm")
        try:
            self.stat = _open(f"{PROC}/{pid}/stat")
        except BaseException:
            os.close(self.statm)
            raise
        self.status: int | None = None  # opened when the host swaps (VmSwap)
        self.threads: dict[str, int] | None = None  # tid -> its open `children` file
        self.nthreads = 0

    def swap(self) -> int:
        """VmSwap in bytes (0 for a process without memory)."""
        if self.status is None:
            self.status = _open(f"{PROC}/{self.pid}/status")
        return vm_swap(_pread(self.status))

    def children(self, nthreads: int) -> list[int]:
        """Direct children, from every thread's `children` file; the thread list is read
        again when the thread count changed or a thread has ended."""
        for attempt in (0, 1):
            if self.threads is None or self.nthreads != nthreads or attempt:
                self._list_threads()
                self.nthreads = nthreads
            out: list[int] = []
            try:
                for fd in (self.threads or {}).values():
                    out += [int(c) for c in _pread(fd).split()]
                return out
            except Gone:
                continue  # a thread ended: list them again
        return out  # threads coming and going fast: this reading may miss a child

    def _list_threads(self) -> None:
        try:
            tids = set(os.listdir(f"{PROC}/{self.pid}/task"))
        except (FileNotFoundError, ProcessLookupError) as exc:
            raise Gone(self.pid) from exc
        old = self.threads or {}
        for tid in set(old) - tids:
            os.close(old.pop(tid))
        for tid in tids - set(old):
            try:
                old[tid] = _open(f"{PROC}/{self.pid}/task/{tid}/children")
            except Gone:
                pass
        self.threads = old

    def close(self) -> None:
        fds = [self.statm, self.stat, self.status] + list((self.threads or {}).values())
        for fd in fds:
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.threads = None


_GONE = (Gone, ProcessLookupError, FileNotFoundError, PermissionError, ValueError, IndexError)


class _Changed(Exception):
    """A process of the tree exited or became a zombie since the last walk."""


class TreeReader:
    """Reads one process tree again and again, keeping each process's /proc files open
    between readings (a `pread` at offset 0: no path lookup, open or close per reading).
    Holds 2-3 + (threads) descriptors per process of the tree; `close()` when done. Not
    thread-safe: one reading at a time.

    Two ways to read, because finding the tree costs several files per process (every
    thread's `children`, and `stat` for the thread count) while its memory is one `statm`:

    - a walk: from the root down through the `children` files, each process's `stat`
      (state, CPU times, threads) and `statm`. On the first reading, on every `full` one,
      and whenever the tree may have changed;
    - a re-read: `statm` of the processes the last walk found, nothing else. Taken when
      `pid_cursor()` has not moved since that walk (no process or thread was created
      anywhere, so nothing joined the tree) and no process of the tree has exited (which
      could orphan a child out of the tree): it gives the same rows a walk would. CPU
      times are None in its rows.
    """

    def __init__(self, pid: int):
        self.pid = pid
        self._procs: dict[int, _Proc] = {}
        self._order: list[int] = []  # the last walk's live processes, in its order
        self._cursor: int | None = None  # pid_cursor() just before that walk

    def read(self, full: bool = False) -> list[ProcMem] | None:
        """Like `read_tree`: root first, then breadth first; None if the root is gone."""
        rows = self.rows(full)
        if rows is None:
            return None
        return [ProcMem(*row) for row in rows]

    def rows(self, full: bool = False) -> list[tuple] | None:
        """The same as plain tuples (pid, rss, rss_anon, swap, cpu_user_s, cpu_system_s,
        uss, pss): the sampler's path, kept lean because it runs 20 times a second on a
        cold cache (its Python costs about as much as its reads)."""
        cursor = pid_cursor()
        swap = swap_in_use()
        if not full and cursor is not None and cursor == self._cursor:
            try:
                return self._reread(swap)
            except _Changed:
                pass
        self._cursor = cursor
        return self._walk(full, swap)

    def _reread(self, swap: bool) -> list[tuple]:
        out = []
        procs, pread = self._procs, os.pread
        try:
            for pid in self._order:
                proc = procs[pid]
                f = pread(proc.statm, 256, 0).split(b" ", 3)
                if f[0] == b"0":  # no memory map: a zombie, or exiting
                    raise _Changed
                res, shared = int(f[1]) * PAGE, int(f[2]) * PAGE
                out.append((pid, res, res - shared, proc.swap() if swap else 0, None, None, None, None))
        except _GONE as exc:
            raise _Changed from exc
        return out

    def _walk(self, full: bool, swap: bool) -> list[tuple] | None:
        procs, pread, pid0 = self._procs, os.pread, self.pid
        parents = None if HAS_CHILDREN_FILE else _parent_map()
        out: list[tuple] = []
        seen, frontier = {pid0}, [pid0]
        while frontier:
            nxt = []
            for pid in frontier:
                proc = procs.get(pid)
                try:
                    if proc is None:
                        proc = procs[pid] = _Proc(pid)
                    stat = pread(proc.stat, BUF, 0)
                    f = stat[stat.rindex(b")") + 2 :].split(b" ", 18)  # the name may hold ')'
                    if f[0] in (b"Z", b"X"):
                        continue  # a zombie: no memory, no children; its files stay open
                    m = pread(proc.statm, 256, 0).split(b" ", 3)
                    res, shared = int(m[1]) * PAGE, int(m[2]) * PAGE
                    uss = pss = None
                    if full:
                        both = smaps(pid)
                        if both is not None:
                            uss, pss = both
                    kids = proc.children(int(f[17])) if parents is None else parents.get(pid, ())
                    row = (pid, res, res - shared, proc.swap() if swap else 0,
                           int(f[11]) / CLK_TCK, int(f[12]) / CLK_TCK, uss, pss)  # fmt: skip
                    out.append(row)
                except _GONE:
                    # gone mid-read (ESRCH), or not ours to read (hidepid)
                    if proc is not None:
                        procs.pop(pid, None)
                        proc.close()
                    continue
                for kid in kids:
                    if kid not in seen:  # a reused number cannot make a cycle
                        seen.add(kid)
                        nxt.append(kid)
            frontier = nxt
        if not out or out[0][0] != pid0:  # the root is gone (or a zombie)
            self.close()
            return None
        if len(procs) > len(seen):
            for pid in [p for p in procs if p not in seen]:  # exited, or left the tree
                procs.pop(pid).close()
        self._order = [row[0] for row in out]
        return out

    @property
    def pids(self) -> tuple[int, ...]:
        """The processes the last walk found, root first."""
        return tuple(self._order)

    def resources(self) -> dict[str, float] | None:
        """The tree's resources (process_resources, summed) over the processes of the last
        walk; None before any walk. For an after-infer mark, right after its full reading."""
        if not self._order:
            return None
        totals = dict.fromkeys(RESOURCE_KEYS, 0.0)
        for pid in self._order:
            try:
                one = process_resources(pid)
            except _GONE:
                continue  # exited since the walk
            for key, value in one.items():
                totals[key] += value
        return totals

    def cpu_seconds(self) -> float | None:
        """The tree's CPU seconds (cpu_seconds, summed: one `stat` per process, already open)
        over the processes of the last walk; None before any walk. For every phase mark."""
        if not self._order:
            return None
        cpu = 0.0
        for pid in self._order:
            proc = self._procs.get(pid)
            try:
                if proc is not None:
                    cpu += cpu_seconds(os.pread(proc.stat, BUF, 0))
            except _GONE:
                continue  # exited since the walk
        return cpu

    def close(self) -> None:
        for proc in self._procs.values():
            proc.close()
        self._procs = {}
        self._order = []
        self._cursor = None

    def __del__(self):
        with contextlib.suppress(Exception):  # at interpreter exit
            self.close()
