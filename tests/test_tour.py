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


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reader's working directory: the repository's configs and docs, fresh runs/."""
    cwd = tmp_path_factory.mktemp("tour")
    (cwd / "configs").symlink_to(ROOT / "configs")
    (cwd / "docs").symlink_to(ROOT / "docs")
    return cwd


def _run(step: tour.Step, cwd: Path) -> str:
    if step.setup:
        done = tour.run(step.setup, cwd)
        assert done.returncode == 0, done.stderr
    result = tour.run(step.command, cwd, step.quick)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output
    return output


@pytest.mark.parametrize("step", tour.STEPS, ids=lambda s: s.command.split(" --")[0])
def test_tour_command_runs_and_prints_what_the_tour_says(step: tour.Step, workdir: Path) -> None:
    output = _run(step, workdir)
    for expected in step.expect:
        assert expected in output, f"{step.command}: {expected!r} missing"
        assert expected in TOUR, f"tour.md no longer shows {expected!r}: rebuild it (make docs)"
    assert f"$ {step.command}" in TOUR
    for picture in step.pictures:
        assert step.out is not None
        assert (workdir / step.out / picture).stat().st_size > 10_000
        name = f"{Path(step.out).name}-{picture}"
        assert f"(images/{name})" in TOUR
        assert (ROOT / "docs" / "images" / name).exists()


def test_tour_pastes_the_real_gradients() -> None:
    """The figures the lecture quotes appear in the tour's pasted output."""
    assert "gradient    (81, 60)" in TOUR
    assert "gradient    (9, 80)" in TOUR
    assert re.search(r"#\d+ │ x +│ +│ +1 │ 44\.33433659", TOUR)


@pytest.mark.parametrize("step", tour.README_EXAMPLE, ids=lambda s: s.command.split(" ")[1])
def test_readme_example_runs_as_shown(step: tour.Step, workdir: Path) -> None:
    output = _run(step, workdir)
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
