"""orstream.policies: what this package owns is in docs/architecture.md."""

__all__: list[str] = []
