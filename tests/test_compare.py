"""``gdcli compare-activations``: one training per (activation, seed), aggregated.

The XOR figures come from the shipped ``configs/compare-xor.yaml``, unmodified and
run once for the module. Other tests shorten training with ``--set`` where the
point they make does not depend on the full run.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clitools import gdcli
from rich.console import Console

from gdcli.experiments import compare, jobs, train
from gdcli.experiments import plan as planning
from gdcli.experiments.config import CompareConfig, validate
from gdcli.render import report
from gdcli.yamlio import apply_override, load_document

CONFIGS = Path(__file__).parent.parent / "configs"
XOR = CONFIGS / "compare-xor.yaml"
ACTIVATIONS = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "heaviside"]
SEEDS = [0, 1, 2, 3, 4]
EPOCHS = 500
# Wide enough that no cell of the ranked table is cut with an ellipsis.
WIDE = {"COLUMNS": "220", "NO_COLOR": "1"}
# XOR short enough for tests about plumbing rather than about what the network learns.
SHORT = ("--set", "epochs=60")
STATS = ("train_loss", "train_accuracy", "test_accuracy", "epochs_to_target")


def read_trace(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def by_activation(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["activation"]: r for r in summary["results"]}


def without_timings(obj: Any) -> Any:
    """The summary minus wall-clock times and where it was written."""
    if isinstance(obj, dict):
        return {k: without_timings(v) for k, v in obj.items() if k not in ("seconds", "out_dir")}
    if isinstance(obj, list):
        return [without_timings(v) for v in obj]
    return obj


def flat(text: str) -> str:
    """Console text with its line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def xor_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any], Path]:
    """The shipped XOR comparison, as a user runs it: the table on stdout and the run dir."""
    out = tmp_path_factory.mktemp("compare-xor") / "run"
    result = gdcli("compare-activations", XOR, "--out", out, env=WIDE)
    assert result.exit_code == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return result.stdout, summary, out


def test_xor_table_fits_80_columns_off_a_terminal(
    xor_run: tuple[str, dict[str, Any], Path],
) -> None:
    """Piped, with no COLUMNS: every line within 80 columns and nothing cut short."""
    _, summary, _ = xor_run
    buf = io.StringIO()
    report.compare_report(Console(file=buf, width=80), summary)
    lines = buf.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in buf.getvalue()
    cells = [line.split() for line in lines]
    rows = [c for c in cells if len(c) > 2 and c[1] in ACTIVATIONS and c[0].strip("=").isdigit()]
    assert {row[1] for row in rows} == set(ACTIVATIONS)
    means = {row[1]: float(row[2]) for row in rows}
    assert means == {r["activation"]: round(r["train_loss"]["mean"], 4) for r in summary["results"]}


# -- what XOR shows ----------------------------------------------------------------------


def test_xor_linear_cannot_separate_and_sigmoid_and_tanh_can(
    xor_run: tuple[str, dict[str, Any], Path],
) -> None:
    _, summary, _ = xor_run
    assert summary["status"] == "finished"
    assert summary["seeds"] == SEEDS
    assert summary["activations"] == ACTIVATIONS
    results = by_activation(summary)
    assert set(results) == set(ACTIVATIONS)
    for r in results.values():
        assert (r["runs"], r["failed"]) == (len(SEEDS), [])
    # One linear map cannot separate XOR: at most 3 of the 4 points on any seed.
    assert results["linear"]["train_accuracy"]["mean"] <= 0.75
    assert all(
        run["train_accuracy"] <= 0.75 for run in summary["runs"] if run["activation"] == "linear"
    )
    assert results["linear"]["epochs_to_target"]["reached"] == 0
    for name in ("tanh", "sigmoid"):
        assert results[name]["train_accuracy"]["mean"] >= 0.99
        assert results[name]["epochs_to_target"]["reached"] == len(SEEDS)
    assert summary["target"] == {"accuracy": 1.0}


def test_xor_heaviside_hidden_weights_never_move_and_the_others_do(
    xor_run: tuple[str, dict[str, Any], Path],
) -> None:
    _, summary, _ = xor_run
    results = by_activation(summary)
    heaviside = results["heaviside"]
    assert heaviside["hidden_weights_moved"] is False
    assert heaviside["hidden_weight_change"] == 0.0
    per_run = [r["hidden_weight_change"] for r in summary["runs"] if r["activation"] == "heaviside"]
    assert per_run == [0.0] * len(SEEDS)
    # The same measurement sees the other activations' hidden weights move.
    for name in ACTIVATIONS[:-1]:
        assert results[name]["hidden_weights_moved"] is True
        assert results[name]["hidden_weight_change"] > 1e-3
        changes = [r["hidden_weight_change"] for r in summary["runs"] if r["activation"] == name]
        assert results[name]["hidden_weight_change"] == max(changes)


def test_xor_table_says_why_heaviside_does_not_learn(
    xor_run: tuple[str, dict[str, Any], Path],
) -> None:
    stdout, summary, _ = xor_run
    assert "\x1b[" not in stdout
    assert "…" not in stdout
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 3 and cells[2].removesuffix(" ★") in ACTIVATIONS:
            rows[cells[2].removesuffix(" ★")] = cells
    assert set(rows) == set(ACTIVATIONS)
    # "#", activation, loss, acc, epochs to target, dead, saturated, moved: no test set,
    # so the test-accuracy column is left out
    moved_column = 8
    assert rows["heaviside"][moved_column] == "no"
    assert all(rows[name][moved_column] == "yes" for name in ACTIVATIONS[:-1])
    tied = set(summary["verdict"]["tied"])
    ranks = {name: cells[1] for name, cells in rows.items()}
    assert ranks == {
        r["activation"]: "=1" if r["activation"] in tied else str(r["rank"])
        for r in summary["results"]
    }
    text = flat(stdout)
    assert flat(summary["reading"]) in text
    assert "heaviside's hidden weights never moved" in text
    assert "its derivative is 0 almost everywhere" in text
    assert "backpropagation passes nothing back through it" in text
    # ... and yet it reaches 100% on 3 of 5 seeds: the output layer learns alone.
    assert "only the output layer learns, on the hidden layer's random features" in text
    assert "linear layers compose to one linear map" in text


# -- a winner only when it is one (paired per-seed test) ---------------------------------


def per_seed(summary: dict[str, Any], metric: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for run in summary["runs"]:
        out.setdefault(run["activation"], []).append(run[metric])
    return out


def paired_t(a: list[float], b: list[float]) -> float:
    """The paired t statistic of a - b, written out (inf when every difference is equal
    and positive)."""
    d = np.array(a) - np.array(b)
    se = d.std(ddof=1) / math.sqrt(len(d))
    return math.inf if se == 0 and d.mean() > 0 else d.mean() / se if se else 0.0


def test_xor_names_no_winner_five_activations_tie_and_linear_is_beaten(
    xor_run: tuple[str, dict[str, Any], Path],
) -> None:
    stdout, summary, _ = xor_run
    acc = per_seed(summary, "train_accuracy")
    # The real per-seed numbers of the shipped file (seeds 0..4).
    assert acc["leaky_relu"] == acc["tanh"] == acc["sigmoid"] == [1.0] * 5
    assert acc["relu"] == [1.0, 1.0, 1.0, 0.75, 1.0]
    assert acc["heaviside"] == [1.0, 1.0, 1.0, 0.75, 0.75]
    assert acc["linear"] == [0.75, 0.5, 0.75, 0.5, 0.5]
    # One-sided 95% t quantile for 4 degrees of freedom: 2.132.
    q = 2.131846786
    assert paired_t(acc["leaky_relu"], acc["relu"]) == pytest.approx(1.0)  # < q: a tie
    assert paired_t(acc["leaky_relu"], acc["heaviside"]) == pytest.approx(1.632993)  # < q
    assert paired_t(acc["leaky_relu"], acc["linear"]) == pytest.approx(6.531973)  # > q
    assert compare.t_quantile(0.95, 4) == pytest.approx(q)
    verdict = summary["verdict"]
    assert verdict["outcome"] == "tie" and verdict["winner"] is None
    assert verdict["tied"] == ["leaky_relu", "tanh", "sigmoid", "relu", "heaviside"]
    assert (verdict["metric"], verdict["seeds"], verdict["level"]) == ("train_accuracy", 5, 0.95)
    assert "paired t-test of per-seed train_accuracy differences" in verdict["test"]
    # The reading line and the table agree: no star, the tied share rank =1.
    assert summary["reading"].startswith(
        "no winner: leaky_relu, tanh, sigmoid, relu and heaviside tie on mean train accuracy "
        "(0.900 to 1.000); their per-seed differences are within noise (paired t-test, "
        "5 seeds, one-sided 95%)"
    )
    assert "★" not in stdout and " wins " not in stdout
    assert sum(line.startswith("│ =1 │") for line in stdout.splitlines()) == 5


@pytest.fixture(scope="module")
def breast_cancer_compare(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """The shipped breast-cancer comparison (3 seeds, 60 epochs: a few seconds)."""
    out = tmp_path_factory.mktemp("compare-bc") / "run"
    config = CONFIGS / "compare-breast-cancer.yaml"
    result = gdcli("compare-activations", config, "--out", out, env=WIDE)
    assert result.exit_code == 0, result.stderr
    return result.stdout, json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_breast_cancer_identical_per_seed_numbers_are_a_tie_not_a_win(
    breast_cancer_compare: tuple[str, dict[str, Any]],
) -> None:
    stdout, summary = breast_cancer_compare
    acc = per_seed(summary, "test_accuracy")
    five = ["linear", "sigmoid", "tanh", "relu", "leaky_relu"]
    assert all(acc[name] == acc["relu"] for name in five)
    assert acc["relu"] == pytest.approx([0.964602, 0.982301, 0.973451], abs=1e-6)
    verdict = summary["verdict"]
    assert (verdict["outcome"], verdict["winner"]) == ("tie", None)
    assert sorted(verdict["tied"]) == sorted(five)
    # heaviside is beaten: differences 0.142, 0.080, 0.053 give t = 3.49 > 2.92 (2 dof).
    assert paired_t(acc["relu"], acc["heaviside"]) == pytest.approx(3.4878, abs=1e-3)
    assert compare.t_quantile(0.95, 2) == pytest.approx(2.919986)
    assert summary["reading"].startswith(
        "no winner: relu, leaky_relu, tanh, linear and sigmoid tie on mean test accuracy (0.973)"
    )
    assert "★" not in stdout
    heaviside_row = next(line for line in stdout.splitlines() if "heaviside" in line)
    assert heaviside_row.startswith("│  6 │")


def test_one_seed_establishes_no_winner_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = CONFIGS / "compare-breast-cancer.yaml"
    result = gdcli(
        "compare-activations",
        config,
        "--set",
        "seeds=[0]",
        "--set",
        "epochs=5",
        "--out",
        out,
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["verdict"]["outcome"] == "undecided"
    assert summary["verdict"]["winner"] is None
    assert summary["reading"].startswith("no winner can be established from 1 seed: ")


def outcomes_of(table: dict[str, list[float]]) -> list[compare.Outcome]:
    return [
        compare.Outcome(name, seed, "finished", train_accuracy=acc)
        for name, accs in table.items()
        for seed, acc in enumerate(accs)
    ]


@pytest.mark.parametrize(
    ("table", "outcome", "tied"),
    [
        # tanh is ahead on every seed by the same margin: a paired test sees no noise
        ({"tanh": [0.9, 0.8, 0.7], "relu": [0.8, 0.7, 0.6]}, "winner", []),
        # the same means, but the advantage flips sign between seeds: within noise
        ({"tanh": [1.0, 0.5, 1.0], "relu": [0.6, 0.8, 0.6]}, "tie", ["tanh", "relu"]),
        # two seeds: t = 3 is below the one-sided t quantile 6.31 for 1 dof
        ({"tanh": [1.0, 0.8], "relu": [0.8, 0.5]}, "tie", ["tanh", "relu"]),
        ({"tanh": [1.0], "relu": [0.5]}, "undecided", []),
    ],
    ids=["consistent", "noisy", "two-seeds", "one-seed"],
)
def test_verdict_by_hand(table: dict[str, list[float]], outcome: str, tied: list[str]) -> None:
    outcomes = outcomes_of(table)
    results = compare.aggregate(outcomes, list(table))
    verdict = compare.verdict(outcomes, results)
    assert (verdict["outcome"], verdict["tied"]) == (outcome, tied)
    assert verdict["winner"] == ("tanh" if outcome == "winner" else None)
    reading = compare.reading(results, verdict)
    if outcome == "winner":
        assert reading.startswith("tanh wins with mean train accuracy 0.800: it beats every ")


def test_t_quantile_matches_the_tables() -> None:
    # one-sided 95% and 97.5% quantiles from the standard t table
    for dof, q95, q975 in ((1, 6.3138, 12.7062), (2, 2.9200, 4.3027), (9, 1.8331, 2.2622)):
        assert compare.t_quantile(0.95, dof) == pytest.approx(q95, abs=1e-4)
        assert compare.t_quantile(0.975, dof) == pytest.approx(q975, abs=1e-4)


def test_results_mean_and_std_are_those_of_the_per_run_figures(
    xor_run: tuple[str, dict[str, Any], Path],
) -> None:
    _, summary, _ = xor_run
    assert [r["rank"] for r in summary["results"]] == list(range(1, len(ACTIVATIONS) + 1))
    for r in summary["results"]:
        runs = [x for x in summary["runs"] if x["activation"] == r["activation"]]
        assert sorted(x["seed"] for x in runs) == SEEDS
        assert r["runs"] == len(runs)
        for key in STATS:
            values = np.array([x[key] for x in runs if x[key] is not None], dtype=np.float64)
            if values.size == 0:
                assert (r[key]["mean"], r[key]["std"]) == (None, None), key
                continue
            assert r[key]["mean"] == pytest.approx(values.mean(), rel=1e-12, abs=1e-15), key
            expected_std = values.std(ddof=1) if values.size > 1 else 0.0
            assert r[key]["std"] == pytest.approx(expected_std, rel=1e-12, abs=1e-15), key
        reached = [x["epochs_to_target"] for x in runs if x["epochs_to_target"] is not None]
        assert r["epochs_to_target"]["reached"] == len(reached)
    # XOR trains on its four points: there is no test split to report.
    assert all(r["test_accuracy"] == {"mean": None, "std": None} for r in summary["results"])
    # Ranked by mean train accuracy (no test split), ties broken by lower train loss.
    keys = [(-r["train_accuracy"]["mean"], r["train_loss"]["mean"]) for r in summary["results"]]
    assert keys == sorted(keys)


def test_trace_is_long_form_one_row_per_activation_seed_and_epoch(
    xor_run: tuple[str, dict[str, Any], Path],
) -> None:
    _, summary, out = xor_run
    header, rows = read_trace(out / "trace.csv")
    assert header == [
        "activation",
        "seed",
        "epoch",
        "train_loss",
        "l2_penalty",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
    ]
    keys = [(r["activation"], int(r["seed"]), int(r["epoch"])) for r in rows]
    assert len(keys) == len(ACTIVATIONS) * len(SEEDS) * EPOCHS
    assert set(keys) == set(itertools.product(ACTIVATIONS, SEEDS, range(1, EPOCHS + 1)))
    # Each run's epochs to target, found again from its rows of the trace.
    first: dict[tuple[str, int], int] = {}
    for r in rows:
        pair = (r["activation"], int(r["seed"]))
        if float(r["train_accuracy"]) >= 1.0 and pair not in first:
            first[pair] = int(r["epoch"])
    for run in summary["runs"]:
        assert run["epochs_to_target"] == first.get((run["activation"], run["seed"]))


# -- same start for every activation -------------------------------------------------------


def planned(file: Path, activation: str, seed: int, *overrides: str) -> train.TrainPlan:
    doc = load_document(file)
    for assignment in (f"seed={seed}", *overrides):
        apply_override(doc, assignment)
    config = validate(doc, CompareConfig)
    model = config.model.model_copy(update={"activation": activation})
    return planning.train_plan(config.model_copy(update={"model": model}), doc)


def same_layers(a: train.TrainPlan, b: train.TrainPlan) -> bool:
    return len(a.layers) == len(b.layers) and all(
        np.array_equal(la.W, lb.W) and np.array_equal(la.b, lb.b)
        for la, lb in zip(a.layers, b.layers, strict=True)
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_a_fixed_initializer_gives_every_activation_the_same_start(seed: int) -> None:
    plans = {a: planned(XOR, a, seed) for a in ACTIVATIONS}
    first = plans[ACTIVATIONS[0]]
    assert first.initializer == "glorot_uniform"
    assert [layer.W.shape for layer in first.layers] == [(2, 4), (4, 1)]
    for name, plan in plans.items():
        assert plan.arch.activations == (name,)
        assert same_layers(plan, first), name
        assert np.array_equal(plan.splits.train.X, first.splits.train.X)
    # The seed does pick the weights.
    other = planned(XOR, "tanh", seed + 1)
    assert not np.array_equal(other.layers[0].W, first.layers[0].W)


def test_the_auto_initializer_depends_on_the_activation() -> None:
    relu = planned(XOR, "relu", 0, "model.init=auto")
    leaky = planned(XOR, "leaky_relu", 0, "model.init=auto")
    tanh = planned(XOR, "tanh", 0, "model.init=auto")
    assert relu.initializer == "auto: he_normal"
    assert tanh.initializer == "auto: glorot_uniform"
    assert not np.array_equal(relu.layers[0].W, tanh.layers[0].W)
    # Same initializer and seed: same draws, whatever the activation is called.
    assert same_layers(relu, leaky)


# -- parallel runs ---------------------------------------------------------------------


def test_two_workers_give_the_numbers_of_one(tmp_path: Path) -> None:
    summaries, traces = [], []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        result = gdcli(
            "compare-activations", XOR, *SHORT, "--workers", workers, "--out", out, "--json"
        )
        assert result.exit_code == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary == json.loads((out / "summary.json").read_text(encoding="utf-8"))
        summaries.append(summary)
        header, rows = read_trace(out / "trace.csv")
        assert "seconds" in header
        traces.append([{k: v for k, v in r.items() if k != "seconds"} for r in rows])
    one, two = summaries
    assert len(one["runs"]) == len(ACTIVATIONS) * len(SEEDS)
    assert all(isinstance(r["train_loss"], float) for r in one["runs"])
    assert without_timings(one) == without_timings(two)
    assert len(traces[0]) == len(ACTIVATIONS) * len(SEEDS) * 60
    assert traces[0] == traces[1]


# -- a failing run ---------------------------------------------------------------------


def test_a_failing_run_is_reported_in_its_row_and_the_others_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_plan = planning.train_plan

    def plan(config: Any, doc: Any, **kw: Any) -> Any:
        if config.model.activation == "tanh" and config.seed == 1:
            raise RuntimeError("injected failure")
        return real_plan(config, doc, **kw)

    monkeypatch.setattr(planning, "train_plan", plan)
    out = tmp_path / "run"
    result = gdcli(
        "compare-activations",
        XOR,
        *SHORT,
        "--set",
        "activations=[tanh,relu]",
        "--set",
        "seeds=[0,1,2]",
        "--out",
        out,
        env=WIDE,
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "finished"
    runs = {(r["activation"], r["seed"]): r for r in summary["runs"]}
    assert set(runs) == set(itertools.product(["tanh", "relu"], [0, 1, 2]))
    failed = runs.pop(("tanh", 1))
    assert failed["status"] == "failed"
    assert failed["error"] == "RuntimeError: injected failure"
    assert failed["train_loss"] is None
    for pair, run in runs.items():
        assert run["status"] == "finished", pair
        assert run["error"] is None
        assert math.isfinite(run["train_loss"])
    tanh = by_activation(summary)["tanh"]
    assert tanh["runs"] == 3
    assert tanh["failed"] == ["RuntimeError: injected failure"]
    ok = [runs[("tanh", 0)]["train_loss"], runs[("tanh", 2)]["train_loss"]]
    assert tanh["train_loss"]["mean"] == pytest.approx(np.mean(ok), rel=1e-12)
    assert tanh["train_loss"]["std"] == pytest.approx(np.std(ok, ddof=1), rel=1e-12)
    assert by_activation(summary)["relu"]["failed"] == []
    _, trace = read_trace(out / "trace.csv")
    traced = {(r["activation"], int(r["seed"])) for r in trace}
    assert traced == set(runs)
    assert "tanh: a run failed: RuntimeError: injected failure" in result.stdout


def test_run_jobs_gives_an_outcome_per_pair_even_when_a_job_raises() -> None:
    real = compare.train_pair

    def train_pair(job: compare.PairJob, *rest: Any) -> Any:
        if (job.activation, job.seed) == ("tanh", 1):
            raise RuntimeError("worker died")
        return real(job, *rest)

    doc = load_document(XOR)
    for assignment in ("epochs=10", "activations=[tanh,relu]", "seeds=[0,1,2]"):
        apply_override(doc, assignment)
    pairs = [(a, s) for s in (0, 1, 2) for a in ("tanh", "relu")]
    planned = planning.compare_plan(validate(doc, CompareConfig), doc)
    outcomes = [
        o
        for _, o in jobs.run_jobs(
            jobs.SerialExecutor(),
            train_pair,
            list(planned.jobs),
            lambda: False,
            compare.failed_pair,
        )
    ]
    assert [(o.activation, o.seed) for o in outcomes] == pairs
    assert [o.status for o in outcomes] == ["finished"] * 2 + ["failed"] + ["finished"] * 3


def test_aggregate_by_hand() -> None:
    finished = [
        # activation, seed, train loss, train accuracy, epochs to target, |W_end - W_start|
        ("tanh", 0, 0.1, 1.0, 10, 0.5),
        ("tanh", 2, 0.3, 0.75, None, 0.25),
        ("heaviside", 0, 0.2, 1.0, 4, 0.0),
        ("heaviside", 1, 0.4, 1.0, 8, 0.0),
    ]
    outcomes = [
        compare.Outcome(
            a,
            s,
            "finished",
            train_loss=loss,
            train_accuracy=acc,
            epochs_to_target=epochs,
            hidden_weight_change=change,
        )
        for a, s, loss, acc, epochs, change in finished
    ]
    outcomes.insert(1, compare.Outcome("tanh", 1, "failed", error="ValueError: boom"))
    results = compare.aggregate(outcomes, ["tanh", "heaviside"])
    heaviside, tanh = results  # both reach 1.0 on some seed; heaviside's mean is higher
    assert (heaviside["activation"], heaviside["rank"]) == ("heaviside", 1)
    assert (tanh["activation"], tanh["rank"]) == ("tanh", 2)
    assert tanh["runs"] == 3
    assert tanh["failed"] == ["ValueError: boom"]
    assert tanh["train_loss"]["mean"] == pytest.approx(0.2)
    assert tanh["train_loss"]["std"] == pytest.approx(math.sqrt(0.02))  # ddof=1
    assert tanh["train_accuracy"]["mean"] == pytest.approx(0.875)
    assert tanh["epochs_to_target"] == {"mean": 10.0, "std": 0.0, "reached": 1}
    assert tanh["test_accuracy"] == {"mean": None, "std": None}
    assert (tanh["hidden_weights_moved"], tanh["hidden_weight_change"]) == (True, 0.5)
    assert heaviside["epochs_to_target"]["mean"] == pytest.approx(6.0)
    assert heaviside["epochs_to_target"]["std"] == pytest.approx(math.sqrt(8.0))
    assert (heaviside["hidden_weights_moved"], heaviside["hidden_weight_change"]) == (False, 0.0)
    reading = compare.reading(results, compare.verdict(outcomes, results))
    # heaviside's two seeds are not tanh's two (seed 1 failed): one pair, no test.
    assert reading.startswith("no winner: heaviside and tanh tie on mean train accuracy ")
    assert "heaviside's hidden weights never moved" in reading


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("activations", "expected"),
    [
        (
            "[relu, swish, foo]",
            [
                ("bad.yaml:3:21: activations.1: ", "got 'swish'"),
                ("bad.yaml:3:28: activations.2: ", "got 'foo'"),
            ],
        ),
        ("[]", [("bad.yaml:3:1: activations: List should have at least 1 item",)]),
    ],
    ids=["unknown-names", "empty"],
)
def test_bad_activation_lists_exit_2_naming_them(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    activations: str,
    expected: list[tuple[str, ...]],
) -> None:
    monkeypatch.chdir(tmp_path)
    file = tmp_path / "bad.yaml"
    file.write_text(
        f"name: bad\ndata: {{name: xor}}\nactivations: {activations}\nepochs: 5\n",
        encoding="utf-8",
    )
    result = gdcli("compare-activations", file, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == len(expected), lines
    for line, fragments in zip(lines, expected, strict=True):
        assert line.startswith(f"gdcli: error: {tmp_path}/"), line
        assert all(f in line for f in fragments), (fragments, line)
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("value", "names"),
    [("[relu,foo,bar]", ["foo", "bar"]), ("[]", [])],
    ids=["unknown-names", "empty"],
)
def test_bad_activation_lists_from_set_exit_2_naming_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, names: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = gdcli("compare-activations", XOR, "--set", f"activations={value}")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == max(1, len(names))
    for line in lines:
        assert line.startswith(f"gdcli: error: --set activations={value}: activations")
    for line, name in zip(lines, names, strict=False):
        assert re.search(rf"got '{name}'$", line), line
    if not names:
        assert "at least 1 item" in lines[0]
    assert list(tmp_path.iterdir()) == []
