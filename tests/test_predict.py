"""``gdcli predict``: the target column found by the name saved in the model, extra
columns ignored and reported, unknown labels reported instead of dropped, model files
written before the target was saved, and every kind of broken model file refused with
one located line (exit 2) instead of a traceback.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from clitools import gdcli, parse_json

from gdcli import data
from gdcli.errors import DataError
from gdcli.experiments import modelfile, train
from gdcli.experiments import plan as planning
from gdcli.experiments.config import TrainConfig, load_config
from gdcli.experiments.predict import run_predict
from gdcli.runs import atomic_save_npz

CONFIG = """\
    name: pets
    data: {{csv: {csv}, target: label, standardize: {standardize}}}
    model: {{hidden: [4], activation: tanh}}
    optimizer: {{name: adam, lr: 0.05}}
    epochs: 5
    batch_size: full
    seed: 3
"""

Arrays = dict[str, np.ndarray]


def pets_rows(n: int = 40, seed: int = 0) -> list[tuple[float, float, str]]:
    """Two features and a text label that a line through the origin separates."""
    rng = np.random.default_rng(seed)
    ab = rng.normal(size=(n, 2))
    return [(float(a), float(b), "dog" if a + b > 0 else "cat") for a, b in ab]


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    lines = [",".join(header)] + [",".join(str(c) for c in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def train_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "train.csv", ["a", "b", "label"], [list(r) for r in pets_rows()])


def config_file(tmp_path: Path, standardize: bool = True) -> Path:
    path = tmp_path / "pets.yaml"
    path.write_text(
        textwrap.dedent(CONFIG.format(csv="train.csv", standardize=str(standardize).lower())),
        encoding="utf-8",
    )
    return path


def trained_arrays(tmp_path: Path, standardize: bool = True) -> Arrays:
    """The arrays of the model.npz of a 5-epoch training on train.csv (a, b -> label)."""
    train_csv(tmp_path)
    config, doc = load_config(config_file(tmp_path, standardize), TrainConfig)
    plan = planning.train_plan(config, doc)
    trainer = train.make_trainer(plan)
    for _ in trainer.epochs():
        pass
    return modelfile.model_arrays(plan, trainer.finish(), target_name=config.data.target)


def save(path: Path, arrays: Arrays) -> Path:
    atomic_save_npz(path, arrays)
    return path


@pytest.fixture(scope="module")
def model_arrays(tmp_path_factory: pytest.TempPathFactory) -> Arrays:
    return trained_arrays(tmp_path_factory.mktemp("model"))


@pytest.fixture
def model(tmp_path: Path, model_arrays: Arrays) -> Path:
    return save(tmp_path / "model.npz", model_arrays)


def predict_json(model: Path, csv_path: Path) -> dict:
    result = gdcli("predict", model, csv_path, "--json")
    assert result.exit_code == 0, result.stderr
    return parse_json(result.stdout)


# -- the saved target ---------------------------------------------------------------


def test_model_saves_the_target_column_name(model: Path) -> None:
    m = modelfile.load_model(model)
    assert m.target == "label"
    assert m.feature_names == ("a", "b")
    assert m.class_names == ("cat", "dog")


def test_train_mlp_saves_a_model_that_predicts_its_csv(tmp_path: Path) -> None:
    csv_path = train_csv(tmp_path)
    result = gdcli("train-mlp", config_file(tmp_path), "--out", tmp_path / "run", "--json")
    assert result.exit_code == 0, result.stderr
    got = predict_json(tmp_path / "run" / "model.npz", csv_path)
    assert got["target"] == "label"
    assert got["ignored_columns"] == []
    assert got["accuracy"] == parse_json(result.stdout)["final"]["train_accuracy"]


def test_builtin_and_bundled_data_save_their_natural_target_name(tmp_path: Path) -> None:
    result = gdcli(
        "train-mlp",
        Path(__file__).parent.parent / "configs" / "xor.yaml",
        "--set",
        "epochs=5",
        "--out",
        tmp_path / "run",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    assert modelfile.load_model(tmp_path / "run" / "model.npz").target == "label"
    assert modelfile.natural_target_name("breast_cancer") == "diagnosis"
    assert modelfile.natural_target_name("digits") == "digit"
    assert all(modelfile.natural_target_name(name) == "label" for name in data.BUILTIN)
    assert modelfile.natural_target_name("my_file") is None
    # a CSV file called moons.csv is not the built-in set
    assert modelfile.natural_target_name("moons", ("a", "b")) is None
    assert modelfile.natural_target_name("moons", ("x1", "x2")) == "label"
    cancer = data.load_bundled("breast_cancer")
    assert modelfile.natural_target_name("breast_cancer", cancer.feature_names) == "diagnosis"
    wdbc = Path(data.__file__).parent / "bundled" / "wdbc.csv"
    header = wdbc.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert "diagnosis" in header


def test_an_extra_column_is_ignored_and_reported_not_taken_as_the_target(
    tmp_path: Path, model: Path
) -> None:
    rows = [[a, b, 7.5] for a, b, _ in pets_rows(5, seed=1)]
    wide = write_csv(tmp_path / "wide.csv", ["a", "b", "c"], rows)
    got = predict_json(model, wide)
    assert got["target"] is None
    assert got["ignored_columns"] == ["c"]
    assert got["accuracy"] is None

    result = run_predict(model, wide)
    assert result.truth is None
    assert result.ignored_columns == ("c",)
    csv_out = gdcli("predict", model, wide)
    assert csv_out.exit_code == 0, csv_out.stderr
    assert csv_out.stdout.splitlines()[0] == "row,prediction,p_cat,p_dog"  # no target column


def test_the_target_is_found_by_its_saved_name_among_other_extra_columns(
    tmp_path: Path, model: Path
) -> None:
    rows = [["x", b, label, a, 1] for a, b, label in pets_rows(30, seed=2)]
    path = write_csv(tmp_path / "mixed.csv", ["id", "b", "label", "a", "z"], rows)
    result = run_predict(model, path)
    assert result.target == "label"
    assert result.ignored_columns == ("id", "z")
    assert result.truth == [label for _, _, label in pets_rows(30, seed=2)]
    assert result.unknown_labels == ()
    assert result.accuracy == pytest.approx(
        np.mean([p == t for p, t in zip(result.predictions, result.truth, strict=True)])
    )
    # the same rows with the columns in the training order give the same predictions
    plain = write_csv(tmp_path / "plain.csv", ["a", "b", "label"], pets_rows(30, seed=2))
    assert run_predict(model, plain).predictions == result.predictions


def test_unknown_labels_are_reported_and_leave_accuracy_undefined(
    tmp_path: Path, model: Path
) -> None:
    rows = [list(r) for r in pets_rows(6, seed=3)]
    rows[1][2] = "bird"
    rows[4][2] = "ant"
    rows[5][2] = "bird"
    path = write_csv(tmp_path / "zoo.csv", ["a", "b", "label"], rows)
    got = predict_json(model, path)
    assert got["target"] == "label"
    assert got["unknown_labels"] == ["ant", "bird"]
    assert got["accuracy"] is None
    assert got["rows"] == 6  # every row predicted, none dropped
    result = run_predict(model, path)
    assert result.truth is not None and result.truth[1] == "bird"


def test_empty_target_cells_are_counted_and_leave_accuracy_undefined(
    tmp_path: Path, model: Path
) -> None:
    rows = [list(r) for r in pets_rows(4, seed=4)]
    rows[2][2] = ""
    path = write_csv(tmp_path / "partial.csv", ["a", "b", "label"], rows)
    result = run_predict(model, path)
    assert (result.missing_labels, result.unknown_labels, result.accuracy) == (1, (), None)


def test_a_model_saved_before_the_target_name_still_works(
    tmp_path: Path, model_arrays: Arrays
) -> None:
    old = save(tmp_path / "old.npz", {k: v for k, v in model_arrays.items() if k != "target"})
    assert modelfile.load_model(old).target is None
    labelled = write_csv(tmp_path / "labelled.csv", ["a", "b", "y"], pets_rows(10, seed=5))
    result = run_predict(old, labelled)
    assert result.target == "y"  # the one extra column, whatever its name
    assert result.ignored_columns == ()
    assert result.accuracy is not None
    # ... and with two extra columns, no guess: both ignored
    rows = [[a, b, label, 0] for a, b, label in pets_rows(10, seed=5)]
    wide = write_csv(tmp_path / "wide.csv", ["a", "b", "y", "c"], rows)
    result = run_predict(old, wide)
    assert (result.target, result.ignored_columns, result.accuracy) == (None, ("y", "c"), None)
    assert result.predictions == run_predict(old, labelled).predictions


# -- the CSV reader's messages are the training reader's ----------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,label\n,2,cat\n", r"\S*in\.csv:2:1: column 'a': empty cell \(missing value\)"),
        ("a,b,label\n1,x,cat\n", r"\S*in\.csv:2:2: column 'b': 'x' is not a number"),
        ("a,b,label\n1,inf,cat\n", r"\S*in\.csv:2:2: column 'b': 'inf' is not a finite number"),
        ("a,b,label\n1,2\n", r"\S*in\.csv:2: expected 3 cells as in the header, found 2"),
        ("a,a,b\n1,2,3\n", r"\S*in\.csv:1:2: duplicate column name 'a' \(also column 1\)"),
        ("", r"\S*in\.csv: the file is empty; expected a header row and data"),
        ("a,b,label\n", r"\S*in\.csv: no data rows"),
    ],
)
def test_csv_problems_read_as_in_training(
    tmp_path: Path, model: Path, text: str, message: str
) -> None:
    path = tmp_path / "in.csv"
    path.write_text(text, encoding="utf-8")
    result = gdcli("predict", model, path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert re.fullmatch(f"gdcli: error: {message}\n", result.stderr), result.stderr
    if "in.csv:" in message and "header" not in message:
        # the very message ``gdcli train-mlp`` gives for the same cell
        with pytest.raises(DataError) as exc:
            data.load_csv(path, "label")
        assert str(exc.value) in result.stderr


# -- broken model files -------------------------------------------------------------


def _json(value: object) -> np.ndarray:
    return np.array(json.dumps(value))


def _replace(**changes: np.ndarray | None) -> Callable[[Arrays], Arrays]:
    def edit(arrays: Arrays) -> Arrays:
        out = dict(arrays)
        for key, value in changes.items():
            if value is None:
                out.pop(key)
            else:
                out[key] = value
        return out

    return edit


def _arch(**changes: object) -> Callable[[Arrays], Arrays]:
    def edit(arrays: Arrays) -> Arrays:
        spec = json.loads(str(arrays["architecture"]))
        spec.update(changes)
        return {**arrays, "architecture": _json(spec)}

    return edit


CORRUPT_ARRAYS: dict[str, Callable[[Arrays], Arrays]] = {
    "architecture not JSON": _replace(architecture=np.array("{sizes: [2, 4, 1]")),
    "architecture a list": _replace(architecture=_json([2, 4, 1])),
    "architecture numbers": _replace(architecture=np.arange(3.0)),
    "architecture bytes": _replace(architecture=np.array(b'{"sizes": [2]}')),
    "architecture unknown activation": _arch(activations=["swish"]),
    "architecture missing key": _replace(architecture=_json({"sizes": [2, 4, 1]})),
    "architecture activations not a list": _arch(activations=5),
    "architecture softmax of 1 unit": _arch(output="softmax", loss="cross_entropy"),
    "feature_names a string": _replace(feature_names=_json("a,b")),
    "feature_names a number": _replace(feature_names=_json(2)),
    "feature_names null": _replace(feature_names=_json(None)),
    "feature_names of numbers": _replace(feature_names=_json([1, 2])),
    "feature_names too few": _replace(feature_names=_json(["a"])),
    "feature_names twice": _replace(feature_names=_json(["a", "a"])),
    "class_names one": _replace(class_names=_json(["cat"])),
    "class_names three": _replace(class_names=_json(["cat", "dog", "eel"])),
    "class_names null": _replace(class_names=_json(None)),
    "class_names empty": _replace(class_names=_json([])),
    "class_names a dict": _replace(class_names=_json({"0": "cat"})),
    "class_names bad JSON": _replace(class_names=np.array("[cat, dog]")),
    "target a number": _replace(target=_json(3)),
    "target empty": _replace(target=_json("")),
    "target a feature": _replace(target=_json("a")),
    "params missing": _replace(params=None),
    "architecture missing": _replace(architecture=None),
    "params of ints": lambda a: {**a, "params": np.arange(a["params"].size)},
    "params of text": lambda a: {**a, "params": a["params"].astype(str)},
    "params 2-D": lambda a: {**a, "params": a["params"].reshape(1, -1)},
    "params too few": lambda a: {**a, "params": a["params"][:-1]},
    "params a scalar": _replace(params=np.array(1.0)),
    "params NaN": lambda a: {**a, "params": np.full_like(a["params"], np.nan)},
    "scaler_mean too short": lambda a: {**a, "scaler_mean": a["scaler_mean"][:1]},
    "scaler_scale too long": lambda a: {**a, "scaler_scale": np.ones(5)},
    "scaler_scale zero": lambda a: {**a, "scaler_scale": np.zeros(2)},
    "scaler_scale text": lambda a: {**a, "scaler_scale": np.array(["1", "2"])},
    "scaler_mean without scale": _replace(scaler_scale=np.zeros(0)),
}


def _assert_not_a_model(model: Path, csv_path: Path) -> str:
    result = gdcli("predict", model, csv_path)
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"gdcli: error: {model}: not a gdcli model file"), result.stderr
    assert "allow_pickle" not in result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


@pytest.mark.parametrize("case", sorted(CORRUPT_ARRAYS))
def test_a_corrupt_model_file_is_a_located_data_error(
    tmp_path: Path, model_arrays: Arrays, case: str
) -> None:
    broken = save(tmp_path / "model.npz", CORRUPT_ARRAYS[case](model_arrays))
    csv_path = write_csv(tmp_path / "in.csv", ["a", "b", "label"], pets_rows(5))
    stderr = _assert_not_a_model(broken, csv_path)
    assert re.match(r"gdcli: error: \S+: not a gdcli model file: \S", stderr), stderr
    with pytest.raises(DataError):
        modelfile.load_model(broken)


def _object_array_npz(path: Path) -> None:
    np.savez(path, params=np.array([1, "x"], dtype=object))


def _truncated_npz(path: Path, arrays: Arrays) -> None:
    save(path, arrays)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _damaged_member(path: Path, arrays: Arrays) -> None:
    save(path, arrays)
    raw = bytearray(path.read_bytes())
    at = raw.find(b"\x93NUMPY")  # the first member's .npy header
    raw[at : at + 6] = b"XXXXXX"
    path.write_bytes(bytes(raw))


def _compressed_and_damaged(path: Path, arrays: Arrays) -> None:
    with path.open("wb") as fh:
        np.savez_compressed(fh, **arrays)
    raw = bytearray(path.read_bytes())
    mid = len(raw) // 3
    raw[mid : mid + 40] = bytes(40)
    path.write_bytes(bytes(raw))


NOT_NPZ: dict[str, Callable[[Path, Arrays], None]] = {
    "text": lambda p, a: p.write_text("a,b,label\n1,2,cat\n", encoding="utf-8"),
    "empty": lambda p, a: p.write_bytes(b""),
    "random bytes": lambda p, a: p.write_bytes(np.random.default_rng(0).bytes(300)),
    "a pickle": lambda p, a: p.write_bytes(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01."),
    "a .npy array": lambda p, a: p.write_bytes(_npy_bytes(a["params"])),
    "an object array": lambda p, a: _object_array_npz(p),
    "truncated": _truncated_npz,
    "damaged member": _damaged_member,
    "compressed and damaged": _compressed_and_damaged,
}


def _npy_bytes(a: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


@pytest.mark.parametrize("case", sorted(NOT_NPZ))
def test_a_file_that_is_no_model_is_a_located_data_error(
    tmp_path: Path, model_arrays: Arrays, case: str
) -> None:
    path = tmp_path / "model.npz"
    NOT_NPZ[case](path, model_arrays)
    csv_path = write_csv(tmp_path / "in.csv", ["a", "b", "label"], pets_rows(5))
    _assert_not_a_model(path, csv_path)


def test_a_text_file_as_model_gets_the_advice_to_pass_a_model_npz(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b,label\n1,2,cat\n", encoding="utf-8")
    result = gdcli("predict", path, path)
    assert result.exit_code == 2
    assert result.stderr == (
        f"gdcli: error: {path}: not a gdcli model file "
        "(expected the model.npz written by gdcli train-mlp)\n"
    )


def test_a_missing_model_file_or_a_directory_is_a_data_error(tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "in.csv", ["a", "b", "label"], pets_rows(5))
    missing = gdcli("predict", tmp_path / "nope.npz", csv_path)
    assert missing.exit_code == 2
    assert missing.stderr == f"gdcli: error: {tmp_path / 'nope.npz'}: no such model file\n"
    directory = gdcli("predict", tmp_path, csv_path)
    assert directory.exit_code == 2
    assert directory.stderr.count("\n") == 1
    assert "is a directory" in directory.stderr


def test_a_model_without_scaler_and_an_old_model_without_class_names_key(
    tmp_path: Path,
) -> None:
    arrays = trained_arrays(tmp_path, standardize=False)
    assert arrays["scaler_mean"].size == 0
    m = modelfile.load_model(save(tmp_path / "plain.npz", arrays))
    assert m.mean is None and m.scale is None
    # a classifier's file without class names cannot say which class is which
    no_classes = {k: v for k, v in arrays.items() if k != "class_names"}
    csv_path = write_csv(tmp_path / "in.csv", ["a", "b", "label"], pets_rows(5))
    _assert_not_a_model(save(tmp_path / "nocls.npz", no_classes), csv_path)
