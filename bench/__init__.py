"""Benchmarks: side-by-side figures against the peers a user would pick instead."""
