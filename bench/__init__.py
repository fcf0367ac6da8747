"""Benchmarks for rt_widgets: each prints ratios against a baseline measured in the same run."""
