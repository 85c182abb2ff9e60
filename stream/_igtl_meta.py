"""OpenIGTLink IMGMETA and LBMETA messages: the lists of images and label maps a server can
send, the answers to Slicer's ``GET_IMGMETA`` / ``GET_LBMETA`` (its query node's "remote data"
list, from which it then asks ``GET_IMAGE`` for one device). pyigtl has neither.

Layouts (OpenIGTLink v2): IMGMETA items of 260 bytes (name 64, device 20, modality 32,
patient name 64, patient id 64, timestamp uint64, size uint16 x 3, scalar type uint8, one
reserved byte); LBMETA items of 116 bytes (name 64, device 20, label uint8, reserved, RGBA,
size uint16 x 3, owner image 20). Patient fields are always empty: no identifiers leave.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pyigtl.messages import MessageBase

_IMGMETA: Final = struct.Struct(">64s20s32s64s64sQHHHBx")
_LBMETA: Final = struct.Struct(">64s20sBx4BHHH20s")
_SCALAR: Final = {"i1": 2, "u1": 3, "i2": 4, "u2": 5, "i4": 6, "u4": 7, "f4": 10, "f8": 11}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """One entry of a meta list: ``device`` name, (W, H) ``size``, numpy ``dtype`` string
    (``u1``, ``u2``...), ``modality`` text, ``t_s`` capture time (s since the epoch)."""

    device: str
    size: tuple[int, int]
    dtype: str
    modality: str = ""
    t_s: float = 0.0


def _igtl_time(t_s: float) -> int:
    seconds = int(t_s)
    return (seconds << 32) | int((t_s - seconds) * 2**32)


class MetaListMessage(MessageBase):  # type: ignore[misc]
    """An IMGMETA (``kind="IMGMETA"``: images) or LBMETA (label maps of ``owner``) list."""

    def __init__(
        self,
        kind: str,
        items: Sequence[ImageInfo],
        *,
        owner: str = "",
        device_name: str = "",
        timestamp: float | None = None,
    ) -> None:
        super().__init__(timestamp=timestamp, device_name=device_name)
        self._message_type = kind
        self.items, self.owner = list(items), owner
        self._valid_message = True

    def _pack_content(self) -> bytes:
        out = b""
        for item in self.items:
            name = item.device.encode()[:20]
            width, height = item.size
            if self._message_type == "IMGMETA":
                out += _IMGMETA.pack(
                    name,
                    name,
                    item.modality.encode()[:32],
                    b"",
                    b"",
                    _igtl_time(item.t_s),
                    width,
                    height,
                    1,
                    _SCALAR.get(item.dtype, 3),
                )
            else:
                owner = self.owner.encode()[:20]
                out += _LBMETA.pack(name, name, 1, 255, 255, 0, 255, width, height, 1, owner)
        return out
