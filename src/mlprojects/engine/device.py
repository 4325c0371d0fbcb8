"""Choosing and describing devices: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``."""

from __future__ import annotations

import os
import platform

import torch

from mlprojects.errors import UserError


def resolve(spec: str = "auto", local_rank: int = 0) -> torch.device:
    spec = (spec or "auto").lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {spec}: no CUDA device is available here; use --device cpu or auto")
        index = int(spec.split(":")[1]) if ":" in spec and spec.split(":")[1].isdigit() else local_rank
        if ":" in spec and not spec.split(":")[1].isdigit():
            raise UserError(f"--device {spec}: expected cuda or cuda:N")
        if index >= torch.cuda.device_count():
            raise UserError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) here")
        return torch.device("cuda", index)
    if spec == "mps":
        if not _mps_available():
            raise UserError("--device mps: Apple's Metal backend is not available here; use --device cpu or auto")
        return torch.device("mps")
    raise UserError(f"--device {spec!r}: expected auto, cpu, cuda, cuda:N or mps")


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# the CPU's vector extensions that decide its speed: AVX2, AVX-512 (and its bf16 and VNNI parts), AMX tiles
VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def describe() -> list[dict]:
    """Every device with its name, memory and capability (the book's device listing, ch. 9)."""
    flags = _cpu_flags()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    simd = [f for f in VECTOR_FLAGS if f in flags]
    devices = [{
        "device": "cpu", "name": cpu_name(), "memory_gib": round(memory / 2**30, 1),
        "capability": ", ".join(simd) or platform.machine(),
        "threads": torch.get_num_threads(), "cores": os.cpu_count(),
        "bf16_fast": bf16_is_fast(torch.device("cpu")),
    }]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            devices.append({
                "device": f"cuda:{index}", "name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                "capability": f"{props.major}.{props.minor}", "multiprocessors": props.multi_processor_count,
                "bf16_fast": torch.cuda.is_bf16_supported(),
            })
    if _mps_available():
        devices.append({"device": "mps", "name": "Apple Metal", "memory_gib": None, "capability": "mps"})
    return devices


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bf16 matmuls have hardware support (else autocast to bf16 is far slower than fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        flags = _cpu_flags()
        return bool({"avx512_bf16", "amx_bf16"} & flags)
    return False
