"""``python -m bench``: run every benchmark once (each prints its own figures)."""

from bench import openapi_diff

if __name__ == "__main__":
    openapi_diff.main([])
