"""The host's own limits (`orch compare --engines`): memory bandwidth (a large numpy copy)
and the matrix-multiply peak (a float32 numpy product at the run's thread count), measured in
a subprocess of their own before any worker starts, so neither the probe's memory nor its
threads are ever inside a measured request. Run as a module it is that subprocess: it prints
one JSON object.

Bandwidth counts the bytes read and the bytes written (a copy of N bytes moves 2N, STREAM's
convention), the copy split over the run's threads (numpy releases the GIL while it copies);
the best of `repeats` is kept, as a limit is what the machine can do, not what it did once,
with the runs' median and spread (IQR / median: a busy host's copies spread, and the decision
calls the probe noisy past NOISY_PROBE_SPREAD).
The BLAS thread count is set through the environment (OpenMP, OpenBLAS, MKL, BLIS) before
numpy loads.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from orchestrator.results.model import HostLimits

COPY_MB = 512
MATMUL_N = 2048
REPEATS = 5
TIMEOUT_S = 300.0
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def measure(threads: int, copy_mb: int = COPY_MB, matmul_n: int = MATMUL_N, repeats: int = REPEATS) -> HostLimits:
    """Run the probe in a subprocess; a probe that fails gives HostLimits with `error` (the
    run goes on without "% of limit")."""
    env = {**os.environ, **{name: str(threads) for name in THREAD_VARIABLES}}
    argv = [
        sys.executable,
        "-m",
        "orchestrator.run.host_limits",
        str(copy_mb),
        str(matmul_n),
        str(repeats),
        str(threads),
    ]
    started = time.monotonic()
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return HostLimits(threads=threads, error=f"the host probe took over {TIMEOUT_S:g} s")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return HostLimits(threads=threads, error=f"the host probe failed (exit {done.returncode}): {last}")
    figures = json.loads(done.stdout)
    return HostLimits(threads=threads, seconds=round(time.monotonic() - started, 2), **figures)


def median_and_spread(name: str, values: list[float], unit: str) -> dict:
    """{name_median_unit, name_spread}: the runs' median and IQR / median (None for fewer
    than 4 runs), so a limit says how much the probe itself moved."""
    from orchestrator.results.decision import spread

    return {f"{name}_median_{unit}": round(statistics.median(values), 3), f"{name}_spread": _r(spread(values))}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _blas_name(np) -> str | None:
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version') or ''}".strip()
    except Exception:  # an older numpy without mode="dicts": the name is only information
        return None


def probe(copy_mb: int, matmul_n: int, repeats: int, threads: int) -> dict:
    """The figures, measured in this process (called in the subprocess)."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    n = copy_mb * 2**20 // 8
    src = np.ones(n, dtype=np.float64)  # written first: no page is faulted in inside a timed copy
    dst = np.zeros(n, dtype=np.float64)
    edges = [n * k // threads for k in range(threads + 1)]
    slices = [slice(lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    copies = []
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            t = time.perf_counter()
            list(pool.map(lambda part: np.copyto(dst[part], src[part]), slices))
            copies.append(time.perf_counter() - t)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((matmul_n, matmul_n), dtype=np.float32)
    b = rng.standard_normal((matmul_n, matmul_n), dtype=np.float32)
    a @ b  # the first product loads the BLAS and starts its threads
    products = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        products.append(time.perf_counter() - t)
    bandwidths = [2 * src.nbytes / t / 1e9 for t in copies]
    flops = [2 * matmul_n**3 / t / 1e9 for t in products]
    return {
        "bandwidth_gb_s": round(max(bandwidths), 3),
        **median_and_spread("bandwidth", bandwidths, "gb_s"),
        "copy_mb": copy_mb,
        "matmul_gflops": round(max(flops), 3),
        **median_and_spread("matmul", flops, "gflops"),
        "matmul_n": matmul_n,
        "repeats": repeats,
        "blas": _blas_name(np),
    }


if __name__ == "__main__":
    print(json.dumps(probe(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))
