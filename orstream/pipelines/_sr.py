"""The DICOM Structured Report of ``orstream measure --sr PATH.dcm``, written with highdicom.

A Comprehensive SR holding a TID 1500 Measurement Report: one measurement group per beat (LV
end-diastolic and end-systolic volume in ml, ejection fraction in %) and one for the clip (the
means over beats and the heart rate in beats/min). Concepts are the LOINC codes of DICOM's
echocardiography context groups (CID 12200/12202), the method is DCM 125208 "Method of Disks,
Single Plane" (CID 12227), the finding site SCT 87878005 "Left ventricle", units UCUM.

With a DICOM input the SR joins the source study and lists the source cine as evidence (patient
and study attributes are copied by highdicom, never logged); otherwise it starts a new study
with empty patient attributes. highdicom is optional: ``pip install 'orstream[report]'``.
"""

from __future__ import annotations

import copy
import datetime
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from pydicom import Dataset
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from .. import __version__

if TYPE_CHECKING:
    from highdicom.sr import (
        MeasurementReport,
        MeasurementsAndQualitativeEvaluations,
        SourceImageForMeasurementGroup,
    )

INSTALL = "pip install 'orstream[report]'"

EDV = Code("18026-5", "LN", "Left Ventricular End Diastolic Volume")
ESV = Code("18148-7", "LN", "Left Ventricular End Systolic Volume")
EF = Code("18043-0", "LN", "Left Ventricular Ejection Fraction by US")
HEART_RATE = Code("8867-4", "LN", "Heart rate")
METHOD_OF_DISKS = Code("125208", "DCM", "Method of Disks, Single Plane")
LEFT_VENTRICLE = Code("87878005", "SCT", "Left ventricle")
ECHOCARDIOGRAPHY = Code("40701008", "SCT", "Echocardiography")
MEAN = Code("373098007", "SCT", "Mean")
ML = Code("ml", "UCUM", "milliliter")
PERCENT = Code("%", "UCUM", "percent")
PER_MIN = Code("/min", "UCUM", "per minute")

_DEVICE_UID = generate_uid(entropy_srcs=["orstream measure device observer"])
_TYPE2 = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)
_SOURCE_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")


def require_highdicom() -> None:
    """Raise ValueError (naming the install command) when highdicom is not installed."""
    try:
        import highdicom  # noqa: F401
    except ImportError:
        raise ValueError(f"--sr needs highdicom, which is not installed: {INSTALL}") from None


def check_target(path: Path) -> None:
    """Raise ValueError when ``path`` cannot become a file: its nearest existing ancestor is
    not a folder, or ``path`` is a folder."""
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; --sr needs a file path")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{path}: cannot write the SR there ({parent} is not a folder)")


def read_source(input_text: str) -> Dataset | None:
    """The DICOM header of the clip at ``input_text`` (pixels not read), or None when it is a
    folder, a recording, unreadable or lacks the study, series or instance UIDs."""
    import pydicom

    path = Path(input_text.removeprefix("file:"))
    if input_text.startswith("file:") or path.suffix == ".orsrec" or not path.is_file():
        return None
    try:
        with _quiet():
            ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # not DICOM after all, or a broken header: a new study then
        return None
    if not all(str(ds.get(k, "") or "") for k in _SOURCE_UIDS):
        return None
    return ds


def write_sr(path: Path, document: dict[str, Any], source: Dataset | None) -> None:
    """Write the SR of ``document`` (the measure command's JSON) to ``path``; ``source``: the
    input's DICOM header (its study is joined) or None (a new study)."""
    require_highdicom()
    with _quiet():
        sr = _build(path, document, source)
        path.parent.mkdir(parents=True, exist_ok=True)
        sr.save_as(path, enforce_file_format=True)


def _build(path: Path, document: dict[str, Any], source: Dataset | None) -> Dataset:
    """The Comprehensive SR dataset; ValueError (naming no patient attribute) if highdicom
    rejects the source header."""
    from highdicom.sr import ComprehensiveSR

    try:
        sr = ComprehensiveSR(
            evidence=[_evidence(source)],
            content=_report(document, source),
            series_instance_uid=generate_uid(),
            series_number=901,
            sop_instance_uid=generate_uid(),
            instance_number=1,
            manufacturer="orstream",
            series_description="orstream echo measurements",
            software_versions=__version__,
            is_complete=True,
        )
    except (ValueError, TypeError, AttributeError) as exc:
        # the message may quote the patient attribute highdicom rejects: name the kind only
        where = "the input's DICOM header" if source is not None else "the measurements"
        raise ValueError(
            f"{path}: cannot build the SR from {where} ({type(exc).__name__}; "
            "details not shown, they may identify the patient)"
        ) from None
    if source is None and "CurrentRequestedProcedureEvidenceSequence" in sr:
        del sr.CurrentRequestedProcedureEvidenceSequence  # the placeholder is no real instance
    return sr


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence highdicom's and pydicom's warnings and log lines while the source header is read
    and the SR built and written: they may quote patient attributes (a patient name or birth
    date they find odd), which must not reach the terminal."""
    loggers = [logging.getLogger(name) for name in ("highdicom", "pydicom")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _evidence(source: Dataset | None) -> Dataset:
    """``source`` with its empty-allowed patient and study attributes present, or (None) a
    placeholder of a new study with empty patient identity, dated now."""
    if source is not None:
        ds = copy.deepcopy(source)
        for keyword in _TYPE2:
            if keyword not in ds:
                setattr(ds, keyword, None)
        return ds
    now = datetime.datetime.now()
    ds = Dataset()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"  # Ultrasound Multi-frame Image Storage
    for keyword in _TYPE2:
        setattr(ds, keyword, None)
    ds.StudyDate = now.strftime("%Y%m%d")
    ds.StudyTime = now.strftime("%H%M%S")
    return ds


def _report(document: dict[str, Any], source: Dataset | None) -> MeasurementReport:
    """The TID 1500 content tree: a device observer "orstream", one group per beat, one for
    the clip."""
    from highdicom.sr import (
        DeviceObserverIdentifyingAttributes,
        MeasurementReport,
        ObservationContext,
        ObserverContext,
    )
    from pydicom.sr.codedict import codes

    observer = ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=_DEVICE_UID, name="orstream", manufacturer_name="orstream", model_name=__version__
        ),
    )
    beats = [_beat_group(i, beat, source) for i, beat in enumerate(document["beats"], 1)]
    groups = [*(g for g in beats if g is not None), _clip_group(document)]
    return MeasurementReport(
        observation_context=ObservationContext(observer_device_context=observer),
        procedure_reported=ECHOCARDIOGRAPHY,
        imaging_measurements=groups,
    )


def _beat_group(
    number: int, beat: dict[str, Any], source: Dataset | None
) -> MeasurementsAndQualitativeEvaluations | None:
    """Group "beat N": EDV and ESV (ml), EF (%), with the source's ED and ES frames; None when
    the beat has no finite value."""
    values = [
        (EDV, beat["edv_ml"], ML, None),
        (ESV, beat["esv_ml"], ML, None),
        (EF, _percent(beat["ef"]), PERCENT, None),
    ]
    if not any(_finite(v) for _, v, _, _ in values):
        return None
    frames = [beat[k] + 1 for k in ("ed_frame", "es_frame") if beat[k] is not None]
    return _group(f"beat {number}", values, _source_image(source, frames))


def _clip_group(document: dict[str, Any]) -> MeasurementsAndQualitativeEvaluations:
    """Group "clip": mean EDV, ESV (ml) and EF (%) over beats, heart rate (beats/min); always
    written, empty when no beat was found, so that the SR records that the clip was measured."""
    values = [
        (EDV, document["edv_ml"], ML, MEAN),
        (ESV, document["esv_ml"], ML, MEAN),
        (EF, _percent(document["ef"]), PERCENT, MEAN),
        (HEART_RATE, document["heart_rate_bpm"], PER_MIN, None),
    ]
    return _group("clip", values, None)


def _group(
    name: str,
    values: Sequence[tuple[Code, float | None, Code, Code | None]],
    source_image: SourceImageForMeasurementGroup | None,
) -> MeasurementsAndQualitativeEvaluations:
    """A TID 1501 group of the finite ones of ``values`` (concept, value, unit, derivation)."""
    from highdicom.sr import (
        AlgorithmIdentification,
        FindingSite,
        Measurement,
        MeasurementsAndQualitativeEvaluations,
        TrackingIdentifier,
    )

    measurements = [
        Measurement(
            name=concept,
            value=value,
            unit=unit,
            derivation=derivation,
            method=None if concept == HEART_RATE else METHOD_OF_DISKS,
        )
        for concept, value, unit, derivation in values
        if _finite(value)
    ]
    return MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=generate_uid(), identifier=name),
        algorithm_id=AlgorithmIdentification(name="orstream echo-lv", version=__version__),
        finding_sites=[FindingSite(LEFT_VENTRICLE)],
        measurements=measurements,
        source_images=None if source_image is None else [source_image],
    )


def _source_image(
    source: Dataset | None, frames: list[int]
) -> SourceImageForMeasurementGroup | None:
    """A reference to ``source``'s ``frames`` (1-based), or None without a source."""
    from highdicom.sr import SourceImageForMeasurementGroup

    if source is None:
        return None
    count = int(source.get("NumberOfFrames", 1) or 1)
    frames = [f for f in frames if 1 <= f <= count]
    return SourceImageForMeasurementGroup(
        referenced_sop_class_uid=source.SOPClassUID,
        referenced_sop_instance_uid=source.SOPInstanceUID,
        referenced_frame_numbers=frames if count > 1 and frames else None,
    )


def _finite(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value)


def _percent(fraction: float | None) -> float | None:
    """A 0-1 fraction as a percentage, rounded to 0.01 %."""
    return None if fraction is None else round(fraction * 100, 2)
