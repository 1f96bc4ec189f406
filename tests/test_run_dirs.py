"""Run directories in a hostile environment: two runs racing for one ``--out``,
``--force`` on what is not a gdcli run, and the operating system saying no (a full
disk, a read-only file system, a name too long, a directory where a file goes, a
full or closed stdout). Each ends with exit 2 and one line naming the path and the
reason; what was written before stays parseable.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from clitools import error_document, gdcli

from gdcli.errors import UserError
from gdcli.runs import GDCLI_FILE_NAMES, TraceWriter, prepare_run_dir, read_trace

ROOT = Path(__file__).parent.parent
CONFIGS = ROOT / "configs"


def run(
    *args: object, cwd: Path, stdout: object = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gdcli", *map(str, args)],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1"},
        stdout=stdout,  # type: ignore[arg-type]
        stderr=subprocess.PIPE,
        text=True,
        timeout=180,
    )


# -- two runs, one directory -----------------------------------------------------------


def descend_file(path: Path, name: str, variables: str) -> Path:
    path.write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            function: "{" + ".join(f"{v}**2" for v in variables)}"
            start: [{", ".join("1.0" for _ in variables)}]
            iterations: 20000
            tolerance: 1.0e-300
            optimizer: {{name: gd, lr: 1.0e-4}}
            """
        ),
        encoding="utf-8",
    )
    return path


def test_two_runs_into_one_out_one_wins_the_other_exits_2_naming_it(tmp_path: Path) -> None:
    a = descend_file(tmp_path / "a.yaml", "a", "xy")
    b = descend_file(tmp_path / "b.yaml", "b", "xyz")
    for attempt in range(4):
        out = tmp_path / f"c{attempt}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "gdcli", "descend", str(f), "--out", str(out), "--quiet"],
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for f in (a, b)
        ]
        ended = [(p.communicate(timeout=180), p.returncode) for p in procs]
        codes = sorted(code for _, code in ended)
        assert codes == [0, 2], ended
        [loser_err] = [err for (_, err), code in ended if code == 2]
        assert str(out) in loser_err and len(loser_err.splitlines()) == 1, loser_err
        # The directory holds one run, whole: its config, its summary, its trace.
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        config = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
        assert summary["experiment"] == config["name"]
        header, rows = read_trace(out / "trace.csv")
        variables = summary["function"]["variables"]
        assert [c for c in header if c in ("x", "y", "z")] == variables
        assert [c for c in header if c.startswith("g_")] == [f"g_{v}" for v in variables]
        assert len(rows) == 20001


def test_a_directory_another_process_holds_is_refused_even_with_force(tmp_path: Path) -> None:
    # What a sweep point directory meets when two sweeps resume into one directory.
    point = tmp_path / "point"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from gdcli.runs import prepare_run_dir;"
            f"prepare_run_dir(Path({str(point)!r}), force=False); print('held', flush=True);"
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        for force in (False, True):
            with pytest.raises(UserError) as info:
                prepare_run_dir(point, force=force)
            assert str(info.value) == (
                f"run directory '{point}' is in use by another gdcli run; "
                "wait for it to end or pass --out to choose another"
            )
    finally:
        holder.kill()
        holder.wait()
    # The lock ends with the process that held it, however it ended.
    assert prepare_run_dir(point, force=False) == point


def test_default_directories_of_runs_started_together_are_distinct(tmp_path: Path) -> None:
    from gdcli.runs import claim_new_run_dir, release_run_dirs

    dirs = [claim_new_run_dir("same", root=tmp_path / "runs") for _ in range(3)]
    release_run_dirs()
    assert len(set(dirs)) == 3
    assert [d.name.rsplit("-", 1)[-1] for d in dirs[1:]] == ["2", "3"]


# -- --force -----------------------------------------------------------------------------


def test_force_keeps_pictures_gdcli_did_not_draw(tmp_path: Path) -> None:
    out = tmp_path / "p"
    assert gdcli("descend", CONFIGS / "cubic-saddle.yaml", "--out", out, "-q").exit_code == 0
    (out / "holiday.png").write_bytes(b"mine")
    (out / "contour.png").write_bytes(b"old picture")
    assert (
        gdcli("descend", CONFIGS / "cubic-saddle.yaml", "--out", out, "-q", "--force").exit_code
        == 0
    )
    assert (out / "holiday.png").read_bytes() == b"mine"
    assert not (out / "contour.png").exists()


@pytest.mark.parametrize("where", ["/", "other"])
def test_force_refuses_a_directory_that_is_not_a_run(tmp_path: Path, where: str) -> None:
    out = Path(where) if where == "/" else tmp_path / where
    if where != "/":
        out.mkdir()
        (out / "holiday.png").write_bytes(b"mine")
    result = gdcli("descend", CONFIGS / "cubic-saddle.yaml", "--out", out, "--force", "--json")
    assert result.exit_code == 2
    assert result.stderr == (
        f"gdcli: error: '{out}' is not empty and is not a gdcli run directory (it holds no "
        "config.yaml or summary.json); give --out a new or empty directory\n"
    )
    error_document(result)
    if where != "/":
        assert [p.name for p in out.iterdir()] == ["holiday.png"]


def test_every_picture_gdcli_draws_is_among_its_file_names() -> None:
    drawn = set()
    for source in (ROOT / "gdcli" / "render" / "plot").glob("*.py"):
        drawn |= set(re.findall(r'"(\w+\.png)"', source.read_text(encoding="utf-8")))
    assert drawn and drawn <= set(GDCLI_FILE_NAMES)


# -- the operating system says no ------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A small tmpfs at ``path``; the test is skipped where mounting is not allowed."""
    path.mkdir()
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_is_exit_2_and_leaves_parseable_files(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "size=64k") as disk:
        out = disk / "run"
        result = run(
            "descend", CONFIGS / "rosenbrock.yaml",
            "--set", "iterations=100000", "--set", "optimizers=[{name: gd, lr: 1.0e-7}]",
            "--out", out, "--quiet",
            cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert result.stderr == (
            f"gdcli: error: {out / 'trace.csv'}: cannot write the trace: No space left on device\n"
        )
        trace = (out / "trace.csv").read_bytes()
        assert trace.endswith(b"\n")  # complete lines only
        header, rows = read_trace(out / "trace.csv")
        assert len(rows) > 100 and all(len(r) == len(header) for r in rows)
        assert (
            yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))["name"]
            == "rosenbrock"
        )
        assert not (out / "summary.json").exists()
        assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "trace.csv"]


def test_a_trace_cut_mid_line_is_cut_back_to_its_last_row(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "size=16k") as disk:
        writer = TraceWriter(disk / "trace.csv", ["i", "value"])
        with pytest.raises(UserError, match="No space left on device"):
            for i in range(100_000):
                writer.write({"i": i, "value": 1.0 / 3.0})
        assert writer.closed
        text = (disk / "trace.csv").read_text()
        assert text.endswith("\n")
        _, rows = read_trace(disk / "trace.csv")
        assert [int(r["i"]) for r in rows] == list(range(len(rows)))


def test_a_read_only_file_system_is_exit_2_naming_the_path(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "size=4m") as disk:
        out = disk / "run"
        made = run(
            "train-mlp", CONFIGS / "xor.yaml", "--set", "epochs=5", "--out", out, "-q", cwd=tmp_path
        )
        assert made.returncode == 0, made.stderr
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        drawn = run("plot", out, cwd=tmp_path)
        assert drawn.returncode == 2
        assert drawn.stderr == (
            f"gdcli: error: {out / 'loss.png'}: cannot write: Read-only file system\n"
        )
        new = run(
            "descend", CONFIGS / "cubic-saddle.yaml", "--out", disk / "new", "-q", cwd=tmp_path
        )
        assert new.returncode == 2
        assert new.stderr == (
            f"gdcli: error: {disk / 'new'}: cannot create the run directory: "
            "Read-only file system\n"
        )


def test_a_name_too_long_for_the_file_system_is_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "long.yaml"
    text = (CONFIGS / "cubic-saddle.yaml").read_text(encoding="utf-8")
    config.write_text(re.sub(r"(?m)^name: .*$", "name: " + "n" * 300, text), encoding="utf-8")
    result = run("descend", config, "--json", cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("gdcli: error: runs/" + "n" * 300)
    assert line.endswith(": cannot create the run directory: File name too long")
    assert json.loads(result.stdout)["errors"][0]["message"] == (
        "cannot create the run directory: File name too long"
    )
    assert not (tmp_path / "runs").exists()


def test_predict_into_an_existing_directory_is_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert (
        gdcli("train-mlp", CONFIGS / "xor.yaml", "--set", "epochs=5", "--out", out, "-q").exit_code
        == 0
    )
    data = tmp_path / "data.csv"
    data.write_text("x1,x2\n0,1\n1,1\n", encoding="utf-8")
    target = tmp_path / "predictions"
    target.mkdir()
    result = gdcli("predict", out / "model.npz", data, "--out", target)
    assert result.exit_code == 2
    assert result.stderr == f"gdcli: error: {target}: cannot write: Is a directory\n"
    assert list(target.iterdir()) == []


def test_a_full_stdout_is_exit_2_and_a_closed_one_is_quiet(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        result = run("functions", cwd=tmp_path, stdout=full)
    assert result.returncode == 2
    assert result.stderr == "gdcli: error: standard output: cannot write: No space left on device\n"

    read, write = os.pipe()
    os.close(read)  # the reader is gone, as `| head -1` is once it has its line
    try:
        closed = run("functions", "--json", cwd=tmp_path, stdout=write)
    finally:
        os.close(write)
    assert closed.returncode == 141
    assert closed.stderr == ""
