"""The tour (docs/tour.md) and the README's example cannot rot: every command runs,
exits 0 and prints what the documents say it prints."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("build_tour", ROOT / "docs" / "build_tour.py")
assert _spec is not None and _spec.loader is not None
tour = importlib.util.module_from_spec(_spec)
sys.modules["build_tour"] = tour
_spec.loader.exec_module(tour)

TOUR = (ROOT / "docs" / "tour.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


SHOWN = [line.removeprefix("$ ") for line in TOUR.splitlines() if line.startswith("$ ")]
"""Every command the tour prints, in the order a reader meets them."""


def clean_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A reader's working directory: the repository's configs and docs, nothing else."""
    cwd = tmp_path_factory.mktemp(name)
    (cwd / "configs").symlink_to(ROOT / "configs")
    (cwd / "docs").symlink_to(ROOT / "docs")
    return cwd


def _run(command: str, cwd: Path) -> str:
    result = tour.run(command, cwd)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{command}\n{output}"
    assert "Traceback" not in output
    return output


@pytest.fixture(scope="module")
def tour_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The tour's commands run exactly as printed, in order, from a clean directory."""
    cwd = clean_dir(tmp_path_factory, "tour")
    assert not (cwd / "runs").exists()
    return cwd, {command: _run(command, cwd) for command in SHOWN}


def test_the_tour_prints_every_command_of_its_steps_in_order() -> None:
    assert [command for step in tour.STEPS for command in step.commands] == SHOWN
    # the MedMNIST step shows the command that writes the file it trains on
    medmnist = next(step for step in tour.STEPS if "medmnist.yaml" in step.command)
    assert medmnist.setup == "python docs/medmnist_like.py runs/digits_medmnist.npz"
    assert SHOWN.index(medmnist.setup) + 1 == SHOWN.index(medmnist.command)


@pytest.mark.parametrize("step", tour.STEPS, ids=lambda s: s.command.split(" --")[0])
def test_tour_command_runs_and_prints_what_the_tour_says(
    step: tour.Step, tour_run: tuple[Path, dict[str, str]]
) -> None:
    workdir, outputs = tour_run
    output = outputs[step.command]
    for expected in step.expect:
        assert expected in output, f"{step.command}: {expected!r} missing"
        assert expected in TOUR, f"tour.md no longer shows {expected!r}: rebuild it (make docs)"
    for picture in step.pictures:
        assert step.out is not None
        assert (workdir / step.out / picture).stat().st_size > 10_000
        name = f"{Path(step.out).name}-{picture}"
        assert f"(images/{name})" in TOUR
        assert (ROOT / "docs" / "images" / name).exists()


def test_the_tour_tells_the_true_heaviside_story() -> None:
    """Frozen random features can still separate four points; what the zero
    derivative breaks is learning the hidden layer."""
    text = " ".join(TOUR.split())
    assert "they never move from their random start; yet heaviside reaches 100%" in text
    assert "it stops the hidden layer from learning" in text
    assert "sigmoid, tanh and the ReLUs learn it" not in text


def test_tour_pastes_the_real_gradients() -> None:
    """The figures the lecture quotes appear in the tour's pasted output."""
    assert "gradient    (81, 60)" in TOUR
    assert "gradient    (9, 80)" in TOUR
    assert re.search(r"#\d+ │ x +│ +│ +1 │ 44\.33433659", TOUR)


@pytest.mark.parametrize("step", tour.README_EXAMPLE, ids=lambda s: s.command.split(" ")[1])
def test_readme_example_runs_as_shown(
    step: tour.Step, tmp_path_factory: pytest.TempPathFactory
) -> None:
    output = _run(step.command, clean_dir(tmp_path_factory, "readme"))
    assert f"$ {step.command}" in README
    for expected in step.expect:
        assert expected in output and expected in README
    # the pasted table is what the command prints now
    shown = [line for line in output.splitlines() if line.startswith("│")]
    assert shown and all(line in README for line in shown)


def test_readme_lists_every_command() -> None:
    from gdcli.cli import app

    names = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}
    for name in names:
        assert f"`gdcli {name}" in README, name
