"""Helpers shared by the tests and the benchmarks (not shipped; pre-commit's layout).

Test modules and conftest.py files import these; they never import each other.
pytest fixtures stay in the conftest.py files, built from these helpers.
"""
