from pathlib import Path

from mining.machine import SPEED_FLAGS, cpu_flags, describe_flags


def test_cpu_flags_read_the_first_flags_line(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n"
                       "processor\t: 1\nflags\t\t: fpu avx512_vnni\n", encoding="utf-8")
    flags = cpu_flags(cpuinfo)
    assert flags == {"avx2": True, "avx512f": True, "avx512_vnni": False, "avx_vnni": False}
    assert describe_flags(flags) == "avx2 yes, avx512f yes, avx512_vnni no, avx_vnni no"


def test_cpu_flags_without_cpuinfo_say_no_to_every_flag(tmp_path: Path) -> None:
    assert cpu_flags(tmp_path / "missing") == dict.fromkeys(SPEED_FLAGS, False)


def test_bf16_units_come_from_amx_or_avx512_bf16(tmp_path: Path) -> None:
    from mining.machine import has_bf16_units

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: avx2 avx512f avx512_vnni\n", encoding="utf-8")
    assert not has_bf16_units(cpuinfo)
    cpuinfo.write_text("flags\t\t: avx2 avx512f avx512_bf16\n", encoding="utf-8")
    assert has_bf16_units(cpuinfo)


def test_training_precision_follows_the_config_and_auto_the_cpu() -> None:
    from mining.classify.train import TrainConfig, uses_bf16
    from mining.machine import has_bf16_units

    assert TrainConfig().precision == "fp32"
    assert not uses_bf16("fp32") and uses_bf16("bf16")
    assert uses_bf16("auto") == has_bf16_units()
