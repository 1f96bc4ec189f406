"""The command line's contract beyond a good run: ``--json`` on failure, one
``--strict`` rule for every experiment command, messages, and shell completion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from clitools import error_document, gdcli

from gdcli.completion import unsplit
from gdcli.optim.registry import OPTIMIZERS

ROOT = Path(__file__).parent.parent
CONFIGS = ROOT / "configs"

# -- --json on failure ---------------------------------------------------------------------


def test_json_failure_of_a_missing_file_is_one_error_document(tmp_path: Path) -> None:
    result = gdcli("descend", tmp_path / "missing.yaml", "--json")
    assert result.exit_code == 2
    assert error_document(result)["errors"] == [
        {
            "file": str(tmp_path / "missing.yaml"),
            "line": None,
            "column": None,
            "key": None,
            "message": "no such file",
        }
    ]


def test_json_failure_locates_a_bad_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("function: rosenbrock\nstart: [0, 0]\niterations: -5\n", encoding="utf-8")
    result = gdcli("descend", config, "--json", "--out", tmp_path / "run")
    [problem] = error_document(result)["errors"]
    assert (problem["file"], problem["line"], problem["column"], problem["key"]) == (
        str(config),
        3,
        1,
        "iterations",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["descend", "--json"], "Missing argument 'config'."),
        (["descend", "x.yaml", "--json", "--bogus"], "No such option: --bogus"),
    ],
)
def test_json_usage_errors_are_one_error_document(argv: list[str], message: str) -> None:
    result = gdcli(*argv)
    assert result.exit_code == 2
    assert error_document(result)["errors"][0]["message"].startswith(message)


# -- --strict ----------------------------------------------------------------------------------

DIVERGING = ["--set", "optimizer={name: gd, lr: 1.0e+30}", "--set", "epochs=20"]


def test_strict_comparison_exits_3_when_a_run_diverged(tmp_path: Path) -> None:
    args = ["compare-activations", CONFIGS / "compare-xor.yaml", *DIVERGING, "--set", "seeds=[0]"]
    args += ["--set", "activations=[relu, linear]", "--quiet"]
    assert gdcli(*args, "--out", tmp_path / "a").exit_code == 0
    strict = gdcli(*args, "--out", tmp_path / "b", "--strict")
    assert strict.exit_code == 3
    assert strict.stderr.splitlines()[-1] == (
        "gdcli: --strict: at least one run did not end well: relu seed 0: diverged (and 1 more)"
    )


def test_strict_descend_sweep_exits_3_when_a_point_did_not_converge(tmp_path: Path) -> None:
    args = ["descend", CONFIGS / "cubic-saddle.yaml", "--sweep", "iterations=2,3", "--quiet"]
    assert gdcli(*args, "--out", tmp_path / "a").exit_code == 0
    strict = gdcli(*args, "--out", tmp_path / "b", "--strict")
    assert strict.exit_code == 3
    assert strict.stderr.splitlines()[-1].startswith(
        "gdcli: --strict: at least one run did not end well: iterations=2: "
    )


def test_strict_training_sweep_exits_3_only_when_a_point_diverged(tmp_path: Path) -> None:
    base = ["train-mlp", CONFIGS / "xor.yaml", "--set", "model.activation=relu", "--quiet"]
    good = gdcli(*base, "--sweep", "seed=0,1", "--out", tmp_path / "a", "--strict")
    assert good.exit_code == 0, good.stderr
    bad = gdcli(*base, *DIVERGING, "--sweep", "seed=0,1", "--out", tmp_path / "b", "--strict")
    assert bad.exit_code == 3
    assert bad.stderr.splitlines()[-1] == (
        "gdcli: --strict: at least one run did not end well: seed=0: training diverged (and 1 more)"
    )


# -- messages ----------------------------------------------------------------------------------


def test_gdcli_alone_prints_the_help_and_exits_2() -> None:
    result = gdcli()
    assert result.exit_code == 2
    assert "Usage: gdcli [OPTIONS] COMMAND [ARGS]..." in result.stdout
    assert "descend" in result.stdout
    assert result.stderr == ("gdcli: error: no command given; choose one of the commands above\n")


def test_plot_on_a_regular_file_says_it_is_not_a_directory(tmp_path: Path) -> None:
    file = tmp_path / "summary.json"
    file.write_text("{}", encoding="utf-8")
    result = gdcli("plot", file)
    assert result.exit_code == 2
    assert result.stderr == (
        f"gdcli: error: '{file}' is a file, not a directory: give the run directory\n"
    )


# -- shell completion --------------------------------------------------------------------------


def complete(words: str, cword: int, cwd: Path = ROOT) -> list[str]:
    """What bash gets for ``words`` with the cursor on word ``cword`` (typer's
    ``_GDCLI_COMPLETE`` protocol, as its bash script drives it)."""
    done = subprocess.run(
        [sys.executable, "-m", "gdcli"],
        env={
            **os.environ,
            "_GDCLI_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(cword),
        },
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_show_completion_prints_a_script(shell: str) -> None:
    result = gdcli("--show-completion", shell)
    assert result.exit_code == 0
    assert "_GDCLI_COMPLETE=complete_" + shell in result.stdout
    others = {"bash", "zsh", "fish"} - {shell}
    assert not [o for o in others if "_GDCLI_COMPLETE=complete_" + o in result.stdout]


def test_completion_of_configs_lists_yaml_files_and_directories() -> None:
    got = complete("gdcli descend configs/", 2)
    assert got == sorted(f"configs/{p.name}" for p in CONFIGS.glob("*.yaml"))
    assert complete("gdcli train-mlp configs/xo", 2) == [
        "configs/xor-perceptron.yaml",
        "configs/xor.yaml",
    ]
    assert "gdcli/" in complete("gdcli descend gd", 2)


def test_completion_of_set_gives_keys_then_registry_names() -> None:
    assert complete("gdcli descend x.yaml --set opt", 4) == ["optimizer.name="]
    whole = complete("gdcli descend x.yaml --set optimizer.name=ad", 4)
    assert whole == [f"optimizer.name={n}" for n in sorted(OPTIMIZERS) if n.startswith("ad")]
    # bash splits the word at '=': it then replaces only what follows it
    assert complete("gdcli descend x.yaml --set optimizer.name = ad", 6) == [
        n for n in sorted(OPTIMIZERS) if n.startswith("ad")
    ]
    assert complete("gdcli train-mlp x.yaml --set model.activation = re", 6) == ["relu"]
    assert complete("gdcli descend x.yaml --set function = rosen", 6) == ["rosenbrock"]


def test_completion_of_plot_lists_directories(tmp_path: Path) -> None:
    (tmp_path / "runs" / "a-1").mkdir(parents=True)
    (tmp_path / "runs" / "notes.txt").write_text("x")
    assert complete("gdcli plot runs/", 2, cwd=tmp_path) == ["runs/a-1/"]


def test_unsplit_joins_what_bash_split_at_equals() -> None:
    words = ["gdcli", "descend", "x.yaml", "--set", "optimizer.name", "=", "ad"]
    assert unsplit(words, 6) == (["descend", "x.yaml", "--set"], "optimizer.name=ad", 15)
    assert unsplit(words[:6], 5) == (["descend", "x.yaml", "--set"], "optimizer.name=", 14)
    assert unsplit(["gdcli", "de"], 1) == ([], "de", 0)


def test_help_does_not_import_the_completion_registries() -> None:
    code = (
        "import sys\nfrom gdcli.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('gdcli.completion', 'gdcli.optim', 'numpy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines()[-1] == "[]"
