"""Benchmarking: the self-contained device runner and the host side that drives it."""
