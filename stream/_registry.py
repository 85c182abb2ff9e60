"""One registry that opens sources and sinks by URI.

A URI's scheme names a kind of source or sink (``zmq+tcp``, ``file``, ``dicom``, ``sim``...);
a module that provides one calls :func:`register_source` / :func:`register_sink` when it is
imported. The runtime never names a transport: it opens whatever the registry gives it. A
scheme no module has registered yet is looked up among the ``orstream.sources`` /
``orstream.sinks`` entry points (a package, this one included, names there the module that
registers it), so a new kind of source is a new module, never an edit of this file.
"""

from __future__ import annotations

import importlib.metadata
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from ._protocols import Sink, Source

SourceOpener = Callable[["ResourceUri"], "Source"]
SinkOpener = Callable[["ResourceUri"], "Sink"]

_Opener = TypeVar("_Opener", SourceOpener, SinkOpener)

_SOURCES: dict[str, SourceOpener] = {}
_SINKS: dict[str, SinkOpener] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class ResourceUri:
    """A parsed source or sink URI: ``scheme:rest?key=value&...``.

    ``target`` is what stands between the scheme and the query (a path, ``HOST:PORT``, a
    modality), without a leading ``//``; ``query`` holds the last value of each key.
    """

    text: str
    scheme: str
    target: str
    query: Mapping[str, str]

    def check_keys(self, allowed: set[str] | frozenset[str]) -> None:
        """ValueError naming the query keys outside ``allowed``."""
        unknown = sorted(set(self.query) - set(allowed))
        if unknown:
            raise ValueError(
                f"{self.text!r}: unknown option(s) {unknown} (known: {sorted(allowed) or 'none'})"
            )

    def number(self, key: str, default: float | None = None, *, minimum: float = 0.0) -> Any:
        """The float value of ``key`` (``default`` when absent); ValueError unless > minimum."""
        if key not in self.query:
            return default
        try:
            value = float(self.query[key])
        except ValueError:
            raise ValueError(f"{self.text!r}: {key}={self.query[key]!r} is not a number") from None
        if not (value > minimum and math.isfinite(value)):
            raise ValueError(f"{self.text!r}: {key} must be a finite number > {minimum:g}")
        return value

    def integer(self, key: str, default: int | None = None) -> Any:
        """The int value of ``key`` (``default`` when absent); ValueError when not a whole
        number."""
        if key not in self.query:
            return default
        try:
            return int(self.query[key])
        except ValueError:
            raise ValueError(
                f"{self.text!r}: {key}={self.query[key]!r} is not a whole number"
            ) from None

    def flag(self, key: str) -> bool:
        """True for ``key=1``, False for ``key=0`` or when absent; ValueError otherwise."""
        value = self.query.get(key, "0")
        if value not in ("0", "1"):
            raise ValueError(f"{self.text!r}: {key} must be 0 or 1; got {value!r}")
        return value == "1"


def parse_uri(text: str) -> ResourceUri:
    """Split ``text`` into scheme, target and query; ValueError without a ``scheme:``."""
    scheme, sep, _ = text.partition(":")
    if not sep or not scheme or "/" in scheme:
        raise ValueError(f"{text!r} is not a URI: expected SCHEME:... (known: {schemes()})")
    parts = urlsplit(text)
    target = text[len(scheme) + 1 :].split("?", 1)[0].removeprefix("//")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return ResourceUri(text=text, scheme=scheme.lower(), target=target, query=query)


def register_source(scheme: str, opener: SourceOpener) -> None:
    """Make :func:`open_source` open URIs of ``scheme`` with ``opener(uri)``."""
    with _LOCK:
        _SOURCES[scheme.lower()] = opener


def register_sink(scheme: str, opener: SinkOpener) -> None:
    """Make :func:`open_sink` open URIs of ``scheme`` with ``opener(uri)``."""
    with _LOCK:
        _SINKS[scheme.lower()] = opener


def open_source(text: str) -> Source:
    """The source a URI names; ValueError (one line) for an unknown scheme or bad options."""
    uri = parse_uri(text)
    return _lookup(_SOURCES, "orstream.sources", uri, "source")(uri)


def open_sink(text: str) -> Sink:
    """The sink a URI names; ValueError (one line) for an unknown scheme or bad options."""
    uri = parse_uri(text)
    return _lookup(_SINKS, "orstream.sinks", uri, "sink")(uri)


def schemes(kind: str = "source") -> list[str]:
    """The schemes registered so far, and those entry points offer, for ``kind``."""
    table = _SOURCES if kind == "source" else _SINKS
    group = "orstream.sources" if kind == "source" else "orstream.sinks"
    offered = {ep.name for ep in importlib.metadata.entry_points(group=group)}
    return sorted(set(table) | offered)


def _lookup(table: dict[str, _Opener], group: str, uri: ResourceUri, kind: str) -> _Opener:
    opener = table.get(uri.scheme)
    if opener is None:
        for entry in importlib.metadata.entry_points(group=group, name=uri.scheme):
            entry.load()  # the module registers its scheme when imported
        opener = table.get(uri.scheme)
    if opener is None:
        raise ValueError(
            f"{kind} {uri.text!r}: unknown scheme {uri.scheme!r} (known: {schemes(kind)})"
        )
    return opener
