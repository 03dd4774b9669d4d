"""Shared machinery with no domain knowledge: storage, ledger, detectors, settings."""
