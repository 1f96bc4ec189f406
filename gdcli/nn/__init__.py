"""Multilayer perceptrons on the autograd engine.

``activations`` holds the one table of hidden-layer activations, ``losses`` the
fused loss nodes and output activations, ``init`` the weight initializers and
``mlp`` the architecture, the training step's graph and inference without a graph,
``fused`` the same training step into preallocated buffers, for the trainer.
"""

from gdcli.nn.activations import ACTIVATIONS, Activation, activation, activation_array
from gdcli.nn.fused import Step, pack
from gdcli.nn.init import DEFAULT_NORMAL_STD, INITIALIZERS, default_initializer, init_layers
from gdcli.nn.losses import (
    LOSSES,
    OUTPUTS,
    LossName,
    Output,
    bce_with_logits,
    mse,
    softmax,
    softmax_array,
    softmax_cross_entropy,
)
from gdcli.nn.mlp import (
    DTYPES,
    MAX_TRAINING_BYTES,
    SATURATION_DERIVATIVE,
    Architecture,
    DType,
    Layer,
    check_gradients,
    check_size,
    default_output_and_loss,
    dense,
    flatten,
    forward,
    layer_values,
    logits_array,
    loss,
    loss_and_grads,
    predict,
    predict_proba,
    saturation_stats,
    training_bytes,
    unflatten,
)

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_NORMAL_STD",
    "DTYPES",
    "INITIALIZERS",
    "LOSSES",
    "MAX_TRAINING_BYTES",
    "OUTPUTS",
    "SATURATION_DERIVATIVE",
    "Activation",
    "Architecture",
    "DType",
    "Layer",
    "LossName",
    "Output",
    "Step",
    "activation",
    "activation_array",
    "bce_with_logits",
    "check_gradients",
    "check_size",
    "default_initializer",
    "default_output_and_loss",
    "dense",
    "flatten",
    "forward",
    "init_layers",
    "layer_values",
    "logits_array",
    "loss",
    "loss_and_grads",
    "mse",
    "pack",
    "predict",
    "predict_proba",
    "saturation_stats",
    "softmax",
    "softmax_array",
    "softmax_cross_entropy",
    "training_bytes",
    "unflatten",
]
