"""Sweeps: ``--sweep KEY=V1,V2`` (or ``sweep:`` in the file) runs a grid of points.

Each point is an ordinary run in its own sub-directory; the sweep writes one
summary and shows one table. ``--dry-run`` lists the points, ``--resume`` runs only
the points that have not finished.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from clitools import gdcli
from hypothesis import given, settings
from hypothesis import strategies as st

from gdcli.errors import ConfigError
from gdcli.experiments import plan as planning
from gdcli.experiments import session, sweep
from gdcli.experiments.config import DescendConfig
from gdcli.yamlio import apply_override, load_document

CONFIGS = Path(__file__).parent.parent / "configs"
XOR = CONFIGS / "compare-xor.yaml"
ROSENBROCK_SWEEP = CONFIGS / "rosenbrock-lr-sweep.yaml"
WIDE = {"COLUMNS": "220", "NO_COLOR": "1"}
# A small comparison (two seeds, 50 epochs) whose winner changes with the step size.
SMALL = ("--set", "epochs=50", "--set", "seeds=[0,1]")
LRS = (0.01, 0.05, 0.1)
LR_DIRS = ["optimizer.lr=0.01", "optimizer.lr=0.05", "optimizer.lr=0.1"]


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def lr_sweep_args(out: Path, *extra: object) -> list[object]:
    return [
        "compare-activations",
        XOR,
        *SMALL,
        "--sweep",
        "optimizer.lr=0.01,0.05,0.1",
        "--out",
        out,
        *extra,
    ]


def compare_headline(point_summary: dict[str, Any]) -> dict[str, Any]:
    """The sweep figure of a compare point, worked out again from its own summary."""
    best = next(r for r in point_summary["results"] if r["rank"] == 1)
    verdict = point_summary["verdict"]
    return {
        "name": "best mean train_accuracy",
        "value": best["train_accuracy"]["mean"],
        "by": verdict["winner"] or "tie: " + ", ".join(verdict["tied"]),
    }


@pytest.fixture(scope="module")
def lr_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("lr-sweep") / "sweep"
    result = gdcli(*lr_sweep_args(out), env=WIDE)
    assert result.exit_code == 0, result.stderr
    return result.stdout, read_json(out / "summary.json"), out


# -- parsing and the grid --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "values"),
    [
        ("optimizer.lr=0.1,0.01", "optimizer.lr", [0.1, 0.01]),
        ("optimizer.lr=1e-3,2", "optimizer.lr", [0.001, 2]),
        ("model.hidden=[8],[16]", "model.hidden", [[8], [16]]),
        ("model.hidden=[8, 8],[16]", "model.hidden", [[8, 8], [16]]),
        ("optimizer.name=adam,gd", "optimizer.name", ["adam", "gd"]),
        (" seed =0", "seed", [0]),
        (
            "optimizer={name: gd, lr: 0.1},{name: adam}",
            "optimizer",
            [{"name": "gd", "lr": 0.1}, {"name": "adam"}],
        ),
    ],
)
def test_sweep_values_are_read_as_yaml(text: str, key: str, values: list[Any]) -> None:
    got_key, got = planning.parse_sweep_option(text)
    assert (got_key, got) == (key, values)
    assert [type(v) for v in got] == [type(v) for v in values]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("optimizer.lr", "expected KEY.PATH=V1,V2,..."),
        ("optimizer.lr=", "give at least one value"),
    ],
)
def test_a_sweep_option_without_values_is_a_config_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        planning.parse_sweep_option(text)
    assert message in str(info.value.problems[0])
    assert f"--sweep {text}" in str(info.value.problems[0])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**9), 10**9)),
        min_size=1,
        max_size=6,
    )
)
def test_numbers_written_as_json_come_back_unchanged(values: list[float | int]) -> None:
    key, got = planning.parse_sweep_option("optimizer.lr=" + ",".join(map(json.dumps, values)))
    assert key == "optimizer.lr"
    assert got == values
    assert [type(v) for v in got] == [type(v) for v in values]


def test_two_keys_make_a_grid_with_the_first_key_slowest() -> None:
    pts = sweep.points({"optimizer.lr": [0.01, 0.05], "model.hidden": [[8], [16]]})
    assert [p.values for p in pts] == [
        {"optimizer.lr": 0.01, "model.hidden": [8]},
        {"optimizer.lr": 0.01, "model.hidden": [16]},
        {"optimizer.lr": 0.05, "model.hidden": [8]},
        {"optimizer.lr": 0.05, "model.hidden": [16]},
    ]
    assert [p.name for p in pts] == [
        "optimizer.lr=0.01_model.hidden=[8]",
        "optimizer.lr=0.01_model.hidden=[16]",
        "optimizer.lr=0.05_model.hidden=[8]",
        "optimizer.lr=0.05_model.hidden=[16]",
    ]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(0, 10**6), min_size=1, max_size=4, unique=True),
        min_size=1,
        max_size=3,
    )
)
def test_the_grid_has_every_combination_once(columns: list[list[int]]) -> None:
    spec = {f"k{i}": values for i, values in enumerate(columns)}
    pts = sweep.points(spec)
    assert len(pts) == int(np.prod([len(v) for v in columns]))
    assert len({p.name for p in pts}) == len(pts)
    # Read as digits in a mixed radix, the points count up: the first key is slowest.
    index = [
        sum(
            col.index(p.values[f"k{i}"]) * int(np.prod([len(c) for c in columns[i + 1 :]]))
            for i, col in enumerate(columns)
        )
        for p in pts
    ]
    assert index == list(range(len(pts)))


@pytest.mark.parametrize(
    "spec",
    [
        {"start": [[-1.5, 2.0], [1.5, 2.0]]},
        {"x0": [-1, 1]},
        {"function": ["x**2", "x*2"]},
    ],
    ids=["negative-start", "negative-scalar", "formula"],
)
def test_different_points_get_different_directories(spec: dict[str, list[Any]]) -> None:
    names = [p.name for p in sweep.points(spec)]
    assert len(set(names)) == len(names), names


# -- a sweep on the command line ----------------------------------------------------------


def test_an_lr_sweep_makes_one_run_per_value_and_one_table(
    lr_sweep: tuple[str, dict[str, Any], Path],
) -> None:
    stdout, summary, out = lr_sweep
    assert summary["status"] == "finished"
    assert (summary["command"], summary["base_command"]) == ("sweep", "compare-activations")
    assert summary["keys"] == ["optimizer.lr"]
    assert summary["missing"] == []
    assert [p["values"] for p in summary["points"]] == [{"optimizer.lr": v} for v in LRS]
    assert [p["dir"] for p in summary["points"]] == LR_DIRS
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(LR_DIRS)
    for point, lr in zip(summary["points"], LRS, strict=True):
        assert (point["status"], point["resumed"], point["error"]) == ("finished", False, None)
        run = out / point["dir"]
        assert read_yaml(run / "config.yaml")["optimizer"]["lr"] == lr
        point_summary = read_json(run / "summary.json")
        assert point_summary["status"] == "finished"
        assert len(point_summary["runs"]) == 6 * 2
        assert point["metric"] == compare_headline(point_summary)
    assert read_yaml(out / "config.yaml")["sweep"] == {"optimizer.lr": list(LRS)}
    # One table, one row per value.
    lines = stdout.splitlines()
    assert sum(line.startswith("┏") for line in lines) == 1
    assert stdout.count("compare-xor: sweep of optimizer.lr") == 1
    rows = [line for line in lines if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == ["0.01", "0.05", "0.1"]
    for row, point in zip(rows, summary["points"], strict=True):
        assert point["dir"] in row
        assert "finished" in row


def test_the_sweep_table_names_the_winner_of_each_point(
    lr_sweep: tuple[str, dict[str, Any], Path],
) -> None:
    stdout, summary, _ = lr_sweep
    winners = [p["metric"]["by"] for p in summary["points"]]
    assert len(set(winners)) > 1, winners  # the case this test is about
    rows = [line for line in stdout.splitlines() if line.startswith("│")]
    header = next(line for line in stdout.splitlines() if line.startswith("┃"))
    for row, winner in zip(rows, winners, strict=True):
        assert winner in row or (winner in header and len(set(winners)) == 1), (winner, row)


def test_a_dry_run_lists_the_points_and_runs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "sweep"
    table = gdcli(*lr_sweep_args(out, "--dry-run"), env=WIDE)
    assert table.exit_code == 0, table.stderr
    assert "3 point(s) of a compare-activations sweep" in table.stdout
    assert "dry run: nothing was run" in table.stdout
    for name in LR_DIRS:
        assert table.stdout.count(str(out / name)) == 1
    plan = json.loads(gdcli(*lr_sweep_args(out, "--dry-run", "--json")).stdout)
    assert plan["keys"] == ["optimizer.lr"]
    assert plan["points"] == [
        {"values": {"optimizer.lr": lr}, "dir": str(out / name)}
        for lr, name in zip(LRS, LR_DIRS, strict=True)
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["deleted", "interrupted", "garbage trace", "cut trace"])
def test_resume_runs_only_the_unfinished_point(
    lr_sweep: tuple[str, dict[str, Any], Path], tmp_path: Path, damage: str
) -> None:
    _, first, done = lr_sweep
    out = tmp_path / "sweep"
    shutil.copytree(done, out)
    hit = out / LR_DIRS[1] / "summary.json"
    trace = hit.parent / "trace.csv"
    if damage == "deleted":
        hit.unlink()
    elif damage == "interrupted":
        hit.write_text(json.dumps({**read_json(hit), "status": "interrupted"}), encoding="utf-8")
    elif damage == "garbage trace":
        trace.write_bytes(b"\x00\xff not a trace \x01\n1,2\n")
    else:  # the summary says finished, but the trace lost its last rows
        lines = trace.read_text(encoding="utf-8").splitlines(keepends=True)
        trace.write_text("".join(lines[: len(lines) // 2]), encoding="utf-8")
    kept = [out / LR_DIRS[i] for i in (0, 2)]
    before = {
        p / name: (p / name).stat().st_mtime_ns
        for p in kept
        for name in ("summary.json", "trace.csv")
    }
    result = gdcli(*lr_sweep_args(out, "--resume", "--json"))
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary == read_json(out / "summary.json")
    assert {path: path.stat().st_mtime_ns for path in before} == before
    assert [p["resumed"] for p in summary["points"]] == [True, False, True]
    assert [p["status"] for p in summary["points"]] == ["finished"] * 3
    assert summary["missing"] == []
    assert read_json(hit)["status"] == "finished"
    # Same seeds, same numbers: the rerun point reproduces the first sweep's figure.
    assert [p["metric"] for p in summary["points"]] == [p["metric"] for p in first["points"]]


class CountingProgress:
    """A progress sink that counts finished points."""

    def __init__(self) -> None:
        self.done = 0

    def start(self, total: int, description: str) -> None:
        self.done = 0

    def advance(self, n: int = 1, description: str | None = None) -> None:
        self.done += n


def short_rosenbrock() -> Any:
    doc = load_document(ROSENBROCK_SWEEP)
    apply_override(doc, "iterations=300")
    return doc


def run_rosenbrock_sweep(out: Path, *, resume: bool, stop_after: int | None) -> dict[str, Any]:
    doc = short_rosenbrock()
    progress = CountingProgress()
    return session.run_sweep(
        "descend",
        doc,
        DescendConfig,
        planning.sweep_spec(doc, []),
        out,
        force=False,
        resume=resume,
        workers=1,
        should_stop=lambda: stop_after is not None and progress.done >= stop_after,
        progress=progress,
    ).summary


def test_should_stop_interrupts_between_points_and_resume_finishes(tmp_path: Path) -> None:
    names = [p.name for p in sweep.points(planning.sweep_spec(short_rosenbrock(), []))]
    assert names[0] == "optimizer.lr=1e-05" and len(names) == 5
    out = tmp_path / "sweep"
    stopped = run_rosenbrock_sweep(out, resume=False, stop_after=1)
    assert stopped["status"] == "interrupted"
    assert [p["dir"] for p in stopped["points"]] == names[:1]
    assert stopped["missing"] == names[1:]
    assert read_json(out / "summary.json") == stopped
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == names[:1]
    first_point = out / names[0] / "summary.json"
    mtime = first_point.stat().st_mtime_ns

    resumed = run_rosenbrock_sweep(out, resume=True, stop_after=None)
    assert resumed["status"] == "finished"
    assert resumed["missing"] == []
    assert [p["dir"] for p in resumed["points"]] == names
    assert [p["resumed"] for p in resumed["points"]] == [True, False, False, False, False]
    assert first_point.stat().st_mtime_ns == mtime
    # The interrupted-and-resumed sweep has the figures of one that ran straight through.
    straight = run_rosenbrock_sweep(tmp_path / "straight", resume=False, stop_after=None)
    assert [p["metric"] for p in resumed["points"]] == [p["metric"] for p in straight["points"]]
    assert all(p["metric"]["name"] == "best f" for p in straight["points"])


def test_a_grid_of_two_keys_runs_four_points_with_their_values(tmp_path: Path) -> None:
    out = tmp_path / "grid"
    result = gdcli(
        "train-mlp",
        CONFIGS / "xor.yaml",
        "--set",
        "epochs=20",
        "--out",
        out,
        "--json",
        "--sweep",
        "optimizer.lr=0.01,0.05",
        "--sweep",
        "model.hidden=[8],[16]",
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["keys"] == ["optimizer.lr", "model.hidden"]
    grid = [(0.01, 8), (0.01, 16), (0.05, 8), (0.05, 16)]
    assert [p["values"] for p in summary["points"]] == [
        {"optimizer.lr": lr, "model.hidden": [h]} for lr, h in grid
    ]
    assert [p["dir"] for p in summary["points"]] == [
        f"optimizer.lr={lr}_model.hidden=[{h}]" for lr, h in grid
    ]
    for point, (lr, h) in zip(summary["points"], grid, strict=True):
        run = out / point["dir"]
        config = read_yaml(run / "config.yaml")
        assert (config["optimizer"]["lr"], config["model"]["hidden"]) == (lr, [h])
        # 2 inputs -> h hidden -> 1 output: 2h + h weights and biases, then h + 1.
        with np.load(run / "model.npz") as model:
            assert model["params"].shape == (2 * h + h + h + 1,)
        final = read_json(run / "summary.json")["final"]
        assert point["metric"] == {"name": "train_accuracy", "value": final["train_accuracy"]}


def test_sweep_in_the_file_works_like_the_option(
    lr_sweep: tuple[str, dict[str, Any], Path], tmp_path: Path
) -> None:
    _, by_option, _ = lr_sweep
    file = tmp_path / "compare-xor-sweep.yaml"
    file.write_text(
        XOR.read_text(encoding="utf-8") + "sweep:\n  optimizer.lr: [0.01, 0.05, 0.1]\n",
        encoding="utf-8",
    )
    out = tmp_path / "sweep"
    result = gdcli("compare-activations", file, *SMALL, "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    by_file = json.loads(result.stdout)
    assert by_file["keys"] == by_option["keys"]
    assert by_file["points"] == by_option["points"]
    # An option for the same key replaces the file's values.
    plan = json.loads(
        gdcli(
            "compare-activations", file, "--sweep", "optimizer.lr=0.2", "--dry-run", "--json"
        ).stdout
    )
    assert [p["values"] for p in plan["points"]] == [{"optimizer.lr": 0.2}]


# -- bad sweeps ------------------------------------------------------------------------


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
@pytest.mark.parametrize(
    ("command", "config", "options", "fragments"),
    [
        ("descend", ROSENBROCK_SWEEP, ["nope=1,2"], ["--sweep nope: nope: unknown key 'nope'"]),
        (
            "train-mlp",
            CONFIGS / "xor.yaml",
            ["model.nope=1,2"],
            ["--sweep model.nope: model.nope: unknown key 'nope'"],
        ),
        (
            "compare-activations",
            XOR,
            ["data.nme=xor,and"],
            ["--sweep data.nme: data.nme: unknown key 'nme'; did you mean 'name'?"],
        ),
        (
            "descend",
            ROSENBROCK_SWEEP,
            ["nope=1,2", "optimizer.zap=3"],
            ["unknown key 'nope'", "--sweep optimizer.zap: optimizer.zap: unknown key 'zap'"],
        ),
    ],
    ids=["descend", "train-mlp", "compare", "two-keys"],
)
def test_a_sweep_over_a_key_that_does_not_exist_exits_2_naming_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    config: Path,
    options: list[str],
    fragments: list[str],
    dry_run: bool,
) -> None:
    monkeypatch.chdir(tmp_path)
    sweeps = [arg for option in options for arg in ("--sweep", option)]
    extra = ["--dry-run"] if dry_run else []
    result = gdcli(command, config, *sweeps, *extra, "--out", tmp_path / "sweep")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == len(fragments), lines
    assert all(line.startswith("gdcli: error: ") for line in lines), lines
    for fragment in fragments:
        assert sum(fragment in line for line in lines) == 1, (fragment, lines)
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_key_in_the_files_sweep_exits_2_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    file = tmp_path / "bad.yaml"
    file.write_text(
        XOR.read_text(encoding="utf-8") + "sweep:\n  optimizer.nope: [1, 2]\n", encoding="utf-8"
    )
    result = gdcli("compare-activations", file)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert "optimizer.nope: unknown key 'nope'" in lines[0]
    assert list(tmp_path.iterdir()) == [file]


def test_a_sweep_over_an_unknown_key_of_a_defaulted_section_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    file = tmp_path / "plain.yaml"
    file.write_text(
        "name: plain\ndata: {name: xor}\nactivations: [tanh]\nepochs: 5\n", encoding="utf-8"
    )
    result = gdcli("compare-activations", file, "--sweep", "optimizer.nope=1,2", "--dry-run")
    assert result.exit_code == 2
    assert "'nope'" in result.stderr, result.stderr


# -- the shipped learning-rate sweep on Rosenbrock ------------------------------------------


def test_rosenbrock_lr_sweep_headline_is_best_f_and_too_large_a_step_ends_worse(
    tmp_path: Path,
) -> None:
    out = tmp_path / "sweep"
    result = gdcli("descend", ROSENBROCK_SWEEP, "--workers", 2, "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    lrs = [1e-5, 1e-4, 5e-4, 1e-3, 2e-3]
    assert [p["values"] for p in summary["points"]] == [{"optimizer.lr": lr} for lr in lrs]
    f = {}
    for point, lr in zip(summary["points"], lrs, strict=True):
        runs = read_json(out / point["dir"] / "summary.json")["runs"]
        assert len(runs) == 1 and runs[0]["hyperparameters"]["lr"] == lr
        assert point["metric"] == {"name": "best f", "value": runs[0]["f"]}
        f[lr] = runs[0]
    # Below the stable step, a larger step gets further down the valley in 20000 steps.
    assert f[1e-5]["f"] > f[1e-4]["f"] > f[5e-4]["f"] > f[1e-3]["f"]
    assert f[1e-3]["f"] < 1e-6
    # 2/lambda_max of the Hessian at the minimum (1, 1) is just below 0.002.
    lam = np.linalg.eigvalsh(np.array([[802.0, -400.0], [-400.0, 200.0]]))[-1]
    assert 2.0 / lam < 2e-3 < 2.0 / lam * 1.01
    # What happens: lr 0.002 does not blow up; it reaches the valley floor, then the
    # minimum's unstable direction grows into an oscillation around (1, 1), ending worse
    # than lr 0.0005 with a gradient that has not vanished.
    big = f[2e-3]
    assert big["status"] == "max_iterations"
    assert big["iterations"] == 20000
    assert np.isfinite(big["f"])
    assert big["f"] > f[5e-4]["f"]
    assert big["grad_norm"] > 0.1
    assert np.max(np.abs(np.array(big["x"]) - 1.0)) < 0.01
    warnings = read_json(out / "optimizer.lr=0.002" / "summary.json")["warnings"]
    assert any("above the stable step 2/lambda_max" in w for w in warnings)


# -- each point's own status, and only points that ended well are ranked -------------------

CUBIC = """\
name: cubic-lr
function: "2*x**3 - 6*x*y + 3*y**2"
start: [2.0, 2.0]
iterations: 5000
tolerance: 1.0e-8
optimizer: {name: gd, lr: 0.01}
"""


def own_status(point_summary: dict[str, Any]) -> str:
    """A descend point's status worked out again from its own runs."""
    statuses = [r["status"] for r in point_summary["runs"]]
    if all(s == "converged" for s in statuses):
        return "converged"
    return "diverged" if "diverged" in statuses else "max_iterations"


def test_a_cubic_lr_sweep_shows_each_points_status_and_ranks_no_diverged_point_first(
    tmp_path: Path,
) -> None:
    config = tmp_path / "cubic.yaml"
    config.write_text(CUBIC, encoding="utf-8")
    out = tmp_path / "sweep"
    result = gdcli(
        "descend", config, "--sweep", "optimizer.lr=0.001,0.01,0.2", "--out", out, env=WIDE
    )
    assert result.exit_code == 0, result.stderr
    summary = read_json(out / "summary.json")
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    for point, row in zip(summary["points"], rows, strict=True):
        own = read_json(out / point["dir"] / "summary.json")
        (run,) = own["runs"]
        assert point["status"] == own_status(own) == run["status"]
        assert point["iterations"] == run["iterations"]
        assert point["metric"] == {"name": "best f", "value": run["f"]}
        cells = [c.strip() for c in row.split("│")]
        assert cells[2] == point["status"] and cells[3] == str(run["iterations"])
        assert point["best"] == (point["dir"] == summary["best"])
    best = next(p for p in summary["points"] if p["best"])
    assert best["status"] == "converged"
    assert best["metric"]["value"] == pytest.approx(-1.0)  # the minimum (1, 1)
    assert all(p["status"] != "diverged" for p in summary["points"] if p["best"])
    converged = [p for p in summary["points"] if p["status"] == "converged"]
    assert summary["ranked"] == len(converged) >= 1
    assert best["metric"]["value"] == min(p["metric"]["value"] for p in converged)
    assert summary["reading"] in " ".join(result.stdout.split())
    assert "converged point" in summary["reading"]
    assert f"{best['dir']}, best f" in summary["reading"]


def row_of(dir_: str, status: str, value: float | None, name: str = "best f") -> dict[str, Any]:
    return {"dir": dir_, "status": status, "metric": {"name": name, "value": value}}


def test_rank_skips_diverged_and_budget_spent_points_even_with_a_lower_f() -> None:
    rows = [
        row_of("a", "converged", -1.0),
        row_of("b", "max_iterations", -1.5),
        row_of("c", "diverged", -1.6e229),
        row_of("d", "converged", -0.5),
        row_of("e", "failed", None),
    ]
    ranking = sweep.rank("descend", rows)
    assert (ranking["best"], ranking["ranked"]) == ("a", 2)
    assert ranking["reading"] == (
        "best among the 2 converged points: a, best f -1; "
        "1 max_iterations (budget spent), 1 diverged, 1 failed."
    )


def test_rank_with_no_point_that_ended_well_ranks_none() -> None:
    rows = [row_of("a", "diverged", -1e30), row_of("b", "max_iterations", 3.0)]
    ranking = sweep.rank("descend", rows)
    assert ranking == {
        "best": None,
        "ranked": 0,
        "reading": "no point converged, so none is ranked: 1 diverged, "
        "1 max_iterations (budget spent).",
    }


def test_rank_of_training_points_leaves_out_diverged_runs_and_names_equal_ones() -> None:
    rows = [
        row_of("lr=10", "diverged", 0.99, "test_accuracy"),
        row_of("lr=0.1", "early_stopped", 0.95, "test_accuracy"),
        row_of("lr=0.01", "finished", 0.95, "test_accuracy"),
        row_of("lr=0.001", "finished", 0.9, "test_accuracy"),
    ]
    ranking = sweep.rank("train-mlp", rows)
    assert ranking["best"] == "lr=0.1"
    assert ranking["reading"] == (
        "best among the 3 finished points: lr=0.1, test_accuracy 0.95 (equalled by lr=0.01); "
        "1 diverged."
    )
    loss_rows = [
        row_of("a", "finished", 0.3, "train_loss"),
        row_of("b", "finished", 0.1, "train_loss"),
    ]
    assert sweep.rank("train-mlp", loss_rows)["best"] == "b"


@pytest.mark.parametrize(
    ("statuses", "top", "expected"),
    [
        (["converged", "converged"], "finished", "converged"),
        (["converged", "max_iterations"], "finished", "max_iterations"),
        (["converged", "diverged", "max_iterations"], "finished", "diverged"),
        (["converged", "interrupted"], "interrupted", "interrupted"),
        (["converged"], "interrupted", "interrupted"),
    ],
)
def test_a_descend_points_status_is_converged_only_when_all_its_runs_are(
    statuses: list[str], top: str, expected: str
) -> None:
    runs = [
        {"status": s, "f": float(i), "iterations": 10 * (i + 1)} for i, s in enumerate(statuses)
    ]
    summary = {"status": top, "runs": runs}
    assert sweep.point_status("descend", summary) == expected
    assert sweep.point_status("descend", {"status": "failed", "error": "boom"}) == "failed"
    # iterations: of the best converged run (the lowest f among the converged ones)
    assert sweep.point_iterations("descend", summary) == 10


def test_the_best_descend_run_prefers_converged_then_not_diverged_runs() -> None:
    runs = [
        {"status": "diverged", "f": -1e200, "iterations": 7},
        {"status": "max_iterations", "f": -2.0, "iterations": 5000},
        {"status": "converged", "f": -1.0, "iterations": 800},
        {"status": "converged", "f": float("nan"), "iterations": 3},
    ]
    assert sweep.best_run(runs) == runs[2]
    assert sweep.best_run(runs[:2]) == runs[1]
    assert sweep.best_run(runs[:1]) == runs[0]
    assert sweep.best_run([]) is None
