"""The plateau idiom: `RemoteScheduler.step(val_loss)` on a metric-driven run behaves exactly
as torch's `ReduceLROnPlateau.step(val_loss)` in the same loop (per epoch, per N steps, and
with several ranks reporting rank-local metrics whose mean drives it), against the real
service; a number passed to a run that is not metric-driven, or an epoch, is a clear error."""

from __future__ import annotations

import math
import threading

import pytest

torch = pytest.importorskip("torch")

import lrcast  # noqa: E402
import lrcast.torch  # noqa: E402

KNOBS = {"factor": 0.5, "patience": 1, "threshold": 0.05, "cooldown": 1, "min_lr": 0.002}
PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.2, **KNOBS}
COSINE = {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 50}


def torch_plateau(opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
    return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **KNOBS)


def problem(seed: int) -> tuple[torch.nn.Module, list, tuple]:
    """A tiny regression model and its (rank-local) data, the same for the same seed."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(96, 4, generator=gen)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]]) + 0.5 * torch.randn(96, 1, generator=gen)
    xv = torch.randn(48, 4, generator=gen)
    yv = xv @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]]) + 0.5 * torch.randn(48, 1, generator=gen)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    batches = [(x[i:i + 8], y[i:i + 8]) for i in range(0, 96, 8)]
    return model, batches, (xv, yv)


def train(seed: int, make_sched, *, epochs: int, every: int | None, on_eval=None) -> dict:
    """The loop users write: `sched.step(val_loss)` per epoch (`every=None`) or every `every`
    batches. Returns the LR applied at every batch and the validation losses."""
    model, batches, (xv, yv) = problem(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    sched = make_sched(opt)
    lrs, vals, done = [], [], 0
    loss_fn = torch.nn.MSELoss()

    def evaluate() -> float:
        with torch.no_grad():
            val = loss_fn(model(xv), yv).item()
        vals.append(val)
        return on_eval(val) if on_eval else val

    for _ in range(epochs):
        for x, y in batches:
            lrs.append(opt.param_groups[0]["lr"])
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
            done += 1
            if every is not None and done % every == 0:
                sched.step(evaluate())
        if every is None:
            sched.step(evaluate())
    return {"lrs": lrs, "vals": vals, "sched": sched}


@pytest.mark.parametrize("every", [None, 5], ids=["per-epoch", "every-5-steps"])
def test_step_metric_equals_torch_reduce_lr_on_plateau(make_client, run_id, every):
    run = make_client().run(run_id, schedule=PLATEAU, world_size=1)
    ours = train(0, lambda opt: lrcast.torch.RemoteScheduler(opt, run), epochs=12, every=every)
    ref = train(0, torch_plateau, epochs=12, every=every)
    assert ours["lrs"] == ref["lrs"]  # the same LR at every step, to the bit
    assert ours["vals"] == ref["vals"]
    assert len(set(ref["lrs"])) >= 3, "the plateau reduced the LR less than twice: a weak test"
    sched = ours["sched"]
    assert isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert sched.last_epoch == ref["sched"].last_epoch == len(ref["vals"])
    assert sched.get_last_lr() == ref["sched"].get_last_lr()


def test_several_ranks_report_local_metrics_and_the_mean_drives_it(service, run_id):
    """Three ranks (each its own client and data) call `step(local_val)`; torch's plateau fed
    the mean of their values gives the LRs every rank applied."""
    world = 3
    results: dict[int, dict] = {}
    failures: list[BaseException] = []

    def rank_main(rank: int) -> None:
        try:
            with lrcast.Client(service.url, retries=lrcast.Retries(attempts=2, backoff=0.02),
                               timeouts=lrcast.Timeouts(round=60.0)) as client:
                run = client.run(run_id, schedule=PLATEAU, world_size=world, rank=rank)
                results[rank] = train(rank, lambda opt: lrcast.torch.RemoteScheduler(opt, run),
                                      epochs=10, every=None)
        except BaseException as exc:  # surfaced in the test thread
            failures.append(exc)

    threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures
    applied = results[0]["lrs"]
    assert all(results[r]["lrs"] == applied for r in range(world))
    # the oracle: the LR each epoch is torch's plateau fed the mean of the ranks' values
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.2)
    ref = torch_plateau(opt)
    expected = []
    for epoch in range(10):
        expected += [opt.param_groups[0]["lr"]] * 12
        ref.step(math.fsum(results[r]["vals"][epoch] for r in range(world)) / world)
    assert applied == pytest.approx(expected, rel=1e-12)
    assert min(applied) < 0.2 / 2, "no decision reduced the LR: a weak test"


def test_a_number_on_a_closed_form_run_is_an_error_not_an_epoch(make_client, run_id):
    run = make_client().run(run_id, schedule=COSINE, world_size=1)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    sched = lrcast.torch.RemoteScheduler(opt, run)
    assert not isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)
    for _ in range(3):
        sched.step()
    with pytest.raises(TypeError, match="not metric-driven: step\\(\\) takes no metric"):
        sched.step(0.734)
    with pytest.raises(TypeError, match="takes no epoch"):
        sched.step(epoch=3)
    oracle = lrcast.schedules.parse(COSINE)
    assert (sched.last_epoch, opt.param_groups[0]["lr"]) == (3, oracle.lr(3))  # unmoved
    sched.step()
    assert (sched.last_epoch, opt.param_groups[0]["lr"]) == (4, oracle.lr(4))


def test_epoch_argument_on_a_plateau_run_is_an_error(make_client, run_id):
    run = make_client().run(run_id, schedule=PLATEAU, world_size=1)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.2)
    sched = lrcast.torch.RemoteScheduler(opt, run)
    with pytest.raises(TypeError, match="takes no epoch"):
        sched.step(1.0, epoch=5)
    assert sched.last_epoch == 0
    sched.step(torch.tensor(1.0))  # a tensor metric, as ReduceLROnPlateau takes
    assert sched.last_epoch == 1 and sched.get_last_lr() == [0.2]
    with pytest.raises(lrcast.errors.InvalidRequest, match="finite"):
        sched.step(float("nan"))  # refused before it is sent: the step is not taken
    assert sched.last_epoch == 1


def test_hugging_face_trainer_steps_it_with_the_eval_metric(make_client, run_id, tmp_path):
    """`Trainer(optimizers=(opt, sched))` steps a `ReduceLROnPlateau` with the eval metric
    only: the plateau `RemoteScheduler` gets the same calls, and the same LRs."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate", reason="transformers' Trainer needs accelerate")

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.linear = torch.nn.Linear(4, 1)

        def forward(self, x, y):
            return {"loss": torch.nn.functional.mse_loss(self.linear(x), y)}

    gen = torch.Generator().manual_seed(3)
    w = torch.tensor([1.0, -2.0, 0.5, 0.0])

    def sample() -> dict:
        x = torch.randn(4, generator=gen)
        return {"x": x, "y": (x @ w + 0.5 * torch.randn(1, generator=gen)).reshape(1)}

    train_data, eval_data = [sample() for _ in range(64)], [sample() for _ in range(32)]

    def fit(make_sched) -> list[float]:
        seen: list[float] = []

        class Record(transformers.TrainerCallback):
            def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
                seen.append(optimizer.param_groups[0]["lr"])

        model = Tiny()
        opt = torch.optim.SGD(model.parameters(), lr=0.2)
        args = transformers.TrainingArguments(
            output_dir=str(tmp_path), max_steps=60, per_device_train_batch_size=4,
            eval_strategy="steps", eval_steps=5, metric_for_best_model="loss", label_names=["y"],
            report_to=[],
            use_cpu=True, save_strategy="no", disable_tqdm=True, logging_steps=5)
        transformers.Trainer(model=model, args=args, train_dataset=train_data,
                             eval_dataset=eval_data, optimizers=(opt, make_sched(opt)),
                             callbacks=[Record()]).train()
        return seen

    run = make_client().run(run_id, schedule=PLATEAU, world_size=1)
    ours = fit(lambda opt: lrcast.torch.RemoteScheduler(opt, run))
    ref = fit(torch_plateau)
    assert len(ours) == 60 and ours == ref
    assert len(set(ref)) >= 3, "the plateau reduced the LR less than twice: a weak test"
