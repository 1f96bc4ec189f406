"""``gdcli train-mlp`` and ``gdcli predict`` through typer's CliRunner.

The course's claims as numbers (XOR needs a hidden layer; breast cancer and digits
above 96% on held-out data), reproducibility of a seed, located data errors,
divergence as a result, the gradient check, the summary's keys, MedMNIST files, and
a saved model that predicts what it predicted when training ended.
"""

from __future__ import annotations

import csv
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
from clitools import error_document, gdcli, parse_json

from gdcli import nn
from gdcli.experiments import modelfile
from gdcli.experiments import plan as planning
from gdcli.experiments.config import TrainConfig, load_config
from gdcli.experiments.session import Session, run_train

CONFIGS = Path(__file__).parent.parent / "configs"
SEEDS = range(5)
FINAL_KEYS = {
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "test_loss",
    "test_accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "roc_auc",
}


def train_json(config: Path, out: Path, *sets: str, extra: tuple[str, ...] = ()) -> dict:
    """``gdcli train-mlp CONFIG --set ... --out OUT --json``: exit 0, the parsed summary."""
    args = ["train-mlp", config, "--out", out, "--json", *extra]
    for s in sets:
        args += ["--set", s]
    result = gdcli(*args)
    assert result.exit_code == 0, result.stderr
    summary = parse_json(result.stdout)
    assert summary == parse_json((out / "summary.json").read_text(encoding="utf-8"))
    return summary


def read_trace(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def two_moons_csv(path: Path, n: int = 160, seed: int = 0, label_format: str = "{}") -> Path:
    """Two noisy interleaved half circles; feature b on a scale 100 times a's, so
    standardization matters. Labels 0/1 written with ``label_format``."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.0, np.pi, n)
    y = rng.integers(0, 2, n)
    a = np.where(y == 0, np.cos(t), 1.0 - np.cos(t)) + rng.normal(0.0, 0.25, n)
    b = 100.0 * (np.where(y == 0, np.sin(t), 0.5 - np.sin(t)) + rng.normal(0.0, 0.25, n))
    lines = ["a,b,label"]
    lines += [
        f"{float(u)!r},{float(v)!r},{label_format.format(int(c))}"
        for u, v, c in zip(a, b, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


MOONS_MLP = """\
    name: moons-csv
    data: {{csv: {csv}, target: label, standardize: true{split}}}
    model: {{hidden: [8], activation: tanh}}
    optimizer: {{name: adam, lr: 0.01}}
    epochs: 15
    batch_size: 16
    seed: 1
"""


# -- the course's claims ------------------------------------------------------------


def test_xor_reaches_full_training_accuracy_with_one_hidden_layer(tmp_path: Path) -> None:
    s = train_json(CONFIGS / "xor.yaml", tmp_path / "run")
    assert s["model"]["layers"] == [2, 4, 1]
    assert (s["status"], s["epochs_run"]) == ("finished", 500)
    assert s["final"]["train_accuracy"] == 1.0
    assert float(read_trace(tmp_path / "run" / "trace.csv")[-1]["train_accuracy"]) == 1.0


def test_heaviside_solves_xor_on_frozen_random_features_and_says_so(tmp_path: Path) -> None:
    """The hidden layer never moves (zero derivative), yet the output layer alone
    separates the four points on its random features: train-mlp says which happened."""
    out = tmp_path / "run"
    result = gdcli(
        "train-mlp", CONFIGS / "xor.yaml", "--set", "model.activation=heaviside", "--out", out
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["final"]["train_accuracy"] == 1.0
    (warning,) = summary["warnings"]
    assert warning == (
        "hidden layer 1 (heaviside) never moved in 500 epochs: heaviside's derivative is 0 "
        "wherever it exists, so backpropagation passes nothing back to it; it stayed frozen at "
        "its random initial weights and only the output layer learned, on those random features"
    )
    assert f"gdcli: warning: {warning}" in " ".join(result.stderr.split())
    # the saved hidden layer is the initial one, bit for bit; the output layer moved
    config, doc = load_config(CONFIGS / "xor.yaml", TrainConfig, ["model.activation=heaviside"])
    start = planning.train_plan(config, doc).layers
    saved = modelfile.load_model(out / "model.npz").layers
    assert np.array_equal(saved[0].W, start[0].W) and np.array_equal(saved[0].b, start[0].b)
    assert not np.array_equal(saved[1].W, start[1].W)


def test_a_layer_before_a_heaviside_layer_is_frozen_too_and_tanh_alone_warns_nothing(
    tmp_path: Path,
) -> None:
    s = train_json(
        CONFIGS / "xor.yaml",
        tmp_path / "two",
        "model.hidden=[4,4]",
        "model.activation=[tanh,heaviside]",
        "epochs=20",
    )
    assert [w.split(":")[0] for w in s["warnings"]] == [
        "hidden layer 1 (tanh) never moved in 20 epochs",
        "hidden layer 2 (heaviside) never moved in 20 epochs",
    ]
    assert "heaviside's derivative is 0" in s["warnings"][0]
    assert train_json(CONFIGS / "xor.yaml", tmp_path / "tanh", "epochs=20")["warnings"] == []


@pytest.mark.parametrize("seed", SEEDS)
def test_xor_perceptron_gets_at_most_three_of_four_points(tmp_path: Path, seed: int) -> None:
    s = train_json(CONFIGS / "xor-perceptron.yaml", tmp_path / "run", f"seed={seed}")
    assert s["model"]["layers"] == [2, 1]
    assert s["data"]["train"] == 4
    assert s["final"]["train_accuracy"] <= 0.75
    trace = read_trace(tmp_path / "run" / "trace.csv")
    assert len(trace) == 500
    assert max(float(r["train_accuracy"]) for r in trace) <= 0.75


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """Summaries of configs/breast-cancer.yaml and configs/digits.yaml for seeds 0..4."""
    root = tmp_path_factory.mktemp("seeds")
    return {
        name: [
            train_json(CONFIGS / f"{name}.yaml", root / f"{name}-{s}", f"seed={s}") for s in SEEDS
        ]
        for name in ("breast-cancer", "digits")
    }


@pytest.mark.parametrize("name", ["breast-cancer", "digits"])
def test_held_out_accuracy_over_five_seeds_is_at_least_96_percent(
    seed_runs: dict[str, list[dict]], name: str
) -> None:
    runs = seed_runs[name]
    assert [r["seed"] for r in runs] == list(SEEDS)
    assert all(r["status"] == "finished" for r in runs)
    accuracies = [r["final"]["test_accuracy"] for r in runs]
    assert np.mean(accuracies) >= 0.96, accuracies
    # different seeds split differently, so they do not all agree to the last digit
    assert len({r["final"]["test_loss"] for r in runs}) == len(SEEDS)


def test_breast_cancer_summary_keys_and_figures(seed_runs: dict[str, list[dict]]) -> None:
    s = seed_runs["breast-cancer"][0]
    assert {"experiment", "data", "model", "epochs_run", "status", "final"} <= set(s)
    assert {"train_seconds", "out_dir"} <= set(s)
    assert s["experiment"] == "breast-cancer"
    assert s["out_dir"].endswith("breast-cancer-0")
    assert s["train_seconds"] > 0
    d = s["data"]
    # stratified 20%: round(357 * 0.2) benign + round(212 * 0.2) malignant held out
    assert (d["train"], d["val"], d["test"]) == (569 - 113, 0, 113)
    assert (d["features"], d["classes"], d["task"]) == (30, ["benign", "malignant"], "binary")
    assert s["model"]["layers"] == [30, 32, 1]
    assert s["model"]["parameters"] == 30 * 32 + 32 + 32 + 1
    assert s["epochs_run"] == 100
    final = s["final"]
    assert set(final) >= FINAL_KEYS
    assert final["val_loss"] is None and final["val_accuracy"] is None
    assert final["figures_on"] == "test"
    (tn, fp), (fn, tp) = final["confusion_matrix"]
    assert tn + fp + fn + tp == 113 and fn + tp == 42
    assert final["test_accuracy"] == pytest.approx((tp + tn) / 113, abs=1e-12)
    assert final["precision"] == pytest.approx(tp / (tp + fp), abs=1e-12)
    assert final["recall"] == final["sensitivity"] == pytest.approx(tp / (tp + fn), abs=1e-12)
    assert final["specificity"] == pytest.approx(tn / (tn + fp), abs=1e-12)
    p, r = final["precision"], final["recall"]
    assert final["f1"] == pytest.approx(2 * p * r / (p + r), abs=1e-12)
    assert 0.95 < final["roc_auc"] <= 1.0


def test_without_a_test_part_there_are_no_test_figures(tmp_path: Path) -> None:
    s = train_json(
        CONFIGS / "breast-cancer.yaml", tmp_path / "run", "data.test_fraction=0", "epochs=3"
    )
    assert s["data"]["test"] == 0 and s["data"]["train"] == 569
    final = s["final"]
    assert final["test_loss"] is None and final["test_accuracy"] is None
    assert final["figures_on"] == "train"  # the two-class figures fall back to train
    assert sum(map(sum, final["confusion_matrix"])) == 569
    assert isinstance(final["train_accuracy"], float) and final["train_accuracy"] > 0.8


def test_breast_cancer_table_shows_sensitivity_and_specificity(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = gdcli("train-mlp", CONFIGS / "breast-cancer.yaml", "--set", "epochs=5", "--out", out)
    assert result.exit_code == 0, result.stderr
    final = json.loads((out / "summary.json").read_text(encoding="utf-8"))["final"]
    text = " ".join(result.stdout.split())  # the sentence may fold at 80 columns
    line = text[text.index("on test, positive class") :]
    assert line.startswith("on test, positive class 'malignant': ")
    m = re.search(
        r"sensitivity \(recall\) (\S+), specificity (\S+), precision (\S+), F1 (\S+),", line
    )
    assert m, line
    shown = [float(v) for v in m.groups()]
    for value, key in zip(shown, ("recall", "specificity", "precision", "f1"), strict=True):
        assert value == float(f"{final[key]:.4g}")
    rows = {x.split()[1]: x.split()[5] for x in result.stdout.splitlines() if "│ t" in x}
    assert float(rows["train"]) == float(f"{final['train_accuracy']:.4g}")
    assert float(rows["test"]) == float(f"{final['test_accuracy']:.4g}")


# -- reproducibility ----------------------------------------------------------------


def _without(row: dict[str, str], key: str) -> dict[str, str]:
    return {k: v for k, v in row.items() if k != key}


def test_same_file_and_seed_give_an_identical_trace(tmp_path: Path) -> None:
    sets = ("data.val_fraction=0.2", "epochs=15", "seed=3")
    config = CONFIGS / "breast-cancer.yaml"
    first = train_json(config, tmp_path / "a", *sets)
    second = train_json(config, tmp_path / "b", *sets)
    other = train_json(config, tmp_path / "c", *sets[:-1], "seed=4")
    a, b, c = (read_trace(tmp_path / d / "trace.csv") for d in "abc")
    assert len(a) == 15 and all(r["val_loss"] for r in a)
    assert [_without(r, "seconds") for r in a] == [_without(r, "seconds") for r in b]
    assert [_without(r, "seconds") for r in a] != [_without(r, "seconds") for r in c]
    for s in (first, second, other):
        s.pop("out_dir")
        s.pop("train_seconds")
    assert first == second
    assert first != other
    with np.load(tmp_path / "a" / "model.npz") as za, np.load(tmp_path / "b" / "model.npz") as zb:
        assert sorted(za.files) == sorted(zb.files)
        for key in za.files:
            np.testing.assert_array_equal(za[key], zb[key])


# -- bad data -----------------------------------------------------------------------

CSV_ERRORS = [
    pytest.param(
        "x1,x2,label\n0.1,0.2,a\n0.3,abc,b\n0.5,0.6,a\n",
        "label",
        r"data\.csv:3:2: column 'x2': 'abc' is not a number$",
        id="text-cell",
    ),
    pytest.param(
        "x1,x2,label\n0.1,0.2,a\n,0.4,b\n0.5,0.6,a\n",
        "label",
        r"data\.csv:3:1: column 'x1': empty cell \(missing value\)$",
        id="missing-cell",
    ),
    pytest.param(
        "x1,x2,label\n0.1,0.2,a\n0.3,0.4,a\n0.5,0.6,a\n",
        "label",
        r"data\.csv: only one class 'a' in column 'label'$",
        id="single-class",
    ),
    pytest.param(
        "x1,x2,label\n0.1,0.2,a\n0.3,0.4,b\n0.5,0.6,a\n",
        "lable",
        r"data\.csv:1: no target column 'lable' \(did you mean 'label'\?\)",
        id="missing-target",
    ),
]


@pytest.mark.parametrize(("text", "target", "pattern"), CSV_ERRORS)
def test_bad_csv_exits_2_with_the_place_of_the_problem(
    tmp_path: Path, text: str, target: str, pattern: str
) -> None:
    (tmp_path / "data.csv").write_text(text, encoding="utf-8")
    config = write(
        tmp_path / "bad.yaml",
        f"name: bad\ndata: {{csv: data.csv, target: {target}}}\nepochs: 2\n",
    )
    result = gdcli("train-mlp", config, "--out", tmp_path / "run", "--json")
    assert result.exit_code == 2
    error_document(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("gdcli: error: ")
    assert re.search(pattern, lines[0]), lines[0]
    assert not (tmp_path / "run").exists()  # checked before anything is written


# -- divergence ---------------------------------------------------------------------

DIVERGING = [
    pytest.param(("optimizer.name=gd", "optimizer.lr=1.0e6", "model.loss=mse"), id="gd-mse"),
    pytest.param(("optimizer.name=gd", "optimizer.lr=1.0e6"), id="gd-bce"),
    pytest.param(("optimizer.name=adam", "optimizer.lr=1.0e30"), id="adam-bce"),
    pytest.param(("optimizer.name=gd", "optimizer.lr=10.0", "epochs=30"), id="gd-later-epoch"),
]


@pytest.mark.parametrize("sets", DIVERGING)
def test_a_huge_learning_rate_diverges_into_finite_files(
    tmp_path: Path, sets: tuple[str, ...]
) -> None:
    out = tmp_path / "run"
    s = train_json(CONFIGS / "breast-cancer.yaml", out, *sets)
    assert s["status"] == "diverged"
    assert "infinite or NaN" in s["reason"]
    trace = read_trace(out / "trace.csv")
    assert len(trace) == s["epochs_run"] < 100
    for row in trace:
        assert all(np.isfinite(float(v)) for k, v in row.items() if v)
    for key in ("train_loss", "test_loss"):
        assert np.isfinite(s["final"][key])
    if (out / "model.npz").exists():
        assert s["epochs_run"] >= 1
        with np.load(out / "model.npz") as z:
            assert z["params"].size == 1025
            assert np.isfinite(z["params"]).all()
    else:
        assert s["epochs_run"] == 0


def test_gd_lr_10_diverges_after_a_finite_epoch_and_saves_it(tmp_path: Path) -> None:
    out = tmp_path / "run"
    s = train_json(
        CONFIGS / "breast-cancer.yaml", out, "optimizer.name=gd", "optimizer.lr=10.0", "epochs=30"
    )
    assert s["status"] == "diverged" and s["epochs_run"] >= 1
    assert s["files"] == ["model.npz"]
    model = modelfile.load_model(out / "model.npz")
    assert all(np.isfinite(p).all() for p in nn.flatten(model.layers))


def test_strict_exits_3_on_divergence_and_still_prints_the_summary(tmp_path: Path) -> None:
    result = gdcli(
        "train-mlp",
        CONFIGS / "breast-cancer.yaml",
        *("--set", "optimizer.name=gd", "--set", "optimizer.lr=1.0e6"),
        *("--out", tmp_path / "run", "--json", "--strict"),
    )
    assert result.exit_code == 3
    assert parse_json(result.stdout)["status"] == "diverged"
    assert result.stderr.startswith("gdcli: --strict")
    assert (tmp_path / "run" / "summary.json").exists()


def test_strict_exits_0_when_training_finishes(tmp_path: Path) -> None:
    result = gdcli(
        "train-mlp", CONFIGS / "xor.yaml", "--out", tmp_path / "run", "--strict", "--quiet"
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""


# -- gradient check -----------------------------------------------------------------


@pytest.mark.parametrize(("dtype", "bound"), [("float64", 1e-6), ("float32", 1e-4)])
def test_check_grad_on_breast_cancer(tmp_path: Path, dtype: str, bound: float) -> None:
    s = train_json(
        CONFIGS / "breast-cancer.yaml",
        tmp_path / "run",
        f"model.dtype={dtype}",
        "epochs=1",
        extra=("--check-grad",),
    )
    check = s["gradient_check"]
    assert check["batch"] == 64
    assert 0 <= check["max_relative_error"] < bound
    assert s["model"]["dtype"] == dtype


# -- MedMNIST files -----------------------------------------------------------------


def test_medmnist_layout_npz_trains(tmp_path: Path) -> None:
    """Three classes of 8x8 uint8 images: class c has bright rows 2c and 2c+1."""
    rng = np.random.default_rng(0)

    def part(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % 3
        images = rng.integers(0, 40, size=(n, 8, 8)).astype(np.uint8)
        for i, c in enumerate(labels):
            images[i, 2 * c : 2 * c + 2, :] = 200 + rng.integers(0, 50, size=(2, 8))
        return images, labels.astype(np.uint8).reshape(n, 1)

    arrays = {}
    for name, n in (("train", 60), ("val", 15), ("test", 21)):
        arrays[f"{name}_images"], arrays[f"{name}_labels"] = part(n)
    np.savez(tmp_path / "tiny.npz", **arrays)
    config = write(
        tmp_path / "tiny.yaml",
        """\
        name: tiny-medmnist
        data: {npz: tiny.npz}
        model: {hidden: [16], activation: relu}
        optimizer: {name: adam, lr: 0.01}
        epochs: 30
        batch_size: 16
        """,
    )
    s = train_json(config, tmp_path / "run")
    d = s["data"]
    assert (d["train"], d["val"], d["test"]) == (60, 15, 21)
    assert (d["features"], d["classes"], d["task"]) == (64, ["0", "1", "2"], "multiclass")
    assert s["model"]["layers"] == [64, 16, 3]
    assert s["final"]["val_accuracy"] == 1.0
    assert s["final"]["test_accuracy"] == 1.0
    assert np.trace(np.array(s["final"]["confusion_matrix"])) == 21
    assert s["final"]["precision"] is None  # three classes: no two-class figures


# -- predict ------------------------------------------------------------------------


def test_predict_reproduces_the_trained_model_on_standardized_data(tmp_path: Path) -> None:
    csv_path = two_moons_csv(tmp_path / "moons.csv")
    config_path = write(
        tmp_path / "moons.yaml", MOONS_MLP.format(csv="moons.csv", split=", test_fraction: 0.25")
    )
    config, doc = load_config(config_path, TrainConfig)
    trained = run_train(config, doc, Session(tmp_path / "run"))
    plan, result, summary = trained.plan, trained.result, trained.summary
    assert summary["data"]["test"] == 40 and summary["data"]["standardized"]

    out = gdcli("predict", tmp_path / "run" / "model.npz", csv_path, "--json")
    assert out.exit_code == 0, out.stderr
    got = parse_json(out.stdout)
    raw = np.loadtxt(csv_path, delimiter=",", skiprows=1)
    X, truth = raw[:, :2], raw[:, 2].astype(int)

    # what the trained layers say about the file, standardized with the train part's scaler
    scaler = plan.splits.scaler
    assert scaler is not None
    Xs = scaler.transform(X)
    expected = nn.predict(result.arch, result.layers, Xs)
    assert got["rows"] == 160
    assert got["classes"] == ["0", "1"]
    assert got["predictions"] == [str(k) for k in expected]
    proba = nn.predict_proba(result.arch, result.layers, Xs.astype(np.float32))
    np.testing.assert_array_equal(np.array(got["probabilities"]), proba)
    assert got["accuracy"] == pytest.approx(np.mean(expected == truth), abs=1e-15)
    assert 0.5 < got["accuracy"] < 1.0  # noisy moons: neither chance nor perfect

    # the same through the saved model's own preparation
    model = modelfile.load_model(tmp_path / "run" / "model.npz")
    for a, b in zip(nn.flatten(model.layers), nn.flatten(result.layers), strict=True):
        np.testing.assert_array_equal(a, b)
    again = nn.predict(model.arch, model.layers, model.prepare(X))
    np.testing.assert_array_equal(again, expected)

    # on the held-out rows alone, the figure is the run's test accuracy
    test = plan.splits.test
    assert test is not None
    held_out = nn.predict(result.arch, result.layers, test.X)
    assert np.mean(held_out == test.y) == pytest.approx(summary["final"]["test_accuracy"])


def test_predict_on_the_training_file_prints_the_training_accuracy(tmp_path: Path) -> None:
    csv_path = two_moons_csv(tmp_path / "moons.csv", seed=5)
    config = write(tmp_path / "moons.yaml", MOONS_MLP.format(csv="moons.csv", split=""))
    s = train_json(config, tmp_path / "run")
    assert (s["data"]["train"], s["data"]["test"]) == (160, 0)
    train_acc = s["final"]["train_accuracy"]
    assert 0.5 < train_acc < 1.0

    result = gdcli("predict", tmp_path / "run" / "model.npz", csv_path)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"gdcli: accuracy {train_acc:.4f} on 160 rows with a target\n"
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert len(rows) == 160
    assert np.mean([r["prediction"] == r["target"] for r in rows]) == train_acc

    as_json = gdcli("predict", tmp_path / "run" / "model.npz", csv_path, "--json")
    assert parse_json(as_json.stdout)["accuracy"] == train_acc


def test_predict_accuracy_with_labels_written_as_floats(tmp_path: Path) -> None:
    csv_path = two_moons_csv(tmp_path / "moons.csv", seed=5, label_format="{}.0")
    config = write(tmp_path / "moons.yaml", MOONS_MLP.format(csv="moons.csv", split=""))
    s = train_json(config, tmp_path / "run")
    assert s["data"]["classes"] == ["0", "1"]
    result = gdcli("predict", tmp_path / "run" / "model.npz", csv_path, "--json")
    assert result.exit_code == 0, result.stderr
    assert parse_json(result.stdout)["accuracy"] == s["final"]["train_accuracy"]


def test_predict_names_missing_feature_columns(tmp_path: Path) -> None:
    two_moons_csv(tmp_path / "moons.csv")
    config = write(tmp_path / "moons.yaml", MOONS_MLP.format(csv="moons.csv", split=""))
    train_json(config, tmp_path / "run", "epochs=1")
    (tmp_path / "other.csv").write_text("a,c\n1.0,2.0\n", encoding="utf-8")
    result = gdcli("predict", tmp_path / "run" / "model.npz", tmp_path / "other.csv")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert re.fullmatch(
        r"gdcli: error: \S*other\.csv:1: the model needs 2 feature columns; missing: b\n",
        result.stderr,
    ), result.stderr
