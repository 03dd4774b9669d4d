"""The published package's import path: ``sentinel.pipeline.models`` is
:mod:`sentinel.forecast.models` itself (one copy of every class)."""
