"""Experiment files -> validated DescendConfig: numbers, locations, overrides, schema.

Every malformed file must give located problems ``FILE:LINE:COL: key.path: message``
(checked here on ``ConfigError.problems``; the CLI tests check exit codes and streams).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gdcli.errors import ConfigError, UserError
from gdcli.experiments.config import DescendConfig, load_config, schema, validate
from gdcli.experiments.plan import descend_plan as plan
from gdcli.optim import OPTIMIZERS, make_schedule
from gdcli.yamlio import Document, parse_yaml

CONFIGS = sorted(
    path
    for path in (Path(__file__).parent.parent / "configs").glob("*.yaml")
    if "function" in parse_yaml(path.read_text(encoding="utf-8"), str(path))[0]
)

VALID = """\
name: t
function: "x**2 + 10*y**2"
start: [1.0, 1.0]
iterations: 100
tolerance: 1.0e-8
optimizer: {name: gd, lr: 0.05}
"""

TWO_OPTIMIZERS = """\
function: "x**2 + 10*y**2"
start: [1.0, 1.0]
optimizers:
  - {name: gd, lr: 0.2}
  - {name: adam, lr: 0.05}
"""


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path, overrides: tuple[str, ...] = ()) -> list[str]:
    """The located problems of a file that must not validate, as printed."""
    with pytest.raises(ConfigError) as info:
        load_config(path, DescendConfig, overrides)
    return [str(p) for p in info.value.problems]


# -- numbers ---------------------------------------------------------------------------


def test_exponent_without_a_dot_is_a_float_and_other_scalars_keep_their_type() -> None:
    text = "a: 1e-3\nb: 2E5\nc: -1e+2\nd: 1.5e-3\ne: 10\nf: 1.0.0\ng: .5\nh: 1e3x\n"
    data, positions = parse_yaml(text, "F")
    assert data == {
        "a": 0.001,
        "b": 200000.0,
        "c": -100.0,
        "d": 0.0015,
        "e": 10,
        "f": "1.0.0",
        "g": 0.5,
        "h": "1e3x",
    }
    assert [type(data[k]) for k in "abcdefgh"] == [float] * 4 + [int, str, float, str]
    assert positions[("h",)] == (8, 1)


def test_lr_written_as_1e_minus_3_validates_as_a_number(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("lr: 0.05", "lr: 1e-3"))
    config, _ = load_config(path, DescendConfig)
    assert config.optimizer.lr == 1e-3
    assert config.tolerance == 1e-8


def test_defaults_fill_in_and_one_optimizer_becomes_a_list(tmp_path: Path) -> None:
    path = write(tmp_path, 'function: "x**2 + y**2"\nstart: [1, 2]\n')
    config, _ = load_config(path, DescendConfig)
    assert (config.name, config.iterations, config.tolerance, config.seed) == (
        "descend",
        10000,
        1e-6,
        0,
    )
    assert config.trace_every == 1
    [opt] = config.optimizer_list()
    assert opt.name == "gd"


# -- located problems ----------------------------------------------------------------------

# (file text, expected problem after "FILE:"): each a regular expression over the
# whole printed problem, so that the line, the column and the key are all pinned.
MALFORMED = {
    "yaml-syntax": (
        "name: x: y\nfunction: x**2\n",
        r"1:8: not valid YAML: mapping values are not allowed here",
    ),
    "unknown-key": (
        'function: "x**2 + y**2"\nstart: [1, 2]\noptimzer: {name: gd, lr: 0.1}\n',
        r"3:1: optimzer: unknown key 'optimzer'; did you mean 'optimizer'\?",
    ),
    "wrong-type": (
        'function: "x**2 + y**2"\nstart: [1, 2]\niterations: ten\n',
        r"3:1: iterations: .*integer.*'ten'",
    ),
    "negative-lr": (
        'function: "x**2 + y**2"\nstart: [1, 2]\noptimizer: {name: gd, lr: -0.1}\n',
        r"3:23: optimizer\.lr: .*greater than 0.*-0\.1",
    ),
    "nan-start": (
        'function: "x**2 + y**2"\nstart: [1, .nan]\n',
        r"2:12: start\.1: .*finite.*nan",
    ),
    "duplicate-key": (
        'name: x\nfunction: "x**2"\nfunction: "y**2"\nstart: [1]\n',
        r"3:1: not valid YAML: duplicate key 'function'",
    ),
    "alias": (
        "name: &a x\nfunction: *a\nstart: [1]\n",
        r"2:11: not valid YAML: aliases \(\*name\) are not allowed.*",
    ),
    "top-level-list": ("- 1\n- 2\n", r"1:1: the top level is a list.*"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_file_gives_one_located_problem(tmp_path: Path, case: str) -> None:
    text, expected = MALFORMED[case]
    path = write(tmp_path, text)
    found = problems(path)
    assert len(found) == 1, found
    assert re.fullmatch(re.escape(str(path)) + ":" + expected, found[0]), found[0]


def test_unknown_optimizer_lists_every_valid_name(tmp_path: Path) -> None:
    path = write(tmp_path, 'function: "x**2 + y**2"\nstart: [1, 2]\noptimizer: {name: sgdd}\n')
    [problem] = problems(path)
    assert problem.startswith(f"{path}:3:1: optimizer: unknown name 'sgdd'; valid: ")
    valid = re.findall(r"'(\w+)'", problem.split("valid: ", 1)[1])
    assert valid == list(OPTIMIZERS)
    assert len(valid) == 9


def test_python_tag_is_refused_and_never_runs(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    path = write(
        tmp_path,
        f'name: !!python/object/apply:os.system ["touch {sentinel}"]\nfunction: "x**2"\n',
    )
    [problem] = problems(path)
    assert problem == (
        f"{path}:1:7: not valid YAML: tag '!!python/object/apply:os.system' is not allowed; "
        "experiment files hold plain values only"
    )
    assert not sentinel.exists()


def test_missing_file_and_directory_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert problems(missing) == [f"{missing}: no such file"]
    assert problems(tmp_path) == [f"{tmp_path}: is a directory, not an experiment file"]


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    for text in ("", "# only a comment\n"):
        [problem] = problems(write(tmp_path, text))
        assert "file is empty" in problem


def test_empty_file_problem_is_located_at_line_1_column_1(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:1:1: ")


def test_a_number_used_as_a_key_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, 'function: "x**2 + y**2"\nstart: [1, 2]\n1: 2\n')
    [problem] = problems(path)
    assert problem.startswith(f"{path}:3:1: ")


def test_several_problems_in_one_file_are_all_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        name: x
        function: "x**2 + y**2"
        start: [1, 2]
        optimzer: {name: gd, lr: 0.1}
        iterations: ten
        tolerance: -1
        """,
    )
    found = problems(path)
    where = sorted(
        re.match(rf"{re.escape(str(path))}:(\d+):(\d+): ([\w.]+): ", p).groups() for p in found
    )
    assert where == [("4", "1", "optimzer"), ("5", "1", "iterations"), ("6", "1", "tolerance")]


def test_schema_and_function_problems_are_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        function: "sinn(x) + y"
        start: [1.0, 2.0]
        optimizer: {name: adam, lr: 0.1, betas: [0.9, 1.5]}
        """,
    )
    with pytest.raises(ConfigError) as info:
        config, doc = load_config(path, DescendConfig)
        plan(config, doc)
    keys = sorted(p.key or "" for p in info.value.problems)
    assert keys == ["function", "optimizer.betas.1"]


def test_start_of_the_wrong_dimension_is_located_at_start(tmp_path: Path) -> None:
    path = write(tmp_path, 'function: "x**2 + y**2"\nstart: [1.0, 2.0, 3.0]\n')
    config, doc = load_config(path, DescendConfig)
    with pytest.raises(ConfigError) as info:
        plan(config, doc)
    [problem] = [str(p) for p in info.value.problems]
    assert problem.startswith(f"{path}:2:1: start: ")
    assert "got a point with 3" in problem


# -- --set overrides -----------------------------------------------------------------------


def test_set_overrides_a_value_read_as_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    config, doc = load_config(path, DescendConfig, ["optimizer.lr=0.5", "iterations=7"])
    assert config.optimizer.lr == 0.5
    assert config.iterations == 7
    assert set(doc.overridden) == {("optimizer", "lr"), ("iterations",)}
    config, _ = load_config(path, DescendConfig, ["optimizer.lr=1e-3"])
    assert config.optimizer.lr == 0.001


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("optimizer.lr=-1", r"optimizer\.lr: .*greater than 0.*-1"),
        ("optimizer.lr=.nan", r"optimizer\.lr: .*finite.*nan"),
        ("optimizer.lr=abc", r"optimizer\.lr: .*number.*'abc'"),
        ("iterations=0", r"iterations: .*greater than or equal to 1.*0"),
        ("optimizer.lrr=0.1", r"optimizer\.lrr: unknown key 'lrr'; did you mean 'lr'\?"),
        ("optimizer.rl=0.1", r"optimizer\.rl: unknown key 'rl' \(valid keys: name, lr, .*\)"),
    ],
)
def test_set_is_validated_like_the_file_and_names_set(
    tmp_path: Path, assignment: str, message: str
) -> None:
    path = write(tmp_path, VALID)
    found = problems(path, (assignment,))
    assert len(found) == 1, found
    assert re.fullmatch(re.escape(f"--set {assignment}: ") + message, found[0]), found[0]


def test_set_reaches_into_lists(tmp_path: Path) -> None:
    path = write(tmp_path, TWO_OPTIMIZERS)
    config, _ = load_config(path, DescendConfig, ["optimizers.1.lr=0.07", "optimizers.0.lr=0.01"])
    assert [(o.name, o.lr) for o in config.optimizers] == [("gd", 0.01), ("adam", 0.07)]


def test_set_past_the_end_of_a_list_or_without_equals_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, TWO_OPTIMIZERS)
    assert problems(path, ("optimizers.2.lr=0.1",)) == [
        "--set optimizers.2.lr=0.1: index 2 is past the end of a list of 2"
    ]
    [problem] = problems(path, ("optimizer.lr",))
    assert problem.startswith("--set optimizer.lr: expected KEY.PATH=VALUE")
    [problem] = problems(path, ("optimizers..lr=1",))
    assert "empty key" in problem


def test_a_bad_value_set_over_a_list_is_blamed_on_set(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    [problem] = problems(path, ("start=[1, .nan]",))
    assert problem.startswith("--set start=[1, .nan]: start.1: ")


# -- schema ---------------------------------------------------------------------------------


def test_schema_lists_every_key_and_optimizer() -> None:
    s = schema("descend")
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert list(s["properties"]) == list(DescendConfig.model_fields)
    assert s["additionalProperties"] is False
    assert s["required"] == ["function"]
    names = {
        d["properties"]["name"]["const"]
        for key, d in s["$defs"].items()
        if key.endswith("Optimizer")
    }
    assert names == set(OPTIMIZERS)
    assert s["$defs"]["GdOptimizer"]["properties"]["lr"]["exclusiveMinimum"] == 0.0


def test_schema_of_an_unknown_command_is_a_user_error() -> None:
    with pytest.raises(UserError, match=r"no experiment file for 'descnd'; did you mean 'descend'"):
        schema("descnd")


def test_the_descend_configs_of_the_issue_are_shipped() -> None:
    stems = {p.stem for p in CONFIGS}
    assert {"cubic-saddle", "rosenbrock", "quadratic-diverges", "himmelblau-basins"} <= stems


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_shipped_config_validates_and_plans(path: Path) -> None:
    config, doc = load_config(path, DescendConfig)
    p = plan(config, doc)
    assert p.name == path.stem
    assert p.starts.ndim == 2
    assert p.starts.shape[1] == p.function.dimension
    assert len(p.optimizers) == len(config.optimizer_list())


@pytest.mark.parametrize(
    ("schedule", "ok"),
    [
        ({"name": "exponential", "gamma": 1.0}, True),
        ({"name": "exponential", "gamma": 1.5}, False),
        ({"name": "step", "step_size": 5, "gamma": 0.0}, False),
        ({"name": "inverse_time", "decay_rate": 0.0}, True),
        ({"name": "inverse_time", "decay_rate": -0.5}, False),
        ({"name": "cosine", "total_steps": 0}, False),
    ],
)
def test_config_and_optim_accept_the_same_schedules(schedule: dict, ok: bool) -> None:
    """One registry declares the schedules: validation and make_schedule agree."""
    spec = {"name": "gd", "lr": 0.1, "schedule": schedule}
    data = {"function": "x**2", "start": [1.0], "optimizer": spec}
    doc = Document(data, "exp.yaml")
    args = {k: v for k, v in schedule.items() if k != "name"}
    try:
        validate(doc, DescendConfig)
    except ConfigError:
        config_ok = False
    else:
        config_ok = True
    try:
        make_schedule(schedule["name"], 0.1, **args)
    except ConfigError:
        optim_ok = False
    else:
        optim_ok = True
    assert config_ok == optim_ok == ok


# -- keys that would have no effect, empty sweeps, tolerance 0 ---------------------------


def medmnist(path: Path, parts: tuple[str, ...] = ("train", "val", "test"), **extra: Any) -> Path:
    g = np.random.default_rng(0)
    arrays: dict[str, Any] = dict(extra)
    for part in parts:
        arrays[f"{part}_images"] = g.integers(0, 256, size=(12, 4, 4), dtype=np.uint8)
        arrays[f"{part}_labels"] = np.arange(12, dtype=np.uint8).reshape(12, 1) % 2
    np.savez(path, **arrays)
    return path


def train_problems(path: Path) -> list[str]:
    from gdcli.experiments.config import TrainConfig
    from gdcli.experiments.plan import train_plan

    with pytest.raises(UserError) as info:
        config, doc = load_config(path, TrainConfig)
        train_plan(config, doc)
    return [str(p) for p in info.value.problems]


def test_a_fraction_for_a_part_the_medmnist_file_holds_is_refused(tmp_path: Path) -> None:
    medmnist(tmp_path / "m.npz")
    path = write(tmp_path, "data: {npz: m.npz,\n  test_fraction: 0.2}\nepochs: 1\n")
    assert train_problems(path) == [
        f"{path}:2:3: data.test_fraction: has no effect: m.npz holds its own test part "
        "(12 rows); remove test_fraction"
    ]


def test_a_fraction_for_a_part_the_medmnist_file_lacks_is_used(tmp_path: Path) -> None:
    from gdcli.experiments.config import TrainConfig
    from gdcli.experiments.plan import train_plan

    medmnist(tmp_path / "m.npz", parts=("train",))
    path = write(tmp_path, "data: {npz: m.npz, test_fraction: 0.25}\nepochs: 1\n")
    config, doc = load_config(path, TrainConfig)
    splits = train_plan(config, doc).splits
    assert splits.test is not None
    assert (splits.train.X.shape[0], splits.test.X.shape[0]) == (
        8,
        4,
    )  # stratified: 2 of each class


def test_an_npz_with_both_layouts_is_refused(tmp_path: Path) -> None:
    npz = medmnist(tmp_path / "m.npz", X=np.zeros((4, 2)), y=np.array([0, 1, 0, 1]))
    path = write(tmp_path, "data: {npz: m.npz}\nepochs: 1\n")
    assert train_problems(path) == [
        f"{npz}: holds both 'X'/'y' and MedMNIST 'train_images'/'train_labels'; "
        "keep one layout, gdcli would read only one"
    ]


def test_a_constant_as_a_variable_is_refused_at_its_place(tmp_path: Path) -> None:
    path = write(tmp_path, 'function: "pi*x"\nvars: [x, pi]\nstart: [1.0, 2.0]\n')
    assert problems(path) == [
        f"{path}:2:11: vars.1: 'pi' is a constant of the formula language, "
        "not a variable name, got 'pi'"
    ]


def test_an_empty_sweep_list_in_the_file_exits_2(tmp_path: Path) -> None:
    from clitools import gdcli

    path = write(tmp_path, VALID + "sweep:\n  optimizer.lr: []\n")
    result = gdcli("descend", path, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == (
        f"gdcli: error: {path}:8:3: sweep.optimizer.lr: give each swept key a list of at least "
        "one value, e.g. optimizer.lr: [0.1, 0.01], got []\n"
    )
    assert not (tmp_path / "out").exists()


def test_tolerance_0_is_accepted_and_runs_the_whole_budget(tmp_path: Path) -> None:
    from clitools import gdcli, parse_json

    # started at the minimum: the gradient is exactly 0 from the first step on
    text = 'function: "x**2 + y**2"\nstart: [0.0, 0.0]\niterations: 40\ntolerance: 0\n'
    result = gdcli("descend", write(tmp_path, text), "--json", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    [run] = parse_json(result.stdout)["runs"]
    assert (run["iterations"], run["status"]) == (40, "max_iterations")
    trace = (tmp_path / "run" / "trace.csv").read_text(encoding="utf-8").splitlines()
    assert len(trace) == 1 + 41  # the header, the start and 40 iterations
