"""Measuring a model on labelled images: accuracy, per-class accuracy, confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..nets.models import create_model


@dataclass
class EvalReport:
    n: int
    accuracy: float
    per_class: list[float]  # accuracy per true digit 0..9 (nan when a class is absent)
    confusion: list[list[int]]  # confusion[true][predicted]
    loss: float

    def to_dict(self) -> dict:
        return {"n": self.n, "accuracy": self.accuracy, "per_class": self.per_class,
                "confusion": self.confusion, "loss": self.loss}


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    model.eval()
    out = [model(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    return torch.cat(out) if out else torch.zeros(0, 10)


def evaluate_model(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                   batch_size: int = 2000) -> EvalReport:
    logits = predict_logits(model, x, batch_size)
    pred = logits.argmax(1)
    loss = float(torch.nn.functional.cross_entropy(logits, y).item()) if len(y) else float("nan")
    conf = torch.zeros(10, 10, dtype=torch.long)
    conf.index_put_((y.cpu(), pred.cpu()), torch.ones_like(y.cpu()), accumulate=True)
    totals = conf.sum(1)
    per_class = [float(conf[i, i] / totals[i]) if totals[i] else float("nan") for i in range(10)]
    acc = float((pred == y).float().mean()) if len(y) else float("nan")
    return EvalReport(len(y), acc, per_class, conf.tolist(), loss)


def evaluate_state(arch: str, state: dict, x: torch.Tensor, y: torch.Tensor) -> tuple[float, EvalReport]:
    model = create_model(arch)
    model.load_state_dict(state)
    report = evaluate_model(model, x.cpu(), y.cpu())
    return report.accuracy, report
