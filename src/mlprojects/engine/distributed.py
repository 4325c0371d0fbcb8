"""Data-parallel training under ``torchrun``: detection, process group, reductions, clean-up.

``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; without them we are one process and every
function here is a cheap no-op. Backend: nccl on CUDA, gloo elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def from_environment() -> Context:
    return Context(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))


def init(context: Context, device: torch.device) -> None:
    if context.distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, rank=context.rank, world_size=context.world_size,
                                device_id=device if device.type == "cuda" else None)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_max(tensor: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def all_reduce_min(tensor: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return tensor


def broadcast_text(text: str, device: torch.device, size: int = 4096) -> str:
    """Rank 0's string on every rank (a fixed-size byte tensor: no pickling)."""
    if not dist.is_initialized():
        return text
    encoded = text.encode()[:size]
    payload = torch.zeros(size, dtype=torch.uint8)
    payload[: len(encoded)] = torch.tensor(list(encoded), dtype=torch.uint8)
    payload = payload.to(device)
    length = torch.tensor([len(encoded)], dtype=torch.int64, device=device)
    dist.broadcast(length, 0)
    dist.broadcast(payload, 0)
    return bytes(payload[: int(length)].cpu().tolist()).decode()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
