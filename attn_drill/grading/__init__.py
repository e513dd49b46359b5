"""Grading: build cases, run a submission in isolation, check, diagnose, report."""
