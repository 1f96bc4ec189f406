"""Experiments: validated configs, plans, runners, outcomes, and the job layer."""
