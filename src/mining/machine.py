"""The CPU a speed figure was measured on.

Int8 and fp32 speed change several-fold with the SIMD extensions (AVX2, AVX-512, VNNI), so every
figure the project prints or records carries these flags beside it.
"""

from __future__ import annotations

import os
from pathlib import Path

SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni")
BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # bf16 matrix products in hardware
CPUINFO = Path("/proc/cpuinfo")


def _flags(cpuinfo: Path) -> set[str]:
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_flags(cpuinfo: Path = CPUINFO) -> dict[str, bool]:
    """Whether the CPU has each of `SPEED_FLAGS` (all False where /proc/cpuinfo is missing)."""
    flags = _flags(cpuinfo)
    return {flag: flag in flags for flag in SPEED_FLAGS}


def has_bf16_units(cpuinfo: Path = CPUINFO) -> bool:
    """True where bf16 matrix products run in hardware (AMX or AVX-512 BF16); elsewhere bf16
    is emulated and slower than fp32."""
    return bool(_flags(cpuinfo) & set(BF16_FLAGS))


def describe_flags(flags: dict[str, bool]) -> str:
    """`avx2 yes, avx512f no, ...`: the form every card and benchmark prints."""
    return ", ".join(f"{name} {'yes' if present else 'no'}" for name, present in flags.items())


def machine_facts() -> dict[str, object]:
    """Cores and CPU flags, recorded beside training and inference times."""
    return {"cores": os.cpu_count(), "cpu_flags": cpu_flags(), "bf16_units": has_bf16_units()}
