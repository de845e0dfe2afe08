"""Judging answers: string metrics, question files, and (later) the runner for every arm."""
