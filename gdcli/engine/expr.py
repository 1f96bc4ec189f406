"""Safe expressions: a typed formula -> a differentiable function of its variables.

The text is parsed by Python's ``ast`` module in eval mode, then checked against an
allow-list: numeric literals, variables, the constants ``pi`` and ``e``, the
operators ``+ - * / **`` (``^`` also means power), unary ``+ -``, parentheses, and
calls by bare name to the functions of ``FUNCTIONS``. Anything else is rejected with
its column and what is allowed instead. The checked tree is turned into nested
closures; nothing is ever passed to ``eval``.

Literals become float64 before any arithmetic, so ``9**9**9`` is an overflow to
``inf`` at evaluation time and never a huge Python integer.
"""

from __future__ import annotations

import ast
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdcli.engine import autograd as ag
from gdcli.errors import ExpressionError, Problem

MAX_LENGTH = 4000
MAX_DEPTH = 400
CONSTANTS = {"pi": math.pi, "e": math.e}


def _np_relu(x: Any) -> Any:
    return np.maximum(x, 0.0)


# name -> (numpy version, Tensor version, number of arguments: exact int or None for >= 2)
FUNCTIONS: dict[str, tuple[Callable[..., Any], Callable[..., Any], int | None]] = {
    "exp": (np.exp, ag.exp, 1),
    "log": (np.log, ag.log, 1),
    "sqrt": (np.sqrt, ag.sqrt, 1),
    "abs": (np.abs, ag.absolute, 1),
    "sin": (np.sin, ag.sin, 1),
    "cos": (np.cos, ag.cos, 1),
    "tan": (np.tan, ag.tan, 1),
    "tanh": (np.tanh, ag.tanh, 1),
    "sinh": (np.sinh, ag.sinh, 1),
    "cosh": (np.cosh, ag.cosh, 1),
    "arctan": (np.arctan, ag.arctan, 1),
    "sigmoid": (ag.sigmoid_array, ag.sigmoid, 1),
    "relu": (_np_relu, ag.relu, 1),
    "min": (np.minimum, ag.minimum, None),
    "max": (np.maximum, ag.maximum, None),
}

_ALLOWED = (
    "numbers, variables, pi, e, + - * / ** ^, unary + -, parentheses and the functions "
    + ", ".join(FUNCTIONS)
)

_BINARY_OPS: dict[type, str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
}

_FORBIDDEN_NAMES: dict[type, str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Lambda: "lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
    ast.Dict: "a dict",
    ast.Compare: "a comparison",
    ast.BoolOp: "a boolean operator",
    ast.IfExp: "a conditional expression",
    ast.NamedExpr: "an assignment",
    ast.JoinedStr: "an f-string",
    ast.Starred: "unpacking",
    ast.Await: "await",
}


# A compiled node: given the variable values and a backend flag, returns a value.
Node = Callable[[Sequence[Any], bool], Any]


@dataclass(frozen=True)
class Expression:
    """A checked formula over named variables.

    ``variables`` is the argument order: sorted by name unless given explicitly.
    Call ``values(*arrays)`` on numpy arrays of any (common, broadcastable) shape,
    or ``tensor(*tensors)`` on autograd Tensors to differentiate.
    """

    text: str
    variables: tuple[str, ...]
    _root: Node

    @property
    def canonical(self) -> str:
        """The formula with spacing and redundant parentheses normalized."""
        return ast.dump(ast.parse(self.text.strip().replace("^", "**"), mode="eval"))

    @property
    def dimension(self) -> int:
        return len(self.variables)

    def values(self, *args: Any) -> Any:
        """The value at points given as one array per variable (vectorized)."""
        self._check_arity(len(args))
        arrays = [np.asarray(a, dtype=np.float64) for a in args]
        return self._root(arrays, False)

    def tensor(self, *args: ag.Tensor) -> ag.Tensor:
        """The value as a node of the evaluation graph, differentiable in each input."""
        self._check_arity(len(args))
        out = self._root(args, True)
        return out if isinstance(out, ag.Tensor) else ag.Tensor(np.asarray(out), op="const")

    def objective(self, X: ag.Tensor) -> ag.Tensor:
        """The function of a batch of points X (N, d) -> (N,), columns in ``variables`` order."""
        if X.ndim == 1:
            cols = [X[i] for i in range(self.dimension)]
        else:
            cols = [X[:, i] for i in range(self.dimension)]
        out = self.tensor(*cols)
        if out.shape != X.shape[:-1]:
            out = out + ag.Tensor(np.zeros(X.shape[:-1]), op="const")
        return out

    def _check_arity(self, n: int) -> None:
        if n != self.dimension:
            raise ExpressionError(
                f"'{self.text}' takes {self.dimension} variable(s) "
                f"({', '.join(self.variables)}), got {n}"
            )


def _fail(text: str, node: ast.AST | None, message: str) -> ExpressionError:
    col = getattr(node, "col_offset", None)
    where = f"column {col + 1}: " if col is not None else ""
    return ExpressionError(Problem(f"bad expression '{_clip(text)}': {where}{message}"))


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _depth(tree: ast.AST) -> int:
    """Nesting depth of the tree, computed without recursion."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def parse(text: str, variables: Sequence[str] | None = None) -> Expression:
    """Check ``text`` and compile it into an ``Expression``.

    ``variables`` fixes the argument order (and may name variables that the
    formula does not use); by default the names found are sorted.
    Raises ``ExpressionError`` saying where and what is wrong.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"expression is {len(text)} characters long; the limit is {MAX_LENGTH}"
        )
    if not text.strip():
        raise ExpressionError("expression is empty")
    # '^' means power, as on paper; Python would read it as xor, which binds more
    # loosely than + and * and would silently change the formula's meaning.
    source = text.strip().replace("^", "**")
    try:
        with warnings.catch_warnings():
            # e.g. "invalid decimal literal" for 2x: the error that follows says it
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        offset = exc.offset if exc.offset else len(text.strip()) + 1
        col = f"column {offset}: "
        if exc.msg == "invalid decimal literal":
            exc.msg += " (multiplication needs a *, as in 2*x)"
        raise ExpressionError(
            f"bad expression '{_clip(text)}': {col}{exc.msg}; allowed are {_ALLOWED}"
        ) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(
            f"bad expression '{_clip(text)}': too deeply nested to parse"
        ) from None
    if _depth(tree) > MAX_DEPTH:
        raise ExpressionError(
            f"bad expression '{_clip(text)}': nested more than {MAX_DEPTH} levels deep"
        )

    found: set[str] = set()
    _check(text, tree.body, found)
    if variables is None:
        order = tuple(sorted(found))
    else:
        order = tuple(variables)
        if len(set(order)) != len(order):
            raise ExpressionError(f"declared variables repeat a name: {', '.join(order)}")
        missing = sorted(found - set(order))
        if missing:
            raise ExpressionError(
                f"bad expression '{_clip(text)}': variable(s) {', '.join(missing)} "
                f"not in the declared variables ({', '.join(order)})"
            )
        if len(set(order)) != len(order):
            raise ExpressionError(f"declared variables repeat a name: {', '.join(order)}")
    if not order:
        raise ExpressionError(
            f"bad expression '{_clip(text)}': it has no variables; write a function of "
            "named variables such as x and y"
        )
    index = {name: i for i, name in enumerate(order)}
    return Expression(text=text, variables=order, _root=_compile(tree.body, index))


def _check(text: str, root: ast.AST, found: set[str]) -> None:
    """Reject every node outside the allow-list; collect variable names."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY_OPS:
                raise _fail(text, node, f"operator not allowed; allowed are {_ALLOWED}")
            stack.extend((node.left, node.right))
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.UAdd, ast.USub)):
                raise _fail(text, node, f"operator not allowed; allowed are {_ALLOWED}")
            stack.append(node.operand)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise _fail(
                    text,
                    node,
                    f"{type(node.value).__name__} literals are not allowed; allowed are {_ALLOWED}",
                )
            if isinstance(node.value, int):
                try:
                    float(node.value)
                except OverflowError:
                    raise _fail(text, node, "number too large for a float") from None
        elif isinstance(node, ast.Name):
            name = node.id
            if name in FUNCTIONS:
                raise _fail(text, node, f"'{name}' is a function; call it as {name}(...)")
            if name.startswith("_"):
                raise _fail(text, node, f"names may not start with '_': '{name}'")
            if name not in CONSTANTS:
                found.add(name)
        elif isinstance(node, ast.Call):
            func = node.func
            if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
                what = (
                    f"'{func.id}'"
                    if isinstance(func, ast.Name)
                    else f"'{_clip(ast.unparse(func), 30)}'"
                )
                raise _fail(
                    text,
                    node,
                    f"{what} is not an allowed function; allowed are " + ", ".join(FUNCTIONS),
                )
            if node.keywords:
                raise _fail(text, node, "keyword arguments are not allowed")
            arity = FUNCTIONS[func.id][2]
            n = len(node.args)
            if (arity is not None and n != arity) or (arity is None and n < 2):
                want = f"{arity} argument(s)" if arity is not None else "2 or more arguments"
                raise _fail(text, node, f"{func.id}() takes {want}, got {n}")
            stack.extend(node.args)
        else:
            what = _FORBIDDEN_NAMES.get(type(node), type(node).__name__)
            raise _fail(text, node, f"{what} is not allowed; allowed are {_ALLOWED}")


def _compile(node: ast.AST, index: dict[str, int]) -> Node:
    """Turn a checked tree into closures (depth is bounded by MAX_DEPTH)."""
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, (int, float))  # _check admits only numbers
        value = np.float64(node.value)

        def constant(env: Sequence[Any], tensor: bool) -> Any:
            return ag.Tensor(value, op="const") if tensor else value

        return constant
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            c = np.float64(CONSTANTS[node.id])

            def named(env: Sequence[Any], tensor: bool) -> Any:
                return ag.Tensor(c, op="const", name=node.id) if tensor else c

            return named
        i = index[node.id]
        return lambda env, tensor: env[i]
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand, index)
        if isinstance(node.op, ast.USub):
            return lambda env, tensor: -operand(env, tensor)
        return operand
    if isinstance(node, ast.BinOp):
        left, right = _compile(node.left, index), _compile(node.right, index)
        symbol = _BINARY_OPS[type(node.op)]
        if symbol == "+":
            return lambda env, tensor: left(env, tensor) + right(env, tensor)
        if symbol == "-":
            return lambda env, tensor: left(env, tensor) - right(env, tensor)
        if symbol == "*":
            return lambda env, tensor: left(env, tensor) * right(env, tensor)
        if symbol == "/":
            return lambda env, tensor: left(env, tensor) / right(env, tensor)
        return lambda env, tensor: left(env, tensor) ** right(env, tensor)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        np_fn, ag_fn, _ = FUNCTIONS[node.func.id]
        args = [_compile(a, index) for a in node.args]

        def call(env: Sequence[Any], tensor: bool) -> Any:
            vals = [a(env, tensor) for a in args]
            fn = ag_fn if tensor else np_fn
            if tensor:
                vals = [ag.as_tensor(v) for v in vals]
            out = vals[0]
            if len(vals) == 1:
                return fn(out)
            for v in vals[1:]:
                out = fn(out, v)
            return out

        return call
    raise AssertionError(f"unchecked node {type(node).__name__}")  # _check rejects these
