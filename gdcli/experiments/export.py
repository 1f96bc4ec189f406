"""``gdcli export --to torch``: a train-mlp experiment as a standalone PyTorch script.

The script trains the same network on the same numbers: the initial weights and the
split (standardized) data are saved beside it as ``initial_weights.npz`` and
``data.npz``; it draws the same minibatch order from numpy's generator seeded as
``Trainer`` seeds it (``Streams.minibatch_order``); and it builds the optimizer, the
learning-rate schedule (a ``LambdaLR`` of gdcli's schedule function, stepped every
update), the L2 penalty and the gradient clipping as gdcli applies them. The text
comes from ``templates/train_torch.py.tmpl`` with the parts this experiment needs.
Keras is not offered: its optimizers differ from torch's (eps inside the bias
correction, Adagrad's accumulator), so the same numbers could not be promised.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from gdcli import nn
from gdcli.errors import ConfigError, UserError
from gdcli.experiments.plan import train_plan
from gdcli.experiments.train import TrainPlan
from gdcli.optim import OPTIMIZERS
from gdcli.runs import atomic_save_npz, atomic_write_text, claim_new_run_dir
from gdcli.yamlio import Document

TARGETS = ("torch",)
SCRIPT, WEIGHTS, DATA = "train_torch.py", "initial_weights.npz", "data.npz"
FILES = (SCRIPT, WEIGHTS, DATA)

# gdcli optimizer -> (torch.optim class, arguments torch needs besides gdcli's own)
TORCH_OPTIMIZERS: dict[str, tuple[str, str]] = {
    "gd": ("SGD", ""),
    "momentum": ("SGD", ""),
    "nesterov": ("SGD", "nesterov=True"),
    "adagrad": ("Adagrad", ""),
    "rmsprop": ("RMSprop", ""),
    "adam": ("Adam", ""),
    "adamw": ("AdamW", ""),
}

# gdcli activation -> the torch module (``{alpha}`` for the slope)
TORCH_ACTIVATIONS: dict[str, str] = {
    "linear": "torch.nn.Identity()",
    "sigmoid": "torch.nn.Sigmoid()",
    "tanh": "torch.nn.Tanh()",
    "relu": "torch.nn.ReLU()",  # derivative 0 at the kink, as gdcli's
    "leaky_relu": "torch.nn.LeakyReLU({alpha})",
    "elu": "torch.nn.ELU({alpha})",
    "softplus": "torch.nn.Softplus()",
    "gelu": "torch.nn.GELU()",
    "heaviside": "Heaviside()",
}

# (output, loss) -> (what data_loss computes, its body, the targets' dtype)
LOSSES: dict[tuple[str, str], tuple[str, str, str]] = {
    ("sigmoid", "bce"): (
        "Mean binary cross-entropy of sigmoid(logits) against the 0/1 labels, from the\n"
        "    logits (gdcli's sigmoid output with loss bce): mean(log(1 + e^z) - y z).\n\n"
        "    This is F.binary_cross_entropy_with_logits(logits[:, 0], y), written the way\n"
        "    gdcli computes it: torch's own form rounds differently in float32 where the\n"
        "    loss is tiny (a well-trained XOR), by up to 1e-4 of it.",
        "z = logits[:, 0]\n    return (torch.logaddexp(torch.zeros_like(z), z) - y * z).mean()",
        "DTYPE",
    ),
    ("softmax", "cross_entropy"): (
        "Mean cross-entropy of softmax(logits) against the class indices, computed\n"
        "    from the logits (gdcli's softmax output with loss cross_entropy).",
        "return F.cross_entropy(logits, y)",
        "torch.long",
    ),
    ("sigmoid", "mse"): (
        "Mean squared error of sigmoid(logits) against the 0/1 labels.",
        "return F.mse_loss(torch.sigmoid(logits[:, 0]), y)",
        "DTYPE",
    ),
    ("softmax", "mse"): (
        "Mean squared error of softmax(logits) against the one-hot classes, over all\n"
        "    (row, class) entries.",
        "onehot = F.one_hot(y, logits.shape[1]).to(logits.dtype)\n"
        "    return F.mse_loss(torch.softmax(logits, dim=1), onehot)",
        "torch.long",
    ),
    ("identity", "mse"): (
        "Mean squared error of the outputs against the targets.",
        "return F.mse_loss(logits[:, 0], y)",
        "DTYPE",
    ),
}

ACCURACY = {
    "sigmoid": "    pred = (logits[:, 0] > 0).to(y.dtype)  # class 1 where the logit is positive\n"
    "    return (pred == y).double().mean().item()",
    "softmax": "    return (logits.argmax(dim=1) == y).double().mean().item()",
    "identity": "    return None  # a regression has no classes",
}

HEAVISIDE = '''

class Heaviside(torch.nn.Module):
    """The unit step (x > 0), as gdcli defines it. Its derivative is 0 wherever it exists,
    so backward passes zeros to everything below it: the layers under it never learn."""

    class Step(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[override]
            return (x > 0).to(x.dtype)

        @staticmethod
        def backward(ctx, g):  # type: ignore[override]
            return torch.zeros_like(g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.Step.apply(x)
'''

# gdcli schedule -> its formula in ``t`` (the updates done) and the torch scheduler it equals
SCHEDULE_FORMULAS: dict[str, tuple[str, str]] = {
    "step": ("{lr} * {gamma} ** (t // {step_size})", "StepLR stepped every update"),
    "exponential": ("{lr} * {gamma} ** t", "ExponentialLR stepped every update"),
    "inverse_time": (
        "{lr} / (1.0 + ({decay_rate} / {decay_steps}) * t)",
        "Keras' InverseTimeDecay; torch has no class for it",
    ),
    "cosine": (
        "{min_lr} + ({lr} - {min_lr}) * (1.0 + math.cos(math.pi * min(t, {total_steps}) "
        "/ {total_steps})) / 2.0",
        "CosineAnnealingLR, but held at min_lr after total_steps",
    ),
}


def check_target(to: str) -> None:
    """A UserError unless ``to`` is a target gdcli can export to."""
    if to not in TARGETS:
        raise UserError(
            f"--to {to}: gdcli exports to torch only (Keras is left out: its optimizers differ "
            "from torch's, so the same numbers could not be checked); use --to torch"
        )


def check_exportable(doc: Document) -> None:
    """A ConfigError for an experiment that is not one train-mlp run."""
    kinds = {"function": "descend", "activations": "compare-activations"}
    for key, kind in kinds.items():
        if key in doc.data:
            raise ConfigError(
                doc.locate(
                    (key,),
                    f"this is a {kind} experiment; export takes a train-mlp experiment "
                    "(one network, one run)",
                )
            )
    if "sweep" in doc.data:
        raise ConfigError(
            doc.locate(
                ("sweep",),
                "export writes one run, not a sweep; remove sweep: and pick its values "
                "with --set KEY=VALUE",
            )
        )


# -- the script ------------------------------------------------------------------------------


def _num(x: Any) -> str:
    """A value as Python source that reads back exactly (floats by repr)."""
    if isinstance(x, tuple):
        return "(" + ", ".join(_num(v) for v in x) + ")"
    return repr(float(x)) if isinstance(x, float) else repr(x)


def _settings(plan: TrainPlan, arrays: Path | None) -> str:
    kwargs = plan.optimizer_recipe.kwargs
    lines = [
        f"SEED = {plan.seed}  # seeds the minibatch order (the split and the weights are in "
        "the .npz files)",
        f"EPOCHS = {plan.epochs}",
        f"BATCH_SIZE = {plan.batch_size}  # rows per update (None: the whole training part)",
        f"LR = {_num(kwargs['lr'])}  # the optimizer's learning rate",
        f"L2 = {_num(plan.l2)}  # the loss adds 0.5 * L2 * sum(W**2) over the weight matrices",
        f"DTYPE = torch.{plan.arch.dtype}  # of the weights and every computation",
    ]
    if kwargs.get("clip_norm") is not None:
        lines.append(f"CLIP_NORM = {_num(kwargs['clip_norm'])}  # the longest gradient allowed")
    if plan.splits.val is not None:
        lines.append(
            f"PATIENCE = {plan.patience}  # early stopping: epochs without a better "
            "validation loss (None: never)"
        )
        lines.append(f"MIN_DELTA = {_num(plan.min_delta)}  # the smallest decrease that counts")
    where = (
        "Path(__file__).resolve().parent" if arrays is None else f"Path({str(arrays.resolve())!r})"
    )
    lines.append(f"ARRAYS = {where}  # where initial_weights.npz and data.npz are")
    return "\n".join(lines)


def _layers(arch: nn.Architecture) -> str:
    """The Sequential's entries, each with the formula it computes."""
    lines = []
    x = "x"
    last = len(arch.sizes) - 1
    for k, (i, o) in enumerate(zip(arch.sizes[:-1], arch.sizes[1:], strict=True), start=1):
        z = f"z{k} = {x} W{k} + b{k}"
        if k == last:
            z += ": the logits" + (
                "" if arch.output == "identity" else f" ({arch.output} in the loss)"
            )
        lines.append(f"        torch.nn.Linear({i}, {o}),  # {z}")
        if k < last:
            name = arch.activations[k - 1]
            entry = nn.ACTIVATIONS[name]
            alpha = (
                arch.alpha if arch.alpha is not None and entry.alpha is not None else entry.alpha
            )
            module = TORCH_ACTIVATIONS[name].format(alpha=_num(alpha))
            lines.append(f"        {module},  # h{k} = {name}(z{k})")
            x = f"h{k}"
    return "\n".join(lines)


def _update_rule(name: str) -> str:
    """The alias's docstring (description and update rule) as comment lines."""
    doc = inspect.getdoc(OPTIMIZERS[name].build) or name
    return "\n".join(f"    # {line}".rstrip() for line in doc.splitlines())


def _optimizer(plan: TrainPlan) -> str:
    recipe = plan.optimizer_recipe
    kwargs = dict(recipe.kwargs)
    name = kwargs.pop("name")
    kwargs.pop("clip_norm", None)
    kwargs.pop("lr")
    cls, extra = TORCH_OPTIMIZERS[name]
    args = ["model.parameters()", "lr=LR", *(f"{k}={_num(v)}" for k, v in kwargs.items())]
    listed = "".join(f"        {a},\n" for a in [*args, *([extra] if extra else [])])
    lines = [_update_rule(name), f"    optimizer = torch.optim.{cls}(\n{listed}    )"]
    if recipe.schedule is None:
        return "\n".join([*lines, "    return optimizer, None"])
    return "\n".join([*lines, _schedule(dict(recipe.schedule))])


def _schedule(schedule: dict[str, Any]) -> str:
    name = schedule.pop("name")
    warmup = schedule.pop("warmup_steps", 0)
    formula, torch_name = SCHEDULE_FORMULAS.get(name, ("{lr}", "a constant lr"))
    values = {k: _num(v) for k, v in schedule.items()}
    lr = formula.format(lr="LR", **values)
    warm = f", warmed up linearly over {warmup} updates" if warmup else ""
    body = [
        "",
        "    def lr_at(t: int) -> float:",
        f'        """gdcli\'s {name} schedule{warm}: the learning rate of',
        f'        the update after t updates (torch: {torch_name})."""',
        f"        lr = {lr}",
        f"        return lr * (t + 1) / {warmup} if t < {warmup} else lr"
        if warmup
        else "        return lr",
        "",
        "    # LambdaLR sets lr = LR * lr_at(t) / LR before update t; stepped after every update",
        "    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: lr_at(t) / LR)",
        "    return optimizer, schedule",
    ]
    return "\n".join(body)


CLIP = """\
            # gdcli's clip_norm: the whole gradient scaled down to length CLIP_NORM when longer
            # (torch.nn.utils.clip_grad_norm_ does the same but adds 1e-6 to the norm)
            norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in model.parameters()))
            if norm > CLIP_NORM:
                for p in model.parameters():
                    p.grad.mul_(CLIP_NORM / norm)"""

BEST = """\
    # gdcli keeps the weights of the epoch with the lowest validation loss
    status, best_loss, best_epoch, best_state, since_best = "finished", math.inf, None, None, 0"""

VALIDATE = """\
        val_loss, _ = evaluate(model, *parts["val"])
        if best_state is None or val_loss < best_loss - MIN_DELTA:
            best_loss, best_epoch, since_best = val_loss, epoch, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            since_best += 1"""

STOP = """\
        if PATIENCE is not None and since_best >= PATIENCE:
            status = "early_stopped"  # no better validation loss for PATIENCE epochs
            break"""


def _loop_parts(plan: TrainPlan) -> dict[str, str]:
    """The training loop's parts that depend on a validation part (each begins with
    its own line break, so that an absent part leaves no blank line)."""
    if plan.splits.val is None:
        return {
            "before_loop": "",
            "validate": "",
            "shown": "",
            "stop": "",
            "ended": '{"status": "finished", "epochs_run": EPOCHS, "best_epoch": None}',
        }
    return {
        "before_loop": "\n" + BEST,
        "validate": "\n" + VALIDATE,
        "shown": "  val loss {val_loss:.6g}",
        "stop": "\n" + STOP + "\n    model.load_state_dict(best_state)",
        "ended": '{"status": status, "epochs_run": epoch, "best_epoch": best_epoch}',
    }


def torch_script(plan: TrainPlan, source: str, arrays: Path | None = None) -> str:
    """The PyTorch script of ``plan``; it reads its arrays from ``arrays`` (None: the
    script's own directory)."""
    arch = plan.arch
    doc, loss, target = LOSSES[(arch.output, arch.loss)]
    s = plan.splits
    held = [word for word, part in (("validation", s.val), ("test", s.test)) if part is not None]
    template = resources.files("gdcli.experiments").joinpath("templates/train_torch.py.tmpl")
    kwargs = plan.optimizer_recipe.kwargs
    return Template(template.read_text(encoding="utf-8")).substitute(
        name=plan.name,
        source=source,
        parts_text="".join(f", {p}" for p in held),
        scaled=" and standardized" if s.scaler is not None else "",
        functional="\nimport torch.nn.functional as F" if "F." in loss else "",
        settings=_settings(plan, arrays),
        target_doc="class indices" if target == "torch.long" else f"targets in {target}",
        target_dtype=target,
        heaviside=HEAVISIDE if "heaviside" in arch.activations else "",
        sizes=" -> ".join(str(n) for n in arch.sizes),
        layers=_layers(arch),
        loss=f'    """{doc}"""\n    {loss}',
        accuracy=ACCURACY[arch.output],
        optimizer=_optimizer(plan),
        clip="\n" + CLIP if kwargs.get("clip_norm") is not None else "",
        **_loop_parts(plan),
    )


# -- the arrays and the files -------------------------------------------------------------


def weight_arrays(plan: TrainPlan) -> dict[str, np.ndarray]:
    """``W1, b1, W2, b2, ...``: the initial weights in gdcli's (inputs, outputs) layout."""
    out: dict[str, np.ndarray] = {}
    for k, layer in enumerate(plan.layers, start=1):
        out[f"W{k}"], out[f"b{k}"] = layer.W, layer.b
    return out


def data_arrays(plan: TrainPlan) -> dict[str, np.ndarray]:
    """``X_train, y_train`` (and val, test when there): the parts as gdcli trains on them."""
    out: dict[str, np.ndarray] = {}
    for part in ("train", "val", "test"):
        ds = getattr(plan.splits, part)
        if ds is not None:
            out[f"X_{part}"], out[f"y_{part}"] = ds.X, ds.y
    return out


@dataclass(frozen=True)
class ExportOutcome:
    """What ``export`` wrote: the script's text, the directory of the arrays and the
    files written (the script among them only with ``--out``)."""

    name: str
    script: str
    out_dir: Path
    files: tuple[Path, ...]
    script_written: bool


def _claim(out: Path, force: bool) -> None:
    """Create ``out`` if needed; refuse to replace the files of an export without ``force``."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; give a directory")
    taken = [name for name in FILES if (out / name).exists()]
    if taken and not force:
        raise UserError(
            f"--out {out}: already holds {', '.join(taken)}; pass --force to replace them "
            "or choose another directory"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot create the directory ({exc.strerror})") from None


def export_torch(
    config: Any, doc: Document, source: str, out: Path | None, force: bool = False
) -> ExportOutcome:
    """Write the arrays (and with ``out`` the script) of the experiment as a torch script.

    Without ``out`` the arrays go to a new ``runs/<name>-torch-<time>`` directory, and
    the script (returned, for stdout) reads them from there by its absolute path.
    """
    plan = train_plan(config, doc)
    if out is not None:
        _claim(out, force)
        directory = out
    else:
        directory = claim_new_run_dir(f"{plan.name}-torch")
    script = torch_script(plan, source, None if out is not None else directory)
    files = [directory / WEIGHTS, directory / DATA]
    atomic_save_npz(files[0], weight_arrays(plan))
    atomic_save_npz(files[1], data_arrays(plan))
    if out is not None:
        files.insert(0, directory / SCRIPT)
        atomic_write_text(files[0], script)
    return ExportOutcome(plan.name, script, directory, tuple(files), out is not None)
