"""`lrcast.optax.schedule(run)`: an optax schedule inside `jax.jit`, compared with optax's own
schedule and the engine, and changed by amendments and plateau decisions without recompiling."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
jnp = jax.numpy

import lrcast  # noqa: E402
import lrcast.optax  # noqa: E402

PEAK, WARMUP, TOTAL = 0.1, 20, 200
# HF's "cosine" is optax's warmup_cosine_decay_schedule from 0 (up to the end of the decay)
COSINE = {"type": "cosine", "lr": PEAK, "num_warmup_steps": WARMUP, "num_training_steps": TOTAL}


def quadratic_update(optimizer: optax.GradientTransformation):
    """A jitted update of a tiny least-squares problem; the LR lives in the optimizer."""
    target = jnp.arange(3.0)

    @jax.jit
    def update(params, state):
        grads = jax.grad(lambda p: jnp.sum((p - target) ** 2))(params)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return update


def test_lr_per_count_is_optax_and_the_engine(lrcast_client, run_id):
    run = lrcast_client.run(run_id, schedule=COSINE, world_size=1)
    ours = jax.jit(lrcast.optax.schedule(run))
    theirs = optax.warmup_cosine_decay_schedule(0.0, PEAK, WARMUP, TOTAL)
    engine = lrcast.schedules.parse(COSINE)
    counts = range(TOTAL + 1)
    values = [float(ours(jnp.asarray(k))) for k in counts]
    assert values == [float(np.float32(engine.lr(k))) for k in counts]
    assert values == pytest.approx([float(theirs(k)) for k in counts],  # float32 math
                                   rel=1e-5, abs=PEAK * 1e-6)
    assert ours._cache_size() == 1
    # batched counts (vmap), as optax's own schedules allow
    batch = jnp.arange(0, 50, 7)
    assert list(jax.vmap(lrcast.optax.schedule(run))(batch)) == pytest.approx(
        [values[int(k)] for k in batch])


def test_sgd_trains_as_with_optax_own_schedule(lrcast_client, run_id):
    run = lrcast_client.run(run_id, schedule=COSINE, world_size=1)
    results = []
    for sched in (lrcast.optax.schedule(run),
                  optax.warmup_cosine_decay_schedule(0.0, PEAK, WARMUP, TOTAL)):
        optimizer = optax.sgd(learning_rate=sched, momentum=0.9)
        update = quadratic_update(optimizer)
        params = jnp.zeros(3)
        state = optimizer.init(params)
        for _ in range(60):
            params, state = update(params, state)
        results.append(np.asarray(params))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5)


def run_updates(update, params, state, start: int, stop: int, lrs: list[float]):
    for _ in range(start, stop):
        params, state = update(params, state)
        lrs.append(float(state.hyperparams["learning_rate"]))
    jax.block_until_ready(params)
    return params, state


def test_an_amendment_changes_the_lrs_without_recompiling(lrcast_client, run_id):
    run = lrcast_client.run(run_id, schedule=COSINE, world_size=1)
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=lrcast.optax.schedule(run))
    update = quadratic_update(optimizer)
    params = jnp.zeros(3)
    state = optimizer.init(params)
    lrs: list[float] = []
    params, state = run_updates(update, params, state, 0, 1, lrs)
    from_step = run.lease.horizon  # the first step no rank was handed yet
    try:
        lrcast_client.run(run_id).amend(from_step, scale=0.5)
    except lrcast.errors.AmendmentTooEarly as exc:  # a renewal moved the horizon meanwhile
        from_step = exc.min_step
        lrcast_client.run(run_id).amend(from_step, scale=0.5)
    params, state = run_updates(update, params, state, 1, from_step + 20, lrs)

    engine = lrcast.schedules.parse(COSINE)
    expected = [engine.lr(k) * (0.5 if k >= from_step else 1.0) for k in range(len(lrs))]
    assert lrs == [float(np.float32(x)) for x in expected]
    assert lrs[from_step] != float(np.float32(engine.lr(from_step)))
    assert update._cache_size() == 1


def test_plateau_decisions_change_the_lrs_without_recompiling(lrcast_client, run_id):
    torch = pytest.importorskip("torch")
    spec = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 0}
    run = lrcast_client.run(run_id, schedule=spec, world_size=1)
    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=lrcast.optax.schedule(run))
    update = quadratic_update(optimizer)
    params = jnp.zeros(3)
    state = optimizer.init(params)
    losses = {5: 1.0, 10: 2.0, 15: 0.5, 20: 0.9}  # worse at 10 and 20: two reductions
    lrs: list[float] = []
    step = 0
    for report_at, loss in losses.items():
        params, state = run_updates(update, params, state, step, report_at, lrs)
        run.report(report_at, loss)
        step = report_at
    run_updates(update, params, state, step, 25, lrs)

    reference = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(reference, factor=0.5, patience=0)
    expected = []
    for k in range(25):
        if k in losses:
            plateau.step(losses[k])
        expected.append(float(np.float32(reference.param_groups[0]["lr"])))
    assert lrs == expected
    assert len(set(lrs)) == 3
    assert update._cache_size() == 1


def test_rejects_something_that_is_not_a_run():
    with pytest.raises(TypeError, match="lrcast.Run"):
        lrcast.optax.schedule(object())  # type: ignore[arg-type]
