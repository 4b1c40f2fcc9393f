"""Benchmarks: runnable scripts that print figures (medians of several runs)."""
