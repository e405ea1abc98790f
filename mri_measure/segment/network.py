"""A small 2-D U-Net (torch).

Plain encoder–decoder with skip connections; each block is two
3×3 conv → BatchNorm → ReLU. Input (n, 1, H, W) with H and W divisible by
``2 ** (depth - 1)``; output (n, n_classes, H, W) logits.

The same class serves both stages of the segmenter: the coarse localiser
(few channels, whole slice at ~2 mm/px) and the fine segmenter (a crop
around the canal at ~0.4 mm/px).
"""

from __future__ import annotations

import torch
from torch import nn

ARCHITECTURES = ("UNet2d",)


class _Block(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class UNet2d(nn.Module):
    """U-Net with ``depth`` resolution levels and ``base * 2**k`` channels at level k
    (capped at ``max_channels``)."""

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 4,
        base: int = 16,
        depth: int = 4,
        max_channels: int = 128,
    ) -> None:
        super().__init__()
        self.depth = depth
        chans = [min(base * 2**k, max_channels) for k in range(depth)]
        self.down = nn.ModuleList()
        c_prev = in_channels
        for c in chans:
            self.down.append(_Block(c_prev, c))
            c_prev = c
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for k in range(depth - 2, -1, -1):
            self.up.append(nn.ConvTranspose2d(chans[k + 1], chans[k], 2, stride=2))
            self.dec.append(_Block(2 * chans[k], chans[k]))
        self.head = nn.Conv2d(chans[0], n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for k, block in enumerate(self.down):
            x = block(x)
            if k < self.depth - 1:
                skips.append(x)
                x = self.pool(x)
        for up, dec in zip(self.up, self.dec):
            x = up(x)
            x = dec(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)


def fuse_for_inference(net: nn.Module) -> nn.Module:
    """Fold each BatchNorm into the preceding convolution (eval mode only; in place)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net.eval()
    for module in net.modules():
        if isinstance(module, _Block):
            conv1, bn1, _, conv2, bn2, _ = list(module)
            module[0] = fuse_conv_bn_eval(conv1, bn1)
            module[1] = nn.Identity()
            module[3] = fuse_conv_bn_eval(conv2, bn2)
            module[4] = nn.Identity()
    return net


def build_network(architecture: str, kwargs: dict) -> nn.Module:
    """Instantiate a network by its name in the bundle metadata."""
    if architecture == "UNet2d":
        return UNet2d(**kwargs)
    raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
