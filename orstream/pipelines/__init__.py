"""orstream.pipelines: the library face, one live pipeline per modality.

See docs/architecture.md.
"""
