"""The benchmark suite: each module's main(argv) prints its figures (python -m bench --list)."""
