"""Call stacks as orch names and prints them (orch attribute, the report's attribution
section): frames that say how rather than who allocated are left out; one strategy's
attribution as console text."""

from __future__ import annotations

from orchestrator.results.model import Attribution

FLOOR_MIB = 0.25  # a stack below this many MiB per iteration is not named

# frames that say how, not who, allocated: skipped when a stack is named
PLUMBING = (
    "<unknown>",
    "malloc",
    "calloc",
    "realloc",
    "posix_memalign",
    "aligned_alloc",
    "operator new",
    "PyMem_RawMalloc",
    "PyMem_RawCalloc",
    "_PyMem_RawMalloc",
    "ffi_call",
    "_call_function_pointer",
    "_ctypes_callproc",
    "PyCFuncPtr_call",
    "_PyObject_MakeTpCall",
    "_PyEval_EvalFrameDefault",
    "cfunction_call",
)


def frame_text(frame: tuple) -> str:
    func, file, line = frame
    if file in ("<unknown>", "", None):
        return str(func)
    return f"{func} {file}:{line}" if line else f"{func} {file}"


# C++ library frames between `new` and the code that asked (containers, allocators)
PLUMBING_PREFIXES = ("std::", "operator new", "operator", "__gnu_cxx::", "void std::")


def is_plumbing(func: str) -> bool:
    return func.startswith(PLUMBING_PREFIXES) or any(func == p or func.startswith(p + "(") for p in PLUMBING)


def chain(frames: list[str]) -> str:
    """A stack's frame texts ("function file:line") as "f ← caller ← …", plumbing left out."""
    funcs = [f.rsplit(" ", 1)[0] if ":" in f.rsplit(" ", 1)[-1] else f for f in frames]
    return " ← ".join(short(f) for f in funcs if not is_plumbing(f))


def short(func: str) -> str:
    """A function's name without its argument list (C++ signatures are long)."""
    return func.split("(")[0].strip() or func


def stack_name(frames: list[tuple]) -> str:
    for f in frames:
        if not is_plumbing(f[0]):
            return frame_text(f)
    return frame_text(frames[0]) if frames else "<no stack>"


def attribution_text(att: Attribution, strategy: str, top: int = 3) -> str:
    lines = [f"attribution of {strategy} ({att.tracer}, {att.weighting} bytes):"]
    if att.error:
        return lines[0] + f" not available: {att.error}"
    g = att.measured_growth_mb_per_iter
    lines.append(
        f"  measured growth {g if g is not None else '?'} MB/iter; attributed {att.attributed_mb_per_iter} MB/iter"
        + (f" ({att.explained_fraction:.0%})" if att.explained_fraction is not None else "")
        + f"; unattributed (allocator retention or non-heap) {att.unattributed_mb_per_iter} MB/iter"
    )
    if not att.stacks:
        lines.append(f"  no stack keeps ≥ {FLOOR_MIB} MiB per iteration")
    for s in att.stacks[:top]:
        req = f" (requested {s.requested_mib_per_iter:.2f})" if s.requested_mib_per_iter is not None else ""
        lines.append(
            f"  {s.mib_per_iter:8.2f} MiB/iter{req}  {s.name}  [{s.iterations_seen}/{len(att.iterations)} iters]"
        )
        lines.append(f"           {chain(s.frames)}")
    lines += [f"  {n}" for n in att.notes if n.startswith(("symbols:", "the traced worker ended"))]
    if att.wall_s is not None:
        lines.append(
            f"  traced run {att.wall_s} s"
            + (f", ×{att.overhead_factor} the untraced run" if att.overhead_factor else "")
        )
    return "\n".join(lines)
