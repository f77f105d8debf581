"""Benchmark suites: many protocol runs from one command, summarised beside published results."""
