"""The API's shapes (pydantic): every request and response body of the routes, as in /docs
(the routes define none of their own).

Numbers are bounded so that no input can overflow the engine or the store: steps are
integers in ``[0, 2**53)``, ``world_size`` at most 65536, ranges at most 100,000 points.
Request bodies are strict (``false`` or ``"3"`` is no integer), their strings are valid
Unicode (no lone surrogate: it could be stored but never sent back as UTF-8), and their JSON
nests at most `MAX_JSON_DEPTH` levels (`metadata`: `METADATA_MAX_DEPTH` levels and
`METADATA_MAX_BYTES` bytes).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from lrcast.schedules import schedule_types

from ..core.errors import Invalid
from ..core.timeline import MAX_POINTS

MAX_STEP = 2**53 - 1
RUN_ID_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
#: how deep a request body's JSON may nest (a spec's composites nest at most 16 levels)
MAX_JSON_DEPTH = 64
METADATA_MAX_DEPTH = 16
METADATA_MAX_BYTES = 64 * 1024

_SPEC_SCHEMA = {
    "type": "object", "required": ["type"],
    "properties": {"type": {"enum": schedule_types()}},
    "description": 'a schedule spec, e.g. {"type": "StepLR", "lr": 0.1, "step_size": 30}',
}


def _integral(value: Any) -> Any:
    """A JSON number with no fraction (``5.0``) is an integer, as JSON Schema says; strict
    mode refuses the rest (``true``, ``"5"``, ``5.5``)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Integer = Annotated[int, BeforeValidator(_integral)]
Step = Annotated[int, Field(ge=0, le=MAX_STEP, description="a step, 0-based"),
                 BeforeValidator(_integral)]
Finite = Annotated[float, Field(allow_inf_nan=False, ge=-1e300, le=1e300)]
Spec = Annotated[dict[str, Any], WithJsonSchema(_SPEC_SCHEMA)]
Aggregate = Literal["mean", "min", "max"]
Epoch = Annotated[int, Field(ge=0, le=MAX_STEP, description="a membership epoch"),
                  BeforeValidator(_integral)]


def check_json(value: Any, field: str, max_depth: int) -> None:
    """Invalid naming the place in `value` (under `field`) of a lone surrogate or of nesting
    past `max_depth`. Iterative: the depth is what is being checked."""
    stack = [(value, field, 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise Invalid(where or "body", "is not valid Unicode (a lone surrogate)") from None
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise Invalid(where or "body", f"nests deeper than {max_depth} levels")
            for key, sub in (item.items() if isinstance(item, dict) else enumerate(item)):
                if isinstance(key, str):
                    name = key.encode("utf-8", "backslashreplace").decode()  # sendable
                    path = f"{where}.{name}" if where else name
                    stack.append((key, path, depth))
                else:
                    path = f"{where}[{key}]"
                stack.append((sub, path, depth + 1))


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _valid_json(cls, data: Any) -> Any:
        # raised as the domain's Invalid (not a ValueError), so the 422 names the exact place
        check_json(data, "", MAX_JSON_DEPTH)
        return data


class SpikePolicy(_Body):
    """The loss-spike rule (`core/autopilot.py`): a step's mean loss over ranks vs the median
    and MAD of the `window` steps before it; `consecutive` steps with z > `threshold`."""

    window: Integer = Field(50, ge=5, le=10_000)
    threshold: float = Field(6.0, gt=0, le=1e6, allow_inf_nan=False)
    consecutive: Integer = Field(3, ge=1, le=10_000)
    lr_scale: float = Field(0.5, gt=0, le=1e6, allow_inf_nan=False,
                            description="the LR is multiplied by it from the checkpoint on")
    skip_batches: Integer = Field(200, ge=0, le=MAX_STEP)


class AutopilotPolicy(_Body):
    """``act``: on a spike, one rewind directive to every rank; ``alert``: an event only."""

    spike: SpikePolicy = Field(default_factory=SpikePolicy)
    mode: Literal["act", "alert"] = "alert"


class RunCreate(_Body):
    """Body of ``PUT /v1/runs/{run_id}`` and ``POST /v1/runs``."""

    schedule: Spec
    world_size: Integer = Field(1, ge=1, le=65536, description="ranks that report each round")
    aggregate: Aggregate = Field("mean", description="how a round's values are combined")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description=f"free-form JSON, at most {METADATA_MAX_DEPTH} levels "
                                          f"deep and {METADATA_MAX_BYTES} bytes")

    @field_validator("metadata")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_json(value, "metadata", METADATA_MAX_DEPTH)
        if len(json.dumps(value)) > METADATA_MAX_BYTES:
            raise Invalid("metadata", f"is over {METADATA_MAX_BYTES} bytes as JSON")
        return value

    autopilot: AutopilotPolicy | None = None
    epoch: Epoch | None = Field(None, description=(
        "the job's membership epoch (core/membership.py). Creating: generation 0's (default "
        "0). On an existing run, one greater than the run's changes its membership (another "
        "world_size), from `from_step`"))
    from_step: Step | None = Field(None, description=(
        "with a greater `epoch`: the step the new generation resumes from (default: the "
        "latest checkpoint the run recorded, else 0)"))


class RankProgress(BaseModel):
    """Where a rank really is (see ``at`` in `LeaseIn` and `ReportIn`)."""

    rank: int
    step: int = Field(description="the step it has reached: the latest step whose LR it "
                                  "used, as far as the service knows")
    updated_at: float | None = Field(description="when the service last heard from it "
                                                 "(unix time)")


class PendingRound(BaseModel):
    step: int
    received: int
    expected: int
    missing_ranks: list[int]


class PlateauInfo(BaseModel):
    """The plateau fold state of one schedule instance (the original or an amendment)."""

    instance: int
    origin: int = Field(description="global step that is the instance's own step 0")
    state: dict[str, Any]


class Generation(BaseModel):
    """One membership generation: `world_size` ranks, for the rounds after `from_step`
    (generation 0: from step 0 on)."""

    epoch: int
    from_step: int
    world_size: int


class Run(BaseModel):
    """A run as stored, with its resolved schedule and live state."""

    run_id: str
    schedule: dict[str, Any]
    world_size: int
    aggregate: str
    metadata: dict[str, Any]
    created_at: float
    version: int = Field(description="bumped by every change of the LRs: decisions, "
                                     "amendments, rewinds")
    served_frontier: int = Field(description="amendments may start at this step or later")
    min_amendment_step: int
    metric_driven: bool
    timeline: list[dict[str, Any]]
    plateau: list[PlateauInfo]
    pending_rounds: list[PendingRound]
    last_decided_step: int | None
    progress: list[RankProgress]
    epoch: int = Field(0, description="the membership epoch in force (`generations[-1]`)")
    generations: list[Generation] = Field(default_factory=list, description=(
        "the membership generations in force, oldest first"))


class MembershipIn(_Body):
    """Body of ``POST /v1/runs/{run_id}/membership``: the job resumed from `from_step` (its
    checkpoint, as a rewind's ``to_step``) with `world_size` ranks, under `epoch`."""

    world_size: Integer = Field(ge=1, le=65536)
    from_step: Step
    epoch: Epoch


class MembershipOut(BaseModel):
    """The generation in force, and every generation: the same answer for each repeat."""

    run_id: str
    epoch: int
    world_size: int
    from_step: int
    generations: list[Generation]


class RunSummary(BaseModel):
    run_id: str
    world_size: int
    aggregate: str
    created_at: float
    version: int
    metadata: dict[str, Any]
    error: str | None = Field(None, description="set when the stored run cannot be shown "
                                                "whole (stored by an older version): its "
                                                "metadata is then left out")


class RunPage(BaseModel):
    """One page of ``GET /v1/runs``; pass `next` as ``after`` for the next page."""

    runs: list[RunSummary]
    next: str | None


class LR(BaseModel):
    """``GET /v1/runs/{run_id}/lr``."""

    run_id: str
    step: int
    lr: float
    lrs: list[float]
    momentum: float | None
    momentums: list[float] | None
    version: int


class LRRange(BaseModel):
    """``GET /v1/runs/{run_id}/lrs`` and ``POST /v1/preview``."""

    steps: list[int]
    lr: list[float]
    lrs: list[list[float]]
    momentum: list[float] | None
    version: int | None = Field(None, description="the run's version (None for a preview)")


#: what one step consumed, in samples or tokens (the global batch)
Amount = Annotated[int, Field(ge=1, le=MAX_STEP), BeforeValidator(_integral)]
#: the most entries one consumption batch carries
MAX_CONSUMPTION_ENTRIES = 10_000
_LOG_DESCRIPTION = ("the run's consumption log (`lrcast.schedules.Consumption.from_json`): "
                    "what each step consumed, run-length, each amount in force until the next "
                    "entry naming it (the spec's batch and batch_schedule, and the reports)")


class ConsumptionEntry(_Body):
    """From `from_step` on, each step consumes `samples` and/or `tokens` (an amount left out
    continues as it was), until the next entry naming it."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["samples"]},
                                                           {"required": ["tokens"]}]})

    from_step: Step
    samples: Amount | None = None
    tokens: Amount | None = None


def _entries(entries: list[ConsumptionEntry], field: str) -> list[tuple[int, int | None,
                                                                        int | None]]:
    """The entries as the engine's tuples (`Invalid` for one without an amount)."""
    out = []
    for i, e in enumerate(entries):
        if e.samples is None and e.tokens is None:
            raise Invalid(f"{field}[{i}]", "needs samples and/or tokens")
        out.append((e.from_step, e.samples, e.tokens))
    return out


class ConsumptionIn(_Body):
    """Body of ``POST /v1/runs/{run_id}/consumption``: a batch of entries, accepted whole."""

    entries: list[ConsumptionEntry] = Field(max_length=MAX_CONSUMPTION_ENTRIES)

    def as_entries(self) -> list[tuple[int, int | None, int | None]]:
        return _entries(self.entries, "entries")


class ConsumptionOut(BaseModel):
    run_id: str
    accepted: int = Field(description="entries that changed the log (a repeat changes nothing)")
    version: int
    consumption: list[dict[str, int]] = Field(description=_LOG_DESCRIPTION)


class ResolvedTimeline(BaseModel):
    """``GET /v1/runs/{run_id}/timeline``: the run's resolved schedule, read-only."""

    run_id: str
    version: int
    timeline: list[dict[str, Any]]
    consumption: list[dict[str, int]] = Field(default_factory=list,
                                              description=_LOG_DESCRIPTION)
    metric_driven: bool
    world_size: int
    served_frontier: int


class ReportIn(_Body):
    """One rank's metric for the evaluation round at `step`."""

    step: Step
    value: Finite
    rank: Integer = Field(0, ge=0, le=65535)
    at: Step | None = Field(None, description="the step this rank is at (the latest step "
                            "whose LR it used), below the served frontier (none: not known). "
                            "A report at a step some rank has reached is 409 lr_already_served")
    epoch: Epoch | None = Field(None, description="the sender's membership epoch: older than "
                                "the run's is 409 stale_membership, newer 409 "
                                "membership_pending (none: not checked)")


class ReportOut(BaseModel):
    """The round's state after this report; `version` changes when the round is decided,
    telling a client that its lease must be refreshed."""

    step: int
    received: int
    expected: int
    decided: bool
    lr: float | None = Field(description="the LR from `step` on, once decided")
    version: int


class CooldownIn(_Body):
    """The decay phase of transformers' ``warmup_stable_decay`` from the LRs in force at
    ``from_step``: ``lr * ((1 - r) * value + r)`` over `steps` steps, then ``lr * r``."""

    steps: Integer = Field(ge=1, le=MAX_STEP, description="length of the decay, N")
    decay_type: Literal["linear", "cosine", "1-sqrt"] = "linear"
    min_lr_ratio: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.0


class AmendmentIn(_Body):
    """Either a new `schedule` from `from_step` on (it starts at its own step 0 there, with
    a fresh plateau state), a `scale` that multiplies the schedule in force at
    `from_step` (scales compound), or a `cooldown` from the LRs in force at `from_step`.
    Segments at or after `from_step` are replaced. Without `from_step`: from the first step
    an amendment may take (`min_amendment_step`)."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": ["schedule"]}, {"required": ["scale"]}, {"required": ["cooldown"]}]})

    from_step: Annotated[Step | None, WithJsonSchema({
        "type": "integer", "minimum": 0, "maximum": MAX_STEP,
        "description": "the first step amended (default: the first step an amendment may "
                       "take)"})] = None
    schedule: Annotated[Spec | None, WithJsonSchema(_SPEC_SCHEMA)] = None
    scale: Annotated[float | None, Field(gt=0, le=1e6, allow_inf_nan=False),
                     WithJsonSchema({"type": "number", "exclusiveMinimum": 0,
                                     "maximum": 1e6})] = None
    cooldown: CooldownIn | None = None

    @field_validator("from_step", "schedule", "scale", "cooldown", mode="before")
    @classmethod
    def _given(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null: leave the field out")
        return value


class AmendmentOut(BaseModel):
    run_id: str
    from_step: int
    version: int
    timeline: list[dict[str, Any]]


class RewindIn(_Body):
    """The job resumed from a checkpoint saved at `to_step` (after that step's round, if any,
    was decided). Ranks resuming together should pass the same `resume_id`."""

    to_step: Step
    resume_id: str | None = Field(None, max_length=256)
    rank: int | None = Field(None, ge=0, le=65535,
                             description="the rank acknowledging an autopilot directive")


class RewindOut(BaseModel):
    run_id: str
    to_step: int
    version: int
    applied: bool = Field(description="False when the rewind repeated the latest one")


class LeaseIn(_Body):
    """Ask for the resolved schedule to evaluate steps ``[step, step + steps)`` locally."""

    rank: Integer | None = Field(None, ge=0, le=65535)
    step: Step
    steps: Integer = Field(1000, ge=1, le=100_000)
    at: Step | None = Field(None, description="the step this rank is at (the latest step "
                            "whose LR it used), at most `step`; default `step`. Leased steps "
                            "beyond it count as not used; `at` = `step` is written before "
                            "the answer (a rank telling where it stopped)")
    epoch: Epoch | None = Field(None, description="the sender's membership epoch: older than "
                                "the run's is 409 stale_membership; newer is answered as to "
                                "an observer (no rank, no progress) until the change is made")
    consumption: list[ConsumptionEntry] | None = Field(
        None, max_length=MAX_CONSUMPTION_ENTRIES, description="entries for the consumption "
        "log, recorded before the lease as by POST .../consumption (the client sends what "
        "changed with its renewals)")

    def consumption_entries(self) -> list[tuple[int, int | None, int | None]]:
        return _entries(self.consumption or [], "consumption")


class Lease(BaseModel):
    """The rank may evaluate every step in ``[start, horizon)`` with
    ``lrcast.schedules.Timeline.from_json(timeline)``: no amendment can take effect below
    `horizon`, and `horizon` never passes an undecided plateau round."""

    run_id: str
    version: int
    timeline: list[dict[str, Any]]
    consumption: list[dict[str, int]] = Field(default_factory=list,
                                              description=_LOG_DESCRIPTION)
    start: int
    horizon: int
    metric_driven: bool
    world_size: int
    epoch: int = Field(0, description="the run's membership epoch")


class LossesIn(_Body):
    """One rank's training losses, ``[[step, loss], ...]``, sent in batches."""

    rank: Integer = Field(0, ge=0, le=65535)
    #: a JSON array is a tuple here (strict mode otherwise wants a Python tuple); its items
    #: stay strict
    points: list[Annotated[tuple[Step, Finite], Strict(False)]] = Field(max_length=MAX_POINTS)


class LossesOut(BaseModel):
    run_id: str
    received: int
    new: int = Field(description="points not seen before (a repeat is counted once)")
    events: list[str] = Field(description="what the autopilot raised: spike, directive, ...")


class LossCurve(BaseModel):
    """``GET .../losses``: the mean loss over ranks of every step all ranks sent."""

    run_id: str
    steps: list[int]
    mean: list[float]
    next: int | None


class CheckpointIn(_Body):
    step: Step


class CheckpointOut(BaseModel):
    run_id: str
    step: int
    new: bool = Field(description="False when this checkpoint was announced before")


class Event(BaseModel):
    id: int
    time: float
    kind: str = Field(description="created, decision, amendment, rewind, checkpoint, spike, "
                                  "directive, acknowledgement, recovery, membership, "
                                  "consumption")
    data: dict[str, Any]


class EventPage(BaseModel):
    events: list[Event]
    next: int | None


class PreviewReport(_Body):
    step: Step
    value: Finite


class PreviewIn(_Body):
    """A schedule evaluated without storing anything: ``steps`` (0..steps-1) or
    ``start``/``stop``/``stride``; `reports` feed the plateau part (one value per round)."""

    schedule: Spec
    steps: Integer | None = Field(None, ge=1, le=MAX_POINTS)
    start: Step = 0
    stop: Step | None = None
    stride: Integer = Field(1, ge=1, le=MAX_STEP)
    reports: list[PreviewReport] = Field(default_factory=list, max_length=MAX_POINTS)


class RoundOut(BaseModel):
    step: int
    decided: bool
    value: float | None = Field(description="the aggregated value, once decided")
    received: int
    expected: int
    reports: dict[int, float] = Field(description="rank -> reported value")
    min: float | None
    max: float | None


class RoundPage(BaseModel):
    """Rounds in step order; pass `next` as `after` for the next page."""

    run_id: str
    world_size: int
    aggregate: str
    rounds: list[RoundOut]
    next: int | None


class Suggestion(BaseModel):
    """torch-lr-finder's conclusion so far, with the curve it is drawn from."""

    run_id: str
    suggested_lr: float | None = Field(description="the LR at the steepest descent of the "
                                                   "smoothed loss (None: too few points)")
    suggested_step: int | None
    best_loss: float | None = Field(description="the lowest smoothed loss")
    diverged: bool = Field(description="the smoothed loss exceeded diverge_th * best_loss")
    stopped_at: int | None = Field(description="the step at which the test diverged")
    done: bool = Field(description="diverged, or every step of the sweep was reported")
    num_iter: int
    steps: list[int] = Field(description="the decided rounds kept (up to the divergence)")
    lrs: list[float]
    losses: list[float] = Field(description="aggregated loss per step, as reported")
    smoothed: list[float] = Field(description="the smoothed loss torch-lr-finder plots")


class ScheduleType(BaseModel):
    type: str = Field(description="a spec's `type`")
    example: dict[str, Any] = Field(description="an example spec of this type")
    metric_driven: bool = Field(description="the example takes plateau reports")


class ScheduleTypes(BaseModel):
    """``GET /v1/schedule-types``: the engine's catalog (`lrcast.schedules.example_specs`)."""

    types: list[ScheduleType]


class Status(BaseModel):
    """``/healthz`` and ``/readyz``."""

    status: str


class ErrorBody(BaseModel):
    detail: str
    code: str
