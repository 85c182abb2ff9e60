"""Segmentation training: MONAI network, DiceCE loss, AdamW, warm-up + cosine schedule, seeded.

The data come from the caller (kernels imports nothing else of the project): ``train_batches``
is a callable ``epoch -> iterable of (x, y)`` with x float32 (B, C, H, W) normalised images and
y integer (B, H, W) class indices (``batches`` makes one), and ``val_batches`` a re-iterable of
the same (``fixed_batches``). A model with a tip heatmap (one output channel after the K class
logits) takes ``(x, y, heat)`` batches, heat float32 (B, H, W) in [0, 1] peaking at 1 on the
tip (all 0 where no tip is in view), and learns it with a penalty-reduced focal loss
(CenterNet). Validation Dice (MONAI ``DiceMetric``), and for a tip model the share of tips
found within 3 px, pick the best weights after each epoch, which the result keeps (and
``checkpoint`` saves). Progress goes to stderr. Needs torch and MONAI (``orstream[train]``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

import numpy as np
import numpy.typing as npt

from ._batching import Batch, prefetch
from ._train_progress import Progress

if TYPE_CHECKING:
    import torch

TIP_HIT_PX: Final = 3.0
"""A validation tip counts as found when the heatmap's peak is within this many pixels."""


@dataclass(frozen=True)
class SegTrainConfig:
    """Hyper-parameters: ``epochs``; ``lr`` peak AdamW learning rate (per step, reached after
    ``warmup_steps`` linear steps, then cosine to ``lr * final_lr_fraction``); ``weight_decay``;
    ``seed`` for torch's RNG (weights init); ``threads`` torch intra-op threads; ``device``
    where the network trains ("cpu", "cuda", "cuda:1"; the exported ONNX is the same either
    way); ``dice_over_batch`` how the Dice part of the loss is pooled."""

    epochs: int = 12
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    final_lr_fraction: float = 0.02
    seed: int = 0
    threads: int = 2
    device: str = "cpu"
    dice_over_batch: bool = False
    """Dice of each class over the whole batch rather than per image, foreground only: for
    thin, sparse structures (a catheter in 1 % of the pixels, often absent from a crop), where
    per-image Dice rewards predicting nothing."""
    keep: str = "best"
    """Which weights the result keeps: "best" (the best validation score) or "last" (the
    final epoch's: no choice made on the validation data, for honest cross-validation)."""

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.lr <= 0 or self.threads < 1 or self.warmup_steps < 0:
            raise ValueError(f"bad training config {self}: epochs, lr, threads must be positive")
        if self.keep not in ("best", "last"):
            raise ValueError(f"keep must be 'best' or 'last'; got {self.keep!r}")


@dataclass
class EpochRecord:
    """One epoch: mean training loss, validation Dice per foreground class and their mean,
    learning rate at the end, wall time (s) and training throughput (samples/s)."""

    epoch: int
    train_loss: float
    val_dice: list[float]
    val_mean_dice: float
    lr: float
    seconds: float
    samples_per_s: float
    val_tip: dict[str, float] | None = None
    """Tip models: median and p95 peak error (px) and the share within ``TIP_HIT_PX``."""
    score: float = float("nan")
    """What picks the best epoch: mean Dice, averaged with the tip hit share for tip models."""


@dataclass
class TrainResult:
    """The network with the kept weights (eval mode; the best validation weights, or the last
    epoch's with ``SegTrainConfig.keep`` "last"), the epoch they come from (1-based), their
    mean validation Dice and score, and every epoch's record."""

    network: Any
    best_epoch: int
    best_dice: float
    best_score: float = -1.0
    history: list[EpochRecord] = field(default_factory=list)

    def history_json(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.history]


def warmup_cosine(config: SegTrainConfig, total_steps: int) -> Callable[[int], float]:
    """Learning-rate factor of each step (0-based) of ``total_steps``: linear warm-up over
    ``config.warmup_steps``, then a cosine from 1 to ``config.final_lr_fraction``."""

    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        span = max(1, total_steps - config.warmup_steps)
        t = min(1.0, (step - config.warmup_steps) / span)
        low = config.final_lr_fraction
        return low + (1.0 - low) * 0.5 * (1.0 + math.cos(math.pi * t))

    return factor


def _peak_xy(maps: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """(B, 2) x, y of each (B, H, W) map's maximum."""
    flat = maps.reshape(len(maps), -1).argmax(axis=1)
    rows, cols = np.divmod(flat, maps.shape[2])
    return np.stack([cols, rows], axis=1).astype(np.float64)


def validate(
    network: Any, batches: Iterable[Batch], n_classes: int
) -> tuple[list[float], dict[str, float] | None]:
    """Mean Dice per foreground class (MONAI ``DiceMetric``, classes 1..K-1) of ``network``'s
    argmax over ``batches`` (images where a class is absent from both truth and prediction do
    not count for that class: NaN if it never appears) and, for batches with a heatmap, the
    tip peak error over images whose target peaks at >= 0.5 (None without heatmaps)."""
    import torch
    from monai.metrics.meandice import DiceMetric

    metric = DiceMetric(include_background=False, reduction="mean_batch", ignore_empty=True)
    errors: list[npt.NDArray[np.float64]] = []
    has_heat = False
    was_training = network.training
    device = next(network.parameters()).device
    network.eval()
    with torch.inference_mode():
        for batch in batches:
            x, y = batch[0], batch[1]
            out = network(torch.from_numpy(x).to(device)).cpu()
            logits = out[:, :n_classes]
            pred = torch.nn.functional.one_hot(logits.argmax(1), n_classes).permute(0, 3, 1, 2)
            truth = torch.nn.functional.one_hot(torch.from_numpy(y).long(), n_classes)
            metric(y_pred=pred, y=truth.permute(0, 3, 1, 2))
            if len(batch) == 3:
                has_heat = True
                heat = np.asarray(batch[2], np.float32)
                present = heat.reshape(len(heat), -1).max(axis=1) >= 0.5
                if present.any():
                    got = _peak_xy(out[:, n_classes].numpy()[present])
                    want = _peak_xy(heat[present])
                    errors.append(np.hypot(*(got - want).T))
    network.train(was_training)
    scores = metric.aggregate()
    assert isinstance(scores, torch.Tensor)
    dice = [float(v) for v in scores.cpu().numpy()]
    if not has_heat:
        return dice, None
    err = np.concatenate(errors) if errors else np.full(1, np.inf)
    tip = {
        "median_px": float(np.median(err)),
        "p95_px": float(np.percentile(err, 95)),
        "hit_share": float(np.mean(err <= TIP_HIT_PX)),
    }
    return dice, tip


def validation_dice(network: Any, batches: Iterable[Batch], n_classes: int) -> list[float]:
    """Mean Dice per foreground class of ``network`` over ``batches`` (see :func:`validate`)."""
    return validate(network, batches, n_classes)[0]


def heatmap_focal_loss(logit: Any, target: Any, alpha: float = 2.0, beta: float = 4.0) -> Any:
    """Penalty-reduced pixel focal loss (CenterNet) of heatmap logits (B, H, W) against targets
    (B, H, W) in [0, 1] (1 at the tip), normalised by the number of tips (at least 1)."""
    import torch

    p = torch.sigmoid(logit).clamp(1e-4, 1 - 1e-4)
    pos = target >= 0.999
    pos_loss = -(torch.log(p) * (1 - p) ** alpha)[pos].sum()
    weight = (1 - target) ** beta
    neg_loss = -(torch.log(1 - p) * p**alpha * weight)[~pos].sum()
    return (pos_loss + neg_loss) / pos.sum().clamp(min=1)


def init_heatmap_bias(network: Any, channel: int, prior: float = 0.01) -> None:
    """Start output ``channel`` (a heatmap) at probability ``prior`` everywhere (CenterNet's
    initialisation): the bias of the network's last layer, so the focal loss starts small."""
    import torch

    last = [p for name, p in network.named_parameters() if name.endswith("bias")][-1]
    if channel >= last.numel():
        raise ValueError(f"the network's last bias has {last.numel()} channels, not {channel + 1}")
    with torch.no_grad():
        last[channel] = math.log(prior / (1.0 - prior))


def train_segmentation(
    network: Any,
    train_batches: Callable[[int], Iterable[Batch]],
    val_batches: Iterable[Batch],
    *,
    n_classes: int,
    steps_per_epoch: int,
    config: SegTrainConfig | None = None,
    checkpoint: Path | None = None,
    progress: TextIO | None = sys.stderr,
    heat_weight: float = 1.0,
) -> TrainResult:
    """Train ``network`` (a ``torch.nn.Module`` giving (B, K, H, W) logits) in place.

    Each epoch takes at most ``steps_per_epoch`` batches from ``train_batches(epoch)`` (epoch
    0-based), then scores ``val_batches``; the best validation score wins, or the last epoch
    with ``config.keep`` "last" (its state dict is saved to ``checkpoint`` when given). Loss:
    MONAI ``DiceCELoss`` (softmax, one-hot truth) on the first ``n_classes`` channels, plus
    ``heat_weight`` times :func:`heatmap_focal_loss` on the next for ``(x, y, heat)`` batches.
    On a GPU (``config.device``) the next batches are made in a background thread while the
    GPU works. Returns the network with the kept weights, in eval mode, on the CPU.
    """
    import torch
    from monai.losses.dice import DiceCELoss

    config = config or SegTrainConfig()
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1; got {steps_per_epoch}")
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"training device {config.device!r}: torch sees no CUDA GPU")
    network.to(device)
    loss_fn = DiceCELoss(
        to_onehot_y=True,
        softmax=True,
        batch=config.dice_over_batch,
        include_background=not config.dice_over_batch,
    )
    optimizer = torch.optim.AdamW(
        network.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    total = config.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(config, total))
    best_state: dict[str, torch.Tensor] | None = None
    result = TrainResult(network=network, best_epoch=0, best_dice=-1.0)
    bar = Progress(total, stream=progress)
    for epoch in range(config.epochs):
        network.train()
        t0, seen, loss_sum, steps = time.perf_counter(), 0, 0.0, 0
        epoch_batches = train_batches(epoch)
        if device.type != "cpu":
            epoch_batches = prefetch(epoch_batches)
        for batch in epoch_batches:
            x, y = batch[0], batch[1]
            xt = torch.from_numpy(x).to(device)
            yt = torch.from_numpy(np.asarray(y, dtype=np.int64))[:, None].to(device)
            out = network(xt)
            loss = loss_fn(out[:, :n_classes], yt)
            if len(batch) == 3:
                heat = torch.from_numpy(np.asarray(batch[2], np.float32)).to(device)
                loss = loss + heat_weight * heatmap_focal_loss(out[:, n_classes], heat)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            steps += 1
            seen += len(x)
            loss_sum += float(loss.detach())
            rate = seen / max(time.perf_counter() - t0, 1e-9)
            bar.update(
                f"epoch {epoch + 1}/{config.epochs} loss {loss_sum / steps:.4f} "
                f"{rate:.0f} samples/s"
            )
            if steps >= steps_per_epoch:
                break
        if isinstance(epoch_batches, Generator):
            epoch_batches.close()  # stops a prefetch thread now, not when collected
        if steps == 0:
            raise ValueError(f"train_batches({epoch}) gave no batch")
        train_s = time.perf_counter() - t0
        dice, tip = validate(network, val_batches, n_classes)
        valid = [d for d in dice if not math.isnan(d)]
        mean = float(np.mean(valid)) if valid else float("nan")
        score = mean if tip is None else 0.5 * (mean + tip["hit_share"])
        record = EpochRecord(
            epoch=epoch + 1,
            train_loss=loss_sum / steps,
            val_dice=dice,
            val_mean_dice=mean,
            lr=float(scheduler.get_last_lr()[0]),
            seconds=time.perf_counter() - t0,
            samples_per_s=seen / max(train_s, 1e-9),
            val_tip=tip,
            score=score,
        )
        result.history.append(record)
        improved = (
            score > result.best_score if config.keep == "best" else epoch + 1 == config.epochs
        )
        if improved:
            result.best_score, result.best_dice, result.best_epoch = score, mean, epoch + 1
            best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in network.state_dict().items()
            }
            if checkpoint is not None:
                checkpoint.parent.mkdir(parents=True, exist_ok=True)
                torch.save(best_state, checkpoint)
        bar.line(
            f"epoch {epoch + 1}/{config.epochs}: loss {record.train_loss:.4f}, val Dice "
            f"{' '.join(f'{d:.3f}' for d in dice)} (mean {mean:.4f})"
            + (
                ""
                if tip is None
                else f", tip median {tip['median_px']:.2f} px, "
                f"{tip['hit_share']:.1%} within {TIP_HIT_PX:g} px"
            )
            + f"{' *' if improved else ''}, "
            f"{record.seconds:.0f} s"
        )
    network.to("cpu")
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    return result
