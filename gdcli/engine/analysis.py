"""Gradient, Hessian and the classification of points; the stable step size of descent."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdcli.engine import autograd as ag
from gdcli.engine.functions import ResolvedFunction

GRAD_TOL = 1e-6
"""A point is critical when its gradient norm is at most this."""

EIG_REL_TOL = 1e-12
"""An eigenvalue is zero when it is within the Hessian's error: at most EIG_REL_TOL *
max |lambda| (the rounding of the gradients and of the eigensolver, ~1e-15 relative)
or the Hessian's truncation error (``hessian_error``), whichever is larger.

No absolute floor: 1e-7*(x**2 + y**2) at 0 is a strict minimum (its Hessian is
exactly 2e-7 I), while x**4 at 0 has a zero Hessian whose estimate carries a
truncation error of 3e-6, which the second bound recognises."""

SMOOTHNESS_TOL = 1e-3
"""Largest disagreement of the Hessian's two difference quotients where f is smooth."""


@dataclass(frozen=True)
class PointAnalysis:
    """Everything second-order about f at one point x (d,)."""

    x: np.ndarray  # (d,)
    value: float
    gradient: np.ndarray  # (d,)
    # None where there is no Hessian to speak of: at a kink ("non-smooth") and where
    # f, its gradient or the Hessian's difference quotients are not finite ("undefined")
    hessian: np.ndarray | None  # (d, d)
    eigenvalues: np.ndarray | None  # (d,) ascending
    classification: str

    @property
    def grad_norm(self) -> float:
        return float(np.linalg.norm(self.gradient))


def classify_eigenvalues(
    eigenvalues: np.ndarray, error: np.ndarray | float = 0.0, rel_tol: float = EIG_REL_TOL
) -> np.ndarray:
    """Kind of a critical point from its Hessian's eigenvalues (N, d) -> (N,) strings.

    ``error`` (N,) (or one number) bounds each Hessian's absolute error. An eigenvalue
    within ``max(rel_tol * max |lambda|, error)`` of zero makes the test inconclusive
    ("degenerate"); otherwise all positive is a minimum, all negative a maximum,
    and mixed signs a saddle.
    """
    lam = np.atleast_2d(eigenvalues)
    largest = np.abs(lam).max(axis=1, initial=0.0)
    tol = np.maximum(rel_tol * largest, np.broadcast_to(error, largest.shape))[:, None]
    zero = (np.abs(lam) <= tol).any(axis=1)
    pos = (lam > 0).all(axis=1)
    neg = (lam < 0).all(axis=1)
    finite = np.isfinite(lam).all(axis=1)
    kinds = np.where(pos, "minimum", np.where(neg, "maximum", "saddle")).astype(object)
    kinds[zero] = "degenerate"
    kinds[~finite] = "degenerate"
    return kinds


def classify(
    gradients: np.ndarray,
    eigenvalues: np.ndarray,
    grad_tol: float = GRAD_TOL,
    error: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Classify points (N,) from gradients (N, d) and Hessian eigenvalues (N, d)."""
    kinds = classify_eigenvalues(eigenvalues, error)
    g = np.atleast_2d(gradients)
    kinds[~(np.linalg.norm(g, axis=1) <= grad_tol)] = "not-critical"
    return kinds


def hessian_error(H: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """A bound (N,) on the error of each Hessian's eigenvalues, from H (N, d, d) and the
    relative spread (N,) of its two difference quotients (``ag.hessian_and_spread``).

    The spread is the change of the quotient when the step halves: it bounds the
    truncation error of the extrapolated Hessian (smaller by a factor of ~4 or more
    for a smooth f), and d times an entry-wise bound bounds the eigenvalues' error.
    """
    d = H.shape[-1]
    size = np.abs(H).max(axis=(1, 2), initial=0.0)
    return np.asarray(d * spread * np.maximum(1.0, size))


def analyze_points(
    fn: ResolvedFunction, X: np.ndarray, grad_tol: float = GRAD_TOL
) -> list[PointAnalysis]:
    """Value, gradient, Hessian, eigenvalues and kind at each row of X (N, d).

    A point where f has a kink ("non-smooth") or where f, its gradient or the
    Hessian is not finite ("undefined": outside the domain, or an overflow such as
    x**99999999 near 1) gets no Hessian and no eigenvalues.
    """
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    with np.errstate(all="ignore"):
        values, grads = ag.value_and_grad(fn.objective, X)
        H, spread = ag.hessian_and_spread(fn.objective, X)
        finite = np.isfinite(H).all(axis=(1, 2)) & np.isfinite(spread)
        lam = np.full(X.shape, np.nan)
        if finite.any():
            lam[finite] = np.linalg.eigvalsh(H[finite])
        kinds = classify(grads, lam, grad_tol, hessian_error(H, spread))
    # where f has a kink the second-order test does not apply, critical or not
    kinds[~(spread <= SMOOTHNESS_TOL)] = "non-smooth"
    kinds[~(finite & np.isfinite(values) & np.isfinite(grads).all(axis=1))] = "undefined"
    second_order = ~np.isin(kinds, ("non-smooth", "undefined"))
    return [
        PointAnalysis(
            X[i],
            float(values[i]),
            grads[i],
            H[i] if second_order[i] else None,
            lam[i] if second_order[i] else None,
            str(kinds[i]),
        )
        for i in range(X.shape[0])
    ]


def analyze_point(fn: ResolvedFunction, x: np.ndarray, grad_tol: float = GRAD_TOL) -> PointAnalysis:
    return analyze_points(fn, np.asarray(x, dtype=np.float64)[None, :], grad_tol)[0]


def stable_step_bound(hessian: np.ndarray) -> float:
    """Largest step size for which steepest descent is stable near a point: 2 / lambda_max.

    On a quadratic with Hessian H, ``x - lr * H x`` contracts every eigen-direction
    iff |1 - lr * lambda| < 1 for all eigenvalues, i.e. lr < 2 / lambda_max.
    Returns inf when no eigenvalue is positive (no curvature to overshoot).
    """
    lam_max = float(np.linalg.eigvalsh(hessian).max())
    return 2.0 / lam_max if lam_max > 0 else float("inf")


@dataclass(frozen=True)
class GradResult:
    """What ``gdcli grad`` reports: the analysis at a point and, on request, the graph."""

    function: ResolvedFunction
    analysis: PointAnalysis
    graph: list[ag.Tensor] | None

    def to_dict(self) -> dict[str, object]:
        a = self.analysis
        out: dict[str, object] = {
            "function": self.function.formula,
            "variables": list(self.function.variables),
            "at": a.x.tolist(),
            "value": a.value,
            "gradient": a.gradient.tolist(),
            "hessian": None if a.hessian is None else a.hessian.tolist(),
            "eigenvalues": None if a.eigenvalues is None else a.eigenvalues.tolist(),
            "classification": a.classification,
        }
        if self.graph is not None:
            ids = {id(t): i for i, t in enumerate(self.graph)}
            out["graph"] = [
                {
                    "node": i,
                    "op": t.op,
                    "name": t.name,
                    "inputs": [ids[id(p)] for p in t.parents],
                    "value": t.data.tolist(),
                    "adjoint": None if t.grad is None else t.grad.tolist(),
                    # d node / d input per input: the chain rule's factor on each edge
                    "local": [None if d is None else float(d) for d in ag.local_derivatives(t)],
                }
                for i, t in enumerate(self.graph)
            ]
        return out


def evaluation_graph(fn: ResolvedFunction, x: np.ndarray) -> list[ag.Tensor]:
    """The evaluation graph of f at x (d,), inputs first, after one backward pass.

    A formula's variables become named scalar inputs, as on the lecture's slides;
    a library function of any n takes the point as one vector input ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    if fn.expression is not None:
        inputs = [
            ag.Tensor(v, requires_grad=True, name=n) for n, v in zip(fn.variables, x, strict=True)
        ]
        out = fn.expression.tensor(*inputs)
    else:
        out = fn.objective(ag.Tensor(x, requires_grad=True, name="x"))
    with np.errstate(all="ignore"):
        out.backward()
    return out.topological_order()


def run_grad(
    spec: str, at: list[float], variables: tuple[str, ...] | None = None, graph: bool = False
) -> GradResult:
    """``gdcli grad``: resolve the function in len(at) variables and analyse the point."""
    from gdcli.engine.functions import resolve

    fn = resolve(spec, dimension=len(at), variables=variables)
    x = np.asarray(at, dtype=np.float64)
    return GradResult(fn, analyze_point(fn, x), evaluation_graph(fn, x) if graph else None)
