"""Training an MLP: epochs of shuffled minibatches, metrics, early stopping.

``Trainer.epochs()`` yields one ``Epoch`` record per epoch (train and validation
loss and accuracy, learning rate, time), so the same loop feeds a progress bar, a
trace file and a test. The optimizers are those of ``gdcli descend``, applied to
the network's parameters as one flat list of arrays.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from gdcli import nn
from gdcli.data import Dataset, Splits
from gdcli.experiments.context import Session
from gdcli.experiments.metrics import Evaluation, accuracy, evaluate
from gdcli.experiments.modelfile import model_arrays
from gdcli.experiments.recipes import OptimizerRecipe
from gdcli.optim import Optimizer, OptState, learning_rate
from gdcli.runs import TraceWriter, atomic_save_npz, prepare_run_dir, write_json, write_yaml

TRACE_COLUMNS = (
    "epoch",
    "train_loss",
    "l2_penalty",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "lr",
    "seconds",
)


@dataclass(frozen=True)
class Epoch:
    """One epoch's figures; the train figures are averages over its minibatches:
    ``train_loss`` the data loss alone, ``l2_penalty`` the mean of ``0.5*l2*sum(W**2)``
    that the minimised objective adds to it (0 without ``l2``)."""

    epoch: int
    train_loss: float
    l2_penalty: float
    train_accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    seconds: float

    def row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in TRACE_COLUMNS}


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


class _Loop(NamedTuple):
    """How a trainer runs each minibatch (``Trainer._loop``): ``step(X, y) -> (loss,
    penalty, grads, logits)``; ``update(grads, state) -> state``, which adds the
    optimizer's step to the parameters; ``leaves``, the arrays the optimizer's state
    is made for."""

    step: Callable[[np.ndarray, np.ndarray], tuple[float, float, list[np.ndarray], np.ndarray]]
    update: Callable[[list[np.ndarray], Any], Any]
    leaves: list[np.ndarray]


class Trainer:
    """Minibatch training of ``layers`` on ``splits.train``.

    ``patience`` enables early stopping on the validation loss; with a validation
    part the weights of the best validation epoch are restored at the end, whether
    or not early stopping triggered. ``fast`` runs each minibatch's step as
    ``nn.Step`` (preallocated buffers, the optimizer's in-place update) where it
    applies, with the numbers of the graph path (``fast=False``: ``nn.loss_and_grads``
    and the optimizer's pure update) to the last bit.
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
        fast: bool = True,
    ) -> None:
        self.arch = arch
        self.fast = fast
        # The trainer owns its parameters (copies, views of one flat array where they
        # share a dtype), so it can add each update in place.
        self._flat, self.params = nn.pack(nn.flatten(layers))
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
        loop = self._loop()
        state = opt.init(loop.leaves)
        since_best = 0
        for epoch in range(1, self.n_epochs + 1):
            if self.should_stop():
                self.status = "interrupted"
                return
            t0 = time.perf_counter()
            lr = learning_rate(opt, state)
            loss, total_loss, total_penalty, correct, state = self._minibatches(
                X, y, bs, state, loop
            )
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
                for p, good in zip(self.params, self._last_good, strict=True):
                    np.copyto(p, good)  # in place: the params stay views of the flat array
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
                total_penalty / n,
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

    def _minibatches(
        self, X: np.ndarray, y: np.ndarray, bs: int, state: Any, loop: _Loop
    ) -> tuple[float, float, float, float, Any]:
        """One pass over X (n, p) in shuffled minibatches of ``bs`` rows, updating the
        parameters in place; stops at the first non-finite loss. Returns the last
        minibatch loss (penalty included), the summed data loss, the summed L2 penalty
        and the correct count (each weighted by rows), and the state."""
        arch, n = self.arch, X.shape[0]
        order = self.rng.permutation(n)
        step, update = loop.step, loop.update
        total_loss = 0.0
        total_penalty = 0.0
        correct = 0.0
        loss = 0.0
        with np.errstate(all="ignore"):
            for start in range(0, n, bs):
                idx = order[start : start + bs]
                yb = y[idx]
                loss, penalty, grads, logits = step(X[idx], yb)
                if not math.isfinite(loss):
                    break
                state = update(grads, state)
                total_loss += (loss - penalty) * len(idx)
                total_penalty += penalty * len(idx)
                acc = accuracy(arch, logits, yb)
                correct += 0.0 if acc is None else acc * len(idx)
        return loss, total_loss, total_penalty, correct, state

    def _loop(self) -> _Loop:
        """How each minibatch runs: ``nn.Step`` into buffers and the optimizer's in-place
        update of the one flat parameter array where they apply, else the graph and
        the pure update of each parameter array."""
        opt, flat = self.opt, self._flat
        if not (self.fast and nn.Step.applies(self.arch, self.params)):
            return _Loop(self._graph_step, self._pure_update, self.params)
        step = nn.Step(self.arch, self.params, self.l2)
        into = opt.update_into
        if into is None or flat is None:
            return _Loop(step, self._pure_update, self.params)
        # The transforms with an in-place path work elementwise, so one update of the
        # flat array (a handful of numpy calls) gives each array's numbers. The update
        # overwrites the gradient it is made from (``update_into`` allows that).
        grads, leaves = [step.flat_grad], [flat]

        def update(_: list[np.ndarray], state: OptState) -> OptState:
            state = into(grads, state, leaves, grads)
            np.add(flat, grads[0], out=flat)
            return state

        return _Loop(step, update, leaves)

    def _graph_step(
        self, X: np.ndarray, y: np.ndarray
    ) -> tuple[float, float, list[np.ndarray], np.ndarray]:
        """``nn.loss_and_grads`` on the minibatch, with the penalty before the step."""
        penalty = self._penalty()
        loss, grads, logits = nn.loss_and_grads(self.arch, nn.unflatten(self.params), X, y, self.l2)
        return loss, penalty, nn.flatten(grads), logits

    def _pure_update(self, grads: list[np.ndarray], state: OptState) -> OptState:
        updates, state = self.opt.update(grads, state, self.params)
        for p, u in zip(self.params, updates, strict=True):
            p += u
        return state

    def _penalty(self) -> float:
        """``0.5 * l2 * sum(W**2)`` over the weight matrices at the current parameters,
        as ``nn.loss_and_grads`` adds it to the data loss (0 without ``l2``)."""
        if not self.l2:
            return 0.0
        return sum(0.5 * self.l2 * float(np.vdot(W, W)) for W, _ in nn.unflatten(self.params))

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


# -- a planned training run -------------------------------------------------------------


@dataclass(frozen=True)
class TrainPlan:
    """A validated training experiment resolved into what the loop needs (built by
    ``plan.train_plan``). Picklable: the optimizer travels as its recipe."""

    name: str
    arch: nn.Architecture
    layers: list[nn.Layer]  # the initial weights
    splits: Splits
    optimizer_recipe: OptimizerRecipe
    initializer: str
    seed: int
    epochs: int
    batch_size: int | None  # None: the whole training part
    l2: float
    patience: int | None
    min_delta: float
    minibatch_order: np.random.SeedSequence  # the stream that shuffles every epoch
    resolved: dict[str, Any]  # the experiment as it ran, for config.yaml
    target: str | None = None  # the target column of CSV data
    check_rows: np.ndarray | None = None  # training rows for --check-grad
    snapshot_every: int | None = None  # record the weights every N epochs (snapshots.npz)

    @property
    def optimizer_label(self) -> str:
        return self.optimizer_recipe.label

    @cached_property
    def optimizer(self) -> Optimizer:
        return self.optimizer_recipe.build()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}


def make_trainer(plan: TrainPlan, should_stop: Callable[[], bool] = lambda: False) -> Trainer:
    """The trainer the plan asks for; minibatch order from its own stream of the
    seed, so that the data split and the weights do not depend on it."""
    return Trainer(
        plan.arch,
        plan.layers,
        plan.optimizer,
        plan.splits,
        epochs=plan.epochs,
        batch_size=plan.batch_size,
        rng=np.random.Generator(np.random.PCG64(plan.minibatch_order)),
        l2=plan.l2,
        patience=plan.patience,
        min_delta=plan.min_delta,
        should_stop=should_stop,
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


@dataclass(frozen=True)
class TrainOutcome:
    """A finished (or stopped) training run: its summary.json object, its status, the
    files it wrote, and the plan and result (data, kept weights) for callers that use
    them."""

    summary: dict[str, Any]
    status: str
    files: tuple[str, ...]
    plan: TrainPlan
    result: TrainResult


def gradient_check(plan: TrainPlan) -> dict[str, Any]:
    """Backprop against central differences on the plan's ``check_rows``."""
    assert plan.check_rows is not None
    s = plan.splits.train
    rows = plan.check_rows
    error = nn.check_gradients(plan.arch, plan.layers, s.X[rows], s.y[rows], plan.l2)
    return {"max_relative_error": error, "batch": int(rows.size)}


def frozen_hidden_layers(plan: TrainPlan, result: TrainResult) -> list[str]:
    """A warning for each hidden layer whose weights and biases training left exactly
    at their initial values (as with heaviside, whose derivative is 0)."""
    if not result.history:
        return []
    warnings = []
    pairs = zip(plan.layers[:-1], result.layers[:-1], strict=True)
    for i, (before, after) in enumerate(pairs):
        if not (np.array_equal(before.W, after.W) and np.array_equal(before.b, after.b)):
            continue
        flat = [
            a for a in plan.arch.activations[i:] if nn.ACTIVATIONS[a].derivative.startswith("0")
        ]
        why = (
            f"{flat[0]}'s derivative is 0 wherever it exists, so backpropagation passes "
            "nothing back to it"
            if flat
            else "backpropagation passed back exactly zero to it"
        )
        warnings.append(
            f"hidden layer {i + 1} ({plan.arch.activations[i]}) never moved in "
            f"{result.epochs_run} epochs: {why}; it stayed frozen at its random initial "
            "weights and only the output layer learned, on those random features"
        )
    return warnings


def run(plan: TrainPlan, session: Session) -> TrainOutcome:
    """``gdcli train-mlp``: train, evaluate, write the run directory and the model."""
    out = prepare_run_dir(session.out_dir, force=session.force)
    write_yaml(out / "config.yaml", plan.resolved)
    extra: dict[str, Any] = {}
    if plan.check_rows is not None:
        extra["gradient_check"] = gradient_check(plan)
    trainer = make_trainer(plan, session.should_stop)
    session.progress.start(plan.epochs, "training")
    snapshots = Snapshots(plan.snapshot_every, trainer.params)
    with TraceWriter(out / "trace.csv", TRACE_COLUMNS) as trace:
        for epoch in trainer.epochs():
            trace.write(epoch.row())
            snapshots.record(epoch.epoch, trainer.params)
            session.progress.advance(1, f"epoch {epoch.epoch} loss {epoch.train_loss:.4g}")
    result = trainer.finish()
    files: list[str] = []
    if result.status != "diverged" or result.history:
        atomic_save_npz(out / "model.npz", model_arrays(plan, result, plan.target))
        files.append("model.npz")
    if snapshots.save(out / "snapshots.npz", result.epochs_run, trainer.params):
        files.append("snapshots.npz")
    if files:
        extra["files"] = files
    s = summary(plan, result, str(out), warnings=frozen_hidden_layers(plan, result), **extra)
    write_json(out / "summary.json", s)
    return TrainOutcome(s, result.status, tuple(files), plan, result)


class Snapshots:
    """The weights every ``every`` epochs, for ``gdcli plot --animate`` (nothing when
    ``every`` is None): epoch 0 (the initial weights), every multiple of ``every``,
    and the last epoch run, each as one flat vector in model.npz's order."""

    def __init__(self, every: int | None, params: list[np.ndarray]) -> None:
        self.every = every
        self.epochs: list[int] = []
        self.params: list[np.ndarray] = []
        self.record(0, params)

    def record(self, epoch: int, params: list[np.ndarray], last: bool = False) -> None:
        if self.every is not None and (last or epoch % self.every == 0):
            self.epochs.append(epoch)
            self.params.append(np.concatenate([p.ravel() for p in params]).astype(np.float64))

    def save(self, path: Path, epochs_run: int, params: list[np.ndarray]) -> bool:
        """Add the last epoch run, write ``epochs`` (S,) and ``params`` (S, P) to
        ``path``; False (nothing written) when snapshots are off."""
        if self.every is None:
            return False
        if self.epochs[-1] != epochs_run:
            self.record(epochs_run, params, last=True)
        atomic_save_npz(path, {"epochs": np.array(self.epochs), "params": np.stack(self.params)})
        return True
