"""Tests for gdcli.data: loaders, generators, splits and scaling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdcli import data
from gdcli.data import Dataset, Standardizer
from gdcli.errors import DataError, Problem


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def write(tmp_path: Path, text: str, name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def only_problem(err: pytest.ExceptionInfo[DataError]) -> Problem:
    assert len(err.value.problems) == 1
    return err.value.problems[0]


# --- bundled ---------------------------------------------------------------------


def test_breast_cancer_shape_classes_and_first_value() -> None:
    ds = data.load_bundled("breast_cancer")
    assert ds.X.shape == (569, 30)
    assert ds.X.dtype == np.float64
    assert ds.y.dtype == np.int64
    assert ds.class_names == ("benign", "malignant")
    assert ds.class_names.index("malignant") == 1
    assert np.bincount(ds.y).tolist() == [357, 212]
    assert ds.X[0, 0] == 17.99
    assert ds.feature_names[0] == "mean_radius"
    assert ds.feature_names[-1] == "worst_fractal_dimension"
    assert len(ds.feature_names) == 30
    assert ds.task == "binary"


def test_digits_shape_range_and_classes() -> None:
    ds = data.load_bundled("digits")
    assert ds.X.shape == (1797, 64)
    assert ds.X.min() == 0.0
    assert ds.X.max() == 1.0
    assert ds.class_names == tuple(str(d) for d in range(10))
    counts = np.bincount(ds.y, minlength=10)
    assert len(counts) == 10
    assert counts.sum() == 1797
    assert counts.min() >= 170
    assert ds.feature_names[0] == "px0"
    assert ds.feature_names[63] == "px63"
    assert ds.task == "multiclass"
    # pixel values are k / 16 for integers k
    assert np.array_equal(ds.X * 16, np.round(ds.X * 16))


def test_unknown_bundled_name_suggests_nearest() -> None:
    with pytest.raises(DataError, match="did you mean 'digits'"):
        data.load_bundled("digit")


# --- built-in generators -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "targets"),
    [("xor", [0, 1, 1, 0]), ("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1])],
)
def test_logic_sets_are_the_four_corners(name: str, targets: list[int]) -> None:
    ds = data.make_builtin(name, n=None, noise=0.3, rng=rng())
    assert ds.X.tolist() == [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    assert ds.y.tolist() == targets
    assert ds.class_names == ("0", "1")
    assert ds.feature_names == ("x1", "x2")
    assert ds.task == "binary"


def test_xor_noisy_copies_are_balanced_around_the_corners() -> None:
    ds = data.make_builtin("xor", n=400, noise=0.1, rng=rng())
    assert ds.X.shape == (400, 2)
    assert np.bincount(ds.y).tolist() == [200, 200]
    corners = np.round(ds.X)  # noise 0.1 keeps every point nearest its corner
    for corner, target in [((0, 0), 0), ((0, 1), 1), ((1, 0), 1), ((1, 1), 0)]:
        at = np.all(corners == corner, axis=1)
        assert at.sum() == 100
        assert np.all(ds.y[at] == target)
    offsets = ds.X - corners
    assert abs(offsets.std() - 0.1) < 0.01
    assert abs(offsets.mean()) < 0.01


def test_logic_set_with_too_few_points_is_rejected() -> None:
    with pytest.raises(DataError, match="at least 4"):
        data.make_builtin("xor", n=3, noise=0.1, rng=rng())


def test_moons_without_noise_lie_on_the_half_circles() -> None:
    ds = data.make_builtin("moons", n=None, noise=0.0, rng=rng())
    assert ds.X.shape == (200, 2)
    assert np.bincount(ds.y).tolist() == [100, 100]
    upper = ds.X[ds.y == 0]
    lower = ds.X[ds.y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0)
    assert upper[:, 1].min() >= -1e-12
    assert lower[:, 1].max() <= 0.5 + 1e-12


def test_circles_without_noise_have_radii_one_and_half() -> None:
    ds = data.make_builtin("circles", n=101, noise=0.0, rng=rng())
    radius = np.hypot(ds.X[:, 0], ds.X[:, 1])
    np.testing.assert_allclose(radius[ds.y == 0], 1.0)
    np.testing.assert_allclose(radius[ds.y == 1], 0.5)
    assert np.bincount(ds.y).tolist() == [51, 50]


def test_spirals_have_one_class_per_arm_within_the_unit_disc() -> None:
    ds = data.make_builtin("spirals", n=300, noise=0.0, rng=rng(), arms=3)
    assert ds.class_names == ("0", "1", "2")
    assert np.bincount(ds.y).tolist() == [100, 100, 100]
    radius = np.hypot(ds.X[:, 0], ds.X[:, 1])
    assert radius.min() == pytest.approx(0.0)
    assert radius.max() == pytest.approx(1.0)
    # each arm's outer end is rotated by a third of a turn from the previous one
    ends = [ds.X[(ds.y == c) & np.isclose(radius, 1.0)][0] for c in range(3)]
    angles = np.arctan2([e[1] for e in ends], [e[0] for e in ends])
    np.testing.assert_allclose(np.mod(np.diff(angles), 2 * np.pi), 2 * np.pi / 3)


def test_blobs_sit_on_a_ring_of_radius_three() -> None:
    ds = data.make_builtin("blobs", n=4000, noise=0.5, rng=rng(), centers=4)
    assert ds.task == "multiclass"
    assert np.bincount(ds.y).tolist() == [1000] * 4
    for c, expected in enumerate([(3, 0), (0, 3), (-3, 0), (0, -3)]):
        points = ds.X[ds.y == c]
        np.testing.assert_allclose(points.mean(axis=0), expected, atol=0.05)
        np.testing.assert_allclose(points.std(axis=0), 0.5, atol=0.03)


@pytest.mark.parametrize("name", data.BUILTIN)
def test_generators_are_deterministic_given_the_rng(name: str) -> None:
    a = data.make_builtin(name, n=60, noise=0.1, rng=rng(3))
    b = data.make_builtin(name, n=60, noise=0.1, rng=rng(3))
    c = data.make_builtin(name, n=60, noise=0.1, rng=rng(4))
    assert np.array_equal(a.X, b.X)
    assert np.array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)
    assert a.X.shape == (60, 2)
    assert a.name == name


def test_unknown_builtin_and_negative_noise_are_rejected() -> None:
    with pytest.raises(DataError, match="did you mean 'moons'"):
        data.make_builtin("moon", n=None, noise=0.1, rng=rng())
    with pytest.raises(DataError, match="noise"):
        data.make_builtin("moons", n=None, noise=-0.1, rng=rng())


# --- CSV ---------------------------------------------------------------------------


def test_csv_with_text_classes(tmp_path: Path) -> None:
    path = write(tmp_path, "a,label,b\n1,yes,2\n3,no,4.5\n\n5,yes,6\n")
    ds = data.load_csv(path, "label")
    assert ds.X.tolist() == [[1.0, 2.0], [3.0, 4.5], [5.0, 6.0]]
    assert ds.feature_names == ("a", "b")
    assert ds.class_names == ("no", "yes")
    assert ds.y.tolist() == [1, 0, 1]
    assert ds.name == "d"


def test_csv_integer_target_with_few_values_is_classes_sorted_numerically(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "x,t\n0,10\n1,2\n2,-1\n3,2\n")
    ds = data.load_csv(path, "t")
    assert ds.class_names == ("-1", "2", "10")
    assert ds.y.tolist() == [2, 1, 0, 1]
    assert ds.task == "multiclass"


def test_csv_non_integer_or_many_valued_target_is_regression(tmp_path: Path) -> None:
    ds = data.load_csv(write(tmp_path, "x,t\n0,0.5\n1,1.5\n"), "t")
    assert ds.task == "regression"
    assert ds.class_names is None
    assert ds.y.dtype == np.float64
    assert ds.y.tolist() == [0.5, 1.5]
    rows = "".join(f"{i},{i * i}\n" for i in range(21))
    ds = data.load_csv(write(tmp_path, "x,t\n" + rows, "sq.csv"), "t")
    assert ds.task == "regression"
    assert ds.y[-1] == 400.0


def test_csv_text_cell_names_line_column_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b,t\n1,2,0\n3,oops,1\n")
    with pytest.raises(DataError) as err:
        data.load_csv(path, "t")
    problem = only_problem(err)
    assert (problem.line, problem.column) == (3, 2)
    assert str(problem) == f"{path}:3:2: column 'b': 'oops' is not a number"


def test_csv_reports_every_bad_cell_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b,t\n1,,0\nx,2,1\n3,inf,1\n")
    with pytest.raises(DataError) as err:
        data.load_csv(path, "t")
    assert [(p.line, p.column) for p in err.value.problems] == [(2, 2), (3, 1), (4, 2)]
    messages = [p.message for p in err.value.problems]
    assert messages == [
        "column 'b': empty cell (missing value)",
        "column 'a': 'x' is not a number",
        "column 'b': 'inf' is not a finite number",
    ]


def test_csv_bad_cell_is_shown_on_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'a,t\n"1\n2",0\n3,1\n' + "x" * 50 + ",1\n")
    with pytest.raises(DataError) as err:
        data.load_csv(path, "t")
    assert [p.message for p in err.value.problems] == [
        "column 'a': '1\\n2' is not a number",
        "column 'a': '" + "x" * 37 + "...' is not a number",
    ]
    assert str(err.value.problems[0]) == f"{path}:3:1: column 'a': '1\\n2' is not a number"


def test_csv_caps_the_number_of_reported_problems(tmp_path: Path) -> None:
    rows = "".join(f"bad,{i % 2}\n" for i in range(30))
    with pytest.raises(DataError) as err:
        data.load_csv(write(tmp_path, "a,t\n" + rows), "t")
    problems = err.value.problems
    assert len(problems) == data.MAX_PROBLEMS + 1
    assert problems[-1].message == "... and 10 more"


def test_csv_missing_target_suggests_the_nearest_column(tmp_path: Path) -> None:
    path = write(tmp_path, "radius,diagnosis\n1,a\n2,b\n")
    with pytest.raises(DataError) as err:
        data.load_csv(path, "diagnosys")
    problem = only_problem(err)
    assert "did you mean 'diagnosis'?" in problem.message
    assert "columns: radius, diagnosis" in problem.message
    assert problem.line == 1


def test_csv_wrong_cell_count_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b,t\n1,2,0\n1,2\n3,4,1\n5,6,1,7\n")
    with pytest.raises(DataError) as err:
        data.load_csv(path, "t")
    assert [(p.line, p.message) for p in err.value.problems] == [
        (3, "expected 3 cells as in the header, found 2"),
        (5, "expected 3 cells as in the header, found 4"),
    ]


def test_csv_single_class(tmp_path: Path) -> None:
    path = write(tmp_path, "a,t\n1,x\n2,x\n")
    with pytest.raises(DataError, match="only one class 'x' in column 't'"):
        data.load_csv(path, "t")


def test_csv_empty_target_cell_and_nan_in_numeric_target(tmp_path: Path) -> None:
    path = write(tmp_path, "a,t\n1,1\n2,\n3,nan\n")
    with pytest.raises(DataError) as err:
        data.load_csv(path, "t")
    assert [(p.line, p.column) for p in err.value.problems] == [(3, 2), (4, 2)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("  \n\n", "the file is empty"),
        ("a,t\n1,0\n", "needs at least 2 data rows, found 1"),
        ("a,t\n", "needs at least 2 data rows, found 0"),
        ("a,a,t\n1,2,0\n3,4,1\n", "duplicate column name 'a'"),
        ("1,2\n3,4\n", "header row is required"),
        ("t\n0\n1\n", "no feature columns"),
    ],
)
def test_csv_structural_errors(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=message) as err:
        data.load_csv(path, "t")
    assert err.value.problems[0].file == str(path)


def test_csv_missing_file_directory_and_binary(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError, match="no such file") as err:
        data.load_csv(missing, "t")
    assert str(err.value).startswith(str(missing))
    with pytest.raises(DataError, match="is a directory"):
        data.load_csv(tmp_path, "t")
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(DataError, match="not a text file"):
        data.load_csv(binary, "t")


# --- NPZ ---------------------------------------------------------------------------


def test_medmnist_layout_round_trip(tmp_path: Path) -> None:
    g = rng(1)
    parts = {"train": 30, "val": 10, "test": 12}
    arrays: dict[str, Any] = {}
    for part, n in parts.items():
        arrays[f"{part}_images"] = g.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        arrays[f"{part}_labels"] = g.integers(0, 3, size=(n, 1), dtype=np.uint8)
    arrays["train_labels"][0, 0] = 3  # four classes; val and test need not hold all
    path = tmp_path / "pneumonia.npz"
    np.savez(path, **arrays)

    train, val, test = data.load_npz(path)
    assert val is not None
    assert test is not None
    for ds, part in [(train, "train"), (val, "val"), (test, "test")]:
        assert ds.X.shape == (parts[part], 784)
        assert ds.X.dtype == np.float64
        np.testing.assert_array_equal(
            ds.X, arrays[f"{part}_images"].reshape(parts[part], 784) / 255.0
        )
        assert ds.y.tolist() == arrays[f"{part}_labels"][:, 0].tolist()
        assert ds.class_names == ("0", "1", "2", "3")
        assert ds.name == f"pneumonia-{part}"
    assert train.feature_names[783] == "px783"
    assert train.X.min() >= 0.0 and train.X.max() <= 1.0


def test_npz_x_y_layout(tmp_path: Path) -> None:
    path = tmp_path / "xy.npz"
    np.savez(path, X=np.arange(12.0).reshape(4, 3), y=np.array(["b", "a", "b", "c"]))
    train, val, test = data.load_npz(path)
    assert (val, test) == (None, None)
    assert train.X.shape == (4, 3)
    assert train.feature_names == ("x1", "x2", "x3")
    assert train.class_names == ("a", "b", "c")
    assert train.y.tolist() == [1, 0, 1, 2]


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"images": np.zeros((2, 2))}, "expected arrays 'X' and 'y'.*found: images"),
        ({"X": np.zeros((3, 2)), "y": np.array([0, 1])}, r"'y' has shape \(2,\)"),
        ({"X": np.array([[0.0], [np.nan]]), "y": np.array([0, 1])}, "non-finite"),
        (
            {
                "train_images": np.zeros((3, 4, 4), np.uint8),
                "train_labels": np.zeros((2, 1), np.uint8),
            },
            "3 rows in 'train_images' but 2 in 'train_labels'",
        ),
        ({"X": np.zeros((2, 2)), "y": np.array([1, 1])}, "only one class '1'"),
    ],
)
def test_npz_errors(tmp_path: Path, arrays: dict[str, Any], message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message) as err:
        data.load_npz(path)
    assert err.value.problems[0].file == str(path)


def test_npz_object_array_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "obj.npz"
    np.savez(path, X=np.zeros((2, 2)), y=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="array 'y' holds Python objects"):
        data.load_npz(path)


def test_npz_missing_or_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        data.load_npz(tmp_path / "nope.npz")
    junk = write(tmp_path, "not an archive", "junk.npz")
    with pytest.raises(DataError, match=r"not a valid \.npz file"):
        data.load_npz(junk)


# --- splits ------------------------------------------------------------------------


def labelled(counts: list[int]) -> Dataset:
    """Samples numbered 0..n-1 in X so a split can be traced back."""
    y = np.repeat(np.arange(len(counts)), counts).astype(np.int64)
    X = np.arange(len(y), dtype=np.float64)[:, None]
    names = tuple(str(c) for c in range(len(counts)))
    return Dataset(X=X, y=y, feature_names=("i",), class_names=names, name="toy")


def test_stratified_split_preserves_class_proportions() -> None:
    ds = data.load_bundled("breast_cancer")
    train, val, test = data.split(ds, test_fraction=0.2, val_fraction=0.1, rng=rng())
    assert val is not None
    assert test is not None
    for part, fraction in [(test, 0.2), (val, 0.1), (train, 0.7)]:
        counts = np.bincount(part.y, minlength=2)
        assert abs(counts[0] - 357 * fraction) <= 1
        assert abs(counts[1] - 212 * fraction) <= 1
    assert train.y.shape[0] + val.y.shape[0] + test.y.shape[0] == 569


def test_split_is_a_partition_and_deterministic() -> None:
    ds = labelled([50, 30, 20])
    a = data.split(ds, test_fraction=0.25, val_fraction=0.15, rng=rng(7))
    b = data.split(ds, test_fraction=0.25, val_fraction=0.15, rng=rng(7))
    c = data.split(ds, test_fraction=0.25, val_fraction=0.15, rng=rng(8))
    ids = [p.X[:, 0] for p in a if p is not None]
    assert sorted(np.concatenate(ids).tolist()) == list(range(100))
    for pa, pb in zip(a, b, strict=True):
        assert pa is not None and pb is not None
        assert np.array_equal(pa.X, pb.X)
    assert a[2] is not None and c[2] is not None
    assert not np.array_equal(a[2].X, c[2].X)
    # labels travel with their rows
    for part in a:
        assert part is not None
        assert np.array_equal(part.y, ds.y[part.X[:, 0].astype(int)])


def test_split_zero_fractions_give_none_and_keep_one_train_sample_per_class() -> None:
    ds = labelled([1, 2, 40])
    train, val, test = data.split(ds, test_fraction=0.5, val_fraction=0.0, rng=rng())
    assert val is None
    assert test is not None
    assert np.bincount(train.y).tolist() == [1, 1, 20]
    assert np.bincount(test.y, minlength=3).tolist() == [0, 1, 20]


def test_regression_split_uses_one_permutation() -> None:
    X = np.arange(10, dtype=np.float64)[:, None]
    ds = Dataset(X=X, y=X[:, 0] * 2, feature_names=("x",), class_names=None, name="r")
    train, val, test = data.split(ds, test_fraction=0.3, val_fraction=0.2, rng=rng())
    assert val is not None
    assert test is not None
    assert (train.y.shape[0], val.y.shape[0], test.y.shape[0]) == (5, 2, 3)
    assert sorted(np.concatenate([train.y, val.y, test.y]).tolist()) == list(range(0, 20, 2))


@pytest.mark.parametrize(("test", "val"), [(0.6, 0.4), (1.0, 0.0), (-0.1, 0.2)])
def test_split_rejects_bad_fractions(test: float, val: float) -> None:
    with pytest.raises(DataError, match="fraction"):
        data.split(labelled([5, 5]), test_fraction=test, val_fraction=val, rng=rng())


def test_split_that_leaves_a_part_empty_is_an_error() -> None:
    with pytest.raises(DataError, match="test part of 'toy' empty"):
        data.split(labelled([3, 3]), test_fraction=0.1, val_fraction=0.0, rng=rng())


@settings(max_examples=50, deadline=None)
@given(
    counts=st.lists(st.integers(1, 30), min_size=2, max_size=5),
    test_fraction=st.sampled_from([0.0, 0.1, 0.2, 0.3]),
    val_fraction=st.sampled_from([0.0, 0.1, 0.25]),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_partitions_and_keeps_every_class_in_train(
    counts: list[int], test_fraction: float, val_fraction: float, seed: int
) -> None:
    ds = labelled(counts)
    try:
        parts = data.split(
            ds, test_fraction=test_fraction, val_fraction=val_fraction, rng=rng(seed)
        )
    except DataError as e:
        assert "empty" in str(e)
        return
    ids = np.concatenate([p.X[:, 0] for p in parts if p is not None])
    assert sorted(ids.tolist()) == list(range(sum(counts)))
    assert np.all(np.bincount(parts[0].y, minlength=len(counts)) >= 1)
    for part, fraction in zip(parts[1:], (val_fraction, test_fraction), strict=True):
        assert (part is None) == (fraction == 0.0)


# --- scaling and preparation -------------------------------------------------------


def test_standardizer_gives_zero_mean_unit_std_and_handles_constant_columns() -> None:
    g = rng(2)
    X = np.column_stack([g.normal(5.0, 3.0, 100), np.full(100, 0.1), g.uniform(-1, 9, 100)])
    scaler = Standardizer.fit(X)
    Z = scaler.transform(X)
    assert not np.any(np.isnan(Z))
    np.testing.assert_allclose(Z[:, [0, 2]].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z[:, [0, 2]].std(axis=0), 1.0)
    assert scaler.scale[1] == 1.0
    np.testing.assert_allclose(Z[:, 1], 0.0, atol=1e-15)
    with pytest.raises(DataError, match="expected 3 features"):
        scaler.transform(X[:, :2])


def test_prepare_fits_the_scaler_on_train_only() -> None:
    ds = data.load_bundled("breast_cancer")
    splits = data.prepare(ds, test_fraction=0.25, standardize=True, rng=rng(5))
    assert splits.val is None
    assert splits.test is not None
    assert splits.scaler is not None
    raw_train, _, raw_test = data.split(ds, test_fraction=0.25, val_fraction=0.0, rng=rng(5))
    assert raw_test is not None
    np.testing.assert_allclose(splits.scaler.mean, raw_train.X.mean(axis=0))
    np.testing.assert_allclose(splits.scaler.scale, raw_train.X.std(axis=0))
    assert not np.allclose(splits.scaler.mean, ds.X.mean(axis=0))
    np.testing.assert_allclose(splits.train.X.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(splits.train.X.std(axis=0), 1.0)
    # the test part is scaled with the train statistics, so it is not exactly standard
    np.testing.assert_allclose(
        splits.test.X, (raw_test.X - raw_train.X.mean(axis=0)) / raw_train.X.std(axis=0)
    )
    assert np.abs(splits.test.X.mean(axis=0)).max() > 1e-3


def test_prepare_keeps_predefined_parts_and_splits_off_missing_ones() -> None:
    train = labelled([20, 20])
    test = labelled([5, 5])
    splits = data.prepare(
        (train, None, test), test_fraction=0.5, val_fraction=0.25, rng=rng(), standardize=False
    )
    assert splits.test is test
    assert splits.val is not None
    assert np.bincount(splits.val.y).tolist() == [5, 5]
    assert np.bincount(splits.train.y).tolist() == [15, 15]
    assert splits.scaler is None
