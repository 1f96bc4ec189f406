"""Training an MLP: epochs of shuffled minibatches, metrics, early stopping.

``Trainer.epochs()`` yields one ``Epoch`` record per epoch (train and validation
loss and accuracy, learning rate, time), so the same loop feeds a progress bar, a
trace file and a test. The optimizers are those of ``gdcli descend``, applied to
the network's parameters as one flat list of arrays.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gdcli import nn
from gdcli.data import Dataset, Splits
from gdcli.optim import Optimizer, learning_rate

TRACE_COLUMNS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "lr",
    "seconds",
)


@dataclass(frozen=True)
class Epoch:
    """One epoch's figures; the train figures are averages over its minibatches."""

    epoch: int
    train_loss: float
    train_accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    seconds: float

    def row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in TRACE_COLUMNS}


@dataclass
class Evaluation:
    """Loss and accuracy of a model on one data set, with the two-class figures."""

    loss: float
    accuracy: float | None
    confusion: list[list[int]] | None = None
    precision: float | None = None
    recall: float | None = None
    specificity: float | None = None
    f1: float | None = None
    roc_auc: float | None = None


def accuracy(arch: nn.Architecture, outputs: np.ndarray, y: np.ndarray) -> float | None:
    """Share of correct classes from logits (n, k); None for regression."""
    if arch.output == "identity":
        return None
    if outputs.shape[1] == 1:
        pred = (outputs[:, 0] > 0).astype(np.int64)
    else:
        pred = outputs.argmax(axis=1)
    return float((pred == y).mean())


def roc_auc(scores: np.ndarray, y: np.ndarray) -> float | None:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties
    counting one half (the Mann-Whitney statistic). None with one class only."""
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def evaluate(arch: nn.Architecture, layers: list[nn.Layer], ds: Dataset) -> Evaluation:
    """Loss, accuracy and, for classes, the confusion matrix (rows: true class)."""
    loss, _, logits = nn.loss_and_grads(arch, layers, ds.X.astype(arch.dtype), ds.y, 0.0)
    acc = accuracy(arch, logits, ds.y)
    if arch.output == "identity" or ds.class_names is None:
        return Evaluation(loss, acc)
    k = len(ds.class_names)
    proba = nn.predict_proba(arch, layers, ds.X.astype(arch.dtype))
    pred = nn.predict(arch, layers, ds.X.astype(arch.dtype))
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (ds.y, pred), 1)
    ev = Evaluation(loss, acc, confusion.tolist())
    if k == 2:
        tn, fp, fn, tp = (int(v) for v in confusion.ravel())
        ev.precision = _ratio(tp, tp + fp)
        ev.recall = _ratio(tp, tp + fn)
        ev.specificity = _ratio(tn, tn + fp)
        if ev.precision is not None and ev.recall is not None and ev.precision + ev.recall > 0:
            ev.f1 = 2 * ev.precision * ev.recall / (ev.precision + ev.recall)
        ev.roc_auc = roc_auc(proba[:, 1], ds.y)
    return ev


@dataclass
class TrainResult:
    """What training produced: the kept weights and every figure about them."""

    arch: nn.Architecture
    layers: list[nn.Layer]
    status: str  # "finished", "early_stopped", "diverged", "interrupted"
    history: list[Epoch]
    best_epoch: int | None
    train_seconds: float
    final: dict[str, Evaluation] = field(default_factory=dict)
    reason: str | None = None

    @property
    def epochs_run(self) -> int:
        return len(self.history)


class Trainer:
    """Minibatch training of ``layers`` on ``splits.train``.

    ``patience`` enables early stopping on the validation loss; with a validation
    part the weights of the best validation epoch are restored at the end, whether
    or not early stopping triggered.
    """

    def __init__(
        self,
        arch: nn.Architecture,
        layers: list[nn.Layer],
        optimizer: Optimizer,
        splits: Splits,
        *,
        epochs: int,
        batch_size: int | None,
        rng: np.random.Generator,
        l2: float = 0.0,
        patience: int | None = None,
        min_delta: float = 0.0,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.arch = arch
        # The trainer owns its parameters (copies), so it can add each update in place;
        # the optimizer stays pure and only returns the updates.
        self.params = [p.copy() for p in nn.flatten(layers)]
        self.opt = optimizer
        self.splits = splits
        self.n_epochs = epochs
        self.batch_size = batch_size
        self.rng = rng
        self.l2 = l2
        self.patience = patience
        self.min_delta = min_delta
        self.should_stop = should_stop
        self.history: list[Epoch] = []
        self.status = "finished"
        self.reason: str | None = None
        self.train_seconds = 0.0
        self.best: tuple[float, int, list[np.ndarray]] | None = None
        self._last_good = [p.copy() for p in self.params]

    def epochs(self) -> Iterator[Epoch]:
        arch, opt = self.arch, self.opt
        train = self.splits.train
        X = train.X.astype(arch.dtype)
        y = train.y
        n = X.shape[0]
        bs = n if self.batch_size is None else min(self.batch_size, n)
        state = opt.init(self.params)
        since_best = 0
        for epoch in range(1, self.n_epochs + 1):
            if self.should_stop():
                self.status = "interrupted"
                return
            t0 = time.perf_counter()
            lr = learning_rate(opt, state)
            order = self.rng.permutation(n)
            total_loss = 0.0
            correct = 0.0
            with np.errstate(all="ignore"):
                for start in range(0, n, bs):
                    idx = order[start : start + bs]
                    loss, grads, logits = nn.loss_and_grads(
                        arch, nn.unflatten(self.params), X[idx], y[idx], self.l2
                    )
                    if not np.isfinite(loss):
                        break
                    updates, state = opt.update(nn.flatten(grads), state, self.params)
                    for p, u in zip(self.params, updates, strict=True):
                        p += u
                    total_loss += loss * len(idx)
                    acc = accuracy(arch, logits, y[idx])
                    correct += 0.0 if acc is None else acc * len(idx)
            finite = np.isfinite(loss) and all(np.isfinite(p).all() for p in self.params)
            seconds = time.perf_counter() - t0
            self.train_seconds += seconds
            if not finite:
                self.status = "diverged"
                kept = (
                    "the weights of the last finite epoch are kept"
                    if self.history
                    else "no epoch finished, so no model is saved"
                )
                self.reason = (
                    f"the loss or the weights became infinite or NaN in epoch {epoch}; "
                    f"{kept} (try a smaller lr)"
                )
                self.params = self._last_good
                return
            self._last_good = [p.copy() for p in self.params]
            val_loss = val_acc = None
            if self.splits.val is not None:
                ev = evaluate(arch, nn.unflatten(self.params), self.splits.val)
                val_loss, val_acc = ev.loss, ev.accuracy
                if self.best is None or val_loss < self.best[0] - self.min_delta:
                    self.best = (val_loss, epoch, self._last_good)
                    since_best = 0
                else:
                    since_best += 1
            record = Epoch(
                epoch,
                total_loss / n,
                None if arch.output == "identity" else correct / n,
                val_loss,
                val_acc,
                lr,
                seconds,
            )
            self.history.append(record)
            yield record
            if self.patience is not None and since_best >= self.patience:
                self.status = "early_stopped"
                return

    def finish(self) -> TrainResult:
        """Restore the best validation weights (if any) and evaluate every part."""
        best_epoch = None
        params = self.params
        if self.best is not None:
            _, best_epoch, params = self.best
        layers = nn.unflatten(params)
        final: dict[str, Evaluation] = {}
        for part in ("train", "val", "test"):
            ds = getattr(self.splits, part)
            if ds is not None:
                final[part] = evaluate(self.arch, layers, ds)
        return TrainResult(
            self.arch,
            layers,
            self.status,
            self.history,
            best_epoch,
            self.train_seconds,
            final,
            self.reason,
        )


# -- from an experiment file to a trainer ------------------------------------------------


@dataclass(frozen=True)
class TrainPlan:
    name: str
    arch: nn.Architecture
    layers: list[nn.Layer]
    splits: Splits
    optimizer: Optimizer
    optimizer_label: str
    initializer: str
    seed: int


def data_path(text: str, base: Path | None) -> Path:
    """A data path as written: relative to the working directory, else to the file's."""
    p = Path(text).expanduser()
    if p.is_absolute() or p.exists() or base is None:
        return p
    beside = base / p
    return beside if beside.exists() else p


DEFAULT_NOISE = {"moons": 0.1, "circles": 0.05, "spirals": 0.1, "blobs": 0.8}


def load_data(spec: Any, rng: np.random.Generator, base: Path | None) -> Splits:
    """The data of a ``DataSpec``, split and standardized as it asks."""
    from gdcli import data

    source: Dataset | data.Parts
    if spec.name in data.BUNDLED:
        source = data.load_bundled(spec.name)
    elif spec.name is not None:
        noise = spec.noise if spec.noise is not None else DEFAULT_NOISE.get(spec.name, 0.1)
        if spec.name in data.LOGIC and spec.n is None:
            noise = 0.0
        source = data.make_builtin(
            spec.name, n=spec.n, noise=noise, rng=rng, arms=spec.arms, centers=spec.centers
        )
    elif spec.csv is not None:
        source = data.load_csv(data_path(spec.csv, base), spec.target)
    else:
        source = data.load_npz(data_path(spec.npz, base))
    return data.prepare(
        source,
        test_fraction=spec.test_fraction,
        val_fraction=spec.val_fraction,
        standardize=spec.standardize,
        rng=rng,
    )


def plan(config: Any, doc: Any) -> TrainPlan:
    """Resolve a ``TrainConfig``: data, architecture, initial weights, optimizer."""
    from gdcli.errors import ConfigError, UserError
    from gdcli.experiments.config import describe_optimizer, located, optimizer_kwargs
    from gdcli.optim import make_optimizer

    rng = np.random.default_rng(config.seed)
    base = Path(doc.file).parent if doc.file else None
    try:
        splits = load_data(config.data, rng, base)
    except UserError as exc:
        raise located(doc, ("data",), exc) if not _has_file(exc) else exc from None
    if config.early_stopping is not None and splits.val is None:
        raise ConfigError(
            doc.locate(
                ("early_stopping",),
                "early stopping needs a validation part: set data.val_fraction "
                "(this data has none of its own)",
            )
        )
    train = splits.train
    task = train.task
    n_classes = len(train.class_names) if train.class_names else 0
    output, loss, n_out = nn.default_output_and_loss(task, n_classes)
    m = config.model
    if m.output != "auto":
        output = m.output
    if m.loss != "auto":
        loss = m.loss
    _check_head(doc, task, output, loss)
    activations = m.activations()
    arch = nn.Architecture(
        sizes=(train.X.shape[1], *m.hidden, n_out),
        activations=activations,
        alpha=m.alpha,
        output=output,
        loss=loss,
        dtype=m.dtype,
    )
    layers = nn.init_layers(arch, None if m.init == "auto" else m.init, m.init_std, rng)
    init = m.init
    if init == "auto":
        init = "auto: " + ", ".join(nn.default_initializer(a) for a in activations or ("linear",))
    try:
        opt = make_optimizer(**optimizer_kwargs(config.optimizer))
    except UserError as exc:
        raise located(doc, ("optimizer",), exc) from None
    if opt.needs_oracle:
        raise ConfigError(
            doc.locate(
                ("optimizer", "name"),
                f"'{opt.name}' works on analytic functions only (gdcli descend); "
                "for training use gd, momentum, nesterov, adagrad, rmsprop, adam or adamw",
            )
        )
    return TrainPlan(
        config.name,
        arch,
        layers,
        splits,
        opt,
        describe_optimizer(config.optimizer),
        init,
        config.seed,
    )


def make_trainer(
    plan: TrainPlan, config: Any, should_stop: Callable[[], bool] = lambda: False
) -> Trainer:
    """The trainer a ``TrainConfig`` asks for; minibatch order from its own stream of
    the seed, so that the data split and the weights do not depend on it."""
    stopping = config.early_stopping
    return Trainer(
        plan.arch,
        plan.layers,
        plan.optimizer,
        plan.splits,
        epochs=config.epochs,
        batch_size=None if config.batch_size == "full" else config.batch_size,
        rng=np.random.default_rng([plan.seed, 1]),
        l2=config.l2,
        patience=stopping.patience if stopping else None,
        min_delta=stopping.min_delta if stopping else 0.0,
        should_stop=should_stop,
    )


def _has_file(exc: Any) -> bool:
    return any(p.file is not None for p in exc.problems)


def _check_head(doc: Any, task: str, output: str, loss: str) -> None:
    from gdcli.errors import ConfigError

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


def summary(
    plan: TrainPlan, result: TrainResult, out_dir: str | None, **extra: Any
) -> dict[str, Any]:
    """The summary.json object of a training run."""
    s = plan.splits

    def size(ds: Dataset | None) -> int:
        return 0 if ds is None else int(ds.X.shape[0])

    final: dict[str, Any] = {}
    for part in ("train", "val", "test"):
        ev = result.final.get(part)
        final[f"{part}_loss"] = None if ev is None else ev.loss
        final[f"{part}_accuracy"] = None if ev is None else ev.accuracy
    figures = result.final.get("test") or result.final.get("train")
    for key in ("precision", "recall", "specificity", "f1", "roc_auc"):
        final[key] = None if figures is None else getattr(figures, key)
    final["sensitivity"] = final["recall"]
    final["confusion_matrix"] = None if figures is None else figures.confusion
    final["figures_on"] = (
        None if figures is None else ("test" if "test" in result.final else "train")
    )
    arch = plan.arch
    return {
        "experiment": plan.name,
        "command": "train-mlp",
        "status": result.status,
        "reason": result.reason,
        "seed": plan.seed,
        "data": {
            "name": s.train.name,
            "task": s.train.task,
            "features": int(s.train.X.shape[1]),
            "classes": list(s.train.class_names) if s.train.class_names else None,
            "train": size(s.train),
            "val": size(s.val),
            "test": size(s.test),
            "standardized": s.scaler is not None,
        },
        "model": {
            "layers": list(arch.sizes),
            "activations": list(arch.activations),
            "output": arch.output,
            "loss": arch.loss,
            "initializer": plan.initializer,
            "dtype": arch.dtype,
            "parameters": arch.n_params(),
        },
        "optimizer": plan.optimizer_label,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "final": final,
        "train_seconds": result.train_seconds,
        "history": {
            "train_loss": [e.train_loss for e in result.history],
        },
        **extra,
        "out_dir": out_dir,
    }


# -- saved models ------------------------------------------------------------------------

NOT_A_MODEL = "not a gdcli model file (expected the model.npz written by gdcli train-mlp)"

# The target column's name for data that has no CSV header to take it from.
_NATURAL_TARGETS = {"breast_cancer": "diagnosis", "digits": "digit"}


@dataclass(frozen=True)
class SavedModel:
    """A trained network with everything needed to apply it to new data."""

    arch: nn.Architecture
    layers: list[nn.Layer]
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...] | None
    mean: np.ndarray | None  # (p,) standardization fitted on the training part
    scale: np.ndarray | None
    # The name of the column the model predicts; None in files written before gdcli
    # saved it, and for data without a natural name (an .npz file).
    target: str | None = None

    def prepare(self, X: np.ndarray) -> np.ndarray:
        if self.mean is not None and self.scale is not None:
            X = (X - self.mean) / self.scale
        return X.astype(self.arch.dtype)


def natural_target_name(data_name: str, features: tuple[str, ...] | None = None) -> str | None:
    """The target's name for a bundled or built-in data set, else None.

    With ``features``, the data must also have that set's feature names, so that a
    CSV file that happens to be called ``moons.csv`` is not taken for the built-in set.
    """
    from importlib import resources

    from gdcli import data

    if data_name == "breast_cancer":
        text = resources.files("gdcli.data.bundled").joinpath("wdbc.csv").read_text("utf-8")
        expected = tuple(c for c in text.split("\n", 1)[0].strip().split(",") if c != "diagnosis")
    elif data_name == "digits":
        expected = tuple(f"px{i}" for i in range(64))
    elif data_name in data.BUILTIN:
        expected = ("x1", "x2")
    else:
        return None
    if features is not None and tuple(features) != expected:
        return None
    return _NATURAL_TARGETS.get(data_name, "label")


def model_arrays(
    plan: TrainPlan, result: TrainResult, target_name: str | None = None
) -> dict[str, np.ndarray]:
    """The arrays of model.npz: every parameter in one flat vector (shapes follow from
    the architecture), the architecture and names as JSON text, the scaler.

    ``target_name`` is the target column of CSV data; without it, the natural name of
    a bundled or built-in data set is saved ("diagnosis", "digit", "label"), or null.
    """
    import json

    flat = np.concatenate([p.ravel() for p in nn.flatten(result.layers)])
    train = plan.splits.train
    scaler = plan.splits.scaler
    target = target_name
    if target is None:
        target = natural_target_name(train.name, train.feature_names)
    return {
        "params": flat,
        "architecture": np.array(json.dumps(plan.arch.to_dict())),
        "feature_names": np.array(json.dumps(list(train.feature_names))),
        "class_names": np.array(json.dumps(list(train.class_names) if train.class_names else None)),
        "target": np.array(json.dumps(target)),
        "scaler_mean": np.asarray(scaler.mean if scaler else np.zeros(0)),
        "scaler_scale": np.asarray(scaler.scale if scaler else np.zeros(0)),
    }


class _Corrupt(Exception):
    """What is wrong with a model file; ``load_model`` turns it into a DataError."""


def load_model(path: str | Path) -> SavedModel:
    """Read a model.npz written by ``gdcli train-mlp``.

    Anything else, or a damaged or inconsistent model file, is a ``DataError`` with one
    problem naming the file: "not a gdcli model file: <what is wrong>".
    """
    from gdcli.errors import DataError, Problem

    source = str(path)
    p = Path(path)
    if p.is_dir():
        raise DataError(Problem(f"is a directory; {NOT_A_MODEL}", file=source))
    if not p.exists():
        raise DataError(Problem("no such model file", file=source))
    arrays = _read_npz(p, source)
    try:
        return _model_from_arrays(arrays)
    except _Corrupt as exc:
        raise DataError(Problem(f"not a gdcli model file: {exc}", file=source)) from None


def _read_npz(p: Path, source: str) -> dict[str, np.ndarray]:
    """Every array of the archive at ``p``; never numpy's advice about allow_pickle."""
    import zipfile
    import zlib

    from gdcli.errors import DataError, Problem

    damaged = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError)
    try:
        archive = np.load(p, allow_pickle=False)
    except PermissionError as exc:
        raise DataError(Problem(f"cannot read the file: {exc.strerror}", file=source)) from None
    except damaged:
        # a text file, a pickle, a truncated archive: numpy's message would suggest
        # loading it "unsafely using allow_pickle", which is never the answer here
        raise DataError(Problem(NOT_A_MODEL, file=source)) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a single .npy array
        raise DataError(Problem(NOT_A_MODEL, file=source))
    arrays: dict[str, np.ndarray] = {}
    with archive:
        for key in archive.files:
            try:
                arrays[key] = np.asarray(archive[key])
            except damaged as exc:
                reason = "holds Python objects" if "allow_pickle" in str(exc) else "is damaged"
                raise DataError(
                    Problem(f"not a gdcli model file: array '{key}' {reason}", file=source)
                ) from None
    return arrays


def _model_from_arrays(arrays: dict[str, np.ndarray]) -> SavedModel:
    """The model the arrays of a model.npz describe; ``_Corrupt`` when they do not."""
    from gdcli.errors import ConfigError

    missing = [k for k in ("params", "architecture", "feature_names") if k not in arrays]
    if missing:
        raise _Corrupt(f"missing {', '.join(missing)}")
    spec = _json_array(arrays, "architecture")
    if not isinstance(spec, dict):
        raise _Corrupt("'architecture' is not a JSON object")
    try:
        arch = nn.Architecture.from_dict(spec)
    except (ConfigError, TypeError, ValueError) as exc:
        problems = getattr(exc, "problems", None)
        detail = problems[0].message if problems else str(exc)
        detail = detail.removeprefix("architecture: ")
        raise _Corrupt(f"architecture: {detail}") from None
    n_in, n_out = arch.sizes[0], arch.sizes[-1]

    features = _name_list(_json_array(arrays, "feature_names"), "feature_names")
    if features is None:
        raise _Corrupt("'feature_names' is null, expected a list of column names")
    if len(features) != n_in:
        raise _Corrupt(f"{len(features)} feature name(s) for an input layer of {n_in}")

    classes = _name_list(_json_array(arrays, "class_names", "null"), "class_names")
    expected = {"sigmoid": 2, "softmax": n_out, "identity": None}[arch.output]
    if (classes is None) != (expected is None) or (
        classes is not None and len(classes) != expected
    ):
        got = "no class names" if classes is None else f"{len(classes)} class name(s)"
        want = "none (regression)" if expected is None else str(expected)
        raise _Corrupt(f"{got} for a {arch.output} output; expected {want}")

    target = _json_array(arrays, "target", "null")
    if target is not None and (not isinstance(target, str) or not target):
        raise _Corrupt("'target' is not a column name")
    if target in features:
        raise _Corrupt(f"the target '{target}' is also a feature")

    flat = _float_vector(arrays, "params")
    if flat.size != arch.n_params():
        raise _Corrupt(
            f"{flat.size} parameters, the architecture {list(arch.sizes)} needs {arch.n_params()}"
        )
    parts, offset = [], 0
    for fan_in, fan_out in zip(arch.sizes[:-1], arch.sizes[1:], strict=True):
        for shape in ((fan_in, fan_out), (fan_out,)):
            size = int(np.prod(shape))
            parts.append(flat[offset : offset + size].reshape(shape))
            offset += size

    mean = _float_vector(arrays, "scaler_mean") if "scaler_mean" in arrays else None
    scale = _float_vector(arrays, "scaler_scale") if "scaler_scale" in arrays else None
    mean = mean if mean is not None and mean.size else None
    scale = scale if scale is not None and scale.size else None
    if (mean is None) != (scale is None):
        raise _Corrupt("'scaler_mean' and 'scaler_scale' must both be present or both empty")
    if mean is not None and scale is not None:
        if mean.size != n_in or scale.size != n_in:
            raise _Corrupt(
                f"scaler of {mean.size} means and {scale.size} scales for {n_in} features"
            )
        if not np.all(scale > 0):
            raise _Corrupt("'scaler_scale' holds a scale that is not positive")
    return SavedModel(
        arch,
        nn.unflatten(parts),
        tuple(features),
        tuple(classes) if classes else None,
        mean,
        scale,
        target,
    )


def _json_array(arrays: dict[str, np.ndarray], key: str, default: str | None = None) -> Any:
    """The JSON value held as text in the 0-d string array ``key`` (``default`` if absent)."""
    import json

    if key not in arrays:
        if default is None:
            raise _Corrupt(f"missing {key}")
        return json.loads(default)
    a = arrays[key]
    if a.shape != () or a.dtype.kind != "U":
        raise _Corrupt(f"'{key}' is not JSON text (an array of {a.dtype} {a.shape})")
    try:
        return json.loads(str(a))
    except (ValueError, RecursionError):
        raise _Corrupt(f"'{key}' is not valid JSON") from None


def _name_list(value: Any, key: str) -> list[str] | None:
    """``value`` as a list of distinct non-empty names (None stays None)."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _Corrupt(f"'{key}' is not a list of names")
    if len(set(value)) != len(value):
        raise _Corrupt(f"'{key}' holds a name twice")
    return value


def _float_vector(arrays: dict[str, np.ndarray], key: str) -> np.ndarray:
    """The 1-D array ``key`` of finite floating-point numbers."""
    a = arrays[key]
    if a.ndim != 1 or a.dtype.kind != "f":
        raise _Corrupt(f"'{key}' is an array of {a.dtype} {a.shape}, expected 1-D floats")
    if not np.all(np.isfinite(a)):
        raise _Corrupt(f"'{key}' holds values that are not finite numbers")
    return a
