"""The training step without a graph: ``loss_and_grads``'s numbers into preallocated
buffers, for the trainer's many minibatches.

``mlp.loss_and_grads`` builds a small evaluation graph per minibatch, the lecture's
view of backpropagation. Its shape never changes between minibatches, so the
trainer runs the same floating-point operations as a flat program instead:
``Step`` writes every dense layer's product, every adjoint and every gradient with
``out=`` into arrays kept between calls (one set per minibatch size), with no node,
closure or topological sort per layer. What it saves: the graph's Python objects
and sort, and a fresh array per product and gradient (for a wide network, the page
faults of touching new memory).

The numbers are ``loss_and_grads``'s to the last bit: the same numpy calls on the
same operands in the same order (``x @ W`` then ``+= b``; adjoints ``x.T @ g``,
``g.sum(axis=0)``, ``g @ W.T``; relu's ``max(z, 0)`` and ``g * (z > 0)``; the L2
terms added in layer order). In a chain each parameter gets exactly one adjoint
contribution, so no sum of contributions can come out in another order. The losses
from the logits run as the array functions their nodes wrap (``LOGIT_LOSSES``); the
other hidden activations, and mse with its output activation, run as the graph ops
themselves on a leaf holding their input (their node and its backward closure, so
there is no second copy of their formulas), at a node or two each.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gdcli.engine.autograd import Tensor
from gdcli.nn.activations import activation
from gdcli.nn.losses import LOGIT_LOSSES
from gdcli.nn.mlp import Architecture, loss

Op = Callable[[Tensor], Tensor]


def pack(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray | None, list[np.ndarray]]:
    """Copies of ``arrays`` as views of one flat array: ``(flat, views)``; when the
    arrays do not share one dtype, ``(None, copies)``."""
    if len({a.dtype for a in arrays}) != 1:
        return None, [a.copy() for a in arrays]
    flat = np.concatenate([a.ravel() for a in arrays])
    bounds = np.cumsum([0] + [a.size for a in arrays])
    ends = itertools.pairwise(bounds)
    return flat, [flat[i:j].reshape(a.shape) for a, (i, j) in zip(arrays, ends, strict=True)]


@dataclass
class _Buffers:
    """Every array of one minibatch size m: per layer k its output ``z[k]`` (m, out_k),
    which a relu layer turns into its activation in place; per relu layer the mask
    ``z > 0`` (None for the other activations); per layer after the first the adjoint
    of its input ``gx[k]`` (m, in_k)."""

    z: list[np.ndarray]
    mask: list[np.ndarray | None]
    gx: list[np.ndarray | None]


class Step:
    """``loss_and_grads(arch, unflatten(params), X, y, l2)`` into buffers.

    ``params`` ([W1, b1, W2, b2, ...] in the architecture's dtype) are read at every
    call, so the caller may update them in place between calls. A call returns the
    loss (the L2 penalty included), the penalty alone (``0.5 * l2 * sum(W**2)``, summed
    as the trainer sums it), the gradients (``grads``: the same arrays every call, views
    of ``flat_grad``) and the logits (m, n_out); the arrays hold until the next call.
    """

    def __init__(self, arch: Architecture, params: Sequence[np.ndarray], l2: float = 0.0) -> None:
        self.arch = arch
        self.params = list(params)
        self.l2 = l2
        flat_grad, self.grads = pack([np.empty_like(p) for p in self.params])
        assert flat_grad is not None  # one dtype: ``applies``
        self.flat_grad = flat_grad
        relu = activation("relu")
        self._ops: list[Op | None] = [
            None if op is relu else op
            for op in (activation(a, arch.alpha) for a in arch.activations)
        ]
        self._buffers: dict[int, _Buffers] = {}

    @staticmethod
    def applies(arch: Architecture, params: Sequence[np.ndarray]) -> bool:
        """Whether ``Step`` applies to these parameters: arrays of the architecture's
        dtype (``loss_and_grads`` casts others; ``Step`` computes in place) in C order."""
        return all(p.dtype == arch.np_dtype and p.flags.c_contiguous for p in params)

    def _for_rows(self, m: int) -> _Buffers:
        b = self._buffers.get(m)
        if b is None:
            dt, sizes, relu = self.arch.np_dtype, self.arch.sizes, [op is None for op in self._ops]
            z = [np.empty((m, n), dtype=dt) for n in sizes[1:]]
            b = self._buffers[m] = _Buffers(
                z,
                [np.empty(z[k].shape, dtype=bool) if r else None for k, r in enumerate(relu)],
                [None] + [np.empty((m, n), dtype=dt) for n in sizes[1:-1]],
            )
        return b

    def __call__(
        self, X: np.ndarray, y: np.ndarray
    ) -> tuple[float, float, list[np.ndarray], np.ndarray]:
        """(loss, penalty, grads, logits) of the rows X (m, n_in) against y (m,)."""
        X = np.asarray(X, dtype=self.arch.np_dtype)
        buf = self._for_rows(X.shape[0])
        inputs, nodes = self._forward(X, buf)
        value, g = self._head(buf.z[-1], y)
        self._backward(g, inputs, nodes, buf)
        total = float(value)
        terms = self._penalty_terms()
        for t in terms:
            total += t
        return total, sum(terms, 0.0), self.grads, buf.z[-1]

    def _forward(
        self, X: np.ndarray, buf: _Buffers
    ) -> tuple[list[np.ndarray], list[tuple[Tensor, Tensor] | None]]:
        """Every layer's input (X, then the hidden activations) and, per hidden layer
        whose activation runs as its graph op, its (leaf, node)."""
        p, h = self.params, X
        inputs: list[np.ndarray] = []
        nodes: list[tuple[Tensor, Tensor] | None] = []
        for k, z in enumerate(buf.z):
            inputs.append(h)
            np.matmul(h, p[2 * k], out=z)
            z += p[2 * k + 1]
            if k == len(self._ops):
                break
            op = self._ops[k]
            if op is None:
                h = np.maximum(z, 0.0, out=z)  # relu in place
                nodes.append(None)
            else:
                leaf = Tensor(z, requires_grad=True)
                node = op(leaf)
                h = node.data
                nodes.append((leaf, node))
        return inputs, nodes

    def _head(self, logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The loss (0-d) of the logits (m, n_out) against y and its adjoint there: a
        loss from the logits on arrays, the others (mse after the output activation)
        as their graph from a leaf holding the logits."""
        on_logits = LOGIT_LOSSES.get(self.arch.loss)
        if on_logits is not None:
            value, adjoint = on_logits(logits, y)
            # the seed of ``Tensor.backward``: d loss / d loss = 1
            return value, adjoint(np.ones((), dtype=value.dtype))
        leaf = Tensor(logits, requires_grad=True)
        node = loss(self.arch, leaf, y)
        node.backward()
        assert leaf.grad is not None
        return node.data, leaf.grad

    def _backward(
        self,
        g: np.ndarray,
        inputs: list[np.ndarray],
        nodes: list[tuple[Tensor, Tensor] | None],
        buf: _Buffers,
    ) -> None:
        """The adjoints from the logits' ``g`` (m, n_out) back to the first layer,
        each parameter's gradient into ``grads``."""
        p, grads = self.params, self.grads
        for k in range(len(buf.z) - 1, -1, -1):
            np.matmul(inputs[k].T, g, out=grads[2 * k])
            np.add.reduce(g, axis=0, out=grads[2 * k + 1])  # g.sum(axis=0)
            if k == 0:
                break
            gx = buf.gx[k]
            assert gx is not None
            g = np.matmul(g, p[2 * k].T, out=gx)
            g = self._activation_backward(g, k - 1, nodes[k - 1], buf)
        if self.l2:
            for W, gW in zip(p[::2], grads[::2], strict=True):
                gW += self.l2 * W

    @staticmethod
    def _activation_backward(
        g: np.ndarray, k: int, node: tuple[Tensor, Tensor] | None, buf: _Buffers
    ) -> np.ndarray:
        """The adjoint of hidden layer k's input from that of its output ``g``."""
        if node is None:
            # relu(z) > 0 exactly where z > 0 (nan nowhere), so the relu output in z
            # gives the graph's mask
            mask = buf.mask[k]
            assert mask is not None
            return np.multiply(g, np.greater(buf.z[k], 0, out=mask), out=g)
        leaf, out = node
        if out is leaf:  # linear: the identity is no node at all
            return g
        assert out._backward is not None
        out._backward(g)
        assert leaf.grad is not None
        return leaf.grad

    def _penalty_terms(self) -> list[float]:
        """``0.5 * l2 * sum(W**2)`` of each weight matrix, in layer order (none without l2)."""
        if not self.l2:
            return []
        return [0.5 * self.l2 * float(np.vdot(W, W)) for W in self.params[::2]]
