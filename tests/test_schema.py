"""`gdcli schema CMD` is as strict as gdcli: every range and every rule between keys
that gdcli enforces is in the JSON Schema, so check-jsonschema (an editor's view)
refuses the same broken files, and every shipped config passes both."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gdcli.errors import ConfigError, UserError
from gdcli.experiments.config import SCHEMAS, TrainConfig, load_config, schema
from gdcli.experiments.plan import experiment_plan, sweep_plan, sweep_spec
from gdcli.optim import OPTIMIZERS, SCHEDULES
from gdcli.optim.schedules import WARMUP
from gdcli.yamlio import load_document

CONFIGS = Path(__file__).parent.parent / "configs"

DESCEND = 'function: "x**2 + y**2"\nstart: [1.0, 1.0]\n'
TRAIN = "data: {name: xor}\nepochs: 2\n"
COMPARE = "data: {name: xor}\nepochs: 2\n"

# (command, file text, a part of gdcli's message): every kind of range and key
# combination gdcli refuses. Not here, because JSON Schema cannot compare two values:
# test_fraction + val_fraction >= 1, low >= high of random starts, as many
# activations as hidden layers, a cosine min_lr above the optimizer's lr.
BROKEN: dict[str, tuple[str, str, str]] = {
    "d-iterations-0": ("descend", DESCEND + "iterations: 0\n", "greater than or equal to 1"),
    "d-iterations-big": ("descend", DESCEND + "iterations: 1.0e8\n", "less than or equal"),
    "d-tolerance-negative": ("descend", DESCEND + "tolerance: -1.0e-9\n", "greater than or"),
    "d-seed-negative": ("descend", DESCEND + "seed: -1\n", "greater than or equal to 0"),
    "d-trace-every-0": ("descend", DESCEND + "trace_every: 0\n", "greater than or equal"),
    "d-empty-name": ("descend", DESCEND + "name: ''\n", "at least 1 character"),
    "d-start-and-starts": ("descend", DESCEND + "starts: [[0, 1]]\n", "either start or starts"),
    "d-optimizer-and-optimizers": (
        "descend",
        DESCEND + "optimizer: {name: gd}\noptimizers: [{name: adam}]\n",
        "either optimizer or optimizers",
    ),
    "d-no-optimizers": ("descend", DESCEND + "optimizers: []\n", "at least 1 item"),
    "d-lr-0": ("descend", DESCEND + "optimizer: {name: gd, lr: 0}\n", "greater than 0"),
    "d-momentum-1": (
        "descend",
        DESCEND + "optimizer: {name: momentum, momentum: 1.0}\n",
        "less than 1",
    ),
    "d-betas": ("descend", DESCEND + "optimizer: {name: adam, betas: [1.0, 0.9]}\n", "less than"),
    "d-backtracks": (
        "descend",
        DESCEND + "optimizer: {name: armijo, max_backtracks: -1}\n",
        "greater than or equal to 0",
    ),
    "d-clip-norm-0": ("descend", DESCEND + "optimizer: {name: gd, clip_norm: 0}\n", "greater"),
    "d-total-steps-0": (
        "descend",
        DESCEND + "optimizer: {name: gd, schedule: {name: cosine, total_steps: 0}}\n",
        "greater than or equal to 1",
    ),
    "d-warmup-negative": (
        "descend",
        DESCEND + "optimizer: {name: gd, schedule: {name: step, step_size: 2, warmup_steps: -1}}\n",
        "greater than or equal to 0",
    ),
    "d-gamma-above-1": (
        "descend",
        DESCEND + "optimizer: {name: gd, schedule: {name: exponential, gamma: 1.5}}\n",
        "less than or equal to 1",
    ),
    "d-random-0": ("descend", 'function: "x**2"\nstarts: {random: 0}\n', "greater than or"),
    "d-low-without-high": (
        "descend",
        'function: "x**2"\nstarts: {random: 3, low: [0]}\n',
        "give both low and high",
    ),
    "d-high-without-low": (
        "descend",
        'function: "x**2"\nstarts: {random: 3, high: [1]}\n',
        "give both low and high",
    ),
    "d-constant-as-variable": (
        "descend",
        'function: "pi*x"\nvars: [pi, x]\nstart: [1, 1]\n',
        "'pi' is a constant",
    ),
    "d-function-as-variable": (
        "descend",
        'function: "x + y"\nvars: [sin, x]\nstart: [1, 1]\n',
        "'sin' is a function",
    ),
    "d-variable-twice": ("descend", DESCEND + "vars: [x, x]\n", "a variable is listed twice"),
    "d-empty-sweep": ("descend", DESCEND + "sweep: {optimizer.lr: []}\n", "at least one value"),
    "t-batch-size-0": ("train-mlp", TRAIN + "batch_size: 0\n", "greater than or equal to 1"),
    "t-batch-size-word": ("train-mlp", TRAIN + "batch_size: half\n", "'full'"),
    "t-hidden-0": ("train-mlp", TRAIN + "model: {hidden: [0]}\n", "greater than or equal to 1"),
    "t-hidden-huge": ("train-mlp", TRAIN + "model: {hidden: [100001]}\n", "less than or equal"),
    "t-epochs-0": ("train-mlp", "data: {name: xor}\nepochs: 0\n", "greater than or equal to 1"),
    "t-l2-negative": ("train-mlp", TRAIN + "l2: -0.1\n", "greater than or equal to 0"),
    "t-seed-negative": ("train-mlp", TRAIN + "seed: -2\n", "greater than or equal to 0"),
    "t-alpha-0": ("train-mlp", TRAIN + "model: {alpha: 0}\n", "greater than 0"),
    "t-lr-negative": ("train-mlp", TRAIN + "optimizer: {name: adam, lr: -1}\n", "greater than"),
    "t-n-too-small": ("train-mlp", "data: {name: moons, n: 3}\n", "greater than or equal to 4"),
    "t-noise-negative": ("train-mlp", "data: {name: moons, noise: -1}\n", "greater than or"),
    "t-arms-1": ("train-mlp", "data: {name: spirals, arms: 1}\n", "greater than or equal to 2"),
    "t-centers-21": ("train-mlp", "data: {name: blobs, centers: 21}\n", "less than or equal"),
    "t-test-fraction-1": ("train-mlp", "data: {name: moons, test_fraction: 1}\n", "less than 1"),
    "t-val-negative": ("train-mlp", "data: {name: moons, val_fraction: -0.1}\n", "greater than"),
    "t-patience-0": (
        "train-mlp",
        "data: {name: moons, val_fraction: 0.2}\nearly_stopping: {patience: 0}\n",
        "greater than or equal to 1",
    ),
    "t-two-sources": (
        "train-mlp",
        "data: {name: xor, csv: d.csv, target: y}\n",
        "exactly one of name, csv or npz",
    ),
    "t-no-source": ("train-mlp", "data: {test_fraction: 0.2}\n", "exactly one of name, csv"),
    "t-csv-without-target": ("train-mlp", "data: {csv: d.csv}\n", "needs 'target:'"),
    "t-target-with-npz": ("train-mlp", "data: {npz: d.npz, target: y}\n", "target goes with"),
    "t-target-with-name": ("train-mlp", "data: {name: xor, target: y}\n", "target goes with"),
    "t-n-with-bundled": ("train-mlp", "data: {name: breast_cancer, n: 100}\n", "no effect"),
    "t-n-with-csv": ("train-mlp", "data: {csv: d.csv, target: y, n: 100}\n", "no effect"),
    "t-noise-with-npz": ("train-mlp", "data: {npz: d.npz, noise: 0.1}\n", "no effect"),
    "t-arms-with-moons": ("train-mlp", "data: {name: moons, arms: 3}\n", "no effect"),
    "t-centers-with-moons": ("train-mlp", "data: {name: moons, centers: 5}\n", "no effect"),
    "t-centers-with-xor": ("train-mlp", "data: {name: xor, centers: 4}\n", "no effect"),
    "t-early-stopping-without-val": (
        "train-mlp",
        TRAIN + "early_stopping: {patience: 3}\n",
        "early_stopping needs a validation part",
    ),
    "t-early-stopping-val-0": (
        "train-mlp",
        "data: {name: moons, val_fraction: 0}\nearly_stopping: {patience: 3}\n",
        "early_stopping needs a validation part",
    ),
    "t-normal-without-std": ("train-mlp", TRAIN + "model: {init: normal}\n", "needs init_std"),
    "t-std-without-normal": ("train-mlp", TRAIN + "model: {init_std: 0.1}\n", "init: normal"),
    "t-oracle-optimizer": (
        "train-mlp",
        TRAIN + "optimizer: {name: newton}\n",
        "works on analytic functions only",
    ),
    "c-seed-negative": ("compare-activations", COMPARE + "seeds: [-1]\n", "greater than or"),
    "c-seed-twice": ("compare-activations", COMPARE + "seeds: [0, 0]\n", "listed twice"),
    "c-no-seeds": ("compare-activations", COMPARE + "seeds: []\n", "at least 1 item"),
    "c-repeats-0": ("compare-activations", COMPARE + "repeats: 0\n", "greater than or equal"),
    "c-repeats-big": ("compare-activations", COMPARE + "repeats: 1001\n", "less than or equal"),
    "c-seeds-and-repeats": (
        "compare-activations",
        COMPARE + "seeds: [0]\nrepeats: 2\n",
        "either seeds or repeats",
    ),
    "c-accuracy-above-1": ("compare-activations", COMPARE + "target_accuracy: 1.5\n", "less"),
    "c-accuracy-0": ("compare-activations", COMPARE + "target_accuracy: 0\n", "greater than 0"),
    "c-loss-0": ("compare-activations", COMPARE + "target_loss: 0\n", "greater than 0"),
    "c-both-targets": (
        "compare-activations",
        COMPARE + "target_accuracy: 0.9\ntarget_loss: 0.1\n",
        "either target_accuracy or target_loss",
    ),
    "c-activation-twice": (
        "compare-activations",
        COMPARE + "activations: [relu, relu]\n",
        "an activation is listed twice",
    ),
    "c-no-activations": ("compare-activations", COMPARE + "activations: []\n", "at least 1"),
    "c-model-activation": (
        "compare-activations",
        COMPARE + "model: {activation: tanh}\n",
        "has no effect in compare-activations",
    ),
    "c-batch-size-0": ("compare-activations", COMPARE + "batch_size: 0\n", "greater than or"),
    "c-hidden-0": ("compare-activations", COMPARE + "model: {hidden: [0]}\n", "greater than"),
    "c-oracle-optimizer": (
        "compare-activations",
        COMPARE + "optimizer: {name: armijo}\n",
        "works on analytic functions only",
    ),
    "c-early-stopping-without-val": (
        "compare-activations",
        COMPARE + "early_stopping: {patience: 3}\n",
        "early_stopping needs a validation part",
    ),
}


def gdcli_refusal(command: str, path: Path) -> str:
    """gdcli's own path for an experiment file: read, sweep or validate, plan."""
    model = SCHEMAS[command]
    try:
        doc = load_document(path)
        spec = sweep_spec(doc, [])
        if spec:
            sweep_plan(command, doc, model, spec)
        else:
            config, doc = load_config(path, model)
            experiment_plan(command, config, doc)
    except UserError as exc:
        return "\n".join(str(p) for p in exc.problems)
    return ""


def check_jsonschema(schema_file: Path, files: list[Path]) -> dict[str, list[str]]:
    """check-jsonschema's errors per file (files it accepts have none)."""
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]')")
    done = subprocess.run(
        [exe, "--schemafile", str(schema_file), "-o", "json", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(done.stdout)
    assert not report.get("parse_errors"), report["parse_errors"]
    errors: dict[str, list[str]] = {str(f): [] for f in files}
    for err in report["errors"]:
        errors[err["filename"]].append(err["message"])
    return errors


def schema_file(tmp_path: Path, command: str) -> Path:
    path = tmp_path / f"{command}.schema.json"
    path.write_text(json.dumps(schema(command)), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", list(SCHEMAS))
def test_gdcli_and_check_jsonschema_refuse_every_broken_file(tmp_path: Path, command: str) -> None:
    cases = {k: v for k, v in BROKEN.items() if v[0] == command}
    files = {}
    for key, (_, text, expected) in cases.items():
        path = tmp_path / f"{key}.yaml"
        path.write_text(text, encoding="utf-8")
        files[key] = path
        message = gdcli_refusal(command, path)
        assert expected in message, (key, message)
    errors = check_jsonschema(schema_file(tmp_path, command), list(files.values()))
    accepted = [key for key, path in files.items() if not errors[str(path)]]
    assert accepted == []


# Files both accept: a default written out (as a run's config.yaml does) has no effect
# to warn about, and the fractions of parts that a file lacks are used.
ACCEPTED: dict[str, tuple[str, str]] = {
    "arms-default-with-moons": ("train-mlp", "data: {name: moons, arms: 2, centers: 3}\n"),
    "null-start": ("descend", 'function: "x**2"\nstart: null\nstarts: [[1]]\n'),
    "tolerance-0": ("descend", DESCEND + "tolerance: 0\n"),
    "early-stopping-with-val": (
        "train-mlp",
        "data: {name: moons, val_fraction: 0.2}\nearly_stopping: {patience: 2}\n",
    ),
    "compare-model-without-activation": ("compare-activations", COMPARE + "model: {hidden: [3]}\n"),
}


@pytest.mark.parametrize("command", list(SCHEMAS))
def test_gdcli_and_check_jsonschema_accept_the_same_edge_files(
    tmp_path: Path, command: str
) -> None:
    files = []
    for key, (cmd, text) in ACCEPTED.items():
        if cmd == command:
            path = tmp_path / f"{key}.yaml"
            path.write_text(text, encoding="utf-8")
            assert gdcli_refusal(command, path) == ""
            files.append(path)
    errors = check_jsonschema(schema_file(tmp_path, command), files)
    assert {f: e for f, e in errors.items() if e} == {}


def test_the_list_covers_every_kind_the_issue_names() -> None:
    per_command = {c: sum(v[0] == c for v in BROKEN.values()) for c in SCHEMAS}
    assert per_command == {"descend": 24, "train-mlp": 32, "compare-activations": 17}


def shipped() -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {c: [] for c in SCHEMAS}
    for path in sorted(CONFIGS.glob("*.yaml")):
        data = load_document(path).data
        if "function" in data:
            out["descend"].append(path)
        elif {"activations", "seeds", "repeats"} & data.keys():
            out["compare-activations"].append(path)
        else:
            out["train-mlp"].append(path)
    return out


@pytest.mark.parametrize("command", list(SCHEMAS))
def test_every_shipped_config_passes_gdcli_and_check_jsonschema(
    tmp_path: Path, command: str
) -> None:
    files = shipped()[command]
    assert files
    for path in files:
        load_config(path, SCHEMAS[command])
    errors = check_jsonschema(schema_file(tmp_path, command), files)
    assert {f: e for f, e in errors.items() if e} == {}


def test_every_schema_is_valid_draft_2020_12(tmp_path: Path) -> None:
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("check-jsonschema is not installed")
    files = [schema_file(tmp_path, c) for c in SCHEMAS]
    done = subprocess.run(
        [exe, "--check-metaschema", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- bounds, read from the registries ---------------------------------------------------------


def walk(node: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            out.append(cur)
            stack += cur.values()
        elif isinstance(cur, list):
            stack += cur
    return out


@pytest.mark.parametrize("command", list(SCHEMAS))
def test_no_bound_is_left_in_pydantic_words_that_json_schema_ignores(command: str) -> None:
    leaked = [d for d in walk(schema(command)) if {"ge", "gt", "le", "lt"} & d.keys()]
    assert leaked == []


def json_bounds(prop: dict[str, Any]) -> dict[str, float]:
    if prop.get("type") == "array":
        prop = prop["items"]
    keys = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
    return {k: prop[k] for k in keys if k in prop}


def registry_bounds(h: Any) -> dict[str, float]:
    out = {}
    if h.low is not None:
        out["minimum" if h.low_in else "exclusiveMinimum"] = h.low
    if h.high is not None:
        out["maximum" if h.high_in else "exclusiveMaximum"] = h.high
    return out


def test_every_registry_bound_is_in_the_schema() -> None:
    defs = schema("descend")["$defs"]
    checked = 0
    for name, info in OPTIMIZERS.items():
        title = "".join(p.capitalize() for p in name.split("_")) + "Optimizer"
        for key, h in info.hyperparameters.items():
            assert json_bounds(defs[title]["properties"][key]) == registry_bounds(h), (name, key)
            checked += 1
    for name, sched in SCHEDULES.items():
        title = "".join(p.capitalize() for p in name.split("_")) + "Schedule"
        for key, h in {**sched.parameters, "warmup_steps": WARMUP}.items():
            assert json_bounds(defs[title]["properties"][key]) == registry_bounds(h), (name, key)
            checked += 1
    assert checked > 40


def test_the_config_models_bounds_reach_the_schema() -> None:
    s = schema("compare-activations")
    bs = s["properties"]["batch_size"]["oneOf"]
    assert {"type": "integer", "minimum": 1} in bs
    model = s["$defs"]["ModelSpec"]["properties"]
    assert json_bounds(model["hidden"]) == {"minimum": 1, "maximum": 100_000}
    assert json_bounds(s["properties"]["seeds"]["anyOf"][0]) == {"minimum": 0}
    assert json_bounds(s["properties"]["repeats"]["anyOf"][0]) == {"minimum": 1, "maximum": 1000}
    data = s["$defs"]["DataSpec"]["properties"]
    assert json_bounds(data["n"]["anyOf"][0]) == {"minimum": 4, "maximum": 1_000_000}


# -- one mistake, one line ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("batch_size: 0", "batch_size: Input should be greater than or equal to 1, got 0"),
        ("batch_size: half", "batch_size: Input should be 'full', got 'half'"),
        ("batch_size: 2.5", "batch_size: Input should be a valid integer, got 2.5"),
    ],
)
def test_a_wrong_batch_size_is_reported_once(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(f"data: {{name: xor}}\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, TrainConfig)
    assert [str(p) for p in info.value.problems] == [f"{path}:2:1: {message}"]


def test_a_rule_is_reported_at_the_key_it_concerns(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("data: {name: breast_cancer,\n  n: 100}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, TrainConfig)
    [problem] = map(str, info.value.problems)
    assert problem == (
        f"{path}:2:3: data.n: has no effect with this data; only xor, and, or, moons, circles,"
        " spirals, blobs read it, got 100"
    )
