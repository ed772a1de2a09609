"""Library for building LiVO-style value-preference datasets (plain functions, no Prefect)."""

__version__ = "0.1.0"
