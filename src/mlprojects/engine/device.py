"""Choosing and describing devices: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``."""

from __future__ import annotations

import functools
import os
import platform

import torch

from mlprojects import cores
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


def _cpuinfo(field: str) -> str:
    """The value of /proc/cpuinfo's first FIELD line ("" where there is none)."""
    try:
        with open("/proc/cpuinfo") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith(field)), "")
    except OSError:
        return ""


def cpu_name() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine()


@functools.cache  # asked at every prediction of an image network (whether bf16 is fast)
def _cpu_flags() -> frozenset[str]:
    return frozenset(_cpuinfo("flags").split())


def cpu_has(flag: str) -> bool:
    """Whether the CPU lists FLAG (as /proc/cpuinfo names it: avx512f, amx_bf16, ...)."""
    return flag in _cpu_flags()


def cpu_vendor() -> str:
    """GenuineIntel, AuthenticAMD, ... ("" where /proc/cpuinfo does not say)."""
    return _cpuinfo("vendor_id")


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
        "threads": torch.get_num_threads(), "cores": cores.available(),
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


PRECISIONS = ("fp32", "bf16", "fp16", "auto")
_LOW = {"bf16": torch.bfloat16, "fp16": torch.float16}
_HEAVY = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.MultiheadAttention)


def choose_precision(requested: str, device: torch.device, model: torch.nn.Module | None = None) -> tuple[str, str]:
    """(the precision a run or a command computes in: fp32, bf16 or fp16; why, in a few words, or "" when it is
    the one asked for and nothing is to be said) for REQUESTED on DEVICE.

    ``auto`` is one rule, written from measurements: on a GPU, bfloat16 where it has it (float16 with a gradient
    scaler where it has not); on a CPU with bfloat16 instructions (avx512_bf16, amx_bf16), bfloat16 for a MODEL
    built on convolutions or attention (None: a transformer), which measured faster at the same accuracy (LeNet
    training x1.3-1.6, MiniLM inference x1.7), and float32 for one made of small matrix products (the notebook MLP
    at batch 32 measured slower in bfloat16) or of recurrent layers (the LSTM trained x1.46 faster in bfloat16, but
    one seed in three forecast 13% worse); float32 everywhere else. ``bf16``
    on a CPU without those instructions runs, emulated and slowly, with a warning; ``fp16`` is for CUDA GPUs."""
    if requested not in PRECISIONS:
        raise UserError(f"precision {requested!r}: one of {', '.join(PRECISIONS)}")
    if requested == "fp16" and device.type != "cuda":
        raise UserError(f"precision=fp16 is for CUDA GPUs (with a gradient scaler); on {device.type} use bf16 or auto")
    if requested == "bf16" and device.type == "cpu" and not bf16_is_fast(device):
        return "bf16", ("this CPU has no bfloat16 instructions (avx512_bf16 or amx_bf16): bf16 is emulated, slower "
                        "than fp32; precision=auto would choose fp32")
    if requested != "auto":
        return requested, ""
    if device.type == "cuda":
        if bf16_is_fast(device):
            return "bf16", "precision=auto: bf16, which this GPU computes natively"
        return "fp16", "precision=auto: fp16 with a gradient scaler, as this GPU has no fast bf16"
    if device.type != "cpu":
        return "fp32", f"precision=auto: fp32 on {device.type}"
    if not bf16_is_fast(device):
        return "fp32", "precision=auto: fp32, as this CPU has no bfloat16 instructions (avx512_bf16 or amx_bf16)"
    if model is None or any(isinstance(module, _HEAVY) or "Attention" in type(module).__name__
                            for module in model.modules()):
        return "bf16", "precision=auto: bf16, for this CPU's bfloat16 instructions and the model's convolutions " \
                       "or attention"
    return "fp32", ("precision=auto: fp32, as bf16 on a CPU slows this model's small matrix products or makes its "
                    "recurrent layers less accurate")


def autocast(precision: str, device_type: str):
    """The forward pass's context for a chosen PRECISION (fp32, bf16 or fp16, as ``choose_precision`` returns it)
    on a device of DEVICE_TYPE: autocast to the low precision, or nothing for fp32."""
    import contextlib

    low = _LOW.get(precision)
    return torch.autocast(device_type, dtype=low) if low is not None else contextlib.nullcontext()
