"""The engine build a run used and the host it ran on, as the history's `runs` row keeps them
(`host`, `build`): one database fed by several machines keeps their series apart.
"""

from __future__ import annotations

import platform

from orchestrator.engines import registry as engine_registry

# --- hosts and builds -------------------------------------------------------------------------
HEAD_CHARS = 16384  # a result's JSON starts schema, run_id, times, host, engine: all within this


def this_host() -> str:
    """This machine's name, as the result's host.hostname records it (run.hostinfo.hostname
    makes the same call; the history does not import the running side)."""
    return platform.node()


def hostname_of(host) -> str | None:
    name = host.get("hostname") if isinstance(host, dict) else None
    return str(name)[:255] if name else None


def _one_build(engine: dict, hash_lib: bool) -> str | None:
    """The engine's own identity of its build (its registry entry's `build_identity`), else its name."""
    name = engine.get("name")
    spec = engine_registry.REGISTRY.get(str(name))
    if spec is not None and spec.build_identity is not None:
        return spec.identity_of_build(engine, hash_lib)
    return str(name) if name else None


def build_identity(engine, hash_lib: bool = True) -> str | None:
    """The engine build a run used, from its result's engine block: the engine's name
    (`calibration`), or what its registry entry makes of the block — for chatllm.cpp the
    checkout's commit and, when the library file can be read (`hash_lib`), `lib:` and its
    hash, `4a4310e165ca+lib:6849456a6502` (engines/chatllm/identity.py); None when neither
    is known. An A/B run whose sides differ in build: `A <a> | B <b>`."""
    if not isinstance(engine, dict):
        return None
    ab = engine.get("ab") if isinstance(engine.get("ab"), dict) else None
    common = {k: v for k, v in engine.items() if k != "ab"}
    if ab and isinstance(ab.get("a"), dict) and isinstance(ab.get("b"), dict):
        a = _one_build({**common, **ab["a"]}, hash_lib)
        b = _one_build({**common, **ab["b"]}, hash_lib)
        if a != b:
            return f"A {a or '?'} | B {b or '?'}"[:255]
        return a
    one = _one_build(common, hash_lib)
    return one[:255] if one else None
