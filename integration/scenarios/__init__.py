"""Scenario modules: every module in this package is imported by integration/run (file-name order)
and registers scenarios / image kinds through harness.registry (see its docstring)."""
