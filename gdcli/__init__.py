"""gdcli: a command-line workbench for gradient descent and small neural networks."""

__version__ = "0.1.0"
