"""Tests for the command line: `gdcli grad`, `gdcli functions`, errors, output hygiene."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gdcli import __version__
from gdcli.cli import app
from gdcli.engine.functions import LIBRARY

REPO_ROOT = Path(__file__).resolve().parents[1]

runner = CliRunner()  # keeps stdout and stderr apart: result.stdout, result.stderr


def grad_json(*args: str) -> dict:
    result = runner.invoke(app, ["grad", *args, "--json"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


def assert_one_line_error(result, needle: str) -> None:
    """Exit 2, nothing on stdout, exactly one stderr line that names the problem."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gdcli: error: ")
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


# -- gdcli grad: the worked examples ---------------------------------------------------


@pytest.mark.parametrize(
    ("at", "gradient"),
    [
        ("3,3", [81.0, 60.0]),
        # The issue says "(1, 4) gives (9, 30)", but d/dy 10y^2 = 20y = 80 at y = 4:
        # the gradient at (1, 4) is (9, 80), and (9, 30) is the gradient at (1, 1.5).
        ("1,4", [9.0, 80.0]),
        ("1,1.5", [9.0, 30.0]),
    ],
)
def test_grad_of_the_lecture_example(at: str, gradient: list[float]) -> None:
    out = grad_json("3*x**3 + 10*y**2", "--at", at)
    assert out["gradient"] == gradient


def test_grad_json_has_every_key_and_the_numbers() -> None:
    out = grad_json("3*x**3 + 10*y**2", "--at", "3,3")
    assert list(out) == [
        "function",
        "variables",
        "at",
        "value",
        "gradient",
        "hessian",
        "eigenvalues",
        "classification",
    ]
    assert out["function"] == "3*x**3 + 10*y**2"
    assert out["variables"] == ["x", "y"]
    assert out["at"] == [3.0, 3.0]
    assert out["value"] == 171.0  # 81 + 90
    assert out["hessian"][0][0] == pytest.approx(54.0, rel=1e-9)  # 18x
    assert out["hessian"][1][1] == pytest.approx(20.0, rel=1e-9)
    assert out["hessian"][0][1] == out["hessian"][1][0] == pytest.approx(0.0, abs=1e-9)
    assert out["eigenvalues"] == pytest.approx([20.0, 54.0], rel=1e-9)
    assert out["classification"] == "not-critical"


@pytest.mark.parametrize(
    ("formula", "at", "kind"),
    [
        ("2*x**3 - 6*x*y + 3*y**2", "0,0", "saddle"),
        ("2*x**3 - 6*x*y + 3*y**2", "1,1", "minimum"),
        ("x*y*exp(-(x**2+y**2)/2)", "1,-1", "minimum"),
        ("x*y*exp(-(x**2+y**2)/2)", "-1,1", "minimum"),
        ("x*y*exp(-(x**2+y**2)/2)", "1,1", "maximum"),
        ("x*y*exp(-(x**2+y**2)/2)", "-1,-1", "maximum"),
        ("x*y*exp(-(x**2+y**2)/2)", "0,0", "saddle"),
        ("3*x**3 + 10*y**2", "0,0", "degenerate"),
        ("3*x**3 + 10*y**2", "3,3", "not-critical"),
        ("rosenbrock", "1,1,1", "minimum"),
    ],
)
def test_grad_classifies_the_lecture_points(formula: str, at: str, kind: str) -> None:
    assert grad_json(formula, "--at", at)["classification"] == kind


def test_grad_declared_variable_order() -> None:
    out = grad_json("x - 2*y", "--vars", "y,x", "--at", "1,5")
    assert out["variables"] == ["y", "x"]
    assert out["value"] == 3.0
    assert out["gradient"] == [-2.0, 1.0]


def test_grad_graph_shows_the_adjoints_of_the_evaluation_graph() -> None:
    out = grad_json("3*exp(x**2+1)", "--at", "1", "--graph")
    nodes = out["graph"]
    (x,) = [n for n in nodes if n["name"] == "x"]
    (e,) = [n for n in nodes if n["op"] == "exp"]
    assert x["adjoint"] == pytest.approx(6 * math.exp(2), rel=1e-14)  # 44.334...
    assert e["adjoint"] == 3.0
    assert e["value"] == pytest.approx(math.exp(2), rel=1e-15)
    assert nodes[-1]["adjoint"] == 1.0 and nodes[-1]["value"] == pytest.approx(3 * math.exp(2))
    for i, n in enumerate(nodes):
        assert n["node"] == i
        assert all(j < i for j in n["inputs"])  # evaluation order: inputs come first

    text = runner.invoke(app, ["grad", "3*exp(x**2+1)", "--at", "1", "--graph"])
    assert text.exit_code == 0
    rows = [
        [c.strip() for c in line.strip("│").split("│")]
        for line in text.stdout.splitlines()
        if line.startswith("│   #")
    ]
    adjoints = {r[1]: r[4] for r in rows}  # operation -> adjoint column of the graph table
    assert adjoints["x"] == "44.33433659"
    assert adjoints["exp"] == "3"


def test_grad_of_a_non_finite_value_still_prints_valid_json() -> None:
    result = runner.invoke(app, ["grad", "x*9**9**9**9", "--at", "1", "--json"])
    assert result.exit_code == 0
    out = json.loads(result.stdout)  # json.loads accepts NaN/Infinity; check they are absent
    assert "Infinity" not in result.stdout and "NaN" not in result.stdout
    assert out["value"] is None
    assert out["gradient"] == [None]


def test_grad_of_a_constant_formula_with_declared_variables() -> None:
    out = grad_json("1+2", "--vars", "x", "--at", "1")
    assert out["value"] == 3.0
    assert out["gradient"] == [0.0]


# -- gdcli functions --------------------------------------------------------------


def test_functions_json_lists_every_entry_with_its_minima() -> None:
    result = runner.invoke(app, ["functions", "--json"])
    assert result.exit_code == 0 and result.stderr == ""
    entries = json.loads(result.stdout)
    assert isinstance(entries, list)
    assert [e["name"] for e in entries] == list(LIBRARY)
    for e in entries:
        for key in ("name", "expression", "dimension", "domain", "minima"):
            assert key in e, (e["name"], key)
        for m in e["minima"]:
            assert set(m) >= {"x", "f"}
            assert len(m["x"]) == (e["dimension"] or 2)
    by_name = {e["name"]: e for e in entries}
    assert by_name["cubic_saddle"]["minima"][0]["x"] == [1.0, 1.0]
    assert by_name["cubic_saddle"]["minima"][0]["f"] == -1.0
    assert by_name["rosenbrock"]["dimension"] is None
    assert by_name["goldstein_price"]["minima"][0]["f"] == 3.0
    assert by_name["saddle"]["minima"] == []


def test_functions_table_names_every_entry() -> None:
    result = runner.invoke(app, ["functions"])
    assert result.exit_code == 0
    names = [
        line.split("│")[1].strip() for line in result.stdout.splitlines() if line.startswith("│")
    ]
    assert [n for n in names if n] == list(LIBRARY)


# -- errors: exit 2, one line, nothing run, nothing written -----------------------------

BAD_EXPRESSIONS = [
    ("().__class__.__bases__", "attribute access"),
    ("x.__class__", "attribute access"),
    ("(lambda: 1)()", "not an allowed function"),
    ("[x for x in (1,)]", "comprehension"),
    ("'{0}'.format(x)", "not an allowed function"),
    ("open('f')", "'open' is not an allowed function"),
    ("exp", "'exp' is a function"),
    ("x +", "bad expression 'x +'"),
    ("9**9**9**9", "no variables"),
    ("(" * 500 + "x" + ")" * 500, "nested"),
    ("x+" * 50_000, "100000 characters"),
]


@pytest.mark.parametrize(
    ("text", "needle"), BAD_EXPRESSIONS, ids=[t[:24] for t, _ in BAD_EXPRESSIONS]
)
def test_bad_expression_exits_2_with_one_line(text, needle, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(runner.invoke(app, ["grad", text, "--at", "1"]), needle)
    assert list(tmp_path.iterdir()) == []


def test_injection_runs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "pwned"
    result = runner.invoke(app, ["grad", f"__import__('os').system('touch {target}')", "--at", "1"])
    assert_one_line_error(result, "not an allowed function")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_tower_of_powers_returns_promptly_in_a_subprocess(tmp_path: Path) -> None:
    def gdcli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gdcli", *args],
            capture_output=True,
            text=True,
            timeout=20,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )

    constant = gdcli("grad", "9**9**9**9", "--at", "1")
    assert constant.returncode == 2 and constant.stdout == ""
    assert constant.stderr.count("\n") == 1 and "no variables" in constant.stderr

    scaled = gdcli("grad", "x*9**9**9**9", "--at", "1", "--json")
    assert scaled.returncode == 0, scaled.stderr
    assert json.loads(scaled.stdout)["value"] is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["grad", "x**2 + y**2", "--at", "1"], "has 2 variable(s) (x, y), got a point with 1"),
        pytest.param(
            ["grad", "3*x**3 + 10*y**2", "--at", "1"],
            "has 2 variable(s) (x, y), got a point with 1",
        ),
        pytest.param(
            ["grad", "x**2 - y**2", "--at", "1,2,3"],
            "has 2 variable(s) (x, y), got a point with 3",
        ),
        (["grad", "himmelblau", "--at", "1,2,3"], "takes 2 variable(s), got a point with 3"),
        (["grad", "rosenbrok", "--at", "1,1"], "did you mean 'rosenbrock'?"),
        (["grad", "x**2", "--at", "one"], "coordinate 1 'one' is not a number"),
        (["grad", "x**2", "--at", "nan"], "must be finite"),
        (["grad", "x**2"], "--at"),
        (["grad", "x**2", "--at", "1", "--bogus"], "--bogus"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], needle: str) -> None:
    assert_one_line_error(runner.invoke(app, args), needle)


def test_library_name_with_vars_is_not_called_unknown() -> None:
    result = runner.invoke(app, ["grad", "sphere", "--vars", "a,b", "--at", "1,2"])
    assert result.exit_code == 2
    assert "unknown function" not in result.stderr


# -- version, help, colour ------------------------------------------------------------


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"gdcli {__version__}\n"


def test_help_shows_examples_and_exit_codes() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert 'gdcli grad "3*x**3 + 10*y**2" --at 3,3' in result.stdout
    assert "gdcli functions" in result.stdout
    assert "Exit codes" in result.stdout
    grad_help = runner.invoke(app, ["grad", "--help"])
    assert grad_help.exit_code == 0
    assert 'gdcli grad "2*x**3 - 6*x*y + 3*y**2" --at 0,0 --json' in grad_help.stdout


@pytest.mark.parametrize("env", [{}, {"NO_COLOR": "1"}], ids=["not-a-terminal", "NO_COLOR"])
@pytest.mark.parametrize(
    "args",
    [["grad", "3*x**3 + 10*y**2", "--at", "0,0", "--graph"], ["functions"], ["--help"]],
    ids=["grad", "functions", "help"],
)
def test_output_off_a_terminal_has_no_escape_codes(args: list[str], env: dict) -> None:
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout
    assert "\x1b" not in result.stderr


def test_no_color_on_a_terminal_has_no_escape_codes() -> None:
    # TTY_COMPATIBLE=1 makes rich treat the captured stream as a terminal
    env = {"TTY_COMPATIBLE": "1", "NO_COLOR": "1"}
    result = runner.invoke(app, ["grad", "3*x**3 + 10*y**2", "--at", "0,0"], env=env)
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout


def test_terminal_output_is_styled_without_no_color() -> None:
    # the counterpart of the tests above: proves TTY_COMPATIBLE really yields a terminal
    result = runner.invoke(app, ["grad", "x**2", "--at", "1"], env={"TTY_COMPATIBLE": "1"})
    assert "\x1b[" in result.stdout


def test_help_imports_neither_matplotlib_nor_numpy() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from gdcli.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in ('matplotlib', 'numpy') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
