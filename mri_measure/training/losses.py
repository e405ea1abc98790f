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


def sac_only_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The loss for slices whose LF is not outlined: dural sac against the rest.

    The three other channels are merged (log-sum-exp of their logits, i.e. the
    probability of "not sac"), so an LF prediction on such a slice costs
    nothing; only the sac's edge is learnt."""
    merged = torch.stack([torch.logsumexp(logits[:, [0, 2, 3]], dim=1), logits[:, 1]], dim=1)
    t = target[:, 1]
    two = torch.stack([1.0 - t, t], dim=1)
    return soft_dice_loss(merged, two, [1]) + soft_cross_entropy(merged, two)


def mixed_segmentation_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                            lf_known: torch.Tensor | None) -> torch.Tensor:
    """:func:`segmentation_loss` on the fully labelled items of a batch, :func:`sac_only_loss`
    on those with ``lf_known`` 0, weighted by their number of items."""
    if lf_known is None or bool((lf_known > 0.5).all()):
        return segmentation_loss(logits, target, weight)
    full, part = lf_known > 0.5, lf_known <= 0.5
    n = float(logits.shape[0])
    loss = sac_only_loss(logits[part], target[part]) * (float(part.sum()) / n)
    if bool(full.any()):
        loss = loss + segmentation_loss(logits[full], target[full], weight) * (float(full.sum()) / n)
    return loss


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
