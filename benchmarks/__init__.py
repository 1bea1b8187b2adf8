"""walletpool's benchmarks: run with `python -m benchmarks`."""
