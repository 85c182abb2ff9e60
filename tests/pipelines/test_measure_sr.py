"""``orstream measure --sr``: the echo measurements as a DICOM Structured Report (highdicom)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import highdicom as hd
import pydicom
import pytest
from pydicom.uid import ComprehensiveSRStorage

from tests._helpers import orstream_cli

EDV, ESV, EF, HR = "18026-5", "18148-7", "18043-0", "8867-4"


def _groups(path: Path) -> dict[str, Any]:
    """The SR's measurement groups by tracking identifier, read back with highdicom."""
    sr = hd.sr.srread(path)
    assert isinstance(sr, hd.sr.ComprehensiveSR)
    report = hd.sr.MeasurementReport.from_sequence(sr.content)
    (observer,) = report.get_observer_contexts()
    assert observer.observer_type.value == "121007"  # DCM Device
    assert observer.observer_identifying_attributes.name == "orstream"
    return {g.tracking_identifier: g for g in report.get_image_measurement_groups()}


def _values(group: Any) -> dict[str, Any]:
    """A group's measurements by LOINC code, each checked for method and units."""
    found = {}
    for m in group.get_measurements():
        assert m.name.scheme_designator == "LN"
        unit = {EDV: "ml", ESV: "ml", EF: "%", HR: "/min"}[m.name.value]
        assert (m.unit.value, m.unit.scheme_designator) == (unit, "UCUM")
        if m.name.value != HR:
            assert (m.method.value, m.method.scheme_designator) == ("125208", "DCM")
        found[m.name.value] = m
    assert [(s.value.value, s.value.scheme_designator) for s in group.finding_sites] == [
        ("87878005", "SCT")
    ]
    return found


def test_sr_of_a_png_folder_holds_the_json_numbers_one_group_per_beat(
    echo_clip: Path, tmp_path: Path
) -> None:
    truth = json.loads((echo_clip / "truth.json").read_text())
    out = tmp_path / "echo-sr.dcm"
    result = orstream_cli("measure", str(echo_clip / "frames"), "--fps", str(truth["fps"]),
                          "--spacing-mm", str(truth["spacing_mm"][0]), "--json",
                          "--sr", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["beats"]) >= 2 and doc["ef"] is not None

    ds = pydicom.dcmread(out)
    assert ds.SOPClassUID == ComprehensiveSRStorage and ds.Modality == "SR"
    assert ds.PatientName == "" and ds.PatientID == ""  # a new study, no identity invented
    assert "CurrentRequestedProcedureEvidenceSequence" not in ds

    groups = _groups(out)
    assert list(groups) == [f"beat {i}" for i in range(1, len(doc["beats"]) + 1)] + ["clip"]
    for beat, name in zip(doc["beats"], groups, strict=False):
        values = _values(groups[name])
        assert values[EDV].value == pytest.approx(beat["edv_ml"], abs=0.005)
        assert values[ESV].value == pytest.approx(beat["esv_ml"], abs=0.005)
        assert values[EF].value == pytest.approx(beat["ef"] * 100, abs=0.01)
        assert groups[name].source_images == []  # PNG frames: no instance to reference
    means = _values(groups["clip"])
    assert means[EF].value == pytest.approx(doc["ef"] * 100, abs=0.01)
    assert means[EDV].value == pytest.approx(doc["edv_ml"], abs=0.005)
    assert means[ESV].value == pytest.approx(doc["esv_ml"], abs=0.005)
    assert means[HR].value == pytest.approx(doc["heart_rate_bpm"], abs=0.05)
    assert {means[k].derivation.meaning for k in (EF, EDV, ESV)} == {"Mean"}


def test_sr_of_a_dicom_clip_joins_its_study_and_points_at_the_ed_and_es_frames(
    echo_clip: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sr.dcm"
    result = orstream_cli("measure", str(echo_clip / "clip.dcm"), "--json", "--sr", str(out))
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    source = pydicom.dcmread(echo_clip / "clip.dcm", stop_before_pixels=True)
    ds = pydicom.dcmread(out)
    assert ds.StudyInstanceUID == source.StudyInstanceUID
    assert ds.SeriesInstanceUID != source.SeriesInstanceUID
    groups = _groups(out)
    for i, beat in enumerate(doc["beats"], 1):
        (ref,) = groups[f"beat {i}"].source_images
        assert ref.referenced_sop_instance_uid == source.SOPInstanceUID
        assert ref.referenced_frame_numbers == [beat["ed_frame"] + 1, beat["es_frame"] + 1]


def test_sr_of_a_real_echo_dicom_keeps_its_study_and_logs_no_patient(
    real_data: Path, tmp_path: Path
) -> None:
    path = real_data / "dicom-us" / "examples_ybr_color.dcm"  # the one real A4C cine
    out = tmp_path / "sr.dcm"
    result = orstream_cli("measure", str(path), "--spacing-mm", "0.6", "--sr", str(out))
    assert result.returncode == 0, result.stderr
    source = pydicom.dcmread(path, stop_before_pixels=True)
    ds = pydicom.dcmread(out)
    assert ds.StudyInstanceUID == source.StudyInstanceUID
    assert ds.PatientID == source.PatientID  # copied by highdicom, never printed
    (evidence,) = ds.CurrentRequestedProcedureEvidenceSequence
    (series,) = evidence.ReferencedSeriesSequence
    assert series.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert "clip" in _groups(out)  # about one beat: the clip group may hold no value
    for identifier in (str(source.PatientName), str(source.PatientID)):
        assert identifier not in result.stderr


@pytest.mark.parametrize("sex", ["F", "SECRETSEX"], ids=["valid", "rejected"])
def test_patient_attributes_are_copied_but_never_printed(
    echo_clip: Path, tmp_path: Path, sex: str
) -> None:
    source = pydicom.dcmread(echo_clip / "clip.dcm")
    source.PatientName, source.PatientID, source.PatientSex = "Secretname^Jane", "SECRET-ID", sex
    source.save_as(tmp_path / "named.dcm")
    out = tmp_path / "sr.dcm"
    result = orstream_cli("measure", str(tmp_path / "named.dcm"), "--sr", str(out))
    for secret in ("Secretname", "SECRET"):
        assert secret not in result.stderr + result.stdout
    if sex == "F":
        assert result.returncode == 0, result.stderr
        ds = pydicom.dcmread(out)
        assert ds.PatientName == "Secretname^Jane" and ds.PatientID == "SECRET-ID"
    else:  # highdicom rejects the value: one line that does not quote it
        assert result.returncode == 2 and not out.exists()
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "cannot build the SR from the input's DICOM header" in result.stderr


@pytest.mark.parametrize("where", ["under-a-file", "a-folder"])
def test_an_unwritable_sr_path_fails_with_one_line(
    echo_clip: Path, tmp_path: Path, where: str
) -> None:
    (tmp_path / "plain.txt").write_text("not a folder")
    target = tmp_path / "plain.txt" / "sr.dcm" if where == "under-a-file" else tmp_path
    result = orstream_cli("measure", str(echo_clip / "clip.dcm"), "--sr", str(target))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert str(target) in result.stderr


def test_without_highdicom_sr_names_the_install_command(echo_clip: Path, tmp_path: Path) -> None:
    code = (
        "import runpy, sys; sys.modules['highdicom'] = None; "
        f"sys.argv = ['orstream', 'measure', {str(echo_clip / 'clip.dcm')!r}, '--sr', "
        f"{str(tmp_path / 'sr.dcm')!r}]; runpy.run_module('orstream', run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "pip install 'orstream[report]'" in result.stderr
    assert not (tmp_path / "sr.dcm").exists()
