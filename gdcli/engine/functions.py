"""The library of analytic test functions, and the lookup of a function by name or formula.

Every entry is a function of a batch of points, ``(N, d) Tensor -> (N,) Tensor``,
built on the autograd engine, with its dimension, two boxes, its known minima and
(for the lecture's functions) its other critical points.

The two boxes are different things. The *domain* is the one the literature states
for the function, so that results compare with published ones; where no reference
exists (the lecture's examples and gdcli's own) it is gdcli's box. The *window* is
the box gdcli draws and, when a config gives no box, draws random starts from: it
is chosen to show the interesting part of the function (Ackley's hole, not its
+-32.768 plate of ripples).

Domains and minima follow Surjanovic & Bingham, "Virtual Library of Simulation
Experiments: Test Functions and Datasets" (www.sfu.ca/~ssurjano), unless a comment
at the entry says otherwise.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from gdcli.engine import autograd as ag
from gdcli.engine import expr
from gdcli.engine.autograd import Objective, Tensor
from gdcli.errors import UserError, did_you_mean

MINIMUM_KINDS = ("global minimum", "local minimum")


@dataclass(frozen=True)
class CriticalPoint:
    """A point where the gradient vanishes, with its value and its kind.

    ``kind`` is one of "global minimum", "local minimum", "maximum", "saddle",
    "degenerate".
    """

    x: tuple[float, ...]
    f: float
    kind: str

    @property
    def is_minimum(self) -> bool:
        return self.kind in MINIMUM_KINDS


Domain = tuple[tuple[float, float], ...]
Bounds = Domain | tuple[float, float]
"""A box as given in the library: one (low, high) per axis, or one pair for every axis."""


def _box(bounds: Bounds, n: int) -> Domain:
    """``bounds`` as one (low, high) per axis of n."""
    if isinstance(bounds[0], tuple):
        if len(bounds) == n:
            return bounds
        # an any-n function in another n: widen to one box that holds every axis
        lo = min(b[0] for b in bounds)
        hi = max(b[1] for b in bounds)
    else:
        lo, hi = bounds
    return tuple((float(lo), float(hi)) for _ in range(n))


@dataclass(frozen=True)
class TestFunction:
    """An entry of the library.

    ``dimension`` is a fixed number of variables, or None for "any n >= min_dimension".
    ``domain_bounds`` is the literature's domain, ``window_bounds`` the box gdcli
    draws and takes random starts from (see the module docstring).
    ``critical_points(d)`` lists every known critical point in d dimensions; the
    minima among them are ``minima(d)``. An empty ``minima`` means the function has
    no minimum, and ``no_minimum`` says why.
    """

    name: str
    formula: str
    description: str
    objective: Objective
    dimension: int | None
    domain_bounds: Bounds
    window_bounds: Bounds
    points: Callable[[int], tuple[CriticalPoint, ...]]
    min_dimension: int = 1
    no_minimum: str = ""
    variables_fixed: tuple[str, ...] = ()
    expression: expr.Expression | None = None

    __test__ = False  # not a pytest test class, despite the name

    def variables(self, d: int | None = None) -> tuple[str, ...]:
        if self.variables_fixed:
            return self.variables_fixed
        return tuple(f"x{i + 1}" for i in range(self.resolve_dimension(d)))

    def resolve_dimension(self, d: int | None) -> int:
        if self.dimension is not None:
            return self.dimension
        return 2 if d is None else d

    def accepts(self, d: int) -> bool:
        return d == self.dimension if self.dimension is not None else d >= self.min_dimension

    def domain(self, d: int | None = None) -> Domain:
        """The literature's domain in d dimensions: d (low, high) pairs."""
        return _box(self.domain_bounds, self.resolve_dimension(d))

    def window(self, d: int | None = None) -> Domain:
        """The plotting window (and default box of random starts): d (low, high) pairs."""
        return _box(self.window_bounds, self.resolve_dimension(d))

    def critical_points(self, d: int | None = None) -> tuple[CriticalPoint, ...]:
        return self.points(self.resolve_dimension(d))

    def minima(self, d: int | None = None) -> tuple[CriticalPoint, ...]:
        return tuple(p for p in self.critical_points(d) if p.is_minimum)

    @property
    def dimension_label(self) -> str:
        if self.dimension is not None:
            return str(self.dimension)
        return f"any n >= {self.min_dimension}" if self.min_dimension > 1 else "any n"


def _fixed(*points: CriticalPoint) -> Callable[[int], tuple[CriticalPoint, ...]]:
    return lambda d: points


def _at(coordinate: float) -> Callable[[int], tuple[CriticalPoint, ...]]:
    """The single global minimum, of value 0, of a separable any-n function: all
    coordinates equal."""
    return lambda d: (CriticalPoint((coordinate,) * d, 0.0, "global minimum"),)


def _cp(x: tuple[float, ...], f: float, kind: str = "global minimum") -> CriticalPoint:
    return CriticalPoint(tuple(float(v) for v in x), float(f), kind)


def _from_formula(
    name: str,
    formula: str,
    description: str,
    domain: Domain,
    points: tuple[CriticalPoint, ...],
    *,
    window: Domain | None = None,
    no_minimum: str = "",
) -> TestFunction:
    """A library function from its formula; the plotting window is the domain unless given."""
    e = expr.parse(formula)
    return TestFunction(
        name=name,
        formula=formula,
        description=description,
        objective=e.objective,
        dimension=e.dimension,
        domain_bounds=domain,
        window_bounds=domain if window is None else window,
        points=_fixed(*points),
        min_dimension=e.dimension,
        no_minimum=no_minimum,
        variables_fixed=e.variables,
        expression=e,
    )


# -- any-n functions ---------------------------------------------------------------


def _sphere(X: Tensor) -> Tensor:
    return (X * X).sum(axis=-1)


def _rosenbrock(X: Tensor) -> Tensor:
    head, tail = X[..., :-1], X[..., 1:]
    # squares as products: the same numbers as ** 2.0, with two nodes fewer
    d, e = tail - head * head, 1.0 - head
    return (100.0 * (d * d) + e * e).sum(axis=-1)


def _rastrigin(X: Tensor) -> Tensor:
    d = X.shape[-1]
    return 10.0 * d + (X * X - 10.0 * ag.cos(2.0 * math.pi * X)).sum(axis=-1)


def _ackley(X: Tensor) -> Tensor:
    d = X.shape[-1]
    rms = ag.norm(X, axis=-1) * (1.0 / math.sqrt(d))
    mean_cos = ag.cos(2.0 * math.pi * X).sum(axis=-1) * (1.0 / d)
    return -20.0 * ag.exp(-0.2 * rms) - ag.exp(mean_cos) + (20.0 + math.e)


def _styblinski_tang(X: Tensor) -> Tensor:
    X2 = X * X
    return 0.5 * (X2 * X2 - 16.0 * X2 + 5.0 * X).sum(axis=-1)


# The roots of 4x^3 - 32x + 5 = 0 (f' of one Styblinski-Tang term) near -2.9 and 2.7,
# to full double precision: each coordinate of a minimum is one of them.
_ST_X = -2.903534027771177
_ST_F = 0.5 * (_ST_X**4 - 16 * _ST_X**2 + 5 * _ST_X)
_ST_LOCAL_X = 2.746802770990837
_ST_LOCAL_F = 0.5 * (_ST_LOCAL_X**4 - 16 * _ST_LOCAL_X**2 + 5 * _ST_LOCAL_X)


def _styblinski_tang_minima(d: int) -> tuple[CriticalPoint, ...]:
    """The global minimum in any n; for n <= 2 also the 2^n - 1 local ones (every
    coordinate at either root). Beyond that 2^n points are too many to list."""
    glob = CriticalPoint((_ST_X,) * d, _ST_F * d, "global minimum")
    if d > 2:
        return (glob,)
    local = tuple(
        CriticalPoint(x, sum(_ST_F if v == _ST_X else _ST_LOCAL_F for v in x), "local minimum")
        for x in itertools.product((_ST_X, _ST_LOCAL_X), repeat=d)
        if x != glob.x
    )
    return (glob, *local)


# Newton's method on gdcli's gradient from the literature's rounded coordinates, run
# to convergence (|grad| < 1e-14): three-hump camel's local minima lie on y = -x/2.
_THC_X = 1.747552345830289
_THC_F = 0.29863844223686054
_SHC_GLOBAL = (0.08984201310031806, -0.7126564030207396, -1.0316284534898774)
_SHC_LOW = (1.703606714969981, -0.7960835686726251, -0.21546382438371836)
_SHC_HIGH = (1.6071047529201972, 0.5686514548841314, 2.104250310311258)

_E = math.e
_PI = math.pi

LIBRARY: dict[str, TestFunction] = {
    f.name: f
    for f in (
        # the lecture's examples: no reference domain, so domain = window
        _from_formula(
            "cubic_quadratic",
            "3*x**3 + 10*y**2",
            "The lecture's gradient example: grad f(3, 3) = (81, 60), grad f(1, 4) = (9, 80).",
            ((-4.0, 4.0), (-4.0, 4.0)),
            (_cp((0, 0), 0, "degenerate"),),
            no_minimum="unbounded below as x -> -inf; (0, 0) is a degenerate critical point",
        ),
        _from_formula(
            "cubic_saddle",
            "2*x**3 - 6*x*y + 3*y**2",
            "The lecture's saddle example: a saddle at (0, 0) and a local minimum at (1, 1).",
            ((-1.5, 2.5), (-1.5, 2.5)),
            (_cp((1, 1), -1, "local minimum"), _cp((0, 0), 0, "saddle")),
        ),
        _from_formula(
            "gaussian_bumps",
            "x*y*exp(-(x**2 + y**2)/2)",
            "The lecture's non-convex example: two minima, two maxima and a saddle.",
            ((-3.0, 3.0), (-3.0, 3.0)),
            (
                _cp((1, -1), -1 / _E),
                _cp((-1, 1), -1 / _E),
                _cp((1, 1), 1 / _E, "maximum"),
                _cp((-1, -1), 1 / _E, "maximum"),
                _cp((0, 0), 0, "saddle"),
            ),
        ),
        _from_formula(
            "exp_square",
            "3*exp(x**2 + 1)",
            "The lecture's evaluation-graph example, one variable, minimum 3e at 0.",
            ((-1.5, 1.5),),
            (_cp((0,), 3 * _E),),
        ),
        TestFunction(
            "sphere",
            "sum(x_i^2)",
            "The simplest convex bowl.",
            _sphere,
            None,
            (-5.12, 5.12),
            (-5.12, 5.12),
            _at(0.0),
        ),
        TestFunction(
            "rosenbrock",
            "sum(100*(x_{i+1} - x_i^2)^2 + (1 - x_i)^2)",
            "A curved narrow valley: easy to find, slow to follow.",
            _rosenbrock,
            None,
            # Surjanovic & Bingham's [-5, 10]^n (they allow [-2.048, 2.048]^n too)
            (-5.0, 10.0),
            ((-2.0, 2.0), (-1.0, 3.0)),
            _at(1.0),
            min_dimension=2,
        ),
        TestFunction(
            "rastrigin",
            "10*n + sum(x_i^2 - 10*cos(2*pi*x_i))",
            "A bowl covered in regularly spaced local minima (only the global one listed).",
            _rastrigin,
            None,
            (-5.12, 5.12),
            (-5.12, 5.12),
            _at(0.0),
        ),
        TestFunction(
            "ackley",
            "-20*exp(-0.2*sqrt(mean(x_i^2))) - exp(mean(cos(2*pi*x_i))) + 20 + e",
            "A nearly flat plate with many local minima (only the global one listed) "
            "and one deep hole at the origin.",
            _ackley,
            None,
            (-32.768, 32.768),
            (-5.0, 5.0),
            _at(0.0),
        ),
        TestFunction(
            "styblinski_tang",
            "0.5*sum(x_i^4 - 16*x_i^2 + 5*x_i)",
            "Separable with 2^n minima, listed for n <= 2; the global one is in the "
            "corner of negatives.",
            _styblinski_tang,
            None,
            (-5.0, 5.0),
            (-5.0, 5.0),
            _styblinski_tang_minima,
        ),
        # gdcli's own example: domain = window
        _from_formula(
            "ill_conditioned",
            "x**2 + 100*y**2",
            "A quadratic with condition number 100: steepest descent zig-zags.",
            ((-10.0, 10.0), (-1.0, 1.0)),
            (_cp((0, 0), 0),),
        ),
        # domain as in Himmelblau's "Applied Nonlinear Programming" (1972) and the
        # usual test-function tables; not in Surjanovic & Bingham
        _from_formula(
            "himmelblau",
            "(x**2 + y - 11)**2 + (x + y**2 - 7)**2",
            "Four global minima of value 0 and a local maximum between them.",
            ((-5.0, 5.0), (-5.0, 5.0)),
            (
                _cp((3.0, 2.0), 0),
                _cp((-2.805118086952745, 3.131312518250573), 0),
                _cp((-3.779310253377747, -3.2831859912861696), 0),
                _cp((3.5844283403304917, -1.8481265269644034), 0),
            ),
        ),
        _from_formula(
            "beale",
            "(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2",
            "Sharp ridges around a flat valley; the minimum is at (3, 0.5).",
            ((-4.5, 4.5), (-4.5, 4.5)),
            (_cp((3.0, 0.5), 0),),
        ),
        _from_formula(
            "booth",
            "(x + 2*y - 7)**2 + (2*x + y - 5)**2",
            "A tilted convex quadratic with its minimum at (1, 3).",
            ((-10.0, 10.0), (-10.0, 10.0)),
            (_cp((1.0, 3.0), 0),),
        ),
        _from_formula(
            "matyas",
            "0.26*(x**2 + y**2) - 0.48*x*y",
            "A flat, nearly degenerate convex quadratic.",
            ((-10.0, 10.0), (-10.0, 10.0)),
            (_cp((0.0, 0.0), 0),),
        ),
        _from_formula(
            "three_hump_camel",
            "2*x**2 - 1.05*x**4 + x**6/6 + x*y + y**2",
            "Three humps: one global minimum at the origin and two local ones.",
            ((-5.0, 5.0), (-5.0, 5.0)),
            (
                _cp((0.0, 0.0), 0),
                _cp((_THC_X, -_THC_X / 2), _THC_F, "local minimum"),
                _cp((-_THC_X, _THC_X / 2), _THC_F, "local minimum"),
            ),
        ),
        _from_formula(
            "six_hump_camel",
            "(4 - 2.1*x**2 + x**4/3)*x**2 + x*y + (-4 + 4*y**2)*y**2",
            "Six humps: two global minima, mirror images through the origin, and four local ones.",
            ((-3.0, 3.0), (-2.0, 2.0)),
            (
                _cp(_SHC_GLOBAL[:2], _SHC_GLOBAL[2]),
                _cp((-_SHC_GLOBAL[0], -_SHC_GLOBAL[1]), _SHC_GLOBAL[2]),
                _cp(_SHC_LOW[:2], _SHC_LOW[2], "local minimum"),
                _cp((-_SHC_LOW[0], -_SHC_LOW[1]), _SHC_LOW[2], "local minimum"),
                _cp(_SHC_HIGH[:2], _SHC_HIGH[2], "local minimum"),
                _cp((-_SHC_HIGH[0], -_SHC_HIGH[1]), _SHC_HIGH[2], "local minimum"),
            ),
            # the domain's edges reach f = 162.9 and flatten every contour that matters
            window=((-2.0, 2.0), (-1.0, 1.0)),
        ),
        # local minima f = 30, 84, 840 at rational points: Newton from the rounded
        # coordinates in the literature lands on them to 1e-15
        _from_formula(
            "goldstein_price",
            "(1 + (x + y + 1)**2*(19 - 14*x + 3*x**2 - 14*y + 6*x*y + 3*y**2))"
            "*(30 + (2*x - 3*y)**2*(18 - 32*x + 12*x**2 + 48*y - 36*x*y + 27*y**2))",
            "Three local minima (f = 30, 84, 840) and a global one of value 3 at (0, -1).",
            ((-2.0, 2.0), (-2.0, 2.0)),
            (
                _cp((0.0, -1.0), 3),
                _cp((-0.6, -0.4), 30, "local minimum"),
                _cp((1.8, 0.2), 84, "local minimum"),
                _cp((1.2, 0.8), 840, "local minimum"),
            ),
        ),
        # Branin-Hoo with the usual a = 1, b = 5.1/(4 pi^2), c = 5/pi, r = 6, s = 10,
        # t = 1/(8 pi): at x = -pi, pi, 3pi the square vanishes and cos(x) = -1, so the
        # minima are exact: y = r + b x^2 - c x and f = s t
        _from_formula(
            "branin",
            "(y - 5.1/(4*pi**2)*x**2 + 5/pi*x - 6)**2 + 10*(1 - 1/(8*pi))*cos(x) + 10",
            "Three global minima of value 5/(4 pi) = 0.397887 in a curved valley.",
            ((-5.0, 10.0), (0.0, 15.0)),
            (
                _cp((-_PI, 12.275), 5 / (4 * _PI)),
                _cp((_PI, 2.275), 5 / (4 * _PI)),
                _cp((3 * _PI, 2.475), 5 / (4 * _PI)),
            ),
        ),
        # gdcli's own examples: domain = window
        _from_formula(
            "saddle",
            "x**2 - y**2",
            "The plain saddle: a minimum along x, a maximum along y.",
            ((-2.0, 2.0), (-2.0, 2.0)),
            (_cp((0, 0), 0, "saddle"),),
            no_minimum="unbounded below along y; (0, 0) is a saddle",
        ),
        _from_formula(
            "monkey_saddle",
            "x**3 - 3*x*y**2",
            "A saddle with three valleys (room for a monkey's tail); its Hessian vanishes at 0.",
            ((-2.0, 2.0), (-2.0, 2.0)),
            (_cp((0, 0), 0, "degenerate"),),
            no_minimum="unbounded below; (0, 0) is a degenerate saddle",
        ),
    )
}


@dataclass(frozen=True)
class ResolvedFunction:
    """What a command works on: a library entry or a typed formula, in d variables."""

    name: str
    formula: str
    variables: tuple[str, ...]
    objective: Objective
    entry: TestFunction | None = field(default=None)
    expression: expr.Expression | None = field(default=None)

    @property
    def dimension(self) -> int:
        return len(self.variables)

    def values(self, X: np.ndarray) -> np.ndarray:
        """f at the rows of X (N, d) -> (N,), without building gradients."""
        with np.errstate(all="ignore"):
            return self.objective(Tensor(np.asarray(X, dtype=np.float64))).data

    def known_points(self) -> tuple[CriticalPoint, ...]:
        return () if self.entry is None else self.entry.critical_points(self.dimension)

    def known_minima(self) -> tuple[CriticalPoint, ...]:
        return tuple(p for p in self.known_points() if p.is_minimum)

    def window(self, points: np.ndarray | None = None) -> Domain:
        """The box to draw and take random starts from: the library's window, or for
        a formula a box around the given points (K, d)."""
        if self.entry is not None:
            return self.entry.window(self.dimension)
        if points is None or points.size == 0:
            return tuple((-3.0, 3.0) for _ in self.variables)
        lo, hi = np.nanmin(points, axis=0), np.nanmax(points, axis=0)
        pad = np.maximum(0.25 * (hi - lo), 1.0)
        return tuple((float(a - p), float(b + p)) for a, b, p in zip(lo, hi, pad, strict=True))


def _library_twin(e: expr.Expression) -> TestFunction | None:
    """The library entry with the same formula (spacing aside), so a typed formula of
    a known function is matched to its known minima."""
    key = e.canonical
    for entry in LIBRARY.values():
        if entry.expression is not None and entry.expression.canonical == key:
            return entry
    return None


def resolve(
    spec: str, dimension: int | None = None, variables: tuple[str, ...] | None = None
) -> ResolvedFunction:
    """A library name or a formula -> the function to work on.

    ``dimension`` (e.g. the length of a start point) chooses n for the any-n
    library functions and is checked against fixed ones. A bare word that is not
    in the library is an unknown name, not the formula ``f = word``.
    """
    spec = spec.strip()
    key = spec.replace("-", "_").lower()
    if key in LIBRARY and variables is None:
        entry = LIBRARY[key]
        if dimension is not None and not entry.accepts(dimension):
            raise UserError(
                f"function '{entry.name}' takes {entry.dimension_label} variable(s), "
                f"got a point with {dimension}"
            )
        names = entry.variables(dimension)
        return ResolvedFunction(
            entry.name, entry.formula, names, entry.objective, entry, entry.expression
        )
    if key in LIBRARY:
        raise UserError(
            f"variable names (--vars, vars:) go with formulas, not the library function '{key}' "
            f"(its variables are {', '.join(LIBRARY[key].variables(dimension))})"
        )
    hint = did_you_mean(key, LIBRARY)
    if key.isidentifier() and key not in expr.FUNCTIONS and (hint or len(key) > 2):
        raise UserError(
            f"unknown function '{spec}'{hint} (`gdcli functions` lists the library; "
            "a formula needs an operator, e.g. 'x**2 + y**2')"
        )
    e = expr.parse(spec, variables)
    if dimension is not None and dimension != e.dimension:
        raise UserError(
            f"'{spec}' has {e.dimension} variable(s) ({', '.join(e.variables)}), "
            f"got a point with {dimension}"
        )
    twin = _library_twin(e)
    if twin is not None and variables is None:
        return ResolvedFunction(spec, spec, e.variables, e.objective, twin, e)
    return ResolvedFunction(spec, spec, e.variables, e.objective, None, e)


def library_summary() -> list[dict[str, object]]:
    """The library as plain data, for ``gdcli functions --json``.

    Any-n functions are described at n = 2, with ``dimension`` null and their
    smallest allowed n in ``min_dimension``. ``domain`` is the literature's box,
    ``window`` the one gdcli draws; both are lists of [low, high] per variable.
    """
    out: list[dict[str, object]] = []
    for f in LIBRARY.values():
        out.append(
            {
                "name": f.name,
                "expression": f.formula,
                "dimension": f.dimension,
                "min_dimension": f.min_dimension,
                "domain": [list(b) for b in f.domain()],
                "window": [list(b) for b in f.window()],
                "minima": [{"x": list(p.x), "f": p.f, "kind": p.kind} for p in f.minima()],
                "critical_points": [
                    {"x": list(p.x), "f": p.f, "kind": p.kind}
                    for p in f.critical_points()
                    if not p.is_minimum
                ],
                "no_minimum": f.no_minimum or None,
                "description": f.description,
            }
        )
    return out
