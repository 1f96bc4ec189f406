"""Experiment files -> validated config models, with every problem located.

``load_config(path, Model, overrides)`` reads the YAML (``yamlio``), applies the
``--set`` overrides, validates with pydantic (unknown keys forbidden, types strict)
and then runs the checks pydantic cannot express (a function name that exists, a
start of the right dimension). All problems are reported together, each as
``FILE:LINE:COL: key.path: message``.

The optimizer models are generated from the optimizer registry, so a new
optimizer or hyperparameter appears in validation, in ``gdcli schema`` and in the
README's reference without being written down twice. Rules between keys (one of
two keys, a key that needs another) are ``Rule`` objects that give both gdcli's
check and the same rule in JSON Schema, so an editor refuses what gdcli refuses.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gdcli.data import BUNDLED, DATASETS
from gdcli.engine.expr import CONSTANTS, FUNCTIONS
from gdcli.errors import ConfigError, Problem, UserError, did_you_mean
from gdcli.nn import ACTIVATIONS, DTYPES, INITIALIZERS, LOSSES, OUTPUTS
from gdcli.optim import OPTIMIZERS, SCHEDULES, Hyperparameter, make_schedule
from gdcli.optim.registry import CLIP_NORM
from gdcli.optim.schedules import WARMUP
from gdcli.yamlio import Document, KeyPath, apply_override, load_document


def _integral(value: Any) -> Any:
    """``1e3`` and ``1000.0`` are the whole number 1000 (YAML reads 1e3 as a float)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WHOLE = BeforeValidator(_integral)
"""Makes an integer key also take a whole number written as a float (1e3). It goes
after the bounds, ``Annotated[int, Field(ge=1), WHOLE]``: placed before them it
would hide them from the JSON Schema."""

Int = Annotated[int, WHOLE]
"""An integer key without bounds, or with bounds given in its own ``Field``."""


# -- rules between keys, checked by gdcli and written into the JSON Schema ---------------


@dataclass(frozen=True)
class Cond:
    """A condition on a model's keys, as a check (``test``) and as JSON Schema."""

    test: Callable[[Any], bool]
    schema: dict[str, Any]


def given(key: str, default: Any = None) -> Cond:
    """``key`` is written in the file with a value other than null (and ``default``)."""
    return Cond(
        lambda m: key in m.model_fields_set and getattr(m, key) not in (None, default),
        {"required": [key], "properties": {key: {"not": {"enum": list({None, default})}}}},
    )


def one_of(*conds: Cond) -> Cond:
    return Cond(lambda m: sum(c.test(m) for c in conds) == 1, {"oneOf": [c.schema for c in conds]})


def any_of(*conds: Cond) -> Cond:
    return Cond(lambda m: any(c.test(m) for c in conds), {"anyOf": [c.schema for c in conds]})


def absent(key: str) -> Cond:
    """``key`` is not written (or written as null)."""
    inner = given(key)
    return Cond(lambda m: not inner.test(m), {"not": inner.schema})


def is_in(key: str, values: Iterable[Any]) -> Cond:
    """``key`` is written with one of ``values``."""
    allowed = list(values)
    return Cond(
        lambda m: given(key).test(m) and getattr(m, key) in allowed,
        {"required": [key], "properties": {key: {"enum": allowed}}},
    )


def above(key: str, low: float) -> Cond:
    return Cond(
        lambda m: getattr(m, key) > low,
        {"required": [key], "properties": {key: {"exclusiveMinimum": low}}},
    )


def unique(key: str) -> Cond:
    """The list ``key`` (when given) holds no value twice."""
    return Cond(
        lambda m: getattr(m, key) is None or len(set(getattr(m, key))) == len(getattr(m, key)),
        {"properties": {key: {"uniqueItems": True}}},
    )


def inside(key: str, cond: Cond) -> Cond:
    """``cond`` holds in the sub-model ``key`` (always true when it is not written)."""
    return Cond(lambda m: cond.test(getattr(m, key)), {"properties": {key: cond.schema}})


@dataclass(frozen=True)
class Rule:
    """When ``when`` holds, ``then`` must: else ``message``, reported at ``key``."""

    key: tuple[str, ...]
    message: str
    then: Cond
    when: Cond | None = None

    def broken(self, model: Any) -> bool:
        return (self.when is None or self.when.test(model)) and not self.then.test(model)

    def schema(self) -> dict[str, Any]:
        if self.when is None:
            return self.then.schema
        return {"if": self.when.schema, "then": self.then.schema}


def not_both(a: str, b: str) -> Rule:
    """Two keys that say the same thing two ways: at most one may be given."""
    return Rule((b,), f"give either {a} or {b}, not both", absent(b), when=given(a))


def _rules_schema(schema: dict[str, Any], cls: type[Any]) -> None:
    rules = getattr(cls, "rules", ())
    if rules:
        schema["allOf"] = [r.schema() for r in rules]


class Model(BaseModel):
    """Base of every config model: unknown keys are errors, types are not coerced, and
    ``rules`` between keys hold (each also written into the model's JSON Schema)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        allow_inf_nan=False,
        json_schema_extra=_rules_schema,
    )
    rules: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _rules_hold(self) -> Model:
        for rule in self.rules:
            if rule.broken(self):
                raise PydanticCustomError("rule", rule.message, {"key": rule.key})
        return self


# -- optimizers and schedules, generated from their registries ------------------------


def _bounds(h: Hyperparameter) -> dict[str, Any]:
    out: dict[str, float] = {}
    if h.low is not None:
        out["ge" if h.low_in else "gt"] = h.low
    if h.high is not None:
        out["le" if h.high_in else "lt"] = h.high
    return out


def _field_for(h: Hyperparameter) -> tuple[Any, Any]:
    default: Any = ... if h.required else h.default
    doc = h.meaning
    if h.kind == "flag":
        return bool, Field(default, description=doc)
    if h.kind == "integer":
        return Annotated[int, Field(**_bounds(h)), WHOLE], Field(default, description=doc)
    if h.kind == "pair":
        item = Annotated[float, Field(**_bounds(h))]
        return list[item], Field(list(default), min_length=2, max_length=2, description=doc)
    return float, Field(default, description=doc, **_bounds(h))


def _named_model(name: str, suffix: str, doc: str, fields: dict[str, Any]) -> type[Model]:
    """A config model tagged ``name: <name>``, one member of a discriminated union."""
    title = "".join(part.capitalize() for part in name.split("_")) + suffix
    tagged: dict[str, Any] = {"name": (Literal[name], Field(description=doc or None)), **fields}
    model = create_model(title, __base__=Model, **tagged)
    model.__doc__ = doc
    return model


def _schedule_model(name: str) -> type[Model]:
    info = SCHEDULES[name]
    fields = {key: _field_for(h) for key, h in {**info.parameters, "warmup_steps": WARMUP}.items()}
    return _named_model(name, "Schedule", info.description, fields)


if TYPE_CHECKING:
    ScheduleSpec = BaseModel
else:
    ScheduleSpec = Annotated[
        Union[tuple(_schedule_model(name) for name in SCHEDULES)],  # noqa: UP007 (registry)
        Field(discriminator="name"),
    ]


def _optimizer_model(name: str) -> type[Model]:
    info = OPTIMIZERS[name]
    fields: dict[str, Any] = {key: _field_for(h) for key, h in info.hyperparameters.items()}
    fields["schedule"] = (
        ScheduleSpec | None,
        Field(None, description="learning-rate schedule (default: constant lr)"),
    )
    fields["clip_norm"] = (float | None, Field(None, description=CLIP_NORM.meaning, gt=0))
    return _named_model(name, "Optimizer", info.description, fields)


OPTIMIZER_MODELS: dict[str, type[Model]] = {name: _optimizer_model(name) for name in OPTIMIZERS}

if TYPE_CHECKING:
    OptimizerSpec = BaseModel
else:
    OptimizerSpec = Annotated[
        Union[tuple(OPTIMIZER_MODELS.values())],  # noqa: UP007 (built from the registry)
        Field(discriminator="name"),
    ]


def optimizer_kwargs(spec: BaseModel) -> dict[str, Any]:
    """The keyword arguments of ``optim.make_optimizer`` for a validated spec."""
    data = spec.model_dump()
    name = data.pop("name")
    schedule = data.pop("schedule")
    clip = data.pop("clip_norm")
    if "betas" in data:
        data["betas"] = tuple(data["betas"])
    out: dict[str, Any] = {"name": name, "clip_norm": clip, **data}
    if schedule is not None:
        sched = dict(schedule)
        out["lr"] = make_schedule(sched.pop("name"), data["lr"], **sched)
    return out


# Values that leave a method plain wherever they are the default; a default that is
# not plain (adamw's weight_decay 0.01) is shown in labels like a chosen value.
PLAIN = {"weight_decay": 0.0}


def describe_optimizer(spec: BaseModel) -> str:
    """``adam(lr=0.05)``: the name, lr, and every hyperparameter that differs from
    the defaults or from ``PLAIN`` (``adamw(lr=0.01, weight_decay=0.01)``)."""
    data = spec.model_dump(exclude_defaults=True)
    name = data.pop("name", getattr(spec, "name", "?"))
    data = {"lr": getattr(spec, "lr", None), **data}
    for key, plain in PLAIN.items():
        value = getattr(spec, key, plain)
        if value != plain:
            data[key] = value
    parts = []
    for key, value in data.items():
        if key == "schedule" and isinstance(value, dict):
            parts.append(f"schedule={value.get('name')}")
        elif isinstance(value, float):
            parts.append(f"{key}={value:g}")
        else:
            parts.append(f"{key}={value}")
    return f"{name}({', '.join(parts)})"


SweepSpec = Annotated[
    dict[str, Annotated[list[Any], Field(min_length=1)]] | None,
    Field(
        description="run once per value of each key.path (a grid for several keys), "
        "each run in its own sub-directory"
    ),
]

# -- descend -------------------------------------------------------------------------


_BOTH_CORNERS = "give both low and high, or neither (the function's domain)"


class RandomStarts(Model):
    """``starts: {random: N, low: [...], high: [...]}``: N uniform starts in a box."""

    random: Int = Field(ge=1, le=1_000_000, description="number of random starts")
    low: list[float] | None = Field(None, description="lower corner (default: the domain)")
    high: list[float] | None = Field(None, description="upper corner (default: the domain)")

    rules = (
        Rule(("high",), _BOTH_CORNERS, given("high"), when=given("low")),
        Rule(("low",), _BOTH_CORNERS, given("low"), when=given("high")),
    )

    @model_validator(mode="after")
    def _box(self) -> RandomStarts:
        if self.low is not None and self.high is not None:
            if len(self.low) != len(self.high):
                raise ValueError("low and high must have the same length")
            if any(lo >= hi for lo, hi in zip(self.low, self.high, strict=True)):
                raise ValueError("every low must be below its high")
            if any(abs(hi - lo) > 1e300 for lo, hi in zip(self.low, self.high, strict=True)):
                raise ValueError("the box is too wide to draw points from; keep high - low < 1e300")
        return self


def _starts_kind(v: Any) -> str:
    return "random-box" if isinstance(v, dict) else "point-list"


Point = Annotated[list[float], Field(min_length=1)]
StartsSpec = Annotated[
    Annotated[list[Point], Tag("point-list"), Field(min_length=1)]
    | Annotated[RandomStarts, Tag("random-box")],
    Discriminator(_starts_kind),
]


def _variable(name: str) -> str:
    if name in CONSTANTS or name in FUNCTIONS:
        kind = "a constant" if name in CONSTANTS else "a function"
        raise ValueError(f"'{name}' is {kind} of the formula language, not a variable name")
    return name


_RESERVED = sorted({*CONSTANTS, *FUNCTIONS})
VariableName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        json_schema_extra={"not": {"enum": list[Any](_RESERVED)}},
    ),
    AfterValidator(_variable),
]
"""A variable of a formula: a name that is not a constant (pi, e) or a function."""

unique_vars = Rule(("vars",), "a variable is listed twice", unique("vars"))


class DescendConfig(Model):
    """An experiment for ``gdcli descend``."""

    name: str = Field("descend", min_length=1, description="names the run directory")
    function: str = Field(
        description="a built-in name (see `gdcli functions`) or a formula such as 'x**2 + y**2'"
    )
    vars: list[VariableName] | None = Field(
        None,
        description="order of the formula's variables (default: sorted by name)",
        json_schema_extra={"uniqueItems": True},
    )
    start: Point | None = Field(None, description="one start point")
    starts: StartsSpec | None = Field(
        None, description="several start points, or {random: N, low: [...], high: [...]}"
    )
    iterations: Int = Field(10000, ge=1, le=10_000_000, description="iteration budget per run")
    tolerance: float = Field(
        1e-6,
        ge=0,
        description="converged when the gradient norm falls below this; 0 never stops early",
    )
    optimizer: OptimizerSpec | None = Field(None, description="one optimizer")
    optimizers: list[OptimizerSpec] | None = Field(
        None, min_length=1, description="one run per optimizer"
    )
    seed: Int = Field(0, ge=0, description="seed of the random starts")
    trace_every: Int = Field(
        1, ge=1, description="write every k-th iteration to the trace (the last always)"
    )
    sweep: SweepSpec = None

    rules = (not_both("start", "starts"), not_both("optimizer", "optimizers"), unique_vars)

    def optimizer_list(self) -> list[BaseModel]:
        if self.optimizers is not None:
            return list(self.optimizers)
        if self.optimizer is not None:
            return [self.optimizer]
        return [OPTIMIZER_MODELS["gd"].model_validate({"name": "gd"})]


# -- train-mlp -----------------------------------------------------------------------


def _auto_or(names: Iterable[str]) -> tuple[str, ...]:
    """``"auto"`` (chosen from the task or the activation) and a registry's names."""
    return ("auto", *names)


if TYPE_CHECKING:
    Activation = str
    DataName = str
    OutputName = str
    LossChoice = str
    InitName = str
    DTypeName = str
else:
    # The names come from the registries.
    Activation = Literal[tuple(ACTIVATIONS)]
    DataName = Literal[tuple(DATASETS)]
    OutputName = Literal[_auto_or(OUTPUTS)]
    LossChoice = Literal[_auto_or(LOSSES)]
    InitName = Literal[_auto_or(INITIALIZERS)]
    DTypeName = Literal[DTYPES]

Fraction = Annotated[float, Field(ge=0, lt=1)]


_SOURCES = ("name", "csv", "npz")
_GENERATED = tuple(n for n in DATASETS if n not in BUNDLED)
# keys that only a generated set reads (the bundled sets and files have a fixed size)
_ARMS, _CENTERS = 2, 3
# keys that only some sets read, with their defaults: a default written out (as a run's
# config.yaml does) says nothing, any other value would be ignored
_GENERATED_KEYS: dict[str, tuple[tuple[str, ...], Any]] = {
    "n": (_GENERATED, None),
    "noise": (_GENERATED, None),
    "arms": (("spirals",), _ARMS),
    "centers": (("blobs",), _CENTERS),
}


class DataSpec(Model):
    """Where the data come from: a built-in or bundled name, a CSV file or an NPZ file."""

    name: DataName | None = Field(None, description="a built-in or bundled data set")
    csv: str | None = Field(None, description="a CSV file with a header row")
    target: str | None = Field(None, description="the CSV column to predict")
    npz: str | None = Field(None, description="an NPZ file with X and y, or in MedMNIST layout")
    n: Annotated[int, Field(ge=4, le=1_000_000), WHOLE] | None = Field(
        None, description="points of a generated set"
    )
    noise: float | None = Field(None, ge=0, description="noise of a generated set")
    arms: Int = Field(_ARMS, ge=2, le=20, description="arms of the spirals (one class each)")
    centers: Int = Field(
        _CENTERS, ge=2, le=20, description="clusters of the blobs (one class each)"
    )
    test_fraction: Fraction = Field(0.0, description="share held out for testing")
    val_fraction: Fraction = Field(0.0, description="share held out for validation")
    standardize: bool = Field(False, description="scale features to mean 0, std 1 (train fit)")

    rules = (
        Rule((), "give exactly one of name, csv or npz", one_of(*map(given, _SOURCES))),
        Rule(
            ("target",),
            "a csv file needs 'target:', the column to predict",
            given("target"),
            when=given("csv"),
        ),
        Rule(
            ("target",),
            "target goes with a csv file only; an npz file or a named set has its own targets",
            given("csv"),
            when=given("target"),
        ),
        *(
            Rule(
                (key,),
                f"has no effect with this data; only {', '.join(names)} read it",
                is_in("name", names),
                when=given(key, default),
            )
            for key, (names, default) in _GENERATED_KEYS.items()
        ),
    )

    @model_validator(mode="after")
    def _fractions(self) -> DataSpec:
        if self.test_fraction + self.val_fraction >= 1:
            raise ValueError("test_fraction + val_fraction must be below 1")
        return self


class ModelSpec(Model):
    """The network: hidden sizes, activations, output layer, loss, initial weights."""

    hidden: list[Annotated[int, Field(ge=1, le=100_000), WHOLE]] = Field(
        default_factory=lambda: [16],
        description="sizes of the hidden layers; [] for none",
        json_schema_extra={"default": [16]},
    )
    activation: Activation | list[Activation] = Field(
        "relu", description="one activation for all hidden layers, or one per layer"
    )
    alpha: float = Field(0.01, gt=0, description="slope of leaky_relu for x < 0; elu's scale")
    output: OutputName = Field("auto", description="output activation (auto: from the task)")
    loss: LossChoice = Field("auto", description="loss (auto: from the task)")
    init: InitName = Field("auto", description="initializer (auto: suits the activation)")
    init_std: float | None = Field(None, gt=0, description="std of the 'normal' initializer")
    dtype: DTypeName = Field(
        "float32", description="floating-point precision of weights and computations"
    )

    rules = (
        Rule(
            ("init_std",),
            "init 'normal' needs init_std",
            given("init_std"),
            when=is_in("init", ["normal"]),
        ),
        Rule(
            ("init_std",),
            "init_std goes with init: normal only",
            is_in("init", ["normal"]),
            when=given("init_std"),
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        if isinstance(self.activation, list) and len(self.activation) != len(self.hidden):
            raise ValueError(
                f"{len(self.activation)} activations for {len(self.hidden)} hidden layers"
            )
        return self

    def activations(self) -> tuple[str, ...]:
        if isinstance(self.activation, list):
            return tuple(self.activation)
        return (self.activation,) * len(self.hidden)


class EarlyStopping(Model):
    patience: Int = Field(ge=1, description="epochs without improvement before stopping")
    min_delta: float = Field(0.0, ge=0, description="smallest decrease that counts")


def _batch_kind(value: Any) -> str:
    return "batch-full" if isinstance(value, str) else "batch-count"


# One branch per kind of value, so that a wrong value is one mistake, not one per branch.
BatchSize = Annotated[
    Annotated[Annotated[int, Field(ge=1), WHOLE], Tag("batch-count")]
    | Annotated[Literal["full"], Tag("batch-full")],
    Discriminator(_batch_kind),
]
_ORACLE = [name for name, info in OPTIMIZERS.items() if info.needs_oracle]


def absent_in(key: str, values: Iterable[Any]) -> Cond:
    """``key`` is not one of ``values`` (or not written)."""
    inner = is_in(key, values)
    return Cond(lambda m: not inner.test(m), {"not": inner.schema})


class TrainConfig(Model):
    """An experiment for ``gdcli train-mlp``."""

    name: str = Field("train", min_length=1, description="names the run directory")
    data: DataSpec = Field(description="the data set: exactly one of name, csv or npz")
    model: ModelSpec = Field(
        default_factory=ModelSpec,
        description="the network (default: one hidden layer of 16 relu units)",
        json_schema_extra={"default": {"hidden": [16], "activation": "relu"}},
    )
    optimizer: OptimizerSpec = Field(
        default_factory=lambda: OPTIMIZER_MODELS["adam"].model_validate({"name": "adam"}),
        description="the optimizer (default: adam with lr 0.001)",
        json_schema_extra={"default": {"name": "adam", "lr": 0.001}},
    )
    epochs: Int = Field(100, ge=1, le=1_000_000, description="passes over the training data")
    batch_size: BatchSize = Field(
        32, description="examples per update, or 'full' for the whole training set"
    )
    l2: float = Field(0.0, ge=0, description="L2 weight decay added to the loss")
    early_stopping: EarlyStopping | None = Field(
        None, description="stop when the validation loss stops improving; best weights kept"
    )
    seed: Int = Field(0, ge=0, description="seed of the split, the weights and the shuffling")
    snapshot_every: Annotated[int, Field(ge=1, le=1_000_000), WHOLE] | None = Field(
        None,
        description="record the weights every N epochs (and the first and last) in "
        "snapshots.npz, for `gdcli plot --animate`; off by default",
    )
    sweep: SweepSpec = None

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            ("early_stopping",),
            "early_stopping needs a validation part: set data.val_fraction",
            inside("data", any_of(given("npz"), above("val_fraction", 0))),
            when=given("early_stopping"),
        ),
        Rule(
            ("optimizer", "name"),
            f"works on analytic functions only (gdcli descend); for training use "
            f"{', '.join(n for n in OPTIMIZERS if n not in _ORACLE)}",
            inside("optimizer", absent_in("name", _ORACLE)),
        ),
    )


DEFAULT_ACTIVATIONS: list[Activation] = [n for n, a in ACTIVATIONS.items() if a.lecture]


class CompareConfig(TrainConfig):
    """An experiment for ``gdcli compare-activations``: a train-mlp file plus these keys."""

    activations: list[Activation] = Field(
        default_factory=lambda: list(DEFAULT_ACTIVATIONS),
        min_length=1,
        description="one run per activation (and seed), same network otherwise",
        json_schema_extra={"default": list[Any](DEFAULT_ACTIVATIONS)},
    )
    seeds: list[Annotated[int, Field(ge=0), WHOLE]] | None = Field(
        None, min_length=1, description="the seeds to repeat each activation with"
    )
    repeats: Annotated[int, Field(ge=1, le=1000), WHOLE] | None = Field(
        None, description="seeds 0 .. repeats-1"
    )
    target_accuracy: float | None = Field(
        None, gt=0, le=1, description="count the epochs until train accuracy reaches this"
    )
    target_loss: float | None = Field(
        None, gt=0, description="count the epochs until train loss falls to this"
    )

    rules = (
        *TrainConfig.rules,
        not_both("seeds", "repeats"),
        not_both("target_accuracy", "target_loss"),
        Rule(("activations",), "an activation is listed twice", unique("activations")),
        Rule(
            ("snapshot_every",),
            "has no effect in compare-activations: train-mlp records snapshots",
            absent("snapshot_every"),
        ),
        Rule(
            ("seeds",),
            "a seed is listed twice; its runs would be copies of each other",
            unique("seeds"),
        ),
        Rule(
            ("model", "activation"),
            "has no effect in compare-activations: each run takes one of 'activations:'",
            inside("model", absent("activation")),
        ),
    )

    def seed_list(self) -> list[int]:
        if self.seeds is not None:
            return list(self.seeds)
        return list(range(self.repeats if self.repeats is not None else 1))


# -- validation with locations -------------------------------------------------------


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes an annotation may hold (through Optional, list, Annotated, unions)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType, list):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out += _unwrap(arg)
        return out
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _model_at(root: type[BaseModel], data: Any, path: KeyPath) -> type[BaseModel] | None:
    """The model class whose fields sit at ``path`` of ``data``, if one does."""
    model: type[BaseModel] | None = root
    cur = data
    for key in path:
        if isinstance(key, int):
            cur = cur[key] if isinstance(cur, list) and key < len(cur) else None
            continue
        if model is None or key not in model.model_fields:
            return None
        candidates = _unwrap(model.model_fields[key].annotation)
        cur = cur.get(key) if isinstance(cur, dict) else None
        model = _pick(candidates, cur)
    if isinstance(cur, list):
        return None
    return model


def _pick(candidates: Sequence[type[BaseModel]], value: Any) -> type[BaseModel] | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if len(candidates) == 1:
        return candidates[0]
    name = value.get("name") if isinstance(value, dict) else None
    for c in candidates:
        field = c.model_fields.get("name")
        if field is not None and typing.get_args(field.annotation) == (name,):
            return c
    return None


def _data_path(data: Any, loc: tuple[Any, ...]) -> KeyPath:
    """pydantic's error location as a path in the file: union tags dropped."""
    path: list[str | int] = []
    cur = data
    for i, key in enumerate(loc):
        in_list = isinstance(cur, list) and isinstance(key, int) and key < len(cur)
        if (isinstance(cur, dict) and key in cur) or in_list:
            cur = cur[key]
            path.append(key)
        elif i == len(loc) - 1 and isinstance(key, str) and not _looks_like_tag(key):
            path.append(key)
    return tuple(path)


def _looks_like_tag(key: str) -> bool:
    return key in OPTIMIZERS or "-" in key or "[" in key or key[:1].isupper()


def _message(err: Any, root: type[BaseModel], data: Any, path: KeyPath) -> str:
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        model = _model_at(root, data, path[:-1])
        valid = list(model.model_fields) if model else []
        hint = did_you_mean(str(path[-1]), valid)
        allowed = f" (valid keys: {', '.join(valid)})" if valid and not hint else ""
        return f"unknown key '{path[-1]}'{hint}{allowed}"
    if kind == "missing":
        return "is required but missing"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return f"unknown name '{ctx.get('tag')}'; valid: {ctx.get('expected_tags')}".replace(
            "'", "'"
        )
    if kind == "union_tag_not_found":
        return "needs a 'name:' key"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if value is not None and not isinstance(value, (dict, list)):
        return f"{msg}, got {value!r}"
    return msg


def _default_optimizer_name(doc: Document, model: type[Model]) -> None:
    """``--set optimizer.lr=0.01`` on a file without ``optimizer:`` means the default
    optimizer with that lr, not an optimizer without a name."""
    default = "adam" if issubclass(model, TrainConfig) else "gd"
    opt = doc.data.get("optimizer")
    if isinstance(opt, dict) and "name" not in opt and ("optimizer",) not in doc.positions:
        opt["name"] = default


def validate(doc: Document, model: type[Model]) -> Any:
    """The validated config, or a ConfigError with every problem located."""
    _default_optimizer_name(doc, model)
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = _data_path(doc.data, tuple(err["loc"]))
            if err["type"] == "rule":  # reported at the key the rule names, with its value
                path = (*path, *err["ctx"]["key"])
                err = {**err, "input": _value_at(doc.data, path)}
            problems.append(doc.locate(path, _message(err, model, doc.data, path)))
        raise ConfigError(*_unique(problems + _function_problems(doc))) from None


def _value_at(data: Any, path: KeyPath) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _function_problems(doc: Document) -> list[Problem]:
    """A bad ``function:``, reported along with the schema's problems rather than after."""
    spec = doc.data.get("function")
    if not isinstance(spec, str):
        return []
    from gdcli.engine.functions import resolve

    variables = doc.data.get("vars")
    try:
        resolve(spec, variables=tuple(variables) if isinstance(variables, list) else None)
    except UserError as exc:
        return [doc.locate(("function",), p.message) for p in exc.problems]
    return []


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out


def load_config(
    path: str | Path, model: type[Model], overrides: Sequence[str] = ()
) -> tuple[Any, Document]:
    """Read, override and validate an experiment file."""
    doc = load_document(path)
    for assignment in overrides:
        apply_override(doc, assignment)
    config = validate(doc, model)
    return config, doc


def located(doc: Document, path: KeyPath, error: UserError) -> ConfigError:
    """A semantic error raised while resolving a config, moved to the key it concerns."""
    return ConfigError(*(doc.locate(path, p.message) for p in error.problems))


SCHEMAS: dict[str, type[Model]] = {
    "descend": DescendConfig,
    "train-mlp": TrainConfig,
    "compare-activations": CompareConfig,
}


def schema(command: str) -> dict[str, Any]:
    """The JSON Schema of a command's experiment file."""
    model = SCHEMAS.get(command)
    if model is None:
        raise UserError(
            f"no experiment file for '{command}'{did_you_mean(command, SCHEMAS)}; "
            f"commands with one: {', '.join(SCHEMAS)}"
        )
    out = model.model_json_schema()
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["title"] = f"gdcli {command} experiment"
    return out
