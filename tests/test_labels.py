"""Optimizer labels name every hyper-parameter that makes the method other than plain."""

from __future__ import annotations

from typing import Any

import pytest

from gdcli.experiments.config import OPTIMIZER_MODELS, describe_optimizer


def label(name: str, **hyper: Any) -> str:
    return describe_optimizer(OPTIMIZER_MODELS[name](name=name, **hyper))


@pytest.mark.parametrize(
    ("name", "hyper", "expected"),
    [
        # adamw's default decay 0.01 is not plain Adam: the label shows it
        ("adamw", {"lr": 0.01}, "adamw(lr=0.01, weight_decay=0.01)"),
        ("adamw", {"lr": 0.01, "weight_decay": 0.0}, "adamw(lr=0.01, weight_decay=0)"),
        ("adam", {"lr": 0.01}, "adam(lr=0.01)"),
        ("adam", {"lr": 0.01, "weight_decay": 0.01}, "adam(lr=0.01, weight_decay=0.01)"),
        ("gd", {"weight_decay": 0.1}, "gd(lr=0.01, weight_decay=0.1)"),
        ("momentum", {"lr": 0.05}, "momentum(lr=0.05)"),
        ("momentum", {"momentum": 0.5}, "momentum(lr=0.01, momentum=0.5)"),
    ],
)
def test_labels_show_what_differs_from_the_plain_method(
    name: str, hyper: dict[str, Any], expected: str
) -> None:
    assert label(name, **hyper) == expected
