"""PLog CI: a git-native performance gate for HTTP APIs."""

__version__ = "0.1.0"
