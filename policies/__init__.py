"""orstream.policies: see ARCHITECTURE.md for what this package owns."""
