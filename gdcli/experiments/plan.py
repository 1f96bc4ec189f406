"""From a validated experiment to plans: the only module besides ``config`` that sees
the YAML document (to report a problem at its key) and the one place where random
streams are made.

Every random stream of an experiment comes from one ``numpy.random.SeedSequence``
of its seed (``Streams``), each under its name, so that one stream never depends on
how much another consumed. Plans are picklable dataclasses, so any executor can run
them; workers never see YAML or validate again.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gdcli import nn
from gdcli.data import Dataset, Parts, Splits
from gdcli.engine.functions import ResolvedFunction
from gdcli.errors import ConfigError, Problem, UserError
from gdcli.experiments.compare import ComparePlan, PairJob
from gdcli.experiments.config import describe_optimizer, located, optimizer_kwargs, validate
from gdcli.experiments.descend import DescendPlan
from gdcli.experiments.jobs import error_text
from gdcli.experiments.recipes import FunctionRecipe, OptimizerRecipe
from gdcli.experiments.sweep import Point, RunPlan, SweepPlan, points, slug
from gdcli.experiments.train import TrainPlan
from gdcli.yamlio import Document, apply_override, parse_yaml

# -- random streams -----------------------------------------------------------------------


@dataclass(frozen=True)
class Streams:
    """The named random streams of one experiment, all from ``SeedSequence(seed)``.

    The streams are the ones gdcli always drew (``default_rng(seed)`` is
    ``Generator(PCG64(SeedSequence(seed)))``), so every number stays as it was:
    the root sequence itself for the data, the starts and the gradient-check rows
    (each a fresh generator, so none depends on another's draws), and the root's
    entropy extended by 1 for the minibatch order. (``SeedSequence.spawn`` would
    give other numbers.)
    """

    seed: int

    @property
    def root(self) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.seed)

    def _generator(self) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(self.root))

    def data(self) -> np.random.Generator:
        """Built-in data, its split, then the initial weights, in that order."""
        return self._generator()

    def starts(self) -> np.random.Generator:
        """The random starts of a descent."""
        return self._generator()

    def gradient_check(self) -> np.random.Generator:
        """The training rows ``--check-grad`` compares gradients on."""
        return self._generator()

    def minibatch_order(self) -> np.random.SeedSequence:
        """The shuffle of every epoch (the trainer makes its generator from it)."""
        return np.random.SeedSequence([self.seed, 1])


# -- data -------------------------------------------------------------------------------------


def data_path(text: str, base: Path | None) -> Path:
    """A data path as written: relative to the working directory, else to the file's."""
    p = Path(text).expanduser()
    if p.is_absolute() or p.exists() or base is None:
        return p
    beside = base / p
    return beside if beside.exists() else p


DEFAULT_NOISE = {"moons": 0.1, "circles": 0.05, "spirals": 0.1, "blobs": 0.8}


def load_data(
    spec: Any, rng: np.random.Generator, base: Path | None, read: FileData | None = None
) -> Splits:
    """The data of a ``DataSpec``, split and standardized as it asks; the data file's
    or bundled set's contents are ``read`` when given (``file_data``), else read here."""
    from gdcli import data

    source: Dataset | data.Parts
    if read is None and (spec.name is None or spec.name in data.BUNDLED):
        read = read_file(spec, base)
    if read is not None:
        source = read.source
    else:  # built-in data, drawn from the data stream
        noise = spec.noise if spec.noise is not None else DEFAULT_NOISE.get(spec.name, 0.1)
        if spec.name in data.LOGIC and spec.n is None:
            noise = 0.0
        source = data.make_builtin(
            spec.name, n=spec.n, noise=noise, rng=rng, arms=spec.arms, centers=spec.centers
        )
    if spec.npz is not None:
        _own_parts(spec, source)
    return data.prepare(
        source,
        test_fraction=spec.test_fraction,
        val_fraction=spec.val_fraction,
        standardize=spec.standardize,
        rng=rng,
    )


@dataclass(frozen=True, eq=False)
class FileData:
    """A data file's (or bundled set's) contents as read, before any split: what the
    runs of one experiment share instead of each reading it again."""

    source: Dataset | Parts


def read_file(spec: Any, base: Path | None) -> FileData:
    """The contents of the bundled data set, CSV or NPZ file of a ``DataSpec``."""
    from gdcli import data

    if spec.name is not None:
        return FileData(data.load_bundled(spec.name))
    if spec.csv is not None:
        return FileData(data.load_csv(data_path(spec.csv, base), spec.target))
    return FileData(data.load_npz(data_path(spec.npz, base)))


def file_data(
    config: Any, doc: Document, reads: dict[tuple[str, ...], FileData] | None = None
) -> FileData | None:
    """The contents of the experiment's data file or bundled data set, read once for
    all its runs (and, through ``reads``, once for all the experiments of a sweep
    that name it); None for built-in data, which is drawn from the seed."""
    from gdcli import data

    spec = config.data
    key: tuple[str, ...]
    if spec.name is not None:
        if spec.name not in data.BUNDLED:
            return None
        key = ("bundled", spec.name)
    else:
        path = data_path(spec.csv if spec.csv is not None else spec.npz, _base(doc)).resolve()
        key = (str(path), "csv" if spec.csv is not None else "npz", str(spec.target))
    if reads is not None and key in reads:
        return reads[key]
    try:
        read = read_file(spec, _base(doc))
    except UserError as exc:
        raise _located_data(doc, exc) from None
    if reads is not None:
        reads[key] = read
    return read


def _own_parts(spec: Any, parts: Any) -> None:
    """A fraction for a part the file already holds would be ignored: refuse it."""
    for key, part in (("val_fraction", parts[1]), ("test_fraction", parts[2])):
        if part is not None and getattr(spec, key) > 0:
            name = key.split("_")[0]
            raise UserError(
                Problem(
                    f"has no effect: {spec.npz} holds its own {name} part "
                    f"({part.X.shape[0]} rows); remove {key}",
                    key=key,
                )
            )


def training_splits(config: Any, base: Path | None) -> Splits:
    """The data splits a training run of ``config`` used, drawn again from its seed's
    data stream (data files relative to ``base``): what ``plot`` draws."""
    return load_data(config.data, Streams(config.seed).data(), base)


def resolved_config(config: Any, doc: Document | None = None) -> dict[str, Any]:
    """The experiment as it ran: every key, defaults filled in, and data files as
    absolute paths, so the run directory can be redrawn or rerun from anywhere."""
    data: dict[str, Any] = config.model_dump(mode="json", exclude_none=True, warnings=False)
    spec = data.get("data")
    if isinstance(spec, dict) and doc is not None:
        base = Path(doc.file).parent if doc.file else None
        for key in ("csv", "npz"):
            if isinstance(spec.get(key), str):
                spec[key] = str(data_path(spec[key], base).resolve())
    return data


def job_data(config: Any) -> dict[str, Any]:
    """A validated experiment as plain data (the sweep left out: a job is one run)."""
    data: dict[str, Any] = config.model_dump(mode="json", exclude_none=True, warnings=False)
    data.pop("sweep", None)
    return data


def _optimizer_recipe(spec: Any, **extra: Any) -> OptimizerRecipe:
    """The recipe of a validated optimizer spec; the schedule stays a name and numbers."""
    schedule = spec.model_dump()["schedule"]
    kwargs = optimizer_kwargs(spec.model_copy(update={"schedule": None}))
    return OptimizerRecipe(describe_optimizer(spec), {**kwargs, **extra}, schedule)


# -- descend -------------------------------------------------------------------------------


def _function_recipe(config: Any, doc: Document, problems: list[Problem]) -> FunctionRecipe:
    """The function's recipe, the dimension taken from the start points; the starts'
    problems go to ``problems``."""
    dimension = None
    if config.start is not None:
        dimension = len(config.start)
    elif isinstance(config.starts, list):
        dims = {len(s) for s in config.starts}
        if len(dims) > 1:
            problems.append(doc.locate(("starts",), "start points of different lengths"))
        dimension = len(config.starts[0])
    elif config.starts is not None and config.starts.low is not None:
        dimension = len(config.starts.low)
    return FunctionRecipe(config.function, dimension, tuple(config.vars) if config.vars else None)


def _resolve(recipe: FunctionRecipe, config: Any, doc: Document) -> ResolvedFunction:
    """The function, or a ConfigError at the key that makes it wrong."""
    try:
        return recipe.build()
    except UserError as exc:
        key = "function"
        if "point with" in str(exc):
            key = "start" if config.start is not None else "starts"
        raise located(doc, (key,), exc) from None


def descend_function(config: Any, doc: Document) -> ResolvedFunction:
    """The function of a descend experiment, without drawing any start (for ``plot``)."""
    problems: list[Problem] = []
    fn = _resolve(_function_recipe(config, doc, problems), config, doc)
    if problems:
        raise ConfigError(*problems)
    return fn


def _starts(config: Any, doc: Document, fn: ResolvedFunction) -> np.ndarray:
    """The start points (N, d): given, or drawn from the seed's ``starts`` stream."""
    if config.start is not None:
        return np.array([config.start], dtype=np.float64)
    if isinstance(config.starts, list):
        return np.array(config.starts, dtype=np.float64)
    if config.starts is None:
        raise ConfigError(
            doc.locate((), "give a start point ('start: [x, y]') or several ('starts:')")
        )
    box = config.starts
    if box.low is not None:
        low, high = np.array(box.low), np.array(box.high)
    else:
        dom = np.array(fn.window())
        low, high = dom[:, 0], dom[:, 1]
    return Streams(config.seed).starts().uniform(low, high, size=(box.random, fn.dimension))


def descend_plan(config: Any, doc: Document) -> DescendPlan:
    """Resolve a ``DescendConfig``: the function, the starts, the optimizers.

    Problems found here (an unknown function, a start of the wrong dimension) are
    reported at the key they concern.
    """
    problems: list[Problem] = []
    recipe = _function_recipe(config, doc, problems)
    fn = None
    try:
        fn = _resolve(recipe, config, doc)
    except ConfigError as exc:
        problems += exc.problems
    optimizers = []
    key = "optimizers" if config.optimizers is not None else "optimizer"
    for i, spec in enumerate(config.optimizer_list()):
        opt = _optimizer_recipe(spec, clip_axis=-1)
        try:
            opt.build()
        except UserError as exc:
            problems += located(doc, (key, i) if key == "optimizers" else (key,), exc).problems
            continue
        optimizers.append(opt)
    if problems:
        raise ConfigError(*problems)
    assert fn is not None
    return DescendPlan(
        name=config.name,
        function_recipe=recipe,
        starts=_starts(config, doc, fn),
        optimizer_recipes=tuple(optimizers),
        iterations=config.iterations,
        tolerance=config.tolerance,
        trace_every=config.trace_every,
        seed=config.seed,
        resolved=_resolved_descend(config, doc, fn),
    )


def _resolved_descend(config: Any, doc: Document, fn: ResolvedFunction) -> dict[str, Any]:
    """A descend experiment with its implicit choices written out: the default
    optimizer when none was given, the box of random starts when it was the function's window."""
    data = resolved_config(config, doc)
    if "optimizer" not in data and "optimizers" not in data:
        data["optimizer"] = config.optimizer_list()[0].model_dump(mode="json", exclude_none=True)
    starts = data.get("starts")
    if isinstance(starts, dict) and "low" not in starts:
        window = fn.window()
        starts["low"] = [lo for lo, _ in window]
        starts["high"] = [hi for _, hi in window]
    return data


# -- train-mlp -------------------------------------------------------------------------------


def _architecture(config: Any, doc: Document, train: Dataset) -> nn.Architecture:
    """The network for the data: output layer and loss from the task unless given."""
    task = train.task
    n_classes = len(train.class_names) if train.class_names else 0
    output, loss, n_out = nn.default_output_and_loss(task, n_classes)
    m = config.model
    if m.output != "auto":
        output = m.output
    if m.loss != "auto":
        loss = m.loss
    _check_head(doc, task, output, loss)
    try:  # the config validated every field: what is left is the network's size
        arch = nn.Architecture(
            sizes=(train.X.shape[1], *m.hidden, n_out),
            activations=m.activations(),
            alpha=m.alpha,
            output=output,
            loss=loss,
            dtype=m.dtype,
        )
        nn.check_size(arch, rows=train.X.shape[0])
    except ConfigError as exc:
        raise located(doc, ("model", "hidden"), exc) from None
    return arch


def _training_optimizer(config: Any, doc: Document) -> OptimizerRecipe:
    """The optimizer's recipe (the config's rules already refused an oracle optimizer)."""
    recipe = _optimizer_recipe(config.optimizer)
    try:
        recipe.build()
    except UserError as exc:
        raise located(doc, ("optimizer",), exc) from None
    return recipe


def _base(doc: Document) -> Path | None:
    return Path(doc.file).parent if doc.file else None


def _located_data(doc: Document, exc: UserError) -> UserError:
    """A data problem at its place: in the data file, else at its ``data`` key."""
    if _has_file(exc):
        return exc
    return ConfigError(*(doc.locate(("data", *_key_path(p.key)), p.message) for p in exc.problems))


def _training_data(
    config: Any, doc: Document, rng: np.random.Generator, read: FileData | None
) -> Splits:
    try:
        splits = load_data(config.data, rng, _base(doc), read)
    except UserError as exc:
        raise _located_data(doc, exc) from None
    if config.early_stopping is not None and splits.val is None:
        raise ConfigError(
            doc.locate(
                ("early_stopping",),
                "early stopping needs a validation part: set data.val_fraction "
                "(this data has none of its own)",
            )
        )
    return splits


def train_plan(
    config: Any, doc: Document, check_grad: bool = False, read: FileData | None = None
) -> TrainPlan:
    """Resolve a ``TrainConfig``: data, architecture, initial weights, optimizer, and
    with ``check_grad`` the rows the gradient check uses. A data file's contents are
    ``read`` when given (``file_data``), else read here."""
    streams = Streams(config.seed)
    rng = streams.data()
    splits = _training_data(config, doc, rng, read)
    arch = _architecture(config, doc, splits.train)
    m = config.model
    layers = nn.init_layers(arch, None if m.init == "auto" else m.init, m.init_std, rng)
    init = m.init
    if init == "auto":
        defaults = arch.activations or ("linear",)
        init = "auto: " + ", ".join(nn.default_initializer(a) for a in defaults)
    optimizer = _training_optimizer(config, doc)
    check_rows = None
    if check_grad:
        n = splits.train.X.shape[0]
        check_rows = streams.gradient_check().permutation(n)[: min(64, n)]
    stopping = config.early_stopping
    return TrainPlan(
        name=config.name,
        arch=arch,
        layers=layers,
        splits=splits,
        optimizer_recipe=optimizer,
        initializer=init,
        seed=config.seed,
        epochs=config.epochs,
        batch_size=None if config.batch_size == "full" else config.batch_size,
        l2=config.l2,
        patience=stopping.patience if stopping else None,
        min_delta=stopping.min_delta if stopping else 0.0,
        minibatch_order=streams.minibatch_order(),
        resolved=resolved_config(config, doc),
        target=config.data.target,
        check_rows=check_rows,
        snapshot_every=getattr(config, "snapshot_every", None),
    )


def _key_path(key: str | None) -> tuple[str, ...]:
    return tuple(key.split(".")) if key else ()


def _has_file(exc: Any) -> bool:
    return any(p.file is not None for p in exc.problems)


def _check_head(doc: Document, task: str, output: str, loss: str) -> None:
    ok = {
        "binary": {("sigmoid", "bce"), ("sigmoid", "mse")},
        "multiclass": {("softmax", "cross_entropy"), ("softmax", "mse")},
        "regression": {("identity", "mse")},
    }[task]
    if (output, loss) not in ok:
        choices = " or ".join(f"output {o} with loss {fn}" for o, fn in sorted(ok))
        raise ConfigError(
            doc.locate(
                ("model",),
                f"output {output} with loss {loss} does not fit a {task} task; use {choices}",
            )
        )


# -- compare-activations ------------------------------------------------------------------


def compare_plan(
    config: Any, doc: Document, reads: dict[tuple[str, ...], FileData] | None = None
) -> ComparePlan:
    """One training job per (activation, seed), seeds varying slowest.

    The experiment as written is planned first, so that bad data or keys are reported
    before any work, at their place in the file; its data is read once for every pair.
    A job carries its pair's plan without the data (``TrainRecipe``): named data
    (built-in, bundled) is made again where the job runs, and a data file's contents,
    read here once, are the same object in every job (a cluster scatters it once). A
    pair whose own plan fails is a failed row of the comparison, as a run that raised
    would be.
    """
    read = file_data(config, doc, reads)
    train_plan(config, doc, read=read)
    carried = read if config.data.name is None else None  # named data is made by name
    pair_doc = Document(job_data(config), doc.file)
    targets = {"target_accuracy": config.target_accuracy, "target_loss": config.target_loss}
    jobs = []
    for seed in config.seed_list():
        for activation in config.activations:
            one = config.model_copy(
                update={
                    "seed": seed,
                    "model": config.model.model_copy(update={"activation": activation}),
                }
            )
            try:
                recipe = TrainRecipe.of(train_plan(one, pair_doc, read=read), one.data, carried)
            except Exception as exc:  # reported in the pair's row; the others go on
                jobs.append(PairJob(activation, seed, None, error_text(exc), **targets))
                continue
            jobs.append(PairJob(activation, seed, recipe, **targets))
    return ComparePlan(
        name=config.name,
        activations=tuple(config.activations),
        seeds=tuple(config.seed_list()),
        target_accuracy=config.target_accuracy,
        target_loss=config.target_loss,
        jobs=tuple(jobs),
        resolved=_resolved_compare(config, doc),
    )


@dataclass(frozen=True)
class TrainRecipe:
    """A training plan whose data is made where its job runs (``build``).

    ``parts`` are the plan's fields but its splits; the splits are drawn again from
    the seed's data stream (data comes first in it, so they are the client's), from
    ``spec``: named data by its name, file data from ``read``, the file's contents
    read once on the client. A job of named data carries none of its rows.
    """

    parts: dict[str, Any]
    spec: Any
    read: FileData | None = None

    @classmethod
    def of(cls, plan: TrainPlan, spec: Any, read: FileData | None) -> TrainRecipe:
        fields = dataclasses.fields(plan)
        return cls(
            {f.name: getattr(plan, f.name) for f in fields if f.name != "splits"}, spec, read
        )

    def build(self) -> TrainPlan:
        rng = Streams(self.parts["seed"]).data()
        return TrainPlan(splits=load_data(self.spec, rng, None, self.read), **self.parts)


def _resolved_compare(config: Any, doc: Document) -> dict[str, Any]:
    """The comparison as it ran; ``model.activation`` left out, as each run takes its
    own from ``activations:`` (and the file must not give one)."""
    data = resolved_config(config, doc)
    data["model"].pop("activation", None)
    return data


def experiment_plan(
    command: str, config: Any, doc: Document, reads: dict[tuple[str, ...], FileData] | None = None
) -> RunPlan:
    """The plan of one run of ``command``; data files already in ``reads`` are not
    read again (and the ones read here are added)."""
    if command == "descend":
        return descend_plan(config, doc)
    if command == "train-mlp":
        return train_plan(config, doc, read=file_data(config, doc, reads))
    return compare_plan(config, doc, reads)


# -- sweeps ---------------------------------------------------------------------------------


def sweep_plan(command: str, doc: Document, model: Any, spec: dict[str, list[Any]]) -> SweepPlan:
    """Every point validated and planned before any runs."""
    pts = points(spec)
    configs = check_points(doc, model, pts)
    base = copy.deepcopy(doc.data)
    base["sweep"] = spec
    reads: dict[tuple[str, ...], FileData] = {}  # a data file is read once for every point
    plans = tuple(
        _point_plan(command, cfg, point_document(doc, p), reads)
        for p, cfg in zip(pts, configs, strict=True)
    )
    return SweepPlan(command, doc.data.get("name"), tuple(spec), tuple(pts), plans, base)


def _point_plan(
    command: str, config: Any, doc: Document, reads: dict[tuple[str, ...], FileData]
) -> RunPlan:
    """A sweep point's plan; a training point's without its data (``TrainRecipe``),
    which is made where the point runs."""
    planned = experiment_plan(command, config, doc, reads)
    if not isinstance(planned, TrainPlan):
        return planned
    read = file_data(config, doc, reads)  # already read: the same object
    return TrainRecipe.of(planned, config.data, read if config.data.name is None else None)


def parse_sweep_option(text: str) -> tuple[str, list[Any]]:
    """``key.path=v1,v2,v3`` -> (key, values); values are read as YAML (``[8],[16]`` too)."""
    if "=" not in text:
        raise ConfigError(
            Problem(f"--sweep {text}: expected KEY.PATH=V1,V2,..., e.g. optimizer.lr=0.1,0.01")
        )
    key, raw = text.split("=", 1)
    values, _ = parse_yaml(f"[{raw}]", f"--sweep {text}")
    if not isinstance(values, list) or not values:
        raise ConfigError(Problem(f"--sweep {text}: give at least one value"))
    return key.strip(), values


def sweep_spec(doc: Document, options: list[str]) -> dict[str, list[Any]]:
    """The file's ``sweep:`` with the ``--sweep`` options added (an option replaces the
    file's values for its key). A key given in two options, or a value given twice for
    one key, is a ``ConfigError``: the two would be one point, run twice in one directory.
    """
    spec = _file_sweep(doc)
    given: set[str] = set()
    for text in options:
        key, values = parse_sweep_option(text)
        if key in given:
            raise ConfigError(
                Problem(
                    f"--sweep {key} is given twice; give all its values in one option, "
                    f"--sweep {key}=V1,V2,..."
                )
            )
        given.add(key)
        i = _repeated(values)
        if i is not None:
            raise ConfigError(Problem(_twice(values[i]), file=f"--sweep {key}", key=key))
        spec[key] = values
    return spec


def _file_sweep(doc: Document) -> dict[str, list[Any]]:
    """The file's ``sweep:``: a mapping of key paths to non-empty lists of values."""
    in_file = doc.data.get("sweep")
    if in_file is None:
        return {}
    if not isinstance(in_file, dict):
        raise ConfigError(doc.locate(("sweep",), _SWEEP_SHAPE))
    spec: dict[str, list[Any]] = {}
    for k, v in in_file.items():
        if not isinstance(v, list) or not v:
            raise ConfigError(
                doc.locate(("sweep", k), _SWEEP_SHAPE + f", got {json.dumps(v, default=str)}")
            )
        i = _repeated(v)
        if i is not None:
            raise ConfigError(doc.locate(("sweep", k, i), _twice(v[i])))
        spec[str(k)] = list(v)
    return spec


_SWEEP_SHAPE = "give each swept key a list of at least one value, e.g. optimizer.lr: [0.1, 0.01]"


def _repeated(values: list[Any]) -> int | None:
    """The index of the first value that repeats an earlier one: equal and of the same
    type (``0.01`` and ``1e-2``), or with the same directory name (``1`` and ``'1'``)."""
    for i, v in enumerate(values):
        if any(slug(v) == slug(w) or (type(v) is type(w) and v == w) for w in values[:i]):
            return i
    return None


def _twice(value: Any) -> str:
    return f"the value {json.dumps(value)} is given twice; each point runs once"


def point_document(doc: Document, point: Point) -> Document:
    """The base experiment with the point's values set and the sweep removed."""
    data = copy.deepcopy(doc.data)
    data.pop("sweep", None)
    sub = Document(data, doc.file, dict(doc.positions), dict(doc.overridden))
    for key, value in point.values.items():
        where = doc.positions.get(("sweep", key))
        label = f"{doc.file}:{where[0]}:{where[1]}: sweep" if where else f"--sweep {key}"
        apply_override(sub, f"{key}={json.dumps(value)}", label=label)
    return sub


def check_points(doc: Document, model: Any, pts: list[Point]) -> list[Any]:
    """Validate every point before any runs: a key that does not exist is named."""
    problems: list[Problem] = []
    configs = []
    for p in pts:
        try:
            configs.append(validate(point_document(doc, p), model))
        except ConfigError as exc:
            problems += [q for q in exc.problems if str(q) not in map(str, problems)]
    if problems:
        raise ConfigError(*problems)
    return configs
