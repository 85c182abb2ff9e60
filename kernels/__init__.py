"""orstream.kernels: see ARCHITECTURE.md for what this package owns."""
