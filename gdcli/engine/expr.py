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
import operator
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdcli.engine import autograd as ag
from gdcli.engine.activations import ACTIVATIONS, Activation
from gdcli.errors import ExpressionError, Problem

MAX_LENGTH = 50_000
MAX_DEPTH = 400
"""Nesting as written: ``a + b - c`` (or ``a * b / c``) is one level however long,
``exp(-(x + 1))`` is three."""
CONSTANTS = {"pi": math.pi, "e": math.e}


@dataclass(frozen=True)
class Function:
    """A function formulas may call: its numpy and Tensor versions, how many arguments
    it takes (``low`` to ``high``; ``high`` None: any number from ``low``) and whether
    the arguments after the first are a constant slope ``alpha`` (leaky_relu, elu),
    which takes a number only."""

    array: Callable[..., Any]
    graph: Callable[..., Any]
    low: int = 1
    high: int | None = 1
    alpha: bool = False

    @property
    def takes(self) -> str:
        if self.high == self.low:
            return f"{self.low} argument(s)"
        if self.high is None:
            return f"{self.low} or more arguments"
        return f"{self.low} or {self.high} arguments (the second a number: the slope alpha)"


# the unary functions whose numpy and Tensor versions are not np.NAME and ag.NAME
_RENAMED: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {"abs": (np.abs, ag.absolute)}
_UNARY = ("exp", "log", "sqrt", "abs", "sin", "cos", "tan", "sinh", "cosh", "arctan")


def _unary(name: str) -> Function:
    np_fn, ag_fn = _RENAMED[name] if name in _RENAMED else (getattr(np, name), getattr(ag, name))
    return Function(np_fn, ag_fn)


def _activation(entry: Activation) -> Function:
    return Function(entry.array, entry.graph, 1, 1 if entry.alpha is None else 2, True)


FUNCTIONS: dict[str, Function] = {
    **{name: _unary(name) for name in _UNARY},
    # every activation of the one table (sigmoid, tanh, relu, heaviside, ...)
    **{name: _activation(entry) for name, entry in ACTIVATIONS.items()},
    "min": Function(np.minimum, ag.minimum, 2, None),
    "max": Function(np.maximum, ag.maximum, 2, None),
}
"""The functions formulas may call, by name."""

_ALLOWED = (
    "numbers, variables, pi, e, + - * / ** ^, unary + -, parentheses and the functions "
    + ", ".join(FUNCTIONS)
)

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
        return _dump(_syntax_tree(self.text))

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


# the left-associative chains that a reader sees as one level: a + b - c, a * b / c
_CHAINS: dict[type, str] = {ast.Add: "+", ast.Sub: "+", ast.Mult: "*", ast.Div: "*"}
_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}


def _continues_chain(parent: ast.AST, child: ast.AST) -> bool:
    """``child`` is the left operand of ``parent`` in one chain such as ``a + b - c``."""
    return (
        isinstance(parent, ast.BinOp)
        and isinstance(child, ast.BinOp)
        and child is parent.left
        and _CHAINS.get(type(parent.op), "") == _CHAINS.get(type(child.op))
    )


def _depth(tree: ast.AST) -> int:
    """Nesting depth as written (see ``MAX_DEPTH``), computed without recursion."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend(
            (child, depth if _continues_chain(node, child) else depth + 1)
            for child in ast.iter_child_nodes(node)
        )
    return deepest


def _dump(tree: ast.AST) -> str:
    """``ast.dump(tree)`` without its recursion (a chain of 5000 terms nests 5000 deep)."""
    out: list[str] = []
    stack: list[Any] = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, _Text):
            out.append(item.text)
        elif isinstance(item, ast.AST):
            seq: list[Any] = [_Text(f"{type(item).__name__}(")]
            for name, value in ast.iter_fields(item):
                values = value if isinstance(value, list) else [value]
                seq += [_Text(f"{name}=["), *values, _Text("],")]
            seq.append(_Text(")"))
            stack.extend(reversed(seq))
        else:
            out.append(f"{item!r},")
    return "".join(out)


@dataclass(frozen=True)
class _Text:
    text: str


@contextmanager
def _room_to_parse(source: str) -> Iterator[None]:
    """Recursion room for Python's parser, which builds ``a + b + ...`` as a tree as deep
    as the chain is long and counts three levels per unit of the recursion limit.

    Safe: the chain is bounded by MAX_LENGTH, the parser refuses other deep nesting
    itself (200 parentheses, "too complex"), and the limit is restored afterwards.
    """
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, old + len(source) // 3))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def parse(text: str, variables: Sequence[str] | None = None) -> Expression:
    """Check ``text`` and compile it into an ``Expression``.

    ``variables`` fixes the argument order (and may name variables that the
    formula does not use); by default the names found are sorted.
    Raises ``ExpressionError`` saying where and what is wrong.
    """
    tree = _syntax_tree(text)
    found: set[str] = set()
    _check(text, tree.body, found)
    order = _variable_order(text, found, variables)
    index = {name: i for i, name in enumerate(order)}
    return Expression(text=text, variables=order, _root=_compile(tree.body, index))


def _syntax_tree(text: str) -> ast.Expression:
    """Python's parse of the formula, within the length and nesting limits."""
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
            with _room_to_parse(source):
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
    return tree


def _variable_order(text: str, found: set[str], variables: Sequence[str] | None) -> tuple[str, ...]:
    """The argument order: ``variables`` when declared (covering every name found),
    else the names found, sorted."""
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
    if not order:
        raise ExpressionError(
            f"bad expression '{_clip(text)}': it has no variables; write a function of "
            "named variables such as x and y"
        )
    return order


def _check(text: str, root: ast.AST, found: set[str]) -> None:
    """Reject every node outside the allow-list; collect variable names."""
    stack = [root]
    while stack:
        node = stack.pop()
        checker = _CHECKERS.get(type(node))
        if checker is None:
            what = _FORBIDDEN_NAMES.get(type(node), type(node).__name__)
            raise _fail(text, node, f"{what} is not allowed; allowed are {_ALLOWED}")
        stack.extend(checker(text, node, found))


def _check_binary(text: str, node: ast.BinOp, found: set[str]) -> list[ast.AST]:
    if type(node.op) not in _OPERATORS:
        raise _fail(text, node, f"operator not allowed; allowed are {_ALLOWED}")
    return [node.left, node.right]


def _check_unary(text: str, node: ast.UnaryOp, found: set[str]) -> list[ast.AST]:
    if not isinstance(node.op, (ast.UAdd, ast.USub)):
        raise _fail(text, node, f"operator not allowed; allowed are {_ALLOWED}")
    return [node.operand]


def _check_constant(text: str, node: ast.Constant, found: set[str]) -> list[ast.AST]:
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
    return []


def _check_name(text: str, node: ast.Name, found: set[str]) -> list[ast.AST]:
    name = node.id
    if name in FUNCTIONS:
        raise _fail(text, node, f"'{name}' is a function; call it as {name}(...)")
    if name.startswith("_"):
        raise _fail(text, node, f"names may not start with '_': '{name}'")
    if name not in CONSTANTS:
        found.add(name)
    return []


def _check_call(text: str, node: ast.Call, found: set[str]) -> list[ast.AST]:
    func = node.func
    if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
        what = f"'{func.id}'" if isinstance(func, ast.Name) else f"'{_clip(ast.unparse(func), 30)}'"
        raise _fail(
            text, node, f"{what} is not an allowed function; allowed are " + ", ".join(FUNCTIONS)
        )
    if node.keywords:
        raise _fail(text, node, "keyword arguments are not allowed")
    fn = FUNCTIONS[func.id]
    n = len(node.args)
    if n < fn.low or (fn.high is not None and n > fn.high):
        raise _fail(text, node, f"{func.id}() takes {fn.takes}, got {n}")
    if fn.alpha and n > 1 and _number(node.args[1]) is None:
        raise _fail(text, node.args[1], f"{func.id}()'s slope alpha must be a number")
    return list(node.args)


def _number(node: ast.AST) -> float | None:
    """The value of a number written as a literal, or a negated one; else None."""
    sign = 1.0
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign, node = (-1.0 if isinstance(node.op, ast.USub) else 1.0), node.operand
    value = node.value if isinstance(node, ast.Constant) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return sign * float(value)
    return None


_CHECKERS: dict[type, Callable[[str, Any, set[str]], list[ast.AST]]] = {
    ast.BinOp: _check_binary,
    ast.UnaryOp: _check_unary,
    ast.Constant: _check_constant,
    ast.Name: _check_name,
    ast.Call: _check_call,
}


def _compile(node: ast.AST, index: dict[str, int]) -> Node:
    """Turn a checked tree into closures (depth is bounded by MAX_DEPTH)."""
    compiler = _COMPILERS.get(type(node))
    if compiler is None:  # _check rejects these
        raise AssertionError(f"unchecked node {type(node).__name__}")
    return compiler(node, index)


def _compile_constant(node: ast.Constant, index: dict[str, int]) -> Node:
    assert isinstance(node.value, (int, float))  # _check admits only numbers
    value = np.asarray(node.value, dtype=np.float64)  # 0-d, as in a Tensor: the same power paths

    def constant(env: Sequence[Any], tensor: bool) -> Any:
        return ag.Tensor(value, op="const") if tensor else value

    return constant


def _compile_name(node: ast.Name, index: dict[str, int]) -> Node:
    if node.id in CONSTANTS:
        c = np.asarray(CONSTANTS[node.id], dtype=np.float64)

        def named(env: Sequence[Any], tensor: bool) -> Any:
            return ag.Tensor(c, op="const", name=node.id) if tensor else c

        return named
    i = index[node.id]
    return lambda env, tensor: env[i]


def _compile_unary(node: ast.UnaryOp, index: dict[str, int]) -> Node:
    operand = _compile(node.operand, index)
    if isinstance(node.op, ast.USub):
        return lambda env, tensor: -operand(env, tensor)
    return operand


def _compile_binary(node: ast.BinOp, index: dict[str, int]) -> Node:
    """A chain ``a + b - c`` (or ``a * b / c``) as one node that applies its operators
    left to right in a loop: the same numbers as the nested tree, and no recursion
    however long the chain."""
    links = [(_OPERATORS[type(node.op)], node.right)]
    parent, left = node, node.left
    while isinstance(left, ast.BinOp) and _continues_chain(parent, left):
        links.append((_OPERATORS[type(left.op)], left.right))
        parent, left = left, left.left
    first = _compile(left, index)
    rest = [(op, _compile(right, index)) for op, right in reversed(links)]

    def chain(env: Sequence[Any], tensor: bool) -> Any:
        acc = first(env, tensor)
        for op, term in rest:
            acc = op(acc, term(env, tensor))
        return acc

    return chain


def _compile_call(node: ast.Call, index: dict[str, int]) -> Node:
    assert isinstance(node.func, ast.Name)  # _check admits only calls by bare name
    fn = FUNCTIONS[node.func.id]
    if fn.alpha:
        return _compile_activation(node, fn, index)
    args = [_compile(a, index) for a in node.args]

    def call(env: Sequence[Any], tensor: bool) -> Any:
        vals = [a(env, tensor) for a in args]
        apply = fn.graph if tensor else fn.array
        if tensor:
            vals = [ag.as_tensor(v) for v in vals]
        out = vals[0]
        if len(vals) == 1:
            return apply(out)
        for v in vals[1:]:
            out = apply(out, v)
        return out

    return call


def _compile_activation(node: ast.Call, fn: Function, index: dict[str, int]) -> Node:
    """An activation of one argument, with its slope alpha as a float when written."""
    arg = _compile(node.args[0], index)
    alpha = _number(node.args[1]) if len(node.args) > 1 else None
    extra = () if alpha is None else (alpha,)

    def call(env: Sequence[Any], tensor: bool) -> Any:
        x = arg(env, tensor)
        if tensor:
            return fn.graph(ag.as_tensor(x), *extra)
        return fn.array(np.asarray(x, dtype=np.float64), *extra)

    return call


_COMPILERS: dict[type, Callable[[Any, dict[str, int]], Node]] = {
    ast.Constant: _compile_constant,
    ast.Name: _compile_name,
    ast.UnaryOp: _compile_unary,
    ast.BinOp: _compile_binary,
    ast.Call: _compile_call,
}
