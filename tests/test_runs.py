"""Tests for gdcli.runs: run directories, atomic writes, JSON, traces, interruption."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from gdcli.errors import Terminated, UserError
from gdcli.runs import (
    InterruptGuard,
    TraceWriter,
    atomic_save_npz,
    atomic_write_bytes,
    atomic_write_text,
    default_run_dir,
    dumps_json,
    format_number,
    prepare_run_dir,
    read_trace,
    to_jsonable,
    write_json,
    write_yaml,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------- run dirs


def test_default_run_dir_sanitizes_name_and_stamps_time() -> None:
    now = datetime(2024, 3, 5, 7, 8, 9)
    assert default_run_dir("seed-cubic", now) == Path("runs/seed-cubic-20240305-070809")
    assert default_run_dir("a b/../c:d", now, root=Path("out")) == Path(
        "out/a-b-..-c-d-20240305-070809"
    )
    assert default_run_dir("..", now) == Path("runs/run-20240305-070809")
    assert default_run_dir(".hidden", now) == Path("runs/hidden-20240305-070809")
    assert default_run_dir(" .-x y! ", now) == Path("runs/x-y-20240305-070809")
    assert default_run_dir("", now) == Path("runs/run-20240305-070809")


def test_prepare_run_dir_makes_parents(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "run"
    assert prepare_run_dir(target, force=False) == target
    assert target.is_dir()


def test_prepare_run_dir_accepts_existing_empty_dir(tmp_path: Path) -> None:
    assert prepare_run_dir(tmp_path, force=False) == tmp_path


def test_prepare_run_dir_refuses_non_empty_dir_without_force(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(UserError) as info:
        prepare_run_dir(tmp_path, force=False)
    assert str(info.value) == (
        f"run directory '{tmp_path}' already exists; "
        "pass --force to overwrite it or --out to choose another"
    )
    assert (tmp_path / "summary.json").read_text() == "{}"


def test_prepare_run_dir_force_removes_only_gdcli_files(tmp_path: Path) -> None:
    ours = ["config.yaml", "summary.json", "trace.csv", "model.npz", "loss.png", ".trace.csv.x.tmp"]
    theirs = ["notes.txt", "data.csv", ".hidden.tmp", "holiday.png"]
    for name in ours + theirs:
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "summary.json").write_text("keep")

    prepare_run_dir(tmp_path, force=True)

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*theirs, "sub"])
    assert (tmp_path / "sub" / "summary.json").read_text() == "keep"


def test_prepare_run_dir_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "run"
    target.write_text("not a dir")
    for force in (False, True):
        with pytest.raises(UserError, match="not a directory"):
            prepare_run_dir(target, force=force)
    assert target.read_text() == "not a dir"


# ---------------------------------------------------------------------- atomic writes


def test_atomic_write_text_replaces_content_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    atomic_write_text(target, "old\n")
    atomic_write_text(target, "new ü\n")
    assert target.read_bytes() == "new ü\n".encode()
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_atomic_write_gives_umask_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    target = tmp_path / "f"
    atomic_write_bytes(target, b"x")
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_failed_replace_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "config.yaml"
    target.write_bytes(b"old")

    def boom(src: object, dst: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(UserError, match=r"config.yaml: cannot write: disk on fire$"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]


def test_failure_while_writing_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "model.npz"
    atomic_save_npz(target, {"w": np.ones(3)})
    before = target.read_bytes()
    with pytest.raises(ValueError, match="pickle"):
        atomic_save_npz(target, {"w": np.zeros(3), "bad": np.array([object()])})
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_atomic_save_npz_round_trips_at_exact_path(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "layers.0.W": rng.normal(size=(3, 4)),
        "layers.0.b": np.arange(4, dtype=np.int32),
        "file": np.float32(1.5),  # a name np.savez would take as its own parameter
        "allow_pickle": np.array([True, False]),
    }
    target = tmp_path / "model.npz"
    atomic_save_npz(target, arrays)
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    with np.load(target) as loaded:
        assert list(loaded.keys()) == list(arrays)
        for key, value in arrays.items():
            assert loaded[key].dtype == np.asarray(value).dtype
            np.testing.assert_array_equal(loaded[key], value)

    other = tmp_path / "weights"  # no .npz suffix: nothing may be appended
    atomic_save_npz(other, arrays)
    assert other.read_bytes() == target.read_bytes()  # also byte-identical across calls


# ------------------------------------------------------------------------------- JSON


@dataclass
class _Point:
    x: np.float64
    where: Path
    tags: tuple[str, ...]


def test_to_jsonable_converts_numpy_and_non_finite() -> None:
    obj = {
        "nan": float("nan"),
        "inf": np.float64("inf"),
        "ninf": -math.inf,
        "int": np.int64(7),
        "bool": np.bool_(True),
        "f32": np.float32(0.5),
        "arr": np.array([[1.0, np.nan], [np.inf, 2.0]]),
        "iarr": np.arange(3),
        "tuple": (1, (2, 3)),
        "point": _Point(np.float64(0.25), Path("runs/x"), ("a", "b")),
        np.int64(3): "numpy key",
    }
    assert to_jsonable(obj) == {
        "nan": None,
        "inf": None,
        "ninf": None,
        "int": 7,
        "bool": True,
        "f32": 0.5,
        "arr": [[1.0, None], [None, 2.0]],
        "iarr": [0, 1, 2],
        "tuple": [1, [2, 3]],
        "point": {"x": 0.25, "where": "runs/x", "tags": ["a", "b"]},
        3: "numpy key",
    }
    out = to_jsonable(obj)
    assert type(out["int"]) is int
    assert type(out["f32"]) is float
    assert type(out["iarr"][0]) is int


def test_to_jsonable_rejects_unknown_types() -> None:
    with pytest.raises(TypeError, match="object"):
        to_jsonable({"x": object()})


def test_dumps_json_is_valid_json() -> None:
    text = dumps_json({"loss": np.float64("nan"), "x": np.array([0.1, -np.inf])})
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"loss": None, "x": [0.1, None]}


@given(
    st.recursive(
        st.floats() | st.integers() | st.booleans() | st.none() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    )
)
def test_dumps_json_always_parses(obj: object) -> None:
    json.loads(dumps_json(obj))


def test_write_json_and_yaml(tmp_path: Path) -> None:
    write_json(tmp_path / "summary.json", {"b": 1, "a": np.float64(0.5)})
    text = (tmp_path / "summary.json").read_text()
    assert text == '{\n  "b": 1,\n  "a": 0.5\n}\n'

    config = {"name": "x", "lr": np.float64(1e-3), "clip": math.inf, "start": (2.0, 2.0)}
    write_yaml(tmp_path / "config.yaml", config)
    text = (tmp_path / "config.yaml").read_text()
    assert text.splitlines()[0] == "name: x"  # key order kept
    assert yaml.safe_load(text) == {"name": "x", "lr": 1e-3, "clip": math.inf, "start": [2.0, 2.0]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "summary.json"]


# ------------------------------------------------------------------------------ trace


def test_format_number_specific_values() -> None:
    assert format_number(0.1 + 0.2) == "0.30000000000000004"
    assert format_number(1e-300) == "1e-300"
    assert format_number(5e-324) == "5e-324"
    assert format_number(-0.0) == "-0.0"
    assert format_number(3) == "3"
    assert format_number(np.int64(-12)) == "-12"
    assert format_number(np.float64(0.1)) == "0.1"
    assert format_number(np.array(2.5)) == "2.5"
    assert format_number(True) == "true"
    assert format_number(float("nan")) == "nan"
    assert format_number(math.inf) == "inf"
    assert format_number(-np.inf) == "-inf"
    assert float(format_number(np.float32(0.1))) == float(np.float32(0.1))
    with pytest.raises(TypeError):
        format_number("1.0")


@given(st.floats(allow_nan=False))
def test_format_number_round_trips(x: float) -> None:
    assert float(format_number(x)) == x


def _rows(n: int, seed: int = 0) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
    return [
        {"iteration": i, "loss": values[i], "optimizer": "adam, b1=0.9", "x": float(values[i])}
        for i in range(n)
    ]


def test_trace_writer_header_rows_and_exact_floats(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    special = [1e-300, 0.1 + 0.2, -0.0, 5e-324, 1.7976931348623157e308]
    rows = _rows(200) + [
        {"iteration": 200 + i, "loss": v, "optimizer": "gd", "x": v} for i, v in enumerate(special)
    ]
    with TraceWriter(path, ["iteration", "loss", "optimizer", "x"]) as trace:
        trace.write(rows[0])
        trace.write_many(rows[1:])
    header, read = read_trace(path)
    assert header == ["iteration", "loss", "optimizer", "x"]
    assert len(read) == len(rows)
    for want, got in zip(rows, read, strict=True):
        assert int(got["iteration"]) == want["iteration"]
        assert float(got["loss"]) == want["loss"]
        assert float(got["x"]) == want["x"]
        assert got["optimizer"] == want["optimizer"]
    assert str(math.copysign(1.0, float(read[202]["x"]))) == "-1.0"
    text = path.read_text()
    assert text.startswith("iteration,loss,optimizer,x\n0,")
    assert '"adam, b1=0.9"' in text  # quoted only because it holds a comma
    assert "\r" not in text


def test_trace_writer_non_finite_and_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    with TraceWriter(path, ["a", "b", "c"]) as trace:
        trace.write({"a": math.nan, "b": -math.inf, "c": None, "extra": "ignored"})
    assert path.read_text() == "a,b,c\nnan,-inf,\n"


def test_trace_writer_missing_column_is_key_error(tmp_path: Path) -> None:
    with TraceWriter(tmp_path / "t.csv", ["a", "b"]) as trace, pytest.raises(KeyError):
        trace.write({"a": 1})
    with TraceWriter(tmp_path / "t.csv", ["a", "b"]) as trace:
        with pytest.raises(KeyError):
            trace.write_many([{"a": 1, "b": 2}, {"a": 3}])
        # the batch is all or nothing
        assert (tmp_path / "t.csv").read_text() == "a,b\n"


def test_trace_rows_are_readable_while_writer_is_open(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    trace = TraceWriter(path, ["i", "loss"])
    try:
        assert path.read_text() == "i,loss\n"
        trace.write({"i": 0, "loss": 0.5})
        assert read_trace(path)[1] == [{"i": "0", "loss": "0.5"}]
        trace.write_many({"i": i, "loss": 1.0 / i} for i in range(1, 4))
        assert [r["i"] for r in read_trace(path)[1]] == ["0", "1", "2", "3"]
    finally:
        trace.close()
    assert trace.closed
    trace.close()  # idempotent


def test_trace_files_are_byte_identical_for_same_rows(tmp_path: Path) -> None:
    rows = _rows(500, seed=3)
    for name in ("a.csv", "b.csv"):
        with TraceWriter(tmp_path / name, ["iteration", "loss", "optimizer", "x"]) as trace:
            trace.write_many(rows[:250])
            for row in rows[250:]:
                trace.write(row)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_read_trace_drops_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    path.write_text("i,loss\n0,0.5\n1,0.25\n2,0.1")
    header, rows = read_trace(path)
    assert header == ["i", "loss"]
    assert rows == [{"i": "0", "loss": "0.5"}, {"i": "1", "loss": "0.25"}]


def test_read_trace_rejects_corrupt_complete_line(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    path.write_text("i,loss\n0,0.5\n1\n2,0.1\n")
    with pytest.raises(UserError, match=r"trace.csv:3: expected 2 cells, found 1"):
        read_trace(path)
    with pytest.raises(UserError, match="cannot read trace"):
        read_trace(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(UserError, match="no header"):
        read_trace(tmp_path / "empty.csv")


def test_trace_append_keeps_header_and_cuts_partial_line(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    with TraceWriter(path, ["i", "loss"]) as trace:
        trace.write_many({"i": i, "loss": i / 10} for i in range(3))
    with path.open("a") as fh:
        fh.write("3,0.3")  # a killed process left this half-written line
    with TraceWriter(path, ["i", "loss"], append=True) as trace:
        trace.write({"i": 3, "loss": 0.3})
    assert path.read_text() == "i,loss\n0,0.0\n1,0.1\n2,0.2\n3,0.3\n"


def test_trace_append_starts_missing_file_and_rejects_other_header(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    with TraceWriter(path, ["i", "loss"], append=True) as trace:
        trace.write({"i": 0, "loss": 1.0})
    assert path.read_text() == "i,loss\n0,1.0\n"
    with pytest.raises(UserError, match="differ"):
        TraceWriter(path, ["i", "loss", "lr"], append=True)
    assert path.read_text() == "i,loss\n0,1.0\n"


def test_trace_writer_rejects_bad_columns(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        TraceWriter(tmp_path / "t.csv", ["a", "a"])
    with pytest.raises(ValueError, match="at least one"):
        TraceWriter(tmp_path / "t.csv", [])


_CHILD = textwrap.dedent(
    """
    import sys
    from gdcli.runs import TraceWriter

    columns = ["iteration", "start", "loss", "x", "y", "note"]
    trace = TraceWriter(sys.argv[1], columns)
    for i in range(1_000_000):
        if i % 2:
            trace.write({"iteration": i, "start": 0, "loss": 1.0 / (i + 1),
                         "x": 0.1 * i, "y": -1e-300 * i, "note": "a,b"})
        else:
            trace.write_many({"iteration": i, "start": s, "loss": 1.0 / (i + s + 1),
                              "x": 0.1 * s, "y": 1e300, "note": "q\\"uote"}
                             for s in range(50))
        if i == 100:
            sys.stdout.write("ready\\n")
            sys.stdout.flush()
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_writer_leaves_only_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()

    raw = path.read_bytes().decode("utf-8")
    complete = raw[: raw.rfind("\n") + 1].splitlines()
    assert complete[0] == "iteration,start,loss,x,y,note"
    # iterations 0..100 were written before "ready": 51 even ones of 50 rows each
    # and 50 odd ones of one row each
    assert len(complete) - 1 >= 51 * 50 + 50
    _, rows = read_trace(path)
    assert len(rows) == len(complete) - 1
    for row in rows:
        assert len(row) == 6
        assert row["note"] in ("a,b", 'q"uote')
        float(row["loss"])
    iterations = [int(r["iteration"]) for r in rows]
    assert iterations == sorted(iterations)


# ----------------------------------------------------------------------- interruption


def test_interrupt_guard_first_sigint_requests_second_raises() -> None:
    before = signal.getsignal(signal.SIGINT)
    with InterruptGuard() as guard:
        assert not guard.should_stop()
        os.kill(os.getpid(), signal.SIGINT)
        assert guard.requested
        assert guard.should_stop()
        with pytest.raises(Terminated):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_interrupt_guard_restores_handler_after_keyboard_interrupt() -> None:
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(Terminated), InterruptGuard():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_interrupt_guard_is_a_no_op_outside_main_thread() -> None:
    before = signal.getsignal(signal.SIGINT)
    seen: list[object] = []

    def run() -> None:
        with InterruptGuard() as guard:
            seen.append(signal.getsignal(signal.SIGINT))
            seen.append(guard.should_stop())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [before, False]
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_interrupt_guard_takes_sigterm_and_sighup_as_ctrl_c(sig: int) -> None:
    before = signal.getsignal(sig)
    with InterruptGuard() as guard:
        os.kill(os.getpid(), sig)
        assert guard.should_stop() and guard.signum == sig
        with pytest.raises(Terminated) as info:
            os.kill(os.getpid(), signal.SIGINT)
    assert info.value.exit_code == 130
    assert str(info.value) == "interrupted; the run stopped at once, without its summary"
    assert signal.getsignal(sig) is before


def test_interrupt_guard_leaves_an_ignored_signal_ignored() -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with InterruptGuard() as guard:
            os.kill(os.getpid(), signal.SIGHUP)
            assert not guard.should_stop()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_prepare_run_dir_force_refuses_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "holiday.png").write_text("mine")
    for force in (False, True):
        with pytest.raises(UserError, match="is not a gdcli run directory"):
            prepare_run_dir(tmp_path, force=force)
    assert (tmp_path / "holiday.png").read_text() == "mine"


def test_prepare_run_dir_claims_a_new_directory_once_per_process(tmp_path: Path) -> None:
    target = tmp_path / "run"
    assert prepare_run_dir(target, force=False) == target
    (target / "summary.json").write_text("{}")
    # the same process may go on in the directory it holds, with --force
    assert prepare_run_dir(target, force=True) == target
    assert not (target / "summary.json").exists()
