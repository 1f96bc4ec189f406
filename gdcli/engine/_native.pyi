from typing import Any

def adam(
    g: Any,
    m: Any,
    v: Any,
    v_max: Any | None,
    out: Any,
    b1: float,
    b2: float,
    c1: float,
    c2: float,
    eps: float,
    bc1: float,
    root_bc2: float,
    /,
) -> None: ...
def rms(
    g: Any, sq: Any, mean: Any | None, out: Any, alpha: float, c: float, eps: float, /
) -> None: ...
def adagrad(g: Any, s: Any, out: Any, eps: float, /) -> None: ...
def norms_screen(
    g: Any, f: Any, x: Any, norms: Any, d: int, f_cap: float, x_cap: float, tol: float, /
) -> tuple[bool, bool]: ...
def run_program(code: Any, addresses: Any, strides: Any, widths: Any, n: int, /) -> None: ...
