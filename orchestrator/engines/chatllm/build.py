"""How a chatllm.cpp checkout was built, from its CMake cache: the settings that change what
the engine computes and how fast (build type, ggml's instruction sets, threads, BLAS), so a
figure can be put beside the build that made it (`orch doctor`)."""

from __future__ import annotations

import os

# always reported, in this order
KEYS = (
    "CMAKE_BUILD_TYPE",
    "GGML_NATIVE",
    "GGML_CPU_ALL_VARIANTS",
    "GGML_OPENMP",
    "GGML_LLAMAFILE",
    "GGML_BLAS",
    "BUILD_SHARED_LIBS",
)
# reported when set: instruction sets chosen by hand (GGML_NATIVE leaves them OFF and asks the
# compiler), position-independent code for every target (.ci/build_chatllm.sh: `main`'s
# objects -fPIC, as libchatllm's always are), extra compiler flags
WHEN_ON = (
    "GGML_SSE42",
    "GGML_AVX",
    "GGML_AVX2",
    "GGML_AVX_VNNI",
    "GGML_AVX512",
    "GGML_FMA",
    "GGML_F16C",
    "GGML_BMI2",
    "CMAKE_POSITION_INDEPENDENT_CODE",
)
WHEN_SET = ("CMAKE_C_FLAGS", "CMAKE_CXX_FLAGS")


def cache_path(root: str, main: str | None = None) -> str | None:
    """The CMake cache of the build: <checkout>/build, else the build folder `main` is in."""
    candidates = [os.path.join(root, "build", "CMakeCache.txt")]
    if main:
        candidates.append(os.path.join(os.path.dirname(os.path.dirname(main)), "CMakeCache.txt"))
    return next((p for p in candidates if os.path.isfile(p)), None)


def read_cache(path: str) -> dict[str, str]:
    """`NAME:TYPE=VALUE` lines of a CMakeCache.txt (comments and blank lines skipped)."""
    out = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith(("//", "#")):
                continue
            name_type, sep, value = line.partition("=")
            if sep:
                out[name_type.partition(":")[0]] = value
    return out


def build_flags(cache: dict[str, str]) -> str:
    """One line: `CMAKE_BUILD_TYPE=Release GGML_NATIVE=ON ...` (keys the cache lacks are left out)."""
    parts = [f"{k}={cache[k]}" for k in KEYS if k in cache]
    parts += [f"{k}=ON" for k in WHEN_ON if cache.get(k) == "ON"]
    parts += [f'{k}="{cache[k]}"' for k in WHEN_SET if cache.get(k)]
    return " ".join(parts)
