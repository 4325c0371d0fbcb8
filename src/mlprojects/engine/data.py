"""In-memory datasets as tensors on the device, batched by index permutation.

For data that fits in memory (every dataset of the book and both notebooks) this beats a
``DataLoader`` by skipping per-sample collation. For data that does not fit, the trainer takes
any map-style ``torch.utils.data.Dataset`` instead and reads it through a ``DataLoader`` whose
:class:`GlobalBatchSampler` visits the very same batches in the same order: the two paths train
identically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


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


class GlobalBatchSampler(Sampler[list[int]]):
    """This rank's share of each global batch, in :func:`epoch_order` (call ``set_epoch``).

    Unlike the tensor path, a final global batch smaller than the number of processes is dropped,
    since a DataLoader cannot hand an empty batch to a rank.
    """

    def __init__(self, n: int, batch_size: int, seed: int, shuffle: bool, rank: int = 0, world_size: int = 1):
        self.n, self.batch_size, self.seed, self.shuffle = n, batch_size, seed, shuffle
        self.rank, self.world_size, self.epoch = rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        order = (epoch_order(self.n, self.seed, self.epoch, torch.device("cpu")) if self.shuffle
                 else torch.arange(self.n))
        for start in range(0, self.n, self.batch_size):
            index = order[start:start + self.batch_size]
            if len(index) >= self.world_size:
                yield index[self.rank::self.world_size].tolist()

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)


def loader_batches(dataset: Dataset, batch_size: int, seed: int, epoch: int | None, device: torch.device,
                   rank: int = 0, world_size: int = 1, num_workers: int = 0):
    """Batches of a map-style dataset on ``device``; ``epoch=None`` means no shuffling (evaluation)."""
    sampler = GlobalBatchSampler(len(dataset), batch_size, seed, epoch is not None, rank, world_size)
    sampler.set_epoch(epoch or 0)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers,
                        pin_memory=device.type == "cuda", persistent_workers=False)
    for inputs, targets in loader:
        yield inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
