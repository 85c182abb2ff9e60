"""CAMUS reading (names, label mapping, folders of images and masks) and EF from masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from orstream.kernels import load_model
from orstream.sim import (
    CAMUS_TO_ECHO_LV,
    ECHO_LV,
    ECHO_LV_CAMUS,
    camus_ef,
    load_camus,
    map_labels,
    parse_camus_name,
    parse_label_map,
    read_mask_folder,
)


def test_camus_names_give_patient_view_and_phase() -> None:
    assert parse_camus_name("patient0042_4CH_ES") == ("patient0042", "a4c", "ES")
    assert parse_camus_name("patient0001_2CH_ED") == ("patient0001", "a2c", "ED")
    with pytest.raises(ValueError, match="not a CAMUS name"):
        parse_camus_name("patient0001_3CH_ED")


def test_label_maps_parse_and_map_unnamed_indices_to_background() -> None:
    assert parse_label_map("1:1, 2:2,3:4") == {0: 0, 1: 1, 2: 2, 3: 4}
    for bad in ("1-1", "a:2", "1:"):
        with pytest.raises(ValueError, match="label mapping"):
            parse_label_map(bad)
    mask = np.array([[0, 1, 2, 3, 7]], np.uint8)
    assert map_labels(mask, CAMUS_TO_ECHO_LV).tolist() == [[0, 1, 2, 4, 0]]
    assert map_labels(mask, None).tolist() == mask.tolist()


def _disc(shape: tuple[int, int], centre: tuple[int, int], axes: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    cv2.ellipse(out, centre, axes, 0, 0, 360, 1, -1)
    return out


def test_a_folder_reads_by_name_and_reports_missing_masks(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    image = np.full((40, 50), 90, np.uint8)
    mask = 3 * _disc((40, 50), (25, 20), (10, 15))
    for name in ("b.png", "a.png"):
        cv2.imwrite(str(tmp_path / "images" / name), image)
        cv2.imwrite(str(tmp_path / "masks" / name), mask)
    data = read_mask_folder(tmp_path, {3: 4})
    assert data.names == ("a", "b")
    assert set(np.unique(data.labels[0]).tolist()) == {0, 4}
    cv2.imwrite(str(tmp_path / "images" / "c.png"), image)
    with pytest.raises(ValueError, match=r"c\.png has no mask"):
        read_mask_folder(tmp_path)
    with pytest.raises(ValueError, match="needs images/ and masks/"):
        read_mask_folder(tmp_path / "nowhere")


def test_ef_from_masks_is_zero_error_on_the_truth_and_sees_a_smaller_es() -> None:
    shape = (200, 200)
    ed = _disc(shape, (100, 100), (30, 70))
    es = _disc(shape, (100, 110), (22, 60))
    names = [f"patient0001_{v}_{p}" for v in ("2CH", "4CH") for p in ("ED", "ES")]
    truth = [ed, es, ed, es]
    same = camus_ef(names, truth, truth)
    assert all(m["mae"] == 0.0 and m["patients"] == 1 for m in same.values())
    assert 0.3 < same["discs_biplane_mean"]["truth_ef_mean"] < 0.7
    bigger_es = camus_ef(names, [ed, ed, ed, ed], truth)  # predicted EF 0
    assert bigger_es["discs_a4c"]["bias"] == pytest.approx(-same["discs_a4c"]["truth_ef_mean"])


def test_camus_val_is_fifty_patients_in_two_views_and_phases(real_data: Path) -> None:
    val = load_camus("val", real_data)
    assert len(val) == 200 and len(set(val.patients)) == 50
    assert sorted(set(val.views)) == ["a2c", "a4c"] and sorted(set(val.phases)) == ["ED", "ES"]
    assert val.images.shape == val.labels.shape == (200, 224, 224)
    assert set(np.unique(val.labels).tolist()) == {0, 1, 2, 4}
    train = load_camus("train", real_data)
    assert len(train) == 1600 and not set(train.patients) & set(val.patients)
    with pytest.raises(ValueError, match="unknown CAMUS split"):
        load_camus("test", real_data)


def test_the_camus_model_ships_with_its_licence_and_echo_lvs_network() -> None:
    spec = load_model("echo-lv-camus")
    assert spec.licence.startswith("CC BY-NC-SA 4.0") and "10.1109/TMI.2019.2900516" in spec.licence
    assert spec.to_json()["licence"] == spec.licence
    assert load_model("echo-lv").licence == "" and "licence" not in load_model("echo-lv").to_json()
    assert (spec.architecture, spec.class_names, spec.input_size) == (
        ECHO_LV.architecture,
        ECHO_LV.class_names,
        ECHO_LV.input_size,
    )
    assert ECHO_LV_CAMUS.licence == spec.licence and spec.training["data"]["real"]["images"] == 1600
