"""``gdcli descend`` and ``gdcli schema descend`` through typer's CliRunner.

Exit codes (0 done, 2 bad input, 3 --strict and a run did not converge), stdout
parsed as JSON, stderr one line per problem and free of tracebacks, run directories.
"""

from __future__ import annotations

import csv
import json
import math
import re
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from clitools import error_document, gdcli, parse_json
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from gdcli.cli import app
from gdcli.experiments.config import DescendConfig
from gdcli.optim import OPTIMIZERS

CONFIGS = Path(__file__).parent.parent / "configs"
FIXED_COLUMNS = ["run", "optimizer", "start", "iteration", "f", "grad_norm", "lr"]
# a built-in function's trace names its coordinates x1..xn, a formula's its variables
TRACE_COLUMNS = [*FIXED_COLUMNS, "x1", "x2", "g1", "g2"]
FORMULA_TRACE_COLUMNS = [*FIXED_COLUMNS, "x", "y", "g_x", "g_y"]
SUMMARY_RUN_KEYS = {
    "optimizer",
    "hyperparameters",
    "start",
    "x",
    "f",
    "grad_norm",
    "iterations",
    "status",
    "classification",
    "seconds",
}


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def read_trace(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def error_lines(result: Result) -> list[str]:
    lines = result.stderr.splitlines()
    assert lines, "no message on stderr"
    assert all(line.startswith("gdcli: error: ") for line in lines), lines
    return lines


# -- the lecture's cubic -------------------------------------------------------------------


def test_cubic_saddle_config_reaches_the_minimum_and_stalls_on_the_saddle(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    result = gdcli("descend", CONFIGS / "cubic-saddle.yaml", "--out", out, "--json")
    assert result.exit_code == 0
    assert result.stderr == ""
    summary = parse_json(result.stdout)
    assert summary == json.loads((out / "summary.json").read_text(encoding="utf-8"))
    runs = {tuple(r["start"]): r for r in summary["runs"]}
    minimum = runs[(2.0, 2.0)]
    assert minimum["status"] == "converged"
    assert minimum["classification"] == "minimum"
    assert np.max(np.abs(np.array(minimum["x"]) - [1.0, 1.0])) < 1e-6
    saddle = runs[(0.0, 0.0)]
    assert (saddle["iterations"], saddle["classification"], saddle["x"]) == (
        0,
        "saddle",
        [0.0, 0.0],
    )
    assert saddle["verdict"] == "stalled at a saddle point"


def test_cubic_saddle_table_names_the_saddle(tmp_path: Path) -> None:
    result = gdcli("descend", CONFIGS / "cubic-saddle.yaml", "--out", tmp_path / "run")
    assert result.exit_code == 0
    assert result.stdout.count("stalled at a saddle point") == 1
    assert result.stdout.count("reached the local minimum") == 3
    assert f"run directory: {tmp_path / 'run'}" in result.stdout
    # the footer names the files the run wrote, starts.csv with them
    assert "(config.yaml, trace.csv, starts.csv, summary.json)" in result.stdout
    assert "\x1b[" not in result.stdout


def test_quiet_prints_nothing_and_still_writes_the_run(tmp_path: Path) -> None:
    result = gdcli("descend", CONFIGS / "cubic-saddle.yaml", "--out", tmp_path / "run", "-q")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "config.yaml",
        "starts.csv",
        "summary.json",
        "trace.csv",
    ]


# -- Rosenbrock: every optimizer of the shipped config (the one slow test, ~15 s) -----------


def test_every_optimizer_of_the_rosenbrock_config_reaches_the_minimum(tmp_path: Path) -> None:
    result = gdcli("descend", CONFIGS / "rosenbrock.yaml", "--out", tmp_path / "run", "--json")
    assert result.exit_code == 0
    summary = parse_json(result.stdout)
    runs = summary["runs"]
    assert [r["optimizer"] for r in runs] == [
        "gd",
        "momentum",
        "nesterov",
        "rmsprop",
        "adam",
        "adagrad",
        "newton",
        "armijo",
    ]
    for r in runs:
        assert r["start"] == [-1.5, 2.0]
        assert r["iterations"] <= 40_000
        assert r["status"] == "converged", r["label"]
        distance = float(np.linalg.norm(np.array(r["x"]) - [1.0, 1.0]))
        assert distance < 1e-3, (r["label"], r["x"])
    [adam] = [r for r in runs if r["optimizer"] == "adam"]
    assert adam["hyperparameters"]["lr"] == 0.01
    assert np.linalg.norm(np.array(adam["x"]) - [1.0, 1.0]) < 1e-4
    assert adam["status"] == "converged"


# -- a diverging step size -----------------------------------------------------------------


@pytest.fixture(scope="module")
def diverged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """configs/quadratic-diverges.yaml (gd lr 0.2 diverges, lr 0.05 converges), run
    as a table (wide, so that cells do not wrap), as JSON and with --strict."""
    root = tmp_path_factory.mktemp("diverged")
    config = CONFIGS / "quadratic-diverges.yaml"
    return {
        "out": root / "table",
        "table": gdcli("descend", config, "--out", root / "table", env={"COLUMNS": "250"}),
        "json": gdcli("descend", config, "--out", root / "json", "--json"),
        "strict": gdcli("descend", config, "--out", root / "strict", "--strict", "--quiet"),
        "strict_out": root / "strict",
    }


def test_a_diverged_run_is_a_result_exit_0_and_3_with_strict(diverged: dict[str, Any]) -> None:
    assert diverged["table"].exit_code == 0
    assert diverged["json"].exit_code == 0
    strict = diverged["strict"]
    assert strict.exit_code == 3
    assert strict.stdout == ""
    assert strict.stderr.splitlines()[-1] == (
        "gdcli: --strict: at least one run did not converge: gd(lr=0.2) from [1.0, 1.0]: diverged"
    )
    # --strict still reports: the run directory is complete
    summary = json.loads((diverged["strict_out"] / "summary.json").read_text(encoding="utf-8"))
    assert [r["status"] for r in summary["runs"]] == ["diverged", "converged"]


def test_the_divergence_message_names_the_bound_0_1(diverged: dict[str, Any]) -> None:
    summary = json.loads((diverged["out"] / "summary.json").read_text(encoding="utf-8"))
    bad, good = summary["runs"]
    assert (bad["status"], bad["hyperparameters"]["lr"]) == ("diverged", 0.2)
    assert re.search(r"lr 0\.2 > 2/lambda_max = 0\.1 ", bad["verdict"]), bad["verdict"]
    assert (good["status"], good["hyperparameters"]["lr"]) == ("converged", 0.05)
    assert re.search(r"lr 0\.2 > 2/lambda_max = 0\.1 ", diverged["table"].stdout)
    warnings = diverged["table"].stderr.splitlines()
    assert len(warnings) == 1
    assert warnings[0].startswith("gdcli: warning: lr 0.2 is above the stable step")
    assert "2/lambda_max = 0.1 " in warnings[0]


def test_json_output_of_a_diverged_run_is_one_valid_document(diverged: dict[str, Any]) -> None:
    result = diverged["json"]
    assert result.stderr == ""  # warnings live in the JSON, not on stderr
    summary = parse_json(result.stdout)
    assert summary["warnings"] and "2/lambda_max = 0.1 " in summary["warnings"][0]
    assert summary["runs"][0]["status"] == "diverged"


def test_the_trace_of_a_diverged_run_ends_on_its_last_finite_iterate(
    diverged: dict[str, Any],
) -> None:
    header, rows = read_trace(diverged["out"] / "trace.csv")
    assert header == FORMULA_TRACE_COLUMNS
    summary = json.loads((diverged["out"] / "summary.json").read_text(encoding="utf-8"))
    for run, r in enumerate(summary["runs"]):
        mine = [row for row in rows if row["run"] == str(run)]
        assert [int(row["iteration"]) for row in mine] == list(range(r["iterations"] + 1))
        assert [float(mine[-1]["x"]), float(mine[-1]["y"])] == r["x"]
        for row in mine:
            cells = [float(row[c]) for c in ("start", "iteration", "f", "lr", "x", "y", "g_x")]
            assert all(math.isfinite(v) for v in cells), row


def test_every_numeric_cell_of_a_diverged_trace_is_finite(diverged: dict[str, Any]) -> None:
    _, rows = read_trace(diverged["out"] / "trace.csv")
    numeric = [c for c in FORMULA_TRACE_COLUMNS if c != "optimizer"]
    bad = [row for row in rows if not all(math.isfinite(float(row[c])) for c in numeric)]
    assert bad == []


def test_non_finite_numbers_are_null_in_json(tmp_path: Path) -> None:
    # sqrt(x) is nan at x = -1: that start is diverged at iteration 0 with f = nan.
    config = write(
        tmp_path / "nan.yaml",
        """\
        function: "(x - 2)**2 + y**2 + sqrt(x)"
        starts: [[-1.0, 1.0], [3.0, 1.0]]
        iterations: 500
        optimizer: {name: gd, lr: 0.1}
        """,
    )
    result = gdcli("descend", config, "--out", tmp_path / "run", "--json")
    assert result.exit_code == 0
    assert not re.search(r"NaN|Infinity", result.stdout)
    bad, good = parse_json(result.stdout)["runs"]
    assert (bad["status"], bad["f"], bad["grad_norm"], bad["x"]) == (
        "diverged",
        None,
        None,
        [-1.0, 1.0],
    )
    assert good["status"] == "converged"
    assert isinstance(good["f"], float)


# -- malformed files -------------------------------------------------------------------------

# file text -> what follows "gdcli: error: FILE" on the one stderr line (a regex)
MALFORMED: dict[str, tuple[str | None, str]] = {
    "yaml-syntax": ("name: x: y\nfunction: x**2\n", r":1:8: not valid YAML: .+"),
    "unknown-key": (
        'function: "x**2 + y**2"\nstart: [1, 2]\noptimzer: {name: gd, lr: 0.1}\n',
        r":3:1: optimzer: unknown key 'optimzer'; did you mean 'optimizer'\?",
    ),
    "wrong-type": (
        'function: "x**2 + y**2"\nstart: [1, 2]\niterations: ten\n',
        r":3:1: iterations: .*integer.*",
    ),
    "negative-lr": (
        'function: "x**2 + y**2"\nstart: [1, 2]\noptimizer: {name: gd, lr: -0.1}\n',
        r":3:23: optimizer\.lr: .*greater than 0.*",
    ),
    "unknown-optimizer": (
        'function: "x**2 + y**2"\nstart: [1, 2]\noptimizer: {name: sgdd, lr: 0.1}\n',
        r":3:1: optimizer: unknown name 'sgdd'; valid: " + ", ".join(f"'{n}'" for n in OPTIMIZERS),
    ),
    "duplicate-key": (
        'function: "x**2"\nfunction: "y**2"\nstart: [1]\n',
        r":2:1: not valid YAML: duplicate key 'function'",
    ),
    "python-tag": (
        'name: !!python/object/apply:os.system ["true"]\nfunction: "x**2"\n',
        r":1:7: not valid YAML: tag '!!python/object/apply:os\.system' is not allowed.*",
    ),
    "alias": ("name: &a x\nfunction: *a\n", r":2:11: not valid YAML: aliases .*"),
    "top-level-list": ("- 1\n- 2\n", r":1:1: the top level is a list.*"),
    # no content, no line to point at (see test_config for the line-1 expectation)
    "empty": ("", r":1:1: file is empty.*"),
    "missing": (None, r": no such file"),
    "directory": (None, r": is a directory.*"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_file_exits_2_with_one_located_line(tmp_path: Path, case: str) -> None:
    text, expected = MALFORMED[case]
    if case == "directory":
        path = tmp_path / "dir.yaml"
        path.mkdir()
    else:
        path = tmp_path / "exp.yaml"
        if text is not None:
            path.write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    result = gdcli("descend", path, "--out", out)
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = error_lines(result)
    assert re.fullmatch(re.escape(f"gdcli: error: {path}") + expected, line), line
    assert not out.exists()


def test_several_problems_are_all_reported_at_once(tmp_path: Path) -> None:
    config = write(
        tmp_path / "bad.yaml",
        """\
        function: "x**2 + y**2"
        start: [1, 2]
        optimzer: {name: gd, lr: 0.1}
        iterations: -5
        tolerance: .nan
        trace_every: [1]
        """,
    )
    result = gdcli("descend", config, "--out", tmp_path / "run", "--json")
    assert result.exit_code == 2
    error_document(result)
    lines = error_lines(result)
    found = sorted(
        re.match(rf"gdcli: error: {re.escape(str(config))}:(\d+):1: (\w+): ", line).groups()
        for line in lines
    )
    assert found == [
        ("3", "optimzer"),
        ("4", "iterations"),
        ("5", "tolerance"),
        ("6", "trace_every"),
    ]
    assert not (tmp_path / "run").exists()


def test_a_random_box_too_wide_for_floats_is_bad_input(tmp_path: Path) -> None:
    config = write(
        tmp_path / "box.yaml",
        """\
        function: "x**2 + y**2"
        starts: {random: 2, low: [-1e308, 0], high: [1e308, 1]}
        """,
    )
    result = CliRunner().invoke(app, ["descend", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"gdcli: error: {config}:2:")


# -- --set -------------------------------------------------------------------------------------

SINGLE = """\
name: single
function: "x**2 + 10*y**2"
start: [1.0, 1.0]
iterations: 3000
tolerance: 1e-8
optimizer: {name: gd, lr: 1e-3}
"""


def test_set_overrides_a_key_and_the_run_records_it(tmp_path: Path) -> None:
    config = write(tmp_path / "single.yaml", SINGLE)
    out = tmp_path / "run"
    result = gdcli("descend", config, "--set", "optimizer.lr=0.05", "--out", out, "--json")
    assert result.exit_code == 0
    [run] = parse_json(result.stdout)["runs"]
    assert run["hyperparameters"]["lr"] == 0.05
    assert run["status"] == "converged"
    resolved = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    assert resolved["optimizer"]["lr"] == 0.05
    assert resolved["tolerance"] == 1e-8  # written 1e-8, read as a number


def test_a_bad_set_value_exits_2_and_names_set(tmp_path: Path) -> None:
    config = write(tmp_path / "single.yaml", SINGLE)
    out = tmp_path / "run"
    result = gdcli("descend", config, "--set", "optimizer.lr=-1", "--out", out)
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = error_lines(result)
    assert line.startswith("gdcli: error: --set optimizer.lr=-1: optimizer.lr: ")
    assert "greater than 0" in line
    assert not out.exists()


def test_set_reaches_into_a_list_of_optimizers(tmp_path: Path) -> None:
    result = gdcli(
        "descend",
        CONFIGS / "quadratic-diverges.yaml",
        "--set",
        "optimizers.0.lr=0.07",
        "--out",
        tmp_path / "run",
        "--json",
        "--strict",
    )
    assert result.exit_code == 0  # both runs converge now
    runs = parse_json(result.stdout)["runs"]
    assert [(r["label"], r["status"]) for r in runs] == [
        ("gd(lr=0.07)", "converged"),
        ("gd(lr=0.05)", "converged"),
    ]


# -- schema ---------------------------------------------------------------------------------


def schema_from_cli() -> dict[str, Any]:
    result = gdcli("schema", "descend")
    assert result.exit_code == 0
    assert result.stderr == ""
    return parse_json(result.stdout)


def test_schema_descend_is_json_schema_with_every_key_and_optimizer() -> None:
    s = schema_from_cli()
    assert s["$schema"].startswith("https://json-schema.org/")
    assert s["type"] == "object"
    assert set(s["properties"]) == set(DescendConfig.model_fields)
    assert {"function", "start", "starts", "optimizer", "optimizers", "trace_every"} <= set(
        s["properties"]
    )
    consts = set(re.findall(r'"const": "(\w+)"', json.dumps(s)))
    assert set(OPTIMIZERS) <= consts


def test_schema_of_an_unknown_command_exits_2() -> None:
    result = gdcli("schema", "descnd")
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = error_lines(result)
    assert "did you mean 'descend'?" in line


def test_shipped_descend_configs_validate_against_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    s = schema_from_cli()
    checked = 0
    for path in sorted(CONFIGS.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if "function" not in data:
            continue  # another command's experiment file
        jsonschema.validate(data, s)
        checked += 1
    assert checked >= 6
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"function": "x**2", "optimzer": {"name": "gd"}}, s)


# -- trace and summary --------------------------------------------------------------------------


def himmelblau(tmp_path: Path, name: str, *extra: str) -> tuple[Result, Path]:
    out = tmp_path / name
    result = gdcli(
        "descend",
        CONFIGS / "himmelblau-basins.yaml",
        "--set",
        "starts.random=30",
        *extra,
        "--out",
        out,
        "--quiet",
    )
    assert result.exit_code == 0, result.stderr
    return result, out


def test_same_config_and_seed_give_a_byte_identical_trace(tmp_path: Path) -> None:
    _, a = himmelblau(tmp_path, "a")
    _, b = himmelblau(tmp_path, "b")
    _, c = himmelblau(tmp_path, "c", "--set", "seed=1")
    assert (a / "trace.csv").read_bytes() == (b / "trace.csv").read_bytes()
    assert (a / "trace.csv").read_bytes() != (c / "trace.csv").read_bytes()
    assert (a / "config.yaml").read_bytes() == (b / "config.yaml").read_bytes()


def test_trace_every_thins_the_trace_but_keeps_each_start_s_last_iteration(
    tmp_path: Path,
) -> None:
    _, out = himmelblau(tmp_path, "run")  # the config says trace_every: 10
    header, rows = read_trace(out / "trace.csv")
    assert header == TRACE_COLUMNS
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["trace_every"] == 10
    assert len(summary["runs"]) == 30
    for i, r in enumerate(summary["runs"]):
        its = [int(row["iteration"]) for row in rows if row["start"] == str(i)]
        assert its[0] == 0
        assert its[-1] == r["iterations"]
        assert all(t % 10 == 0 for t in its[:-1])
        last = next(
            row for row in rows if row["start"] == str(i) and int(row["iteration"]) == its[-1]
        )
        assert [float(last["x1"]), float(last["x2"])] == r["x"]
    assert len(rows) < sum(r["iterations"] + 1 for r in summary["runs"]) / 5


def test_summary_json_has_the_documented_keys(tmp_path: Path) -> None:
    _, out = himmelblau(tmp_path, "run")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert {"experiment", "function", "runs", "out_dir"} <= set(summary)
    assert summary["experiment"] == "himmelblau-basins"
    assert summary["function"]["name"] == "himmelblau"
    assert summary["out_dir"] == str(out)
    for r in summary["runs"]:
        assert set(r) >= SUMMARY_RUN_KEYS
        assert r["optimizer"] == "gd"
        assert r["hyperparameters"] == {"lr": 0.005, "weight_decay": 0.0}
        assert r["status"] == "converged"
        assert r["classification"] == "minimum"
        assert isinstance(r["iterations"], int)
        assert r["seconds"] >= 0
        assert len(r["start"]) == len(r["x"]) == 2


# -- run directories ------------------------------------------------------------------------------


def test_an_existing_run_directory_needs_force(tmp_path: Path) -> None:
    config = CONFIGS / "cubic-saddle.yaml"
    out = tmp_path / "run"
    assert gdcli("descend", config, "--out", out, "-q").exit_code == 0
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    (out / "summary.json").write_text("{}", encoding="utf-8")

    again = gdcli("descend", config, "--out", out, "--json")
    assert again.exit_code == 2
    error_document(again)
    [line] = error_lines(again)
    assert str(out) in line and "--force" in line
    assert (out / "summary.json").read_text(encoding="utf-8") == "{}"

    forced = gdcli("descend", config, "--out", out, "--json", "--force")
    assert forced.exit_code == 0
    summary = parse_json(forced.stdout)
    assert json.loads((out / "summary.json").read_text(encoding="utf-8")) == summary
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"


# -- mutated experiment files (hypothesis) ----------------------------------------------------

BASE: dict[str, Any] = {
    "name": "hyp",
    "function": "x**2 + 10*y**2",
    "start": [1.0, 1.0],
    "iterations": 20,
    "tolerance": 1.0e-6,
    "optimizer": {"name": "gd", "lr": 0.01},
    "seed": 0,
    "trace_every": 1,
}
PATHS = [
    ("name",),
    ("function",),
    ("start",),
    ("iterations",),
    ("tolerance",),
    ("optimizer",),
    ("optimizer", "name"),
    ("optimizer", "lr"),
    ("seed",),
    ("trace_every",),
]
ODD_VALUES = st.sampled_from(
    ["abc", "", [1, 2], [], {"a": 1}, -1, -0.5, 0, math.nan, math.inf, -math.inf, True, None]
)


@st.composite
def near_miss(draw: st.DrawFn, key: str) -> str:
    """A misspelling: a letter dropped, doubled, swapped or replaced, or an 's' added."""
    i = draw(st.integers(0, len(key) - 1))
    op = draw(st.sampled_from(["drop", "double", "swap", "replace", "plural"]))
    if op == "drop":
        new = key[:i] + key[i + 1 :]
    elif op == "double":
        new = key[:i] + key[i] + key[i:]
    elif op == "swap":
        j = min(i + 1, len(key) - 1)
        chars = list(key)
        chars[i], chars[j] = chars[j], chars[i]
        new = "".join(chars)
    elif op == "replace":
        new = key[:i] + draw(st.sampled_from("aeiouzq")) + key[i + 1 :]
    else:
        new = key + "s"
    assume(new and new != key)
    return new


@st.composite
def mutations(draw: st.DrawFn) -> tuple[dict[str, Any], str, set[str]]:
    """A mutated experiment, what was done, and the key names stderr may name."""
    data = json.loads(json.dumps(BASE))
    path = draw(st.sampled_from(PATHS))
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    kind = draw(st.sampled_from(["drop", "rename", "retype"]))
    names = {key}
    if kind == "drop":
        del parent[key]
    elif kind == "rename":
        new = draw(near_miss(key))
        parent[new] = parent.pop(key)
        names.add(new)
    else:
        parent[key] = draw(ODD_VALUES)
    return data, f"{kind} {'.'.join(path)}", names


@settings(max_examples=50, deadline=None, database=None)
@given(mutations())
def test_mutated_experiment_files_exit_0_or_2_naming_the_key(
    case: tuple[dict[str, Any], str, set[str]],
) -> None:
    data, what, names = case
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "exp.yaml"
        config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        out = Path(tmp) / "run"
        result = gdcli("descend", config, "--out", out, "--json")
        assert result.exit_code in (0, 2), (what, result.exit_code, result.stderr)
        if result.exit_code == 0:
            summary = parse_json(result.stdout)
            assert summary["out_dir"] == str(out)
            assert (out / "summary.json").exists()
        else:
            error_document(result)
            assert not out.exists()
            lines = error_lines(result)
            assert any(
                re.search(rf"(?<!\w){re.escape(name)}(?!\w)", line)
                for line in lines
                for name in names
            ), (what, lines)


def test_workers_2_runs_the_optimizers_in_a_pool_with_the_same_numbers(tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(
        "function: rosenbrock\nstart: [-1.5, 2.0]\niterations: 400\n"
        "optimizers:\n  - {name: gd, lr: 0.0005}\n  - {name: adam, lr: 0.01}\n"
        "  - {name: momentum, lr: 0.0005}\n"
    )
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        result = CliRunner().invoke(
            app, ["descend", str(config), "--out", str(out), "--json", "--workers", workers]
        )
        assert result.exit_code == 0, result.stderr
        outs.append((json.loads(result.stdout), (out / "trace.csv").read_bytes()))
    (one, trace_one), (two, trace_two) = outs
    assert trace_one == trace_two
    for a, b in zip(one["runs"], two["runs"], strict=True):
        assert {k: v for k, v in a.items() if k != "seconds"} == {
            k: v for k, v in b.items() if k != "seconds"
        }


def test_config_yaml_reruns_to_the_same_trace(tmp_path: Path) -> None:
    """config.yaml is the resolved experiment: implicit choices written out, same numbers."""
    config = tmp_path / "exp.yaml"
    config.write_text("function: himmelblau\nstarts: {random: 4}\niterations: 30\n")
    first, second = tmp_path / "a", tmp_path / "b"
    assert gdcli("descend", config, "--out", first, "--quiet").exit_code == 0
    saved = yaml.safe_load((first / "config.yaml").read_text())
    assert saved["optimizer"] == {"name": "gd", "lr": 0.01, "weight_decay": 0.0}
    assert (saved["starts"]["low"], saved["starts"]["high"]) == ([-5.0, -5.0], [5.0, 5.0])
    assert saved["seed"] == 0
    assert gdcli("descend", first / "config.yaml", "--out", second, "--quiet").exit_code == 0
    assert (first / "trace.csv").read_bytes() == (second / "trace.csv").read_bytes()
