"""The compiled loops of a descent (gdcli/engine/_native.c); everything else about the
package is in pyproject.toml.

The extension is optional: where no C compiler is found the install goes on without
it and gdcli runs its numpy paths, which give the same numbers. -ffp-contract=off
keeps a*b + c two roundings, as numpy makes it, instead of one fused multiply-add.
"""

import sys

from setuptools import Extension, setup

FLAGS = [] if sys.platform == "win32" else ["-O3", "-ffp-contract=off", "-fno-math-errno"]

setup(
    ext_modules=[
        Extension(
            "gdcli.engine._native",
            sources=["gdcli/engine/_native.c"],
            extra_compile_args=FLAGS,
            optional=True,
        )
    ]
)
