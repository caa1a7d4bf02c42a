"""The version of xai, in one place (setuptools reads it too)."""

__version__ = "0.1.0"
