"""Benchmark scripts: python -m gptlab.benchmarks.<name> (numbers go to docs/benchmarks.md)."""
