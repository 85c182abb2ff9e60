"""orstream.pipelines: the library face, one live pipeline per modality (see docs/architecture.md)."""
