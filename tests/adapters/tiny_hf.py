"""The tiny Hugging Face setup the transformers tests share: a one-layer regression model
returning {"loss": ...}, synthetic data, the plateau arguments."""

from __future__ import annotations

import torch

#: reduce_lr_on_plateau, evaluated every 4 steps; a coarse threshold, so the plateau logic
#: reduces the LR several times in 36 steps
PLATEAU = {"lr_scheduler_type": "reduce_lr_on_plateau", "learning_rate": 0.05,
           "max_steps": 36, "eval_strategy": "steps", "eval_steps": 4,
           "lr_scheduler_kwargs": {"factor": 0.5, "patience": 0, "threshold": 0.2}}


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": torch.nn.functional.mse_loss(self.linear(x), labels)}


def examples(n: int, seed: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.3 * torch.randn(n, 1, generator=g)
    return [{"x": x[i], "labels": y[i]} for i in range(n)]


TRAIN, EVAL = examples(48, seed=1), examples(16, seed=2)

#: what every test's TrainingArguments share: CPU, deterministic, quiet, a log line per step
COMMON = {"per_device_train_batch_size": 4, "report_to": [], "use_cpu": True,
          "save_strategy": "no", "logging_steps": 1, "disable_tqdm": True, "seed": 0}
