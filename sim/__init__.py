"""orstream.sim: see ARCHITECTURE.md for what this package owns."""
