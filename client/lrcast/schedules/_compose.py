"""SequentialLR and ChainedScheduler, and the protocol their members follow.

Composition protocol. PyTorch's composites run their members on one optimizer, so a
member's effect depends on how its ``get_lr()`` uses the incoming ``group["lr"]``. Every
member Schedule falls in one of three kinds:

* **multiplicative** (`Multiplicative`: ConstantLR, LinearLR, StepLR, MultiStepLR,
  ExponentialLR, PolynomialLR): each step multiplies the incoming LR by a ratio that is the
  same for every group. Hooks: ``first(mode)``, the ratio at epoch 0 for ``mode`` "initial"
  (the constructor's ``_initial_step``), "step" (a plain ``step()`` at epoch 0) or "closed"
  (``_get_closed_form_lr`` at epoch 0, relative to the member's base LRs, as SequentialLR's
  ``_update_lr(0)`` uses it); ``span(a, b)``, the product of the ratios of epochs a..b
  (a >= 1, 1.0 when empty), in O(1) or O(log m); ``cum(k)``, ``first("initial") *
  span(1, k)``.
* **affine**: `CosineAnnealingLR` (``(lr - eta_min) * ratio + eta_min``, an additive branch
  at ``(k - 1 - T_max) % (2 * T_max) == 0``), handled by name below.
* **absolute**: every other Schedule (CyclicLR, OneCycleLR, CosineAnnealingWarmRestarts and
  any Schedule that does not subclass `Multiplicative`, e.g. the Hugging Face types, which
  are LambdaLR: ``base_lrs[i] * lambda(k)``). Its value is ``member.lrs(local_step)``, built
  on the LRs the parent hands it (its ``base_lrs``); the incoming LR is ignored.

The optimizer's ``initial_lr`` is set by the first member constructed (``setdefault``) and
overwritten only by OneCycleLR; members built after the first get it as their ``lr``.
Composites as members: a nested ChainedScheduler is flattened into its parent; a
ChainedScheduler or SequentialLR may be member 0 of a SequentialLR (`SequentialLR` says
what PyTorch then does); PyTorch cannot restart a composite at a milestone, and a
SequentialLR inside a ChainedScheduler has no closed form here, so those are SpecErrors.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any

from ._base import LRs, Schedule
from ._common import open_fields
from ._context import BuildContext
from ._cosine import CosineAnnealingLR
from ._errors import SpecError, StepOutOfRange
from ._fields import Fields, join_path
from ._plateau import EMPTY_HISTORY, PlateauHistory

METRIC_DRIVEN = "a metric-driven schedule (ReduceLROnPlateau, reduce_lr_on_plateau, greedy)"


class Multiplicative(Schedule):
    """A schedule whose every step multiplies the incoming LR (see the module docstring)."""

    def __init__(self, spec: dict[str, Any], base_lrs: LRs) -> None:
        self.spec, self.base_lrs, self.num_groups = spec, tuple(base_lrs), len(base_lrs)

    def first(self, mode: str) -> float:
        """The ratio applied at epoch 0: mode "initial", "step" or "closed"."""
        raise NotImplementedError

    def span(self, a: int, b: int) -> float:
        """The product of the ratios applied at epochs a..b (a >= 1; 1.0 if b < a)."""
        raise NotImplementedError

    def cum(self, step: int) -> float:
        """The LR at `step` over the LR before construction (the standalone closed form)."""
        return self.first("initial") * self.span(1, step)

    def lrs(self, step: int, history: PlateauHistory | None = None) -> LRs:
        c, base = self.cum(step), self.base_lrs
        return (base[0] * c,) if len(base) == 1 else tuple([b * c for b in base])


def _scale(lrs: LRs, factor: float) -> LRs:
    return (lrs[0] * factor,) if len(lrs) == 1 else tuple([x * factor for x in lrs])


def _initial_after(member: Schedule, before: LRs | None) -> LRs:
    """``group["initial_lr"]`` once `member` is constructed, given its value before."""
    if before is None or getattr(member, "sets_initial_lr", False):
        return getattr(member, "initial_lrs", member.base_lrs)
    return before


def _initial_before(members: list[Schedule], index: int) -> LRs | None:
    """``group["initial_lr"]`` just before ``members[index]`` is constructed."""
    initial: LRs | None = None
    for m in members[:index]:
        initial = _initial_after(m, initial)
    return initial


def _check_one_cycle(leaves: list[tuple[str, Schedule]]) -> None:
    """OneCycleLR reads initial/max/min LR and momenta from the optimizer's groups at every
    step, so a later OneCycleLR (or a later momentum-cycling member) would change it."""
    for i, (path, leaf) in enumerate(leaves):
        if type(leaf).__name__ != "OneCycleLR":
            continue
        for later_path, later in leaves[i + 1:]:
            if type(later).__name__ == "OneCycleLR" or (leaf.cycles_momentum
                                                        and later.cycles_momentum):
                raise SpecError(later_path, f"follows the OneCycleLR at {path}, whose values "
                                            "PyTorch would overwrite; use one OneCycleLR (or "
                                            "cycle_momentum=false) per composite")


def _members(f: Fields) -> list[Any]:
    specs = f.raw("schedulers")
    if not isinstance(specs, list) or not specs:
        raise f.error("schedulers", "must be a non-empty list of schedule specs")
    return specs


class ChainedScheduler(Schedule):
    """``ChainedScheduler(schedulers)``: every member's ``step()`` runs, in order, each step.

    With the last absolute member at index j: ``lr = member_j.lrs(k) * prod_{i>j} ratio_i(k)``.
    Without one: ``lr = lr_0 * prod_i cum_i(k)`` (multiplicative ratios commute). A
    CosineAnnealingLR with ``eta_min == 0`` and no absolute member is multiplicative until
    ``T_max``, where it sets the LR to 0; at ``T_max + 1 (mod 2 T_max)`` it adds
    ``base_lr * (1 - cos(pi / T_max)) / 2`` and only the later members' ratio of that step
    applies. Other combinations with a CosineAnnealingLR have no closed form whose cost is
    independent of the step and are rejected. Nested ChainedSchedulers are flattened (PyTorch
    steps them the same way).
    """

    def __init__(self, spec: dict[str, Any], members: list[tuple[str, Schedule]],
                 start: LRs | None, initial: LRs) -> None:
        self.spec = spec
        self.members = [m for _, m in members]
        self.member_paths = [p for p, _ in members]
        self.num_groups = self.members[0].num_groups
        self.base_lrs = self.initial_lrs = initial
        self.sets_initial_lr = any(getattr(m, "sets_initial_lr", False) for m in self.members)
        self.start = start if start is not None else (0.0,) * self.num_groups
        last_abs = None
        for i, m in enumerate(self.members):
            if not isinstance(m, (Multiplicative, CosineAnnealingLR)):
                last_abs = i
        self.absolute = self.members[last_abs] if last_abs is not None else None
        # PyTorch quirk: CyclicLR's initial step runs before it stores its base_lr, on the
        # base_lrs LRScheduler read from group["initial_lr"]: an earlier member's, if any
        self.cyclic_start: LRs | None = None
        if last_abs and type(self.absolute).__name__ == "CyclicLR":
            self.cyclic_start = _initial_before(self.members, last_abs)
        tail = members[last_abs + 1:] if last_abs is not None else members
        self.tail = [m for _, m in tail if isinstance(m, Multiplicative)]
        cosines = [(p, m) for p, m in tail if isinstance(m, CosineAnnealingLR)]
        self.cosine: CosineAnnealingLR | None = None
        if cosines:
            path, cos = cosines[-1]
            if self.absolute is not None:
                raise SpecError(path, "a CosineAnnealingLR after an absolute scheduler ("
                                      f"{type(self.absolute).__name__}) in a ChainedScheduler "
                                      "has no closed form; put it before that scheduler, or "
                                      "use a SequentialLR")
            if len(cosines) > 1 or cos.eta_min != 0.0:
                raise SpecError(path, "in a ChainedScheduler, CosineAnnealingLR has a closed "
                                      "form only with eta_min=0 and as the only "
                                      "CosineAnnealingLR; use CosineAnnealingLR alone, a "
                                      "SequentialLR, or the Hugging Face 'cosine' types")
            self.cosine = cos
            index = self.members.index(cos)
            self.before = [m for m in self.members[:index] if isinstance(m, Multiplicative)]
            self.after = [m for m in self.members[index + 1:] if isinstance(m, Multiplicative)]
        cycling = [m for m in self.members if m.cycles_momentum]
        self.momentum_member = cycling[-1] if cycling else None
        self.cycles_momentum = bool(cycling)

    def evaluate(self, step: int, incoming: LRs, mode: str) -> LRs:
        """The LRs at `step` when the members' epoch-0 step ran in `mode` on `incoming`."""
        if self.absolute is not None:
            f = 1.0
            for m in self.tail:
                f *= m.first(mode) if step == 0 else m.span(step, step)
            if step == 0 and mode == "initial" and self.cyclic_start is not None:
                return _scale(self.cyclic_start, f)
            return _scale(self.absolute.lrs(step), f)
        if self.cosine is None:
            f = 1.0
            if mode == "initial":
                for m in self.tail:
                    f *= m.cum(step)
            else:
                for m in self.tail:
                    f *= m.first(mode) * m.span(1, step)
            return _scale(incoming, f)
        return self._with_cosine(step, incoming)

    def _with_cosine(self, step: int, incoming: LRs) -> LRs:
        cos = self.cosine
        assert cos is not None
        t = cos.T_max
        if step <= t:
            f = cos.cos_factor(step)
            for m in self.tail:
                f *= m.cum(step)
            return _scale(incoming, f)
        e0 = t + 2 * t * ((step - t) // (2 * t))  # last step where the cosine set the LR to 0
        if step == e0:
            return (0.0,) * self.num_groups
        e1 = e0 + 1  # additive branch: 0 + base_lr * (1 - cos(pi / T_max)) / 2
        f = (1 + math.cos(math.pi * step / t)) / (1 + math.cos(math.pi * e1 / t))
        for m in self.after:
            f *= m.span(e1, step)
        for m in self.before:
            f *= m.span(e1 + 1, step)
        lift = (1 - math.cos(math.pi / t)) / 2
        base = cos.base_lrs
        return (base[0] * lift * f,) if len(base) == 1 else tuple([b * lift * f for b in base])

    def lrs(self, step: int, history: PlateauHistory | None = None) -> LRs:
        return self.evaluate(step, self.start, "initial")

    def momentums(self, step: int) -> LRs | None:
        return self.momentum_member.momentums(step) if self.momentum_member else None


class SequentialLR(Schedule):
    """``SequentialLR(schedulers, milestones)``: member j runs from milestone j-1 on.

    PyTorch quirks reproduced: all members are constructed first (OneCycleLR overwrites
    ``initial_lr``), then the LR is reset to ``initial_lr`` and only the member active at
    epoch 0 takes its initial step, on that LR. At a milestone the next member restarts with
    ``_update_lr(0)``: its closed form at epoch 0 where the class has one (so multiplicative
    members restart from their own base LRs), else ``get_lr()`` (absolute members: their own
    value at 0); then plain ``step()``s. With duplicate milestones the members in between
    never run. A ChainedScheduler may be member 0 only (PyTorch raises NotImplementedError
    when a composite is restarted at a milestone); its members then take a plain ``step()``
    at epoch 0 (not the initial one). A SequentialLR may be member 0 as well: the outer
    constructor's ``_initial_step`` calls the inner ``step()``, so the inner one runs
    `shift` epochs ahead (one per nesting level) and its first running member takes plain
    ``step()``s from epoch 0 on the outer ``initial_lr``. Beyond PyTorch, ReduceLROnPlateau
    may be the last member of the outermost SequentialLR: from the last milestone on, the
    LRs are the plateau decisions' (from `history`, in this schedule's step numbers), else
    the optimizer's initial LRs; the same holds for ``greedy`` (GreedyLR) as the last member.
    """

    #: epochs the inner clock runs ahead when nested as member 0 (0 at the top level)
    shift = 0

    def __init__(self, spec: dict[str, Any], members: list[Schedule], milestones: list[int],
                 initial: LRs, paths: list[str]) -> None:
        self.spec, self.members, self.milestones = spec, members, milestones
        self.paths = paths
        self.num_groups = members[0].num_groups
        self.base_lrs = self.initial_lrs = initial
        self.sets_initial_lr = any(getattr(m, "sets_initial_lr", False) for m in members)
        self.first_index = bisect_right(milestones, 0)
        last = members[-1]
        if last.plateau is not None:
            self.plateau = last.plateau
            self.plateau_start = milestones[-1] if milestones else 0
        self.cycles_momentum = any(m.cycles_momentum for m in members)
        self._held = self._held_momentums() if self.cycles_momentum else []
        if isinstance(members[0], SequentialLR):
            members[0].set_shift(1)

    def set_shift(self, shift: int) -> None:
        """Mark this SequentialLR as member 0 of another, `shift` levels deep."""
        self.shift = shift
        where = self.paths[0].rpartition(".schedulers[")[0] or "schedulers[0]"
        if self.plateau is not None:
            raise SpecError(self.paths[-1], f"{METRIC_DRIVEN} can only be the last member of "
                                            "the outermost SequentialLR")
        if self.cycles_momentum:
            raise SpecError(where, "a nested SequentialLR cannot cycle momentum (set "
                                   "cycle_momentum=false, or flatten it into the outer one)")
        j = bisect_right(self.milestones, shift)
        if isinstance(self.members[j], CosineAnnealingLR) and self._first_run(j):
            raise SpecError(self.paths[j], "a CosineAnnealingLR that starts a nested "
                            "SequentialLR takes a plain step at epoch 0, which has no closed "
                            "form here; flatten the nested SequentialLR into the outer one")
        if isinstance(self.members[0], SequentialLR):
            self.members[0].set_shift(shift + 1)

    def _first_run(self, j: int) -> bool:
        """True if member j runs from the outer construction on rather than a milestone."""
        start = self.milestones[j - 1] if j else 0
        return start < self.shift or (self.shift == 0 and j == self.first_index)

    def _held_momentums(self) -> list[LRs | None]:
        """Per member: the momentum left in the optimizer while it runs without cycling it.

        Momentum is a plain group value: after construction it is the last cycling member's
        value at epoch 0; later it is whatever the last member that ran and cycles it wrote.
        """
        held: LRs | None = None
        for m in reversed(self.members):
            if m.cycles_momentum:
                held = m.momentums(0)
                break
        result: list[LRs | None] = []
        bounds = [0, *self.milestones, None]
        for j, m in enumerate(self.members):
            result.append(held)
            start, end = bounds[j], bounds[j + 1]
            if j >= self.first_index and (end is None or end > start) and m.cycles_momentum:
                try:
                    held = m.momentums(end - start - 1) if end is not None else None
                except StepOutOfRange:  # PyTorch would have raised before getting there
                    held = None
        return result

    def _where(self, step: int) -> tuple[int, int]:
        j = bisect_right(self.milestones, step)
        return j, (step - self.milestones[j - 1] if j else step)

    def lrs(self, step: int, history: PlateauHistory | None = None) -> LRs:
        if self.plateau is not None and step >= self.plateau_start:
            return (history or EMPTY_HISTORY).lrs_at(step, self.base_lrs)
        return self.evaluate(step, self.base_lrs)

    def evaluate(self, step: int, incoming: LRs) -> LRs:
        """The LRs at `step` when the optimizer's LR was reset to `incoming` at construction."""
        tau = step + self.shift
        j = bisect_right(self.milestones, tau)
        m = self.members[j]
        if self._first_run(j):  # the initial step (top level) or plain steps, on `incoming`
            if isinstance(m, Multiplicative):
                if self.shift == 0:
                    return _scale(incoming, m.cum(step))
                return _scale(incoming, m.first("step") * m.span(1, step))
            if isinstance(m, CosineAnnealingLR):
                return m.from_incoming(incoming, step)
            if isinstance(m, (ChainedScheduler, SequentialLR)):
                return (m.evaluate(step, incoming, "step") if isinstance(m, ChainedScheduler)
                        else m.evaluate(step, incoming))
            return m.lrs(step)
        e = tau - self.milestones[j - 1]
        if isinstance(m, Multiplicative):  # restarted by _update_lr(0): closed form at 0
            return _scale(m.base_lrs, m.first("closed") * m.span(1, e))
        return m.lrs(e)

    def momentums(self, step: int) -> LRs | None:
        j, e = self._where(step)
        if not self.cycles_momentum:
            return None
        m = self.members[j]
        return m.momentums(e) if m.cycles_momentum else self._held[j]


def _leaves(schedule: Schedule, path: str) -> list[tuple[str, Schedule]]:
    if isinstance(schedule, ChainedScheduler):
        return list(zip(schedule.member_paths, schedule.members, strict=True))
    return [(path, schedule)]


def _check_groups(path: str, member: Schedule, num_groups: int) -> None:
    if member.num_groups != num_groups:
        raise SpecError(path, f"has {member.num_groups} parameter groups where the first "
                              f"member has {num_groups}")


def build_sequential(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``SequentialLR(schedulers, milestones)``."""
    f = open_fields(spec, ctx)
    specs = _members(f)
    milestones = f.int_list("milestones", low=0)
    f.finish()
    if len(milestones) != len(specs) - 1:
        raise f.error("milestones", f"expected {len(specs) - 1} milestones (one fewer than "
                                    f"schedulers), got {len(milestones)}")
    if milestones != sorted(milestones):
        raise f.error("milestones", "must be non-decreasing")
    members: list[Schedule] = []
    leaves: list[tuple[str, Schedule]] = []
    initial: LRs | None = None
    base = join_path(ctx.path, "schedulers")
    for i, sub in enumerate(specs):
        path = join_path(base, i)
        kind = sub.get("type") if isinstance(sub, dict) else None
        if kind in ("ChainedScheduler", "SequentialLR") and i > 0:
            raise SpecError(join_path(path, "type"), f"a {kind} can only be the first member of "
                            "a SequentialLR (PyTorch raises NotImplementedError when it is "
                            "restarted at a milestone)")
        lrs = ctx.lrs if initial is None else initial
        member = ctx.member(sub, path, lrs)
        if member.plateau is not None and i != len(specs) - 1:
            raise SpecError(path, f"{METRIC_DRIVEN} can only be the last member of the "
                                  "outermost SequentialLR")
        if isinstance(member, ChainedScheduler) and member.cosine is not None:
            raise SpecError(path, "a ChainedScheduler with a CosineAnnealingLR cannot be the "
                                  "first member of a SequentialLR (its members take a plain "
                                  "step at epoch 0, which has no closed form here)")
        _check_groups(path, member, members[0].num_groups if members else member.num_groups)
        members.append(member)
        leaves += _leaves(member, path)
        initial = _initial_after(member, initial)
    _check_one_cycle(leaves)
    assert initial is not None
    return SequentialLR(spec, members, milestones, initial,
                        [join_path(base, i) for i in range(len(members))])


def _flatten(sub: Any, path: str, out: list[tuple[str, Any]]) -> None:
    """Expand nested ChainedScheduler specs: PyTorch steps their members in the same order."""
    if isinstance(sub, dict) and sub.get("type") == "ChainedScheduler":
        f = Fields(sub, path)
        if "lr" in sub:
            raise f.error("lr", "a nested schedule has no lr of its own; set lr on the outer "
                                "schedule")
        specs = _members(f)
        f.finish()
        for i, s in enumerate(specs):
            _flatten(s, join_path(join_path(path, "schedulers"), i), out)
        return
    if isinstance(sub, dict) and sub.get("type") == "SequentialLR":
        raise SpecError(join_path(path, "type"), "a SequentialLR inside a ChainedScheduler is "
                        "not supported; use a SequentialLR whose first member is the "
                        "ChainedScheduler")
    out.append((path, sub))


def build_chained(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``ChainedScheduler(schedulers)``."""
    f = open_fields(spec, ctx)
    specs = _members(f)
    f.finish()
    flat: list[tuple[str, Any]] = []
    base = join_path(ctx.path, "schedulers")
    for i, sub in enumerate(specs):
        _flatten(sub, join_path(base, i), flat)
    members: list[tuple[str, Schedule]] = []
    initial: LRs | None = None
    for path, sub in flat:
        lrs = ctx.lrs if initial is None else initial
        member = ctx.member(sub, path, lrs)
        if member.plateau is not None:
            raise SpecError(path, f"{METRIC_DRIVEN} cannot be part of a ChainedScheduler "
                                  "(PyTorch refuses ReduceLROnPlateau too); use it as the last "
                                  "member of a SequentialLR")
        _check_groups(path, member, members[0][1].num_groups if members else member.num_groups)
        members.append((path, member))
        initial = _initial_after(member, initial)
    _check_one_cycle(members)
    assert initial is not None
    return ChainedScheduler(spec, members, ctx.lrs, initial)
