"""Image augmentation applied to a whole batch on its device (no per-sample Python loop)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(images: torch.Tensor, pad: int = 4, flip: bool = True,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Each (C, H, W) image of the batch: reflect-padded by ``pad``, cropped back to H x W at a random
    offset, and mirrored left-right with probability 1/2 (the standard CIFAR-10 augmentation)."""
    n, channels, height, width = images.shape
    device = images.device
    out = images
    if pad:
        padded = F.pad(images, (pad, pad, pad, pad), mode="reflect")
        top = torch.randint(0, 2 * pad + 1, (n,), device=device, generator=generator)
        left = torch.randint(0, 2 * pad + 1, (n,), device=device, generator=generator)
        rows = (top[:, None] + torch.arange(height, device=device))[:, None, :, None]
        cols = (left[:, None] + torch.arange(width, device=device))[:, None, None, :]
        batch = torch.arange(n, device=device)[:, None, None, None]
        channel = torch.arange(channels, device=device)[None, :, None, None]
        out = padded[batch, channel, rows, cols]
    if flip:
        mirrored = torch.rand(n, device=device, generator=generator) < 0.5
        out = torch.where(mirrored[:, None, None, None], out.flip(3), out)
    return out
