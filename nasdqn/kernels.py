"""The math kernels a run's bits depend on: pinned to code paths every x86-64 machine with AVX2 runs
alike, and described in each run's meta.json.

A run is a function of (config, seed) only if every floating-point sum is taken in the same order.
The libraries under torch and numpy choose their kernels by the processor they find:
- torch's own kernels (elementwise ops, reductions, Adam) are compiled for several instruction sets
  and picked at the first call (AVX-512 where the processor has it): `ATEN_CPU_CAPABILITY`;
- torch's matrix products go to MKL (statically linked into libtorch_cpu), which picks its code path
  by processor *and vendor*. Its conditional numerical reproducibility modes (`MKL_CBWR`) fix one
  path, but on a non-Intel processor every mode but COMPATIBLE falls back to AUTO (measured here on an
  AMD EPYC: `MKL_CBWR=AVX2` reports branch AUTO and gives AUTO's bits), so COMPATIBLE (SSE2 without
  the approximate reciprocals) is the one path Intel and AMD machines share;
- oneDNN (torch's mkldnn, not used by the networks here, pinned for safety): `ONEDNN_MAX_CPU_ISA`;
- numpy's ufuncs dispatch by CPU features (AVX-512 versions of sin, exp, sums):
  `NPY_DISABLE_CPU_FEATURES`; numpy's OpenBLAS (the learned controller's linear algebra) picks a core:
  `OPENBLAS_CORETYPE`;
- thread counts change how sums are split: one thread each.
`pin()` sets these before torch and numpy are imported: `import nasdqn` calls it, so do the CLI,
the run notebook and the tests, and the worker processes a batch starts inherit them. Set
`NASDQN_PINS=off` to run with the libraries' own choices (to measure what the pins cost or change).
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

OFF = "NASDQN_PINS"

# numpy 2.4 names its x86 feature groups X86_V2/V3/V4 (V3 = AVX2 + FMA, V4 = AVX-512); older
# numpy named the AVX-512 targets one by one. Disabling a feature the processor lacks is harmless.
_NUMPY_AVX512 = {"new": "X86_V4 AVX512_ICL AVX512_SPR",
                 "old": "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL "
                        "AVX512_SPR"}

PINS: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_DYNAMIC": "FALSE",
}

# Variables that restrict the libraries further (to emulate a smaller processor), recorded beside the pins.
EMULATION = ("MKL_ENABLE_INSTRUCTIONS", "GLIBC_TUNABLES")

# The processor flags the kernels above choose by.
FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni",
         "avx512_bf16", "amx_tile")


def _numpy_pin() -> str:
    try:
        major, minor = (int(p) for p in metadata.version("numpy").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        major, minor = 2, 4
    return _NUMPY_AVX512["new" if (major, minor) >= (2, 4) else "old"]


def pins() -> dict[str, str]:
    """Every pinned variable and its value."""
    return {**PINS, "NPY_DISABLE_CPU_FEATURES": _numpy_pin()}


def pinned() -> bool:
    return os.environ.get(OFF, "").lower() not in ("off", "0", "false", "no")


def pin() -> list[str]:
    """Set the pins in this process's environment (and so its children's), unless `NASDQN_PINS=off`.
    A pin overrides a different value already set, except numpy's, which adds its features to those
    already disabled (an emulation of a smaller processor stays one). Returns the libraries already
    imported, which a pin set now may not reach: numpy reads its variable at import, torch and MKL at
    their first kernel call."""
    if not pinned():
        return []
    for name, value in pins().items():
        if name == "NPY_DISABLE_CPU_FEATURES" and os.environ.get(name):
            value = " ".join(dict.fromkeys([*os.environ[name].replace(",", " ").split(), *value.split()]))
        os.environ[name] = value
    return [m for m in ("numpy", "torch") if m in sys.modules]


def environ_without_pins() -> dict[str, str]:
    """This process's environment without the pins or their off switch. A process that imported nasdqn
    carries every pin in its environment; a child started with this one sets the pins itself, as a
    reader's process does, so that what it runs under is the pins nasdqn applies, not inherited ones."""
    return {k: v for k, v in os.environ.items() if k not in pins() and k != OFF}


def _cpuinfo() -> tuple[str | None, str | None, list[str]]:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None, None, []
    def field(key: str) -> str | None:
        return next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith(key)), None)
    return field("model name"), field("vendor_id"), (field("flags") or "").split()


# MKL's code-path codes (mkl_cbwr_get): what MKL_CBWR asked for and what MKL took.
_MKL_BRANCHES = {0: "OFF", 1: "OFF", 2: "AUTO", 3: "COMPATIBLE", 4: "SSE2", 6: "SSSE3", 7: "SSE4_1", 8: "SSE4_2",
                 9: "AVX", 10: "AVX2", 11: "AVX512_MIC", 12: "AVX512", 13: "AVX512_MIC_E1", 14: "AVX512_E1"}


def _mkl() -> dict[str, Any]:
    """MKL's version, the branch it runs (OFF: no reproducibility mode) and the one AUTO picks here,
    read from libtorch_cpu's own copy of MKL."""
    try:
        import ctypes

        import torch

        lib = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        buf = ctypes.create_string_buffer(256)
        lib.MKL_Get_Version_String(buf, len(buf))
        return {"mkl_version": buf.value.decode().split(" for ")[0],
                "mkl_branch": _MKL_BRANCHES.get(lib.mkl_serv_cbwr_get(1), "unknown"),
                "mkl_auto_branch": _MKL_BRANCHES.get(lib.mkl_serv_cbwr_get_auto_branch(), "unknown")}
    except Exception:  # another torch build (no MKL, other symbols): unknown, never a failed run
        return {"mkl_version": None, "mkl_branch": None, "mkl_auto_branch": None}


def _numpy() -> dict[str, Any]:
    try:
        import numpy as np
        from numpy._core import _multiarray_umath as umath

        found = [f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f)]
        return {"numpy_simd": " ".join(found), "numpy_baseline": " ".join(umath.__cpu_baseline__),
                "numpy_blas": (np.show_config(mode="dicts") or {}).get("Build Dependencies", {}).get("blas", {})
                .get("name")}
    except Exception:
        return {"numpy_simd": None, "numpy_baseline": None, "numpy_blas": None}


def _openblas_core() -> str | None:
    try:
        import threadpoolctl

        blas = [i for i in threadpoolctl.threadpool_info() if i.get("internal_api") == "openblas"]
        return blas[0].get("architecture") if blas else None
    except Exception:
        return None


def describe() -> dict[str, Any]:
    """The processor, the variables that steer the kernels, and the kernels the libraries took."""
    model, vendor, flags = _cpuinfo()
    try:
        import torch

        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:
        capability = None
    return {
        "cpu_model": model, "cpu_vendor": vendor, "avx512": "avx512f" in flags,
        "cpu_flags": " ".join(f for f in FLAGS if f in flags),
        "pinned": pinned(),
        "variables": {n: os.environ.get(n) for n in (*pins(), *EMULATION)},
        "torch_cpu_capability": capability, **_mkl(), **_numpy(), "openblas_core": _openblas_core(),
        # kept under their old names, which runs made before the pins recorded
        "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE"), "mkl_cbwr_env": os.environ.get("MKL_CBWR"),
    }


def kernel_summary(host: dict[str, Any]) -> str:
    """One line of what decides a run's bits, from a run's meta `host` (older runs recorded less)."""
    model = host.get("cpu_model") or "CPU model not recorded"
    avx = {True: ", AVX-512", False: ", no AVX-512"}.get(host.get("avx512"), "")
    parts = [f"{label} {host[key]}" for key, label in (("torch_cpu_capability", "torch"),
                                                       ("mkl_branch", "MKL branch"),
                                                       ("numpy_simd", "numpy"),
                                                       ("openblas_core", "OpenBLAS")) if host.get(key)]
    pins = {True: "pinned", False: "unpinned"}.get(host.get("pinned"), "pins not recorded")
    return f"{model}{avx}, {', '.join([*parts, pins])}, {host.get('cpus', '?')} cores"
