"""The evaluation graph and what it differentiates.

autograd (the graph), expr (safe formulas), functions (test functions), analysis.
"""
