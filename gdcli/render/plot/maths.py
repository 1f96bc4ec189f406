"""Formulas as mathematics in titles: ``2*x**3 - 6*x*y`` becomes ``$2x^{3} - 6xy$``.

The formula text is parsed with Python's ``ast`` exactly as ``gdcli.engine.expr``
reads it (``^`` means power) and written back as matplotlib mathtext: products of
a number and names by juxtaposition, powers as superscripts, quotients as
fractions, ``abs`` as bars, ``sqrt`` as a root. Text that does not parse, or uses
a construct not listed here, is returned unchanged: a title never fails.
"""

from __future__ import annotations

import ast
import re

# Binding strength: a child binding more loosely than its parent needs parentheses.
_ADD, _MUL, _NEG, _POW, _ATOM = 1, 2, 3, 4, 5

_FUNCTIONS = {
    "exp": r"\exp",
    "log": r"\ln",
    "ln": r"\ln",
    "sin": r"\sin",
    "cos": r"\cos",
    "tan": r"\tan",
    "tanh": r"\tanh",
    "sinh": r"\sinh",
    "cosh": r"\cosh",
}
_CONSTANTS = {"pi": r"\pi", "e": "e"}


class _Unsupported(Exception):
    """A construct this formatter does not write; the caller falls back to the text."""


def formula_mathtext(text: str) -> str:
    """``text`` (a gdcli formula) as a mathtext string ``$...$``, or ``text`` itself
    when it cannot be written (or is not a formula)."""
    try:
        tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
        body, _ = _write(tree.body)
    except (SyntaxError, ValueError, RecursionError, _Unsupported):
        return text
    return f"${body}$"


def _write(node: ast.AST) -> tuple[str, int]:
    """Mathtext of ``node`` and how strongly it binds."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return _number(float(node.value)), _ATOM
    if isinstance(node, ast.Name):
        return _name(node.id), _ATOM
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner, strength = _write(node.operand)
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        return sign + (inner if strength > _ADD else rf"\left({inner}\right)"), _NEG
    if isinstance(node, ast.BinOp):
        return _binary(node)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1:
        return _call(node.func.id, node.args[0]), _ATOM
    raise _Unsupported(type(node).__name__)


def _number(v: float) -> str:
    if v.is_integer() and abs(v) < 1e6:
        return str(int(v))
    mantissa, exponent = f"{v:.6g}".partition("e")[::2]
    if not exponent:
        return mantissa
    power = f"10^{{{int(exponent)}}}"
    return power if float(mantissa) == 1 else rf"{mantissa} \times {power}"


def _name(name: str) -> str:
    if name in _CONSTANTS:
        return _CONSTANTS[name]
    m = re.fullmatch(r"([A-Za-z]+)_?(\d+)", name)
    if m:
        return f"{_name(m.group(1))}_{{{m.group(2)}}}"
    return name if len(name) == 1 else rf"\mathrm{{{name}}}"


def _wrap(part: tuple[str, int], least: int) -> str:
    text, strength = part
    return text if strength >= least else rf"\left({text}\right)"


def _binary(node: ast.BinOp) -> tuple[str, int]:
    op = node.op
    left, right = _write(node.left), _write(node.right)
    if isinstance(op, ast.Add):
        joined = f"{left[0]} - {right[0][1:]}" if right[0].startswith("-") else None
        return joined or f"{left[0]} + {_wrap(right, _MUL)}", _ADD
    if isinstance(op, ast.Sub):
        return f"{left[0]} - {_wrap(right, _MUL)}", _ADD
    if isinstance(op, ast.Div):
        if isinstance(node.left, ast.UnaryOp) and isinstance(node.left.op, ast.USub):
            # -(a)/b reads as -a/b: the sign before the fraction bar
            top = _write(node.left.operand)[0]
            return rf"-\frac{{{top}}}{{{right[0]}}}", _NEG
        return rf"\frac{{{left[0]}}}{{{right[0]}}}", _ATOM
    if isinstance(op, ast.Mult):
        return _product(left, right), _MUL
    if isinstance(op, ast.Pow):
        return f"{_wrap(left, _ATOM)}^{{{right[0]}}}", _POW
    raise _Unsupported(type(op).__name__)


def _product(left: tuple[str, int], right: tuple[str, int]) -> str:
    """``a b`` by juxtaposition, unless the right factor begins with a digit or a
    sign (``2 \\cdot 3``, ``x \\cdot (-y)``) or a name of several letters."""
    a = _wrap(left, _MUL)
    b = _wrap(right, _POW if right[1] == _NEG else _MUL)
    if b[0].isdigit() or b.startswith(("-", "+", r"\mathrm")):
        return rf"{a} \cdot {b}"
    if b.startswith("\\") and not b.startswith((r"\left", r"\pi")):
        return rf"{a}\,{b}"
    return f"{a} {b}"  # mathtext drops the space: 2 x reads 2x


def _call(name: str, arg: ast.AST) -> str:
    inner, _ = _write(arg)
    if name == "sqrt":
        return rf"\sqrt{{{inner}}}"
    if name == "abs":
        return rf"\left|{inner}\right|"
    command = _FUNCTIONS.get(name, rf"\mathrm{{{name}}}")
    return rf"{command}\left({inner}\right)"
