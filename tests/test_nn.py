"""gdcli.nn against float64 central differences, naive formulas and hand-made layers."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest

from gdcli import nn
from gdcli.engine.autograd import Tensor
from gdcli.errors import ConfigError
from gdcli.nn import Architecture, Layer

GRAD_RTOL = 1e-6

# -- an independent reference: the network's loss from textbook formulas --------

REF_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda z: z,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: z * (z > 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "heaviside": lambda z: (z > 0) * 1.0,
    "elu": lambda z: np.where(z > 0, z, np.exp(z) - 1.0),
    "softplus": lambda z: np.log(1.0 + np.exp(z)),
    "gelu": np.vectorize(lambda z: 0.5 * z * (1.0 + math.erf(z / math.sqrt(2.0)))),
}


def ref_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def ref_loss(
    arch: Architecture, flat: list[np.ndarray], X: np.ndarray, y: np.ndarray, l2: float
) -> float:
    """Loss of the network with parameters [W1, b1, ...], written out naively in float64."""
    h = X
    n_layers = len(flat) // 2
    for k in range(n_layers):
        z = h @ flat[2 * k] + flat[2 * k + 1]
        h = REF_ACTIVATIONS[arch.activations[k]](z) if k < n_layers - 1 else z
    if arch.output == "sigmoid":
        p = 1.0 / (1.0 + np.exp(-h[:, 0]))
        if arch.loss == "bce":
            data = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        else:
            data = np.mean((p - y) ** 2)
    elif arch.output == "softmax":
        p = ref_softmax(h)
        if arch.loss == "cross_entropy":
            data = -np.mean(np.log(p[np.arange(len(y)), y]))
        else:
            data = np.mean((p - np.eye(p.shape[1])[y]) ** 2)
    else:
        data = np.mean((h[:, 0] - y) ** 2)
    return float(data + 0.5 * l2 * sum(np.sum(W * W) for W in flat[::2]))


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| relative to the largest |b|."""
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


LOSS_CASES = {
    # name: (output, loss, n_out)
    "bce": ("sigmoid", "bce", 1),
    "cross_entropy": ("softmax", "cross_entropy", 3),
    "mse-regression": ("identity", "mse", 1),
    "mse-binary": ("sigmoid", "mse", 1),
    "mse-multiclass": ("softmax", "mse", 3),
}


def make_problem(
    activation: str, case: str, dtype: str = "float64", alpha: float | None = None, seed: int = 0
) -> tuple[Architecture, list[Layer], np.ndarray, np.ndarray]:
    """A 3-4-3-k network with random nonzero biases and a batch of 8 samples."""
    output, loss, k = LOSS_CASES[case]
    arch = Architecture((3, 4, 3, k), (activation, activation), alpha, output, loss, dtype)
    rng = np.random.default_rng(seed)
    layers = [
        Layer(W, (0.3 * rng.standard_normal(b.shape)).astype(dtype))
        for W, b in nn.init_layers(arch, "glorot_normal", None, rng)
    ]
    X = rng.standard_normal((8, 3))
    if output == "identity":
        y = rng.standard_normal(8)
    else:
        y = rng.integers(0, max(k, 2), 8)
    return arch, layers, X, y


# -- activations -------------------------------------------------------------

SMOOTH_ACTIVATIONS = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu"]


def test_activation_table_names() -> None:
    assert set(nn.ACTIVATIONS) == {*SMOOTH_ACTIVATIONS, "heaviside"}
    assert all(callable(a.graph) and callable(a.array) for a in nn.ACTIVATIONS.values())


@pytest.mark.parametrize(
    ("name", "alpha", "x", "expected"),
    [
        ("linear", None, -1.5, -1.5),
        ("relu", None, -1.0, 0.0),
        ("relu", None, 2.0, 2.0),
        ("leaky_relu", None, -1.0, -0.01),
        ("leaky_relu", 0.2, -2.0, -0.4),
        ("heaviside", None, 0.0, 0.0),
        ("heaviside", None, 1e-9, 1.0),
        ("elu", None, -1.0, math.exp(-1.0) - 1.0),
        ("elu", 0.5, -1.0, 0.5 * (math.exp(-1.0) - 1.0)),
        ("sigmoid", None, 0.0, 0.5),
        ("tanh", None, 1.0, math.tanh(1.0)),
        ("softplus", None, 0.0, math.log(2.0)),
        ("gelu", None, 1.0, 0.8413447460685429),  # exact, torch's default
    ],
)
def test_activation_values(name: str, alpha: float | None, x: float, expected: float) -> None:
    t = nn.activation(name, alpha)(Tensor(np.array([x])))
    assert t.data[0] == pytest.approx(expected, rel=1e-14, abs=1e-300)
    assert nn.activation_array(name, alpha)(np.array([x]))[0] == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("name", "alpha"), [(n, None) for n in nn.ACTIVATIONS] + [("leaky_relu", 0.3), ("elu", 2.0)]
)
def test_activation_array_equals_tensor_version(name: str, alpha: float | None, dtype: str) -> None:
    x = np.linspace(-30.0, 30.0, 601).astype(dtype)
    t = Tensor(x, requires_grad=True)
    out = nn.activation(name, alpha)(t)
    arr = nn.activation_array(name, alpha)(x)
    assert arr.dtype == np.dtype(dtype) and out.data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(arr, out.data)
    if out is not t:  # linear is the identity: no node
        out.backward()
        assert t.grad is not None and t.grad.dtype == np.dtype(dtype)


def test_unknown_activation_suggests_nearest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'relu'"):
        nn.activation("rleu")


# -- parameters and architecture ---------------------------------------------


def test_flatten_unflatten_order_and_roundtrip() -> None:
    layers = [Layer(np.ones((2, 3)), np.zeros(3)), Layer(np.full((3, 1), 2.0), np.ones(1))]
    flat = nn.flatten(layers)
    assert [a.shape for a in flat] == [(2, 3), (3,), (3, 1), (1,)]
    assert flat[2] is layers[1].W
    back = nn.unflatten(flat)
    assert all(a.W is b.W and a.b is b.b for a, b in zip(back, layers, strict=True))
    with pytest.raises(ValueError):
        nn.unflatten(flat[:3])


def test_architecture_n_params_and_dict_roundtrip() -> None:
    arch = Architecture(
        (30, 16, 8, 3), ("relu", "tanh"), 0.1, "softmax", "cross_entropy", "float32"
    )
    assert arch.n_params() == 30 * 16 + 16 + 16 * 8 + 8 + 8 * 3 + 3
    d = json.loads(json.dumps(arch.to_dict()))
    assert d == {
        "sizes": [30, 16, 8, 3],
        "activations": ["relu", "tanh"],
        "alpha": 0.1,
        "output": "softmax",
        "loss": "cross_entropy",
        "dtype": "float32",
    }
    assert Architecture.from_dict(d) == arch
    assert hash(Architecture.from_dict(d)) == hash(arch)
    with pytest.raises(ConfigError, match="unknown keys"):
        Architecture.from_dict({**d, "hidden": [3]})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"sizes": (3, 2), "activations": (), "output": "softmax", "loss": "bce"},
            "does not go with",
        ),
        (
            {"sizes": (3, 2), "activations": (), "output": "identity", "loss": "cross_entropy"},
            "does not go",
        ),
        ({"sizes": (3, 2), "activations": (), "output": "sigmoid", "loss": "bce"}, "needs 1 unit"),
        ({"sizes": (3, 1), "activations": (), "output": "softmax", "loss": "mse"}, "at least 2"),
        (
            {"sizes": (3, 4, 1), "activations": (), "output": "sigmoid", "loss": "bce"},
            "0 activations for 1",
        ),
        (
            {"sizes": (3, 4, 1), "activations": ("tnah",), "output": "sigmoid", "loss": "bce"},
            "did you mean 'tanh'",
        ),
        ({"sizes": (3, 0, 1), "activations": ("relu",)}, "positive integers"),
        ({"sizes": (3, 2.5, 1), "activations": ("relu",)}, "positive integers"),
        ({"sizes": (3, 1), "activations": (), "dtype": "float16"}, "unknown dtype"),
    ],
)
def test_architecture_rejects_inconsistent_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Architecture(**kwargs)


def test_default_output_and_loss() -> None:
    assert nn.default_output_and_loss("binary", 2) == ("sigmoid", "bce", 1)
    assert nn.default_output_and_loss("multiclass", 10) == ("softmax", "cross_entropy", 10)
    assert nn.default_output_and_loss("regression", None) == ("identity", "mse", 1)
    with pytest.raises(ConfigError):
        nn.default_output_and_loss("multiclass", 1)


# -- initializers ------------------------------------------------------------

FAN_IN, FAN_OUT = 300, 600
INIT_VARIANCE = {
    "glorot_uniform": 2.0 / (FAN_IN + FAN_OUT),
    "glorot_normal": 2.0 / (FAN_IN + FAN_OUT),
    "he_uniform": 2.0 / FAN_IN,
    "he_normal": 2.0 / FAN_IN,
    "lecun_uniform": 1.0 / FAN_IN,
    "lecun_normal": 1.0 / FAN_IN,
    "normal": 0.05**2,
}


@pytest.mark.parametrize("name", sorted(INIT_VARIANCE))
def test_initializer_variance_and_shape(name: str) -> None:
    arch = Architecture((FAN_IN, FAN_OUT), (), None, "softmax", "cross_entropy", "float64")
    std = 0.05 if name == "normal" else None
    [(W, b)] = nn.init_layers(arch, name, std, np.random.default_rng(0))
    assert W.shape == (FAN_IN, FAN_OUT) and b.shape == (FAN_OUT,)
    assert not b.any()
    var = INIT_VARIANCE[name]
    # 180000 draws: the sample variance is within 0.5% (normal) of the truth
    assert W.var() == pytest.approx(var, rel=0.03)
    assert abs(W.mean()) < 4 * math.sqrt(var / W.size)
    kurtosis = float(np.mean(W**4) / W.var() ** 2)
    if name.endswith("uniform"):
        limit = math.sqrt(3 * var)
        assert np.abs(W).max() <= limit
        assert np.abs(W).max() > 0.999 * limit
        assert kurtosis == pytest.approx(1.8, abs=0.05)
    else:
        assert kurtosis == pytest.approx(3.0, abs=0.1)


def test_default_normal_std() -> None:
    arch = Architecture((FAN_IN, FAN_OUT), (), None, "softmax", "cross_entropy", "float64")
    [(W, _)] = nn.init_layers(arch, "normal", None, np.random.default_rng(0))
    assert W.std() == pytest.approx(nn.DEFAULT_NORMAL_STD, rel=0.03)


def test_initializer_argument_errors() -> None:
    arch = Architecture((3, 2), (), None, "softmax", "cross_entropy")
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="did you mean 'he_normal'"):
        nn.init_layers(arch, "he_nromal", None, rng)
    with pytest.raises(ConfigError, match="std only applies"):
        nn.init_layers(arch, "glorot_uniform", 0.1, rng)
    with pytest.raises(ConfigError, match="std must be > 0"):
        nn.init_layers(arch, "normal", 0.0, rng)


def test_default_initializer_table() -> None:
    for name in ("relu", "leaky_relu", "elu", "gelu"):
        assert nn.default_initializer(name) == "he_normal"
    for name in ("sigmoid", "tanh", "linear", "softplus", "heaviside"):
        assert nn.default_initializer(name) == "glorot_uniform"


def test_init_is_reproducible_and_ordered_layer_by_layer() -> None:
    arch = Architecture((5, 7, 6, 3), ("relu", "relu"), None, "softmax", "cross_entropy", "float64")
    a = nn.init_layers(arch, "he_uniform", None, np.random.default_rng(42))
    b = nn.init_layers(arch, "he_uniform", None, np.random.default_rng(42))
    c = nn.init_layers(arch, "he_uniform", None, np.random.default_rng(43))
    for x, y in zip(nn.flatten(a), nn.flatten(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0].W, c[0].W)
    # the first layer is drawn first: a deeper network starts with the same matrix
    shallow = Architecture((5, 7, 3), ("relu",), None, "softmax", "cross_entropy", "float64")
    np.testing.assert_array_equal(
        nn.init_layers(shallow, "he_uniform", None, np.random.default_rng(42))[0].W, a[0].W
    )
    # the draws of each layer are one standardized array times the scale
    rng = np.random.default_rng(42)
    np.testing.assert_array_equal(a[0].W, rng.uniform(-1.0, 1.0, (5, 7)) * math.sqrt(6.0 / 5))
    np.testing.assert_array_equal(a[1].W, rng.uniform(-1.0, 1.0, (7, 6)) * math.sqrt(6.0 / 7))


@pytest.mark.parametrize("initializer", ["glorot_uniform", "he_normal", "normal"])
def test_same_weights_across_activations(initializer: str) -> None:
    results = [
        nn.init_layers(
            Architecture((4, 8, 8, 1), (act, act), None, "sigmoid", "bce"),
            initializer,
            None,
            np.random.default_rng(3),
        )
        for act in nn.ACTIVATIONS
    ]
    for other in results[1:]:
        for x, y in zip(nn.flatten(results[0]), nn.flatten(other), strict=True):
            np.testing.assert_array_equal(x, y)


def test_default_initializer_per_layer_and_dtype() -> None:
    arch64 = Architecture((5, 7, 3), ("relu",), None, "softmax", "cross_entropy", "float64")
    arch32 = Architecture((5, 7, 3), ("relu",), None, "softmax", "cross_entropy", "float32")
    default = nn.init_layers(arch64, None, None, np.random.default_rng(1))
    he = nn.init_layers(arch64, "he_normal", None, np.random.default_rng(1))
    np.testing.assert_array_equal(default[0].W, he[0].W)  # hidden relu layer: he_normal
    assert np.abs(default[1].W).max() <= math.sqrt(6.0 / (7 + 3))  # output: glorot_uniform
    single = nn.init_layers(arch32, None, None, np.random.default_rng(1))
    assert all(a.dtype == np.float32 for a in nn.flatten(single))
    for x, y in zip(nn.flatten(single), nn.flatten(default), strict=True):
        np.testing.assert_array_equal(x, y.astype(np.float32))


# -- fused losses ------------------------------------------------------------


def test_bce_with_logits_matches_naive_formula() -> None:
    rng = np.random.default_rng(0)
    z = Tensor(rng.normal(0, 3, (10, 1)), requires_grad=True)
    y = rng.integers(0, 2, 10)
    out = nn.bce_with_logits(z, y)
    p = 1.0 / (1.0 + np.exp(-z.data[:, 0]))
    assert float(out.data) == pytest.approx(
        -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), rel=1e-12
    )
    out.backward()
    assert z.grad is not None
    np.testing.assert_allclose(z.grad[:, 0], (p - y) / 10, rtol=1e-12)


def test_softmax_cross_entropy_matches_naive_formula() -> None:
    rng = np.random.default_rng(1)
    z = Tensor(rng.normal(0, 3, (6, 4)), requires_grad=True)
    y = np.array([0, 3, 1, 1, 2, 3])
    out = nn.softmax_cross_entropy(z, y)
    p = ref_softmax(z.data)
    assert float(out.data) == pytest.approx(-np.mean(np.log(p[np.arange(6), y])), rel=1e-12)
    out.backward()
    np.testing.assert_allclose(z.grad, (p - np.eye(4)[y]) / 6, rtol=1e-12, atol=1e-15)


def test_mse_is_mean_over_all_elements() -> None:
    pred = Tensor(np.array([[1.0, 2.0], [3.0, 5.0]]), requires_grad=True)
    target = np.array([[0.0, 2.0], [1.0, 1.0]])
    out = nn.mse(pred, target)
    assert float(out.data) == (1 + 0 + 4 + 16) / 4
    out.backward()
    np.testing.assert_array_equal(pred.grad, np.array([[0.5, 0.0], [1.0, 2.0]]))


def test_softmax_node_gradient() -> None:
    rng = np.random.default_rng(2)
    z0 = rng.standard_normal((3, 4))
    w = rng.standard_normal((3, 4))
    z = Tensor(z0, requires_grad=True)
    (nn.softmax(z) * w).sum().backward()
    p = ref_softmax(z0)
    # d/dz sum(w * softmax(z)) = p * (w - sum(w p)) row by row
    np.testing.assert_allclose(z.grad, p * (w - (w * p).sum(axis=1, keepdims=True)), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_losses_are_stable_at_huge_logits(dtype: str) -> None:
    z = Tensor(
        np.array([[1000.0], [-1000.0], [1000.0], [-1000.0]], dtype=dtype), requires_grad=True
    )
    out = nn.bce_with_logits(z, np.array([0, 1, 1, 0]))
    assert float(out.data) == 500.0
    out.backward()
    np.testing.assert_array_equal(z.grad[:, 0], np.array([0.25, -0.25, 0.0, 0.0], dtype=dtype))

    z2 = Tensor(
        np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]], dtype=dtype), requires_grad=True
    )
    out2 = nn.softmax_cross_entropy(z2, np.array([1, 1]))
    assert float(out2.data) == 1000.0  # (2000 + 0) / 2
    out2.backward()
    np.testing.assert_array_equal(
        z2.grad, np.array([[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], dtype=dtype)
    )
    assert out.data.dtype == out2.data.dtype == np.dtype(dtype)


def test_mse_on_classification_uses_output_activation() -> None:
    arch_b = Architecture((2, 1), (), None, "sigmoid", "mse", "float64")
    z = np.array([[0.0], [2.0], [-1.0]])
    y = np.array([1, 0, 0])
    p = 1 / (1 + np.exp(-z[:, 0]))
    assert float(nn.loss(arch_b, Tensor(z), y).data) == pytest.approx(
        np.mean((p - y) ** 2), rel=1e-14
    )
    arch_m = Architecture((2, 3), (), None, "softmax", "mse", "float64")
    zm = np.array([[0.0, 1.0, 2.0], [3.0, 0.0, -1.0]])
    ym = np.array([2, 1])
    expected = np.mean((ref_softmax(zm) - np.eye(3)[ym]) ** 2)  # over n * k elements
    assert float(nn.loss(arch_m, Tensor(zm), ym).data) == pytest.approx(expected, rel=1e-14)


# -- whole-network gradients -------------------------------------------------


@pytest.mark.parametrize("case", list(LOSS_CASES))
@pytest.mark.parametrize("activation", SMOOTH_ACTIVATIONS)
def test_network_gradient_matches_central_differences(
    activation: str, case: str, fd_gradient: Callable[..., np.ndarray]
) -> None:
    arch, layers, X, y = make_problem(activation, case)
    l2 = 0.05
    value, grads, logits = nn.loss_and_grads(arch, layers, X, y, l2)
    flat = nn.flatten(layers)
    assert value == pytest.approx(ref_loss(arch, flat, X, y, l2), rel=1e-12)
    assert logits.shape == (8, arch.sizes[-1])

    assert nn.check_gradients(arch, layers, X, y, l2) < GRAD_RTOL

    # an independent check: the textbook loss, differenced one parameter at a time
    for i, g in enumerate(nn.flatten(grads)):
        assert g.shape == flat[i].shape and g.dtype == np.float64

        def f(p: np.ndarray, i: int = i) -> float:
            return ref_loss(arch, [*flat[:i], p, *flat[i + 1 :]], X, y, l2)

        assert max_rel(g, fd_gradient(f, flat[i])) < GRAD_RTOL


@pytest.mark.parametrize(("activation", "alpha"), [("leaky_relu", 0.2), ("elu", 0.5)])
def test_network_gradient_with_alpha(activation: str, alpha: float) -> None:
    arch, layers, X, y = make_problem(activation, "bce", alpha=alpha)
    assert nn.check_gradients(arch, layers, X, y) < GRAD_RTOL
    # alpha changes the loss: the hidden units do take negative inputs
    default = Architecture(arch.sizes, arch.activations, None, arch.output, arch.loss, arch.dtype)
    assert nn.loss_and_grads(arch, layers, X, y)[0] != nn.loss_and_grads(default, layers, X, y)[0]


def test_check_gradients_catches_a_wrong_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    arch, layers, X, y = make_problem("tanh", "bce")
    right = nn.bce_with_logits

    def wrong(z: Tensor, y: np.ndarray) -> Tensor:
        out = right(z, y)
        inner = out._backward
        if inner is not None:  # None when check_gradients only evaluates the loss
            out._backward = lambda g: inner(1.01 * g)  # 1% too large everywhere
        return out

    monkeypatch.setattr("gdcli.nn.losses.bce_with_logits", wrong)
    assert nn.check_gradients(arch, layers, X, y) == pytest.approx(0.01 / 2.01, rel=1e-3)


def test_l2_penalizes_weights_not_biases() -> None:
    arch, layers, X, y = make_problem("tanh", "cross_entropy")
    v0, g0, _ = nn.loss_and_grads(arch, layers, X, y)
    v1, g1, _ = nn.loss_and_grads(arch, layers, X, y, l2=0.3)
    assert v1 - v0 == pytest.approx(0.15 * sum(float(np.sum(W * W)) for W, _ in layers), rel=1e-12)
    for (W, _), a, b in zip(layers, g0, g1, strict=True):
        np.testing.assert_allclose(b.W - a.W, 0.3 * W, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(b.b, a.b)


def test_heaviside_passes_no_gradient_to_hidden_layers() -> None:
    arch, layers, X, y = make_problem("heaviside", "cross_entropy")
    _, grads, _ = nn.loss_and_grads(arch, layers, X, y, l2=0.0)
    for g in grads[:-1]:
        assert not g.W.any() and not g.b.any()
    assert np.abs(grads[-1].W).max() > 1e-3  # the output layer still learns
    # the loss is flat in the hidden weights: the differences agree with the zeros
    assert nn.check_gradients(arch, layers, X, y) < GRAD_RTOL


def test_forward_does_not_differentiate_the_input() -> None:
    arch, layers, X, _ = make_problem("relu", "bce")
    params = [(Tensor(W, requires_grad=True), Tensor(b, requires_grad=True)) for W, b in layers]
    logits = nn.forward(arch, params, X)
    logits.sum().backward()
    node = logits
    while node.parents:  # walk back along the dense/activation chain to the input
        node = node.parents[0]
    assert node.op == "const" and node.grad is None and not node.requires_grad
    np.testing.assert_array_equal(node.data, X)


# -- float32 ------------------------------------------------------------------


@pytest.mark.parametrize("case", list(LOSS_CASES))
@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", "elu", "softplus", "sigmoid"])
def test_float32_end_to_end(activation: str, case: str) -> None:
    arch32, layers32, X, y = make_problem(activation, case, dtype="float32")
    value, grads, logits = nn.loss_and_grads(arch32, layers32, X, y, l2=0.01)
    assert logits.dtype == np.float32
    assert all(g.dtype == np.float32 for g in nn.flatten(grads))
    assert [g.shape for g in nn.flatten(grads)] == [p.shape for p in nn.flatten(layers32)]
    # the same numbers as in float64, to float32 precision
    arch64 = Architecture(
        arch32.sizes, arch32.activations, None, arch32.output, arch32.loss, "float64"
    )
    layers64 = [Layer(W.astype(np.float64), b.astype(np.float64)) for W, b in layers32]
    value64, grads64, _ = nn.loss_and_grads(arch64, layers64, X, y, l2=0.01)
    assert value == pytest.approx(value64, rel=1e-5)
    for a, b in zip(nn.flatten(grads), nn.flatten(grads64), strict=True):
        assert float(np.max(np.abs(a - b))) < 1e-5 * max(1.0, float(np.max(np.abs(b))))
    assert nn.predict_proba(arch32, layers32, X).dtype == np.float32


@pytest.mark.parametrize("case", list(LOSS_CASES))
@pytest.mark.parametrize("activation", sorted(nn.ACTIVATIONS))
def test_float32_every_node_and_adjoint(activation: str, case: str) -> None:
    arch, layers, X, y = make_problem(activation, case, dtype="float32", alpha=0.2)
    params = [(Tensor(W, requires_grad=True), Tensor(b, requires_grad=True)) for W, b in layers]
    value = nn.loss(arch, nn.forward(arch, params, X), y)
    value.backward()
    nodes = value.topological_order()
    assert len(nodes) >= 11  # X, 6 parameters, 3 dense nodes, the loss (and activations)
    for node in nodes:
        assert node.data.dtype == np.float32, node.op
        assert node.grad is None or node.grad.dtype == np.float32, node.op


# -- inference ---------------------------------------------------------------


@pytest.mark.parametrize("case", ["bce", "cross_entropy", "mse-binary", "mse-multiclass"])
def test_predict_proba_and_predict(case: str) -> None:
    arch, layers, _, _ = make_problem("tanh", case)
    X = np.random.default_rng(5).standard_normal((50, 3))
    proba = nn.predict_proba(arch, layers, X)
    _, _, logits = nn.loss_and_grads(arch, layers, X, np.zeros(50, dtype=np.int64))
    n_classes = max(arch.sizes[-1], 2)
    assert proba.shape == (50, n_classes)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    if arch.output == "sigmoid":
        np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-logits[:, 0])), rtol=1e-12)
    else:
        np.testing.assert_allclose(proba, ref_softmax(logits), rtol=1e-12)
    pred = nn.predict(arch, layers, X)
    assert pred.dtype == np.int64
    np.testing.assert_array_equal(pred, proba.argmax(axis=1))
    assert 0 < pred.sum() < 50 * (n_classes - 1)  # not a constant prediction


def test_predict_regression_returns_values() -> None:
    arch, layers, X, _ = make_problem("relu", "mse-regression")
    _, _, logits = nn.loss_and_grads(arch, layers, X, np.zeros(8))
    np.testing.assert_allclose(nn.predict_proba(arch, layers, X), logits, rtol=1e-12)
    np.testing.assert_allclose(nn.predict(arch, layers, X), logits[:, 0], rtol=1e-12)


def test_logits_array_matches_graph_forward() -> None:
    arch, layers, X, y = make_problem("leaky_relu", "cross_entropy", alpha=0.3)
    _, _, logits = nn.loss_and_grads(arch, layers, X, y)
    np.testing.assert_array_equal(nn.logits_array(arch, layers, X), logits)


# -- saturation --------------------------------------------------------------


def test_saturation_stats_on_hand_made_layers() -> None:
    arch = Architecture(
        (2, 4, 3, 3, 1), ("relu", "tanh", "sigmoid"), None, "sigmoid", "bce", "float64"
    )
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 1.0]])
    # relu layer: z = [x0, -x0 - 5, 0, x0 - x1] -> units 1 (always < 0) and 2 (always 0) dead
    W1 = np.array([[1.0, -1.0, 0.0, 1.0], [0.0, 0.0, 0.0, -1.0]])
    b1 = np.array([0.0, -5.0, 0.0, 0.0])
    # tanh layer: z = [2 h0, 2.6, -3] = [[2, 2.6, -3], [0, 2.6, -3], [4, 2.6, -3]];
    # tanh'(z) < 0.02 for |z| > 2.64: 1 + 0 + 3 of 9 pairs
    W2 = np.zeros((4, 3))
    W2[0, 0] = 2.0
    b2 = np.array([0.0, 2.6, -3.0])
    # sigmoid layer: z = [3.95, -3.8, 0] on every sample; sigmoid' < 0.02 for |z| > 3.87
    W3 = np.zeros((3, 3))
    b3 = np.array([3.95, -3.8, 0.0])
    layers = [Layer(W1, b1), Layer(W2, b2), Layer(W3, b3), Layer(np.ones((3, 1)), np.zeros(1))]
    stats = nn.saturation_stats(arch, layers, X)
    assert stats["layers"] == [
        {"activation": "relu", "units": 4, "dead_fraction": 0.5, "saturated_fraction": None},
        {"activation": "tanh", "units": 3, "dead_fraction": None, "saturated_fraction": 4 / 9},
        {"activation": "sigmoid", "units": 3, "dead_fraction": None, "saturated_fraction": 3 / 9},
    ]
    assert stats["dead_fraction"] == 0.5
    assert stats["saturated_fraction"] == 7 / 18
    json.dumps(stats)


def test_saturation_stats_without_relu_or_squashing_layers() -> None:
    arch, layers, X, _ = make_problem("gelu", "bce")
    stats = nn.saturation_stats(arch, layers, X)
    assert stats["dead_fraction"] is None and stats["saturated_fraction"] is None
    assert [e["units"] for e in stats["layers"]] == [4, 3]
