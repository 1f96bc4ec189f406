"""``gdcli export --to torch``: the script compiles for every shipped training config,
and where torch is installed it trains to gdcli's own final figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from clitools import error_document, gdcli, parse_json

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
TRAIN_CONFIGS = ("xor", "xor-perceptron", "breast-cancer", "digits", "moons", "spirals", "medmnist")


def _tiny_medmnist(path: Path) -> Path:
    """A MedMNIST-layout file of 4x4 images, standing in for breastmnist.npz."""
    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in (("train", 24), ("val", 8), ("test", 8)):
        arrays[f"{part}_images"] = rng.integers(0, 256, (n, 4, 4), dtype=np.uint8)
        arrays[f"{part}_labels"] = (np.arange(n) % 2).reshape(n, 1)
    np.savez(path, **arrays)
    return path


def _export(config: Path, out: Path, *sets: str) -> dict:
    args = [a for s in sets for a in ("--set", s)]
    result = gdcli("export", config, "--to", "torch", "--out", out, *args, "--json")
    assert result.exit_code == 0, result.stderr
    return parse_json(result.stdout)


@pytest.mark.parametrize("name", TRAIN_CONFIGS)
def test_the_script_compiles_for_every_shipped_training_config(name, tmp_path):
    sets = [f"data.npz={_tiny_medmnist(tmp_path / 'm.npz')}"] if name == "medmnist" else []
    doc = _export(CONFIGS / f"{name}.yaml", tmp_path / "out", *sets)
    script = tmp_path / "out" / "train_torch.py"
    assert doc["files"] == [
        str(tmp_path / "out" / f) for f in ("train_torch.py", "initial_weights.npz", "data.npz")
    ]
    compile(script.read_text(encoding="utf-8"), str(script), "exec")


def test_the_arrays_are_gdclis_initial_weights_and_split(tmp_path):
    from gdcli.experiments.config import TrainConfig, load_config
    from gdcli.experiments.plan import train_plan

    _export(CONFIGS / "breast-cancer.yaml", tmp_path)
    plan = train_plan(*load_config(CONFIGS / "breast-cancer.yaml", TrainConfig))
    weights = np.load(tmp_path / "initial_weights.npz")
    assert sorted(weights) == ["W1", "W2", "b1", "b2"]
    np.testing.assert_array_equal(weights["W1"], plan.layers[0].W)
    assert weights["W1"].dtype == np.float32 and weights["W1"].shape == (30, 32)
    data = np.load(tmp_path / "data.npz")
    assert sorted(data) == ["X_test", "X_train", "y_test", "y_train"]
    np.testing.assert_array_equal(data["X_train"], plan.splits.train.X)
    np.testing.assert_array_equal(data["y_test"], plan.splits.test.y)
    assert data["X_train"].shape == (456, 30)  # 569 rows, 20% of each class held out
    # standardized on the training part
    np.testing.assert_allclose(data["X_train"].mean(axis=0), 0.0, atol=1e-12)


def test_without_out_the_script_goes_to_stdout_and_reads_the_arrays_by_absolute_path(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    result = gdcli("export", CONFIGS / "xor.yaml", "--to", "torch")
    assert result.exit_code == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("xor-torch-")
    assert sorted(p.name for p in run_dir.iterdir()) == ["data.npz", "initial_weights.npz"]
    assert f"ARRAYS = Path({str(run_dir.resolve())!r})" in result.stdout
    assert f"from runs/{run_dir.name}/ (initial_weights.npz, data.npz)" in result.stderr
    compile(result.stdout, "train_torch.py", "exec")


def test_the_script_holds_what_the_config_asks(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        "name: c\ndata: {name: blobs, n: 60}\n"
        "model: {hidden: [5, 3], activation: [heaviside, leaky_relu], alpha: 0.2, "
        "dtype: float64}\n"
        "optimizer: {name: nesterov, lr: 0.1, momentum: 0.8, weight_decay: 0.01, "
        "schedule: {name: cosine, total_steps: 50, min_lr: 0.001, warmup_steps: 4}}\n"
        "l2: 0.5\nepochs: 7\nbatch_size: 16\nseed: 3\n",
        encoding="utf-8",
    )
    _export(config, tmp_path / "out")
    text = (tmp_path / "out" / "train_torch.py").read_text(encoding="utf-8")
    for line in (
        "SEED = 3",
        "EPOCHS = 7",
        "BATCH_SIZE = 16",
        "LR = 0.1",
        "L2 = 0.5",
        "DTYPE = torch.float64",
        "torch.nn.Linear(2, 5),  # z1 = x W1 + b1",
        "Heaviside(),  # h1 = heaviside(z1)",
        "torch.nn.LeakyReLU(0.2),  # h2 = leaky_relu(z2)",
        "torch.nn.Linear(3, 3),  # z3 = h2 W3 + b3: the logits (softmax in the loss)",
        "return F.cross_entropy(logits, y)",
        "optimizer = torch.optim.SGD(",
        "momentum=0.8,",
        "weight_decay=0.01,",
        "nesterov=True,",
        "lr = 0.001 + (LR - 0.001) * (1.0 + math.cos(math.pi * min(t, 50) / 50)) / 2.0",
        "return lr * (t + 1) / 4 if t < 4 else lr",
    ):
        assert line in text, line
    assert "CLIP_NORM" not in text and "PATIENCE" not in text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("xor.yaml", "--to", "keras"), "exports to torch only"),
        (("rosenbrock.yaml", "--to", "torch"), "this is a descend experiment"),
        (("compare-xor.yaml", "--to", "torch"), "this is a compare-activations experiment"),
        (("xor.yaml", "--to", "torch", "--set", "sweep={epochs: [1, 2]}"), "not a sweep"),
    ],
)
def test_what_cannot_be_exported_is_refused_with_exit_2(args, says):
    result = gdcli("export", CONFIGS / args[0], *args[1:], "--json")
    assert result.exit_code == 2
    doc = error_document(result)
    assert says in doc["errors"][0]["message"]


def test_an_earlier_export_is_replaced_only_with_force(tmp_path):
    _export(CONFIGS / "xor.yaml", tmp_path)
    again = gdcli("export", CONFIGS / "xor.yaml", "--to", "torch", "--out", tmp_path)
    assert again.exit_code == 2 and "pass --force" in again.stderr
    forced = ("export", CONFIGS / "xor.yaml", "--to", "torch", "--out", tmp_path, "--force")
    assert gdcli(*forced, "--set", "epochs=3").exit_code == 0
    assert "EPOCHS = 3" in (tmp_path / "train_torch.py").read_text(encoding="utf-8")


# -- running the script (where torch is installed) -----------------------------------------


def _run_both(config: Path, tmp_path: Path, *sets: str) -> tuple[dict, dict]:
    """gdcli's summary and the exported script's final JSON line, for one experiment."""
    pytest.importorskip("torch")
    args = [a for s in sets for a in ("--set", s)]
    trained = gdcli("train-mlp", config, *args, "--out", tmp_path / "run", "--json")
    assert trained.exit_code == 0, trained.stderr
    _export(config, tmp_path / "torch", *sets)
    done = subprocess.run(
        [sys.executable, tmp_path / "torch" / "train_torch.py"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return parse_json(trained.stdout), json.loads(done.stdout.strip().splitlines()[-1])


def _close(a: float, b: float, rel: float = 1e-4) -> bool:
    return abs(a - b) <= rel * abs(b)


@pytest.mark.parametrize(("name", "epochs"), [("xor", 200), ("breast-cancer", 20)])
def test_the_script_trains_to_gdclis_final_train_loss(name, epochs, tmp_path):
    summary, torch_final = _run_both(CONFIGS / f"{name}.yaml", tmp_path, f"epochs={epochs}")
    final = summary["final"]
    assert _close(torch_final["train_loss"], final["train_loss"]), (torch_final, final)
    assert torch_final["train_accuracy"] == final["train_accuracy"]
    assert torch_final["epochs_run"] == summary["epochs_run"] == epochs


ADAM_L2_SCHEDULE = """\
name: adam-l2-step
data: {name: moons, n: 200, noise: 0.2, test_fraction: 0.2, val_fraction: 0.2}
model: {hidden: [8], activation: tanh}
optimizer: {name: adam, lr: 0.02, clip_norm: 0.5,
            schedule: {name: step, step_size: 15, gamma: 0.5, warmup_steps: 5}}
l2: 0.01
epochs: 40
batch_size: 16
early_stopping: {patience: 4}
seed: 2
"""


def test_adam_with_l2_a_schedule_clipping_and_early_stopping_gives_gdclis_figures(tmp_path):
    config = tmp_path / "adam.yaml"
    config.write_text(ADAM_L2_SCHEDULE, encoding="utf-8")
    summary, torch_final = _run_both(config, tmp_path)
    assert torch_final["status"] == summary["status"]
    assert torch_final["epochs_run"] == summary["epochs_run"]
    assert torch_final["best_epoch"] == summary["best_epoch"]
    for key in ("train_loss", "val_loss", "test_loss"):
        assert _close(torch_final[key], summary["final"][key]), key


OTHERS = [
    # heaviside passes zeros back; SGD's weight_decay still moves the layer under it
    "data: {name: xor}\nmodel: {hidden: [3], activation: heaviside}\n"
    "optimizer: {name: momentum, lr: 0.1, momentum: 0.9, dampening: 0.1, weight_decay: 0.01}\n"
    "batch_size: full\nepochs: 30\n",
    "data: {name: blobs, n: 90}\nmodel: {hidden: [6], activation: gelu, dtype: float64}\n"
    "optimizer: {name: rmsprop, lr: 0.01, momentum: 0.5, centered: true, "
    "schedule: {name: cosine, total_steps: 40}}\nbatch_size: 16\nepochs: 10\n",
    "data: {name: circles, n: 80}\nmodel: {hidden: [5], activation: elu, loss: mse}\n"
    "optimizer: {name: adagrad, lr: 0.1, lr_decay: 0.01, "
    "schedule: {name: inverse_time, decay_rate: 0.5, decay_steps: 10}}\nepochs: 10\n",
    "data: {name: moons, n: 80}\nmodel: {hidden: [5], activation: softplus}\n"
    "optimizer: {name: adamw, lr: 0.01, amsgrad: true, "
    "schedule: {name: exponential, gamma: 0.99}}\nepochs: 10\n",
]


@pytest.mark.parametrize("body", OTHERS, ids=["heaviside-momentum", "rmsprop", "adagrad", "adamw"])
def test_other_optimizers_schedules_and_activations_give_gdclis_train_loss(body, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("name: c\n" + body, encoding="utf-8")
    summary, torch_final = _run_both(config, tmp_path)
    assert _close(torch_final["train_loss"], summary["final"]["train_loss"]), (
        torch_final,
        summary["final"],
    )
