"""Throughput, overhead, decode and memory benchmarks of the apps (`python -m bench`)."""
