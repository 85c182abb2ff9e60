"""Write a multi-frame ultrasound DICOM cine as an echo cart exports it (uncompressed, grey).

The calibration is in the Sequence of Ultrasound Regions (physical delta X/Y in cm per pixel),
the timing in Frame Time (ms) and Cine Rate (frames/s). No patient identifiers are written:
patient name and ID are left empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"
_CM_UNITS = 3  # DICOM Physical Units X/Y Direction: 3 = cm


def write_us_cine(
    path: Path,
    frames: npt.NDArray[np.uint8],
    spacing_mm: tuple[float, float],
    fps: float,
    *,
    description: str = "orstream simulated echo",
    uid_seed: str | None = None,
) -> None:
    """Write ``frames`` (N, H, W) uint8 as an Ultrasound Multi-frame Image Storage file.

    ``spacing_mm``: (row, column) pixel spacing in mm; ``fps``: frames per second.
    ``uid_seed``: makes the instance UIDs deterministic (same seed, same file).
    """
    if frames.ndim != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (N, H, W) uint8, got {frames.dtype}{frames.shape}")
    n, rows, cols = frames.shape

    def uid(suffix: str) -> UID:
        return generate_uid() if uid_seed is None else generate_uid(entropy_srcs=[uid_seed, suffix])

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(US_MULTIFRAME_STORAGE)
    meta.MediaStorageSOPInstanceUID = uid("sop")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = US_MULTIFRAME_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = uid("study")
    ds.SeriesInstanceUID = uid("series")
    ds.StudyDate = ""
    ds.Modality = "US"
    ds.Manufacturer = "orstream"
    ds.SeriesDescription = description
    ds.PatientName = ""
    ds.PatientID = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = n
    ds.FrameIncrementPointer = 0x00181063  # Frame Time
    ds.FrameTime = f"{1000.0 / fps:.4f}"
    ds.CineRate = round(fps)
    ds.SequenceOfUltrasoundRegions = Sequence([_region(rows, cols, spacing_mm)])
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    ds.save_as(path, enforce_file_format=True)


def _region(rows: int, cols: int, spacing_mm: tuple[float, float]) -> Dataset:
    region = Dataset()
    region.RegionSpatialFormat = 1  # 2D
    region.RegionDataType = 1  # tissue
    region.RegionFlags = 0
    region.RegionLocationMinX0 = 0
    region.RegionLocationMinY0 = 0
    region.RegionLocationMaxX1 = cols - 1
    region.RegionLocationMaxY1 = rows - 1
    region.PhysicalUnitsXDirection = _CM_UNITS
    region.PhysicalUnitsYDirection = _CM_UNITS
    region.PhysicalDeltaX = spacing_mm[1] / 10.0
    region.PhysicalDeltaY = spacing_mm[0] / 10.0
    return region
