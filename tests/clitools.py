"""Running gdcli in-process from tests, with the checks every call shares."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner, Result

from gdcli.cli import app


def gdcli(*args: object, env: dict[str, str] | None = None) -> Result:
    """Run gdcli in-process; whatever the outcome, no traceback and no internal error."""
    result = CliRunner().invoke(app, [str(a) for a in args], env=env)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exit_code != 1, result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result


def _no_nan_tokens(token: str) -> Any:
    raise AssertionError(f"stdout holds the non-JSON number {token}")


def parse_json(text: str) -> Any:
    """The one JSON document of stdout; NaN and Infinity are not JSON."""
    return json.loads(text, parse_constant=_no_nan_tokens)


ERROR_KEYS = {"file", "line", "column", "key", "message"}


def error_document(result: Result) -> dict[str, Any]:
    """With --json, a failure's stdout: exactly one error document whose exit code is
    the process's and whose errors each carry the located-problem keys."""
    doc = parse_json(result.stdout)
    assert set(doc) == {"status", "exit_code", "errors"}, doc
    assert doc["status"] == "error"
    assert doc["exit_code"] == result.exit_code
    assert doc["errors"] and all(set(e) == ERROR_KEYS for e in doc["errors"]), doc
    return doc
