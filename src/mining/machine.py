"""The CPU a speed figure was measured on.

Int8 and fp32 speed change several-fold with the SIMD extensions (AVX2, AVX-512, VNNI), so every
figure the project prints or records carries these flags beside it.
"""

from __future__ import annotations

import os
from pathlib import Path

SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, bool]:
    """Whether the CPU has each of `SPEED_FLAGS` (all False where /proc/cpuinfo is missing)."""
    flags: set[str] = set()
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return {flag: flag in flags for flag in SPEED_FLAGS}


def describe_flags(flags: dict[str, bool]) -> str:
    """`avx2 yes, avx512f no, ...`: the form every card and benchmark prints."""
    return ", ".join(f"{name} {'yes' if present else 'no'}" for name, present in flags.items())


def machine_facts() -> dict[str, object]:
    """Cores and CPU flags, recorded beside training and inference times."""
    return {"cores": os.cpu_count(), "cpu_flags": cpu_flags()}
