"""Edges of the grad verdicts, data and model files (issues 12 and 13): what is not
there is not printed, special and oversized files are refused before they are read."""

from __future__ import annotations

import io
import json
import os
import re
import resource
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clitools import gdcli, parse_json

from gdcli import data, nn
from gdcli.errors import ConfigError, DataError
from gdcli.experiments import modelfile

# -- grad: no Hessian where there is none -----------------------------


@pytest.mark.parametrize(
    ("formula", "at", "kind"),
    [
        ("relu(x)", "0", "non-smooth"),
        ("abs(x)", "0", "non-smooth"),
        ("x**99999999", "1", "undefined"),
    ],
)
def test_no_hessian_is_reported_where_the_point_has_none(formula: str, at: str, kind: str) -> None:
    out = parse_json(gdcli("grad", formula, "--at", at, "--json").stdout)
    assert out["classification"] == kind
    assert out["hessian"] is None and out["eigenvalues"] is None
    table = gdcli("grad", formula, "--at", at).stdout
    assert f"point is    {kind}" in table
    assert "Hessian" not in table.replace("no Hessian", "").replace("its Hessian", "")
    assert "eigenvalues" not in table and "1166" not in table and "2333" not in table


def test_a_smooth_point_keeps_its_hessian_table() -> None:
    table = gdcli("grad", "1e-7*(x**2 + y**2)", "--at", "0,0").stdout
    assert "Hessian" in table and "eigenvalues" in table
    assert "point is    minimum" in table


# -- special files: refused without waiting, read within limits -------


def _finishes(call: Callable[[], object], fifo: Path | None = None) -> BaseException | None:
    """What ``call`` raised (None if nothing), asserting that it returned within 20 s.

    A reader left blocked on ``fifo`` is released by opening the FIFO for writing."""
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # reported to the test below
            outcome["exc"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(20)
    hung = thread.is_alive()
    if hung and fifo is not None:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
    assert not hung, "the reader waited on the special file"
    return outcome.get("exc")


READERS: dict[str, Callable[[Path], object]] = {
    "csv": lambda p: data.load_csv(p, "label"),
    "npz": data.load_npz,
    "model": modelfile.load_model,
}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
@pytest.mark.parametrize("kind", sorted(READERS))
def test_a_fifo_is_refused_at_once_naming_the_file(tmp_path: Path, kind: str) -> None:
    fifo = tmp_path / f"in.{kind}"
    os.mkfifo(fifo)
    exc = _finishes(lambda: READERS[kind](fifo), fifo)
    assert isinstance(exc, DataError), repr(exc)
    assert str(exc).startswith(f"{fifo}: is a named pipe (FIFO)")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_predict_with_a_fifo_exits_2_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    result: dict[str, Any] = {}
    assert _finishes(lambda: result.update(r=gdcli("predict", fifo, fifo)), fifo) is None
    assert result["r"].exit_code == 2
    assert result["r"].stderr == (
        f"gdcli: error: {fifo}: is a named pipe (FIFO), which would wait for a writer; "
        "expected a gdcli model file\n"
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
@pytest.mark.parametrize("args", [["/dev/zero", "/dev/zero"], ["MODEL", "/dev/zero"]])
def test_dev_zero_is_refused_before_a_byte_is_read(tmp_path: Path, args: list[str]) -> None:
    model = tmp_path / "model.npz"
    _tiny_model(model)
    argv = [
        sys.executable,
        "-m",
        "gdcli",
        "predict",
        *(str(model) if a == "MODEL" else a for a in args),
    ]

    def cap_memory() -> None:  # a reader that swallows /dev/zero ends here, not in swap
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, preexec_fn=cap_memory, check=False
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == "gdcli: error: /dev/zero: is a device, not a file; expected " + (
        "a gdcli model file\n" if args[0] == "/dev/zero" else "a CSV file\n"
    )


def test_a_directory_is_refused(tmp_path: Path) -> None:
    for kind, reader in READERS.items():
        with pytest.raises(DataError, match=f"^{re.escape(str(tmp_path))}: is a directory"):
            reader(tmp_path)
        assert kind


def _through_a_pipe(content: bytes) -> tuple[Path, threading.Thread]:
    """``content`` behind /dev/fd/N, as a shell's <(...) passes it."""
    r, w = os.pipe()

    def write() -> None:
        with os.fdopen(w, "wb") as fh:
            fh.write(content)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return Path(f"/dev/fd/{r}"), writer


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="no /dev/fd")
def test_process_substitution_pipes_are_read(tmp_path: Path) -> None:
    text = "a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n"
    path, writer = _through_a_pipe(text.encode())
    ds = data.load_csv(path, "label")
    writer.join(5)
    assert ds.X.tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert ds.class_names == ("cat", "dog")
    buf = io.BytesIO()
    np.savez(buf, X=np.arange(6.0).reshape(3, 2), y=np.array([0, 1, 0]))
    path, writer = _through_a_pipe(buf.getvalue())
    train, _, _ = data.load_npz(path)
    writer.join(5)
    assert train.X.tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="no /dev/fd")
def test_a_pipe_is_read_to_the_limit_plus_one_byte_and_refused() -> None:
    path, writer = _through_a_pipe(b"x" * 1000)
    with pytest.raises(DataError, match=r"holds more than 100 bytes, the limit for a CSV file"):
        data.read_limited(path, 100, "a CSV file")
    writer.join(5)


def test_a_csv_above_the_limit_is_refused_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gdcli.data.files.MAX_CSV_BYTES", 1000)
    path = tmp_path / "big.csv"
    path.write_text("a,label\n" + "1,0\n" * 2000, encoding="utf-8")
    with pytest.raises(DataError) as err:
        data.load_csv(path, "label")
    assert str(err.value) == f"{path}: the file is 7.82 KiB; the limit for a CSV file is 1000 bytes"
    assert data.MAX_CSV_BYTES == 100 * 2**20


# -- sizes that would exhaust memory ------------------------------------


def _npz_claiming(path: Path, shape: tuple[int, ...], key: str = "X") -> Path:
    """An .npz whose member's header claims ``shape`` (float64), with 8 bytes of data."""
    member = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(member, header)
    member.write(b"\0" * 8)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{key}.npy", member.getvalue())
        zf.writestr("y.npy", _npy(np.zeros(2)))
    return path


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_an_npz_whose_header_claims_a_huge_array_is_refused_before_loading(
    tmp_path: Path,
) -> None:
    path = _npz_claiming(tmp_path / "huge.npz", (1_000_000, 1_000_000))
    with pytest.raises(DataError) as err:
        data.load_npz(path)
    assert str(err.value) == (
        f"{path}: array 'X' of shape (1000000, 1000000) (float64) would need 7.28 TiB of "
        "memory; the limit is 2 GiB"
    )
    model = _npz_claiming(tmp_path / "model.npz", (300_000_000,), key="params")
    with pytest.raises(
        DataError, match=r"^\S+: not a gdcli model file: array 'params' .* 2.24 GiB"
    ):
        modelfile.load_model(model)


def test_train_mlp_refuses_a_network_too_large_to_train(tmp_path: Path) -> None:
    config = tmp_path / "xor.yaml"
    config.write_text("name: xor\ndata: {name: xor}\nepochs: 1\n", encoding="utf-8")
    result = gdcli(
        "train-mlp", config, "--set", "model.hidden=[100000,100000]", "--out", tmp_path / "o"
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "gdcli: error: --set model.hidden=[100000,100000]: model.hidden: the network "
        "[2, 100000, 100000, 1] has 10,000,500,001 parameters; training it needs about "
        "149 GiB of memory (float32 weights, gradients, optimizer state and activations); "
        "the limit is 2 GiB\n"
    )
    assert not (tmp_path / "o").exists()


def test_the_training_size_counts_parameters_and_rows() -> None:
    arch = nn.Architecture(sizes=(10, 20, 1), activations=("relu",), dtype="float64")
    assert arch.n_params() == 241
    assert nn.training_bytes(arch, rows=100) == 8 * (4 * 241 + 3 * 100 * 31)
    wide = nn.Architecture(sizes=(2, 20000, 1), activations=("relu",))
    nn.check_size(wide, rows=1000)
    with pytest.raises(ConfigError, match=r"on 10000000 rows needs about 2.18 TiB"):
        nn.check_size(wide, rows=10_000_000)


# -- messages ----------------------------------------------------------


def test_random_bytes_are_not_a_valid_npz_not_pickled_data(tmp_path: Path) -> None:
    path = tmp_path / "random.npz"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(DataError) as err:
        data.load_npz(path)
    assert str(err.value) == (
        f"{path}: not a valid .npz file (an .npz is a zip archive of .npy arrays)"
    )


def _tiny_model(path: Path) -> Path:
    arch = nn.Architecture(sizes=(2, 1), activations=(), output="sigmoid", loss="bce")
    arrays = {
        "params": np.zeros(arch.n_params()),
        "architecture": np.array(json.dumps(arch.to_dict())),
        "feature_names": np.array(json.dumps(["a", "b"])),
        "class_names": np.array(json.dumps(["cat", "dog"])),
    }
    np.savez(path, **arrays)
    assert modelfile.load_model(path).feature_names == ("a", "b")
    return path


# -- complexity of the files these checks live in ----------------------------------------


def test_model_and_network_checks_stay_within_the_complexity_limit() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed next to this Python")
    root = Path(__file__).resolve().parent.parent / "gdcli"
    files = ["experiments/modelfile.py", "nn/mlp.py", "data/reading.py", "engine/analysis.py"]
    rules = ["--select", "C901,PLR0912,PLR0915", "--config", "lint.mccabe.max-complexity=10"]
    done = subprocess.run(
        [str(ruff), "check", "--no-cache", *rules, *(str(root / f) for f in files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout
