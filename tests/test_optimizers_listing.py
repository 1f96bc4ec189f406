"""`gdcli optimizers` and the README's optimizer table: both read the registries, and
the README's table is the generated one."""

from __future__ import annotations

from pathlib import Path

from clitools import gdcli, parse_json

from gdcli.optim.registry import OPTIMIZERS, optimizer_defaults
from gdcli.optim.schedules import SCHEDULES
from gdcli.render import optimizers as listing

README = Path(__file__).resolve().parent.parent / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index(listing.BEGIN) : text.index(listing.END) + len(listing.END)]


def test_readme_optimizer_table_is_the_generated_one() -> None:
    assert _section() == listing.markdown(), (
        "run `python -m gdcli.render.optimizers` to regenerate README.md"
    )


def test_readme_names_every_optimizer_schedule_and_keras_difference() -> None:
    section = _section()
    plain = section.replace("\\", "")  # as Markdown shows it
    for name, info in OPTIMIZERS.items():
        assert f"`{name}`" in section
        assert info.keras in plain
        assert info.update_rule in plain
        assert "\\*" in section and " lr*" not in section  # no stray emphasis
    for name in SCHEDULES:
        assert f"| `{name}` |" in section


def _listing() -> dict:
    result = gdcli("optimizers", "--json")
    assert result.exit_code == 0, result.stderr
    return parse_json(result.stdout)


def test_json_lists_every_optimizer_with_its_rule_defaults_and_keras() -> None:
    doc = _listing()
    by_name = {o["name"]: o for o in doc["optimizers"]}
    assert list(by_name) == list(OPTIMIZERS)
    for name, o in by_name.items():
        defaults = {h["name"]: h["default"] for h in o["hyperparameters"]}
        expected = {
            k: list(v) if isinstance(v, tuple) else v for k, v in optimizer_defaults(name).items()
        }
        assert defaults == expected
        assert o["keras"] == OPTIMIZERS[name].keras  # the facts live in the registry
    # PyTorch's definitions as gdcli computes them
    assert "p -= lr*(g + momentum*b)" in by_name["nesterov"]["update"]
    assert "denom = sqrt(v)/sqrt(1 - b2^t) + eps" in by_name["adam"]["update"]
    assert "p *= 1 - lr*weight_decay" in by_name["adamw"]["update"]
    # where Keras differs
    assert "initial_accumulator_value 0.1" in by_name["adagrad"]["keras"]
    assert "epsilon 1e-7" in by_name["adagrad"]["keras"]
    assert "rho 0.9 for torch's alpha 0.99" in by_name["rmsprop"]["keras"]
    assert (
        "epsilon 1e-7 (torch 1e-8), added before the bias correction" in (by_name["adam"]["keras"])
    )
    assert "v = momentum*v - lr*g" in by_name["nesterov"]["keras"]
    assert by_name["rmsprop"]["hyperparameters"][1] == {
        "name": "alpha",
        "default": 0.99,
        "required": False,
        "allowed": "a number in [0, 1)",
        "meaning": "smoothing constant of the squared-gradient average",
    }
    schedules = {s["name"]: s for s in doc["schedules"]}
    assert list(schedules) == list(SCHEDULES)
    step = {p["name"]: p for p in schedules["step"]["parameters"]}
    assert step["step_size"]["required"] and step["gamma"]["default"] == 0.1
    assert "warmup_steps" in step


def test_text_fits_80_columns_and_lists_everything() -> None:
    result = gdcli("optimizers")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    for name in [*OPTIMIZERS, *SCHEDULES]:
        assert any(line.startswith(f"{name}: ") for line in lines), name
    assert "  momentum = 0.9 (a number in (0, 1)): momentum factor" in lines
