"""Start-up: ``gdcli --help`` against a bare ``python -c "import numpy"``.

DESIGN.md asks that ``gdcli --help`` stay fast: heavy imports happen only on the
path that needs them. numpy is the one import every command needs, so the
baseline is a fresh interpreter importing numpy, and the target is an absolute
difference of medians (the overhead gdcli adds on top of numpy).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks._harness import Result, benchmark, interleaved, median

RUNS = 10
MAX_EXTRA_SECONDS = 0.1


def _gdcli_command() -> list[str]:
    """The console script installed next to this interpreter, else ``python -m gdcli``."""
    bindir = Path(sys.executable).parent
    for name in ("gdcli", "gdcli.exe"):
        script = bindir / name
        if script.is_file():
            return [str(script)]
    return [sys.executable, "-m", "gdcli"]


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@benchmark("startup")
def startup() -> list[Result]:
    gdcli = [*_gdcli_command(), "--help"]
    label = "gdcli" if len(gdcli) == 2 else "python -m gdcli"
    numpy = [sys.executable, "-c", "import numpy"]
    times = interleaved({"gdcli": lambda: _run(gdcli), "numpy": lambda: _run(numpy)}, RUNS)
    value, reference = median(times["gdcli"]), median(times["numpy"])
    extra = value - reference
    return [
        Result(
            name="startup",
            measured=f"median of {RUNS} `{label} --help`",
            baseline=f'median of {RUNS} `python -c "import numpy"`',
            value=value,
            reference=reference,
            unit="s",
            score=extra,
            score_label="diff s",
            target=f"<= {MAX_EXTRA_SECONDS:g}",
            passed=extra <= MAX_EXTRA_SECONDS,
        )
    ]
