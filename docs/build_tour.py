"""Builds docs/tour.md: runs every command of the tour and pastes its real output.

    .venv/bin/python docs/build_tour.py

Each step names the command, what its output must contain (checked here and by
tests/test_tour.py, so the tour cannot rot) and, optionally, the pictures it draws,
which are copied into docs/images/. Every command a reader needs is shown: the
test runs the tour's `$` lines exactly as printed, in order, in a clean directory.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = 150
DOCS = ROOT / "docs"


@dataclass(frozen=True)
class Step:
    title: str
    text: str
    command: str
    expect: tuple[str, ...]
    config: str | None = None  # a file of configs/ to show
    pictures: tuple[str, ...] = ()  # PNGs of the run directory to show
    out: str | None = None  # run directory (relative to the working directory)
    setup: str | None = None  # a command shown and run before, that writes what it reads
    tail: int | None = None  # show only the last lines of the output

    @property
    def commands(self) -> tuple[str, ...]:
        """The commands of the step as the tour shows them, in order."""
        return (self.command,) if self.setup is None else (self.setup, self.command)


STEPS: list[Step] = [
    Step(
        "1. The gradient and what its negative means",
        "The lecture's example f(x, y) = 3x^3 + 10y^2. At (3, 3) the gradient is "
        "(9x^2, 20y) = (81, 60): the direction in which f grows fastest. Steepest descent "
        "walks the other way, along -(81, 60). At (1, 4) the gradient is (9, 80); the "
        "slide's (9, 30) is the gradient at (1, 1.5), where 20y = 30.",
        'gdcli grad "3*x**3 + 10*y**2" --at 3,3',
        ("gradient    (81, 60)", "not-critical"),
    ),
    Step(
        "",
        "",
        'gdcli grad "3*x**3 + 10*y**2" --at 1,4',
        ("gradient    (9, 80)",),
    ),
    Step(
        "",
        "The same point as a picture: the gradient is an arrow pointing uphill, across the "
        "contour lines, and steepest descent follows the opposite arrow. Both are drawn at "
        "one visible length in their true directions; their true length |(81, 60)| = 100.8 "
        "is written above the map.",
        'gdcli grad "3*x**3 + 10*y**2" --at 3,3 --plot --out runs/tour-gradient',
        ("wrote runs/tour-gradient/gradient.png",),
        pictures=("gradient.png",),
        out="runs/tour-gradient",
    ),
    Step(
        "2. The forward pass as an evaluation graph, backpropagation as the chain rule",
        "f(x) = 3 exp(x^2 + 1) at x = 1. Each node keeps its value from the forward pass; "
        "the adjoint column is d f / d node, filled in from the output (adjoint 1) back "
        "to the input: the exp node gets 3, the sum below it 3 exp(2) = 22.17, and x gets "
        "2x times that, 44.33 = f'(1).",
        'gdcli grad "3*exp(x**2 + 1)" --at 1 --graph',
        ("Evaluation graph", "44.33433659", "exp"),
    ),
    Step(
        "",
        "Drawn at x = 3: every node with its operation, value and adjoint, every edge with "
        "the local derivative d node / d input. The chain rule multiplies them along the "
        "path from x to the output: 6 x 1 x 22026.47 x 3 = 396476.4 = f'(3), the adjoint "
        "of x. `--graph dot` prints the same graph for Graphviz.",
        'gdcli grad "3*exp(x**2 + 1)" --at 3 --graph --plot --out runs/tour-graph',
        ("wrote runs/tour-graph/graph.png",),
        pictures=("graph.png",),
        out="runs/tour-graph",
        tail=1,
    ),
    Step(
        "3. Steepest descent on a non-convex function: a minimum and a saddle",
        "f = 2x^3 - 6xy + 3y^2 has a saddle at (0, 0) and a minimum at (1, 1). "
        "W1 = W0 - alpha * grad f(W0) with alpha = 0.01 walks from (2, 2) into the minimum; "
        "started on the saddle, the gradient is zero and it never moves.",
        "gdcli descend configs/cubic-saddle.yaml --out runs/tour-cubic --force --plot",
        ("reached the local minimum", "stalled at a saddle point"),
        config="cubic-saddle.yaml",
        pictures=("contour.png",),
        out="runs/tour-cubic",
    ),
    Step(
        "",
        "The same run as a surface with the paths on it, and in motion: `--animate` writes "
        "paths.gif, the paths growing step by step with the iteration and f.",
        "gdcli plot runs/tour-cubic --animate",
        ("runs/tour-cubic/surface.png", "runs/tour-cubic/paths.gif"),
        pictures=("surface.png", "paths.gif"),
        out="runs/tour-cubic",
    ),
    Step(
        "4. A non-convex landscape and its basins",
        "f = x y exp(-(x^2 + y^2)/2) has two minima, two maxima and a saddle. Where a start "
        "ends depends on which side of the ridges it begins; a start on the diagonal slides "
        "into the saddle at the origin.",
        "gdcli descend configs/gaussian-bumps.yaml --out runs/tour-bumps --force --plot",
        ("global minimum", "stalled at a saddle point"),
        config="gaussian-bumps.yaml",
        pictures=("contour.png",),
        out="runs/tour-bumps",
    ),
    Step(
        "",
        "`--field` draws the direction steepest descent would take from every point of the "
        "map, -grad f / |grad f|: the arrows run down into the two minima and away from the "
        "maxima, and cross at the saddle.",
        "gdcli descend configs/gaussian-bumps.yaml --out runs/tour-field --force --plot --field",
        ("global minimum",),
        pictures=("contour.png",),
        out="runs/tour-field",
    ),
    Step(
        "",
        "With many starts the picture becomes a basin map: each start coloured by the "
        "minimum it reached (Himmelblau's four minima, 1 000 random starts).",
        "gdcli descend configs/himmelblau-basins.yaml --out runs/tour-basins --force --plot",
        ("where 1000 starts ended", "minimum 3, 2"),
        config="himmelblau-basins.yaml",
        pictures=("basins.png",),
        out="runs/tour-basins",
    ),
    Step(
        "5. A step size that is too large, and why",
        "On f = x^2 + 10y^2 the Hessian is diag(2, 20). Steepest descent multiplies the "
        "y-error by (1 - 20 alpha) each step, which shrinks only if alpha < 2/20 = 0.1 = "
        "2/lambda_max. With alpha = 0.2 the factor is -3: the run overflows and gdcli "
        "names the bound; alpha = 0.05 converges.",
        "gdcli descend configs/quadratic-diverges.yaml --out runs/tour-diverge --force",
        ("diverged", "2/lambda_max = 0.1", "converged"),
        config="quadratic-diverges.yaml",
    ),
    Step(
        "6. Variations of steepest descent on Rosenbrock's valley",
        "Plain steepest descent needs a step below 2/lambda_max ~ 0.00096 at the start and "
        "then crawls along the curved valley. Momentum and Nesterov carry speed along it, "
        "RMSProp and Adam rescale each coordinate, Newton uses the curvature itself.",
        "gdcli descend configs/rosenbrock.yaml --out runs/tour-rosenbrock --force --plot",
        ("momentum", "nesterov", "rmsprop", "adam", "reached the global minimum"),
        config="rosenbrock.yaml",
        pictures=("contour.png", "convergence.png"),
        out="runs/tour-rosenbrock",
    ),
    Step(
        "7. The perceptron's limit: XOR",
        "A single layer draws one straight line, and no line separates XOR's classes: "
        "at best 3 of the 4 points are right.",
        "gdcli train-mlp configs/xor-perceptron.yaml --out runs/tour-xor0 --force",
        ("accuracy",),
        config="xor-perceptron.yaml",
    ),
    Step(
        "",
        "One hidden layer of four tanh units bends the boundary: all four points right.",
        "gdcli train-mlp configs/xor.yaml --out runs/tour-xor --force --plot",
        ("│ train │",),
        config="xor.yaml",
        pictures=("decision_boundary.png", "loss.png"),
        out="runs/tour-xor",
    ),
    Step(
        "",
        "How the boundary got there: with `snapshot_every: 5` the run keeps its weights every "
        "5 epochs (snapshots.npz), and `gdcli plot --animate` turns them into boundary.gif.",
        "gdcli plot runs/tour-xor-motion --animate",
        ("runs/tour-xor-motion/boundary.gif",),
        setup="gdcli train-mlp configs/xor.yaml --set snapshot_every=5 "
        "--out runs/tour-xor-motion --force --quiet",
        pictures=("boundary.gif",),
        out="runs/tour-xor-motion",
    ),
    Step(
        "8. Which activation? The same network, one run per activation and seed",
        "Linear units compose to one linear map, so XOR stays out of reach: linear is the "
        "one activation the others beat. Heaviside's derivative is zero wherever it exists, "
        "so backpropagation passes nothing to the hidden weights and they never move from "
        "their random start; yet heaviside reaches 100% on 3 of the 5 seeds, because the "
        "output layer alone can often separate four points on frozen random features. "
        "With five seeds, a paired test of the per-seed accuracies finds no winner among "
        "the five others: the table ranks them =1 and the line under it says so.",
        "gdcli compare-activations configs/compare-xor.yaml --out runs/tour-compare --force --plot",
        ("heaviside's hidden weights never moved", "linear", "no winner"),
        config="compare-xor.yaml",
        pictures=("activations_loss.png", "activations_accuracy.png"),
        out="runs/tour-compare",
    ),
    Step(
        "",
        "So a zero derivative does not stop a network from fitting XOR; it stops the hidden "
        "layer from learning. One heaviside run shows both: 100% on the four points, and "
        "gdcli's warning that the hidden layer is still its random initial one.",
        "gdcli train-mlp configs/xor.yaml --set model.activation=heaviside "
        "--out runs/tour-xor-heaviside --force",
        ("│ train │", "hidden layer 1 (heaviside) never moved", "only the output layer learned"),
    ),
    Step(
        "9. An MLP on medical data: breast-cancer diagnosis",
        "569 fine-needle aspirates, 30 features each, malignant or benign; 20% held out. "
        "Sensitivity is the share of malignant masses the model flags; specificity the "
        "share of benign ones it clears.",
        "gdcli train-mlp configs/breast-cancer.yaml --out runs/tour-breast-cancer --force --plot",
        ("sensitivity (recall)", "specificity", "malignant"),
        config="breast-cancer.yaml",
        pictures=("confusion.png",),
        out="runs/tour-breast-cancer",
    ),
    Step(
        "10. A MedMNIST file",
        "MedMNIST files (`train_images`, `train_labels`, `val_*`, `test_*`) train as they "
        "are: `data: {npz: breastmnist.npz}`. The file's own splits are used and images are "
        "flattened and scaled to [0, 1]. The first command writes the bundled digits in that "
        "layout to `runs/digits_medmnist.npz`, since the real files are a download away; "
        "with a real file, only the path changes.",
        "gdcli train-mlp configs/medmnist.yaml --set data.npz=runs/digits_medmnist.npz "
        "--out runs/tour-medmnist --force",
        ("test", "accuracy"),
        config="medmnist.yaml",
        setup="python docs/medmnist_like.py runs/digits_medmnist.npz",
    ),
    Step(
        "11. The activation functions and their derivatives",
        "Every activation h and its derivative h', the derivative taken by gdcli's own "
        "backward pass, as training uses it. sigmoid' is at most 1/4, so each sigmoid layer "
        "shrinks the gradient at least fourfold; tanh' reaches 1. At a kink h' does not "
        "exist and gdcli passes what PyTorch passes (marked *): relu'(0) = 0, "
        "leaky_relu'(0) = alpha. Heaviside's derivative is 0 wherever it exists, so "
        "nothing flows back through it. The same names work in formulas: "
        '`gdcli grad "leaky_relu(x, 0.1)" --at -1`.',
        "gdcli activations --plot --out runs/tour-activations",
        ("0.25", "0.01*", "nothing flows back", "activation_derivatives.png"),
        pictures=("activations.png", "activation_derivatives.png"),
        out="runs/tour-activations",
    ),
    Step(
        "12. Inside the XOR network: what the hidden layer learned",
        "The network of step 7, opened. Each tanh unit is a line w . x + b = 0 and is on "
        "(z > 0) on the side its arrow points to. Unit 1 cuts (0, 0) off from the other "
        "three corners, as OR does; units 2 and 3, almost one line, are on at (0, 1) only, "
        "and unit 4 is off at (1, 0) only. In the hidden units' values the two classes "
        "are no longer on a diagonal: the output layer's one line separates them, and its "
        "h, the probability of class 1, gives the prediction.",
        "gdcli inspect runs/tour-xor/model.npz --input 0,0 --input 0,1 --input 1,0 "
        "--input 1,1 --plot",
        ("layer 1 on the inputs", "h = sigmoid(z)", "predicts"),
        pictures=("hidden_units.png",),
        out="runs/tour-xor",
    ),
    Step(
        "13. The optimizers' definitions at hand",
        "Every optimizer's update as gdcli computes it (PyTorch's definitions: Nesterov in "
        "PyTorch's form, eps added after Adam's bias correction, AdamW's decoupled decay), "
        "its defaults and ranges, and where Keras computes something else: the same names "
        "do not always give the same numbers.",
        "gdcli optimizers",
        ("Nesterov momentum", "rho 0.9 for torch's alpha 0.99", "initial_accumulator_value 0.1"),
    ),
    Step(
        "14. The same model in PyTorch",
        "The lecture's last step, from scratch to a framework: `gdcli export` writes a "
        "standalone PyTorch script that trains the XOR network with gdcli's initial weights "
        "(`initial_weights.npz`), its data (`data.npz`), its minibatch order and its "
        "optimizer. Each part of the script is commented with the lecture's name for it: "
        "forward pass, loss, backward pass, step. With torch installed, "
        "`python runs/tour-torch/train_torch.py` ends with a JSON line whose `train_loss` "
        "is gdcli's to float32 rounding.",
        "gdcli export configs/xor.yaml --to torch --out runs/tour-torch --force",
        ("runs/tour-torch/train_torch.py", "runs/tour-torch/initial_weights.npz"),
    ),
]


README_EXAMPLE = [
    Step("", "", 'gdcli grad "3*x**3 + 10*y**2" --at 3,3', ("gradient    (81, 60)",)),
    Step(
        "",
        "",
        "gdcli descend configs/cubic-saddle.yaml --out runs/cubic-saddle --force",
        ("reached the local minimum", "stalled at a saddle point"),
    ),
]
"""The 30-second example of the README, pasted the same way."""

EXAMPLE_BEGIN = "<!-- example:begin (pasted from real runs by docs/build_tour.py) -->"
EXAMPLE_END = "<!-- example:end -->"


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a tour command exactly as printed, as a reader with this environment's
    bin directory (gdcli, python) first on PATH would."""
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, COLUMNS=str(COLUMNS), NO_COLOR="1")
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    program = shutil.which(shlex.split(command)[0], path=env["PATH"])
    args = [program or shlex.split(command)[0], *shlex.split(command)[1:]]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def _checked(command: str) -> str:
    result = run(command, ROOT)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise SystemExit(f"{command} exited {result.returncode}:\n{output}")
    return output


def _checked_output(step: Step) -> str:
    output = _checked(step.command)
    missing = [e for e in step.expect if e not in output]
    if missing:
        raise SystemExit(f"{step.command}: output lacks {missing}:\n{output}")
    return output


def readme_example() -> str:
    lines = [EXAMPLE_BEGIN, "```console"]
    for step in README_EXAMPLE:
        lines += [f"$ {step.command}", *_checked_output(step).rstrip().splitlines()]
    return "\n".join([*lines, "```", EXAMPLE_END])


def update_readme() -> None:
    path = ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    start, end = text.index(EXAMPLE_BEGIN), text.index(EXAMPLE_END) + len(EXAMPLE_END)
    path.write_text(text[:start] + readme_example() + text[end:], encoding="utf-8")


def build() -> str:
    lines = [
        "# A guided tour: the lecture, one gdcli command per idea",
        "",
        "Every output below was pasted by `docs/build_tour.py` from a real run, and",
        "`tests/test_tour.py` runs the same commands, as printed and in order, from a",
        "clean directory, so that the tour cannot rot. Run them in order from the",
        "repository after `make demo`, with `.venv/bin` on your PATH (or",
        "`. .venv/bin/activate`).",
        "",
    ]
    (DOCS / "images").mkdir(exist_ok=True)
    for step in STEPS:
        before = []
        if step.setup:  # shown, and run before the command that reads what it writes
            before = [f"$ {step.setup}", *_checked(step.setup).rstrip().splitlines()]
        output = _checked_output(step)
        if step.title:
            lines += [f"## {step.title}", ""]
        if step.text:
            lines += [step.text, ""]
        if step.config:
            text = (ROOT / "configs" / step.config).read_text()
            lines += [f"`configs/{step.config}`:", "", "```yaml", text.rstrip(), "```", ""]
        shown = output.rstrip().splitlines()
        if step.tail:
            shown = shown[-step.tail :]
        lines += ["```console", *before, f"$ {step.command}", *shown, "```", ""]
        for pic in step.pictures:
            assert step.out is not None
            name = f"{Path(step.out).name}-{pic}"
            shutil.copyfile(ROOT / step.out / pic, DOCS / "images" / name)
            lines += [f"![{pic} of {step.out}](images/{name})", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    (DOCS / "tour.md").write_text(build(), encoding="utf-8")
    update_readme()
