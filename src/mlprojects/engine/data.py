"""In-memory datasets as tensors on the device, batched by index permutation.

For data that fits in memory (every dataset of the book and both notebooks) this beats a
``DataLoader`` by skipping per-sample collation; :meth:`TensorData.from_loader` is the door for
data that does not fit: the trainer then iterates the loader instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch


@dataclass
class TensorData:
    inputs: torch.Tensor
    targets: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.inputs) != len(self.targets):
            raise ValueError(f"{len(self.inputs)} inputs but {len(self.targets)} targets")

    def __len__(self) -> int:
        return len(self.inputs)

    def to(self, device: torch.device) -> "TensorData":
        return TensorData(self.inputs.to(device), self.targets.to(device))

    def split(self, fraction: float, seed: int) -> tuple["TensorData", "TensorData"]:
        """A seeded random (rest, held-out) split; ``fraction`` of the samples are held out."""
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed)).to(self.inputs.device)
        held = max(1, int(round(len(self) * fraction)))
        keep, out = order[held:], order[:held]
        return (TensorData(self.inputs[keep], self.targets[keep]),
                TensorData(self.inputs[out], self.targets[out]))


def epoch_order(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    """The shuffled order of one epoch: a function of (seed, epoch) alone, so resuming at any
    epoch and running on any number of processes visit the samples in the same order."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).to(device)


def batches(data: TensorData, batch_size: int, order: torch.Tensor | None, rank: int = 0,
            world_size: int = 1) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Global batches of ``batch_size`` along ``order``; each rank takes every world_size-th sample."""
    n = len(data)
    for start in range(0, n, batch_size):
        if order is None:
            index = torch.arange(start, min(start + batch_size, n), device=data.inputs.device)
        else:
            index = order[start:start + batch_size]
        if world_size > 1:
            index = index[rank::world_size]
        yield data.inputs[index], data.targets[index]
