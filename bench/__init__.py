"""Benchmarks: ``python -m bench [name ...]`` runs them and prints their figures."""
