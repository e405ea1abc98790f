"""Losses for soft (partial-volume) targets (torch)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, classes: list[int], eps: float = 1.0) -> torch.Tensor:
    """1 − mean soft Dice over ``classes``, pooled over the batch."""
    p = torch.softmax(logits, dim=1)
    dims = (0, 2, 3)
    inter = (p * target).sum(dims)
    denom = p.sum(dims) + target.sum(dims)
    dice = (2 * inter + eps) / (denom + eps)
    return 1.0 - dice[classes].mean()


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy against per-pixel class fractions (weighted by target class)."""
    logp = F.log_softmax(logits, dim=1)
    ce = -(target * logp)
    if weight is not None:
        ce = ce * weight.view(1, -1, 1, 1)
    return ce.sum(1).mean()


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Dice (foreground classes) + weighted soft CE; LF upweighted for its thinness."""
    fg = list(range(1, target.shape[1]))
    return soft_dice_loss(logits, target, fg) + soft_cross_entropy(logits, target, weight)


def hard_dice(logits: torch.Tensor, target: torch.Tensor) -> list[float]:
    """Dice of argmax prediction vs argmax target per foreground class (for logs)."""
    pred = logits.argmax(1)
    tgt = target.argmax(1)
    out = []
    for c in range(1, target.shape[1]):
        a, b = pred == c, tgt == c
        denom = int(a.sum() + b.sum())
        out.append(float(2 * (a & b).sum()) / denom if denom else 1.0)
    return out
