"""Experiment files at the edges of YAML and of the file system: keys that are not
names, YAML 1.1 numbers, tags, named pipes, devices and files over the size limit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gdcli.errors import ConfigError
from gdcli.yamlio import MAX_FILE_BYTES, load_document, parse_yaml, read_limited


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, "F")
    [problem] = info.value.problems
    return str(problem)


@pytest.mark.parametrize(
    ("text", "where"),
    [("? [a, b]\n: 1\n", "F:1:3"), ("x: 1\n{a: 1}: 2\n", "F:2:1"), ("1: 2\n", "F:1:1")],
)
def test_a_key_that_is_not_a_name_is_a_located_error(text: str, where: str) -> None:
    message = refusal(text)
    assert message.startswith(f"{where}: not valid YAML: a key must be a name such as 'lr'")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("010", 10),  # YAML 1.1: octal 8
        ("-010", -10),
        ("08", 8),
        ("0o10", 8),  # YAML 1.2 octal
        ("0x10", 16),
        ("1_000", 1000),
        ("1:30", "1:30"),  # YAML 1.1: sexagesimal 90
        ("1:2.5", "1:2.5"),  # YAML 1.1: 62.5
        ("1e-3", 0.001),
    ],
)
def test_numbers_read_as_yaml_1_2_reads_them(text: str, value: object) -> None:
    data, _ = parse_yaml(f"a: {text}\n", "F")
    assert data == {"a": value}
    assert type(data["a"]) is type(value)


def test_a_sexagesimal_number_is_refused_where_a_number_is_expected(tmp_path: Path) -> None:
    from gdcli.experiments.config import DescendConfig, load_config

    path = tmp_path / "e.yaml"
    path.write_text('function: "x**2"\nstart: [1]\niterations: 1:30\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, DescendConfig)
    [problem] = map(str, info.value.problems)
    assert problem.startswith(f"{path}:3:1: iterations: ")
    assert "'1:30'" in problem


@pytest.mark.parametrize("tag", ["!!str", "!!int", "!!float", "!!binary", "!mine"])
def test_every_tag_is_refused_as_the_readme_says(tag: str) -> None:
    assert refusal(f"a: {tag} '5'\n") == (
        f"F:1:4: not valid YAML: tag '{tag}' is not allowed; "
        "experiment files hold plain values only"
    )


def test_a_tagged_mapping_or_list_is_refused_too() -> None:
    assert "tag '!!map' is not allowed" in refusal("a: !!map {b: 1}\n")
    assert "tag '!!seq' is not allowed" in refusal("a: !!seq [1]\n")


# -- what the experiment file is -------------------------------------------------------------


def problem_of(path: str | Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_document(path)
    [problem] = info.value.problems
    return str(problem)


@pytest.mark.parametrize(
    ("special", "kind"),
    [("fifo", "a named pipe (FIFO)"), ("/dev/zero", "a device or special file")],
)
def test_gdcli_on_a_special_file_exits_2_at_once(tmp_path: Path, special: str, kind: str) -> None:
    path = special
    if special == "fifo":
        path = str(tmp_path / "exp.yaml")
        os.mkfifo(path)
    # a child with a timeout and a memory cap: the old reader blocked forever on a
    # FIFO and grew past 2 GB on /dev/zero
    done = subprocess.run(
        ["bash", "-c", f"ulimit -v 1500000; exec {sys.executable} -m gdcli descend {path}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"gdcli: error: {path}: is {kind}, not a regular file; "
        "give a file, or a pipe as <(command)\n"
    )


def test_a_held_pipe_is_read_as_process_substitution_gives_it() -> None:
    r, w = os.pipe()
    try:
        os.write(w, b'function: "x**2"\nstart: [1.0]\n')
        os.close(w)
        doc = load_document(f"/dev/fd/{r}")
    finally:
        os.close(r)
    assert doc.data == {"function": "x**2", "start": [1.0]}


def test_an_endless_pipe_is_read_only_to_the_limit_plus_one_byte() -> None:
    r, w = os.pipe()
    writer = subprocess.Popen(
        [sys.executable, "-c", "import os,sys\nwhile True: os.write(1, b'#' * 65536)"],
        stdout=w,
    )
    os.close(w)
    try:
        with pytest.raises(ConfigError) as info:
            read_limited(f"/dev/fd/{r}")
    finally:
        os.close(r)
        writer.kill()
        writer.wait(timeout=10)
    assert str(info.value.problems[0]) == (
        f"/dev/fd/{r}: file is over 1,000,000 bytes; experiment files are at most 1 MB"
    )


def test_a_file_one_byte_over_the_limit_is_refused_and_at_the_limit_read(tmp_path: Path) -> None:
    at = tmp_path / "at.yaml"
    at.write_bytes(b"a: 1\n" + b"#" * (MAX_FILE_BYTES - 5))
    assert len(read_limited(at)) == MAX_FILE_BYTES
    over = tmp_path / "over.yaml"
    over.write_bytes(at.read_bytes() + b"#")
    assert problem_of(over) == (
        f"{over}: file is over 1,000,000 bytes; experiment files are at most 1 MB"
    )


def test_a_file_without_read_permission_names_the_reason(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads files without read permission")
    path = tmp_path / "e.yaml"
    path.write_text(textwrap.dedent('function: "x**2"\n'), encoding="utf-8")
    path.chmod(0)
    assert problem_of(path) == f"{path}: cannot read: Permission denied"
