"""Verifiers: check a completion against a reference answer or tests and return a `Verdict`."""
