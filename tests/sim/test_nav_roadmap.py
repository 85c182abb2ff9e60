"""Vessel roadmap files (NavRoadmap, read_roadmap, write_roadmap): a written roadmap reads back
the same; every hostile file is one ValueError line naming it; NavTree.nearest maps a point
back to its place on the tree and, near a bifurcation, keeps the branch it is told of."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orstream.sim import (
    NavRoadmap,
    RobotFluoroSimulator,
    Tip,
    read_roadmap,
    roadmap_from_json,
    write_roadmap,
)


def y_roadmap(**changes: Any) -> dict[str, Any]:
    """A small Y-shaped roadmap document (px, 1 mm per px): an access trunk from the entry
    (node 0) down through node 1 to the fork (node 2), two branches (nodes 3 and 4) 16 degrees
    either side of it; ``changes`` replace keys (None removes one)."""
    doc: dict[str, Any] = {
        "format": "orstream-roadmap",
        "version": 1,
        "name": "y",
        "mm_per_px": 1.0,
        "nodes_px": [[50.0, 0.0], [50.0, 20.0], [50.0, 40.0], [44.3, 60.0], [55.7, 60.0]],
        "radius_px": [3.0, 3.0, 2.5, 2.0, 2.0],
        "edges": [[0, 1], [1, 2], [2, 3], [2, 4]],
        "root": 0,
        "entry_px": [[50.0, -10.0], [50.0, 0.0]],
        "entry_node": 0,
        "target_node": 3,
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def test_a_written_roadmap_reads_back_the_same_tree_and_target(tmp_path: Path) -> None:
    roadmap = RobotFluoroSimulator(3, size=(256, 256)).roadmap()
    path = tmp_path / "roadmap.json"
    write_roadmap(roadmap, path)
    back = read_roadmap(path)
    assert isinstance(back, NavRoadmap)
    assert back.target == roadmap.target
    assert back.mm_per_px == roadmap.mm_per_px
    assert back.target_px == pytest.approx(roadmap.target_px, abs=1e-2)
    assert back.tree.edges.tolist() == roadmap.tree.edges.tolist()
    assert (back.tree.root, back.tree.entry_node) == (roadmap.tree.root, roadmap.tree.entry_node)
    np.testing.assert_allclose(back.tree.nodes, roadmap.tree.nodes, atol=1e-3)
    np.testing.assert_allclose(back.tree.radius, roadmap.tree.radius, atol=1e-3)
    assert back.nav.order == roadmap.nav.order
    assert back.to_json() == roadmap.to_json()
    assert not list(tmp_path.glob("*.tmp"))  # written through a temporary file, renamed


HOSTILE_DOCS: dict[str, Any] = {
    "a JSON list": [1, 2, 3],
    "another format": y_roadmap(format="orstream-gate"),
    "no format": y_roadmap(format=None),
    "a newer version": y_roadmap(version=2),
    "no version": y_roadmap(version=None),
    "no scale": y_roadmap(mm_per_px=None),
    "a zero scale": y_roadmap(mm_per_px=0),
    "a scale as text": y_roadmap(mm_per_px="1.0"),
    "a boolean scale": y_roadmap(mm_per_px=True),
    "no nodes": y_roadmap(nodes_px=None),
    "empty nodes": y_roadmap(nodes_px=[]),
    "nodes of three numbers": y_roadmap(nodes_px=[[1.0, 2.0, 3.0]] * 5),
    "nodes as text": y_roadmap(nodes_px="nodes"),
    "a NaN coordinate": y_roadmap(
        nodes_px=[[50.0, 0.0], [math.nan, 20.0], *y_roadmap()["nodes_px"][2:]]
    ),
    "an infinite coordinate": y_roadmap(entry_px=[[50.0, -math.inf], [50.0, 0.0]]),
    "no radius": y_roadmap(radius_px=None),
    "a negative radius": y_roadmap(radius_px=[3.0, 3.0, -2.5, 2.0, 2.0]),
    "a zero radius": y_roadmap(radius_px=[3.0, 3.0, 0.0, 2.0, 2.0]),
    "too few radii": y_roadmap(radius_px=[3.0, 3.0]),
    "no entry polyline": y_roadmap(entry_px=None),
    "no edges": y_roadmap(edges=None),
    "edges as text": y_roadmap(edges="0-1"),
    "an odd edge": y_roadmap(edges=[[0, 1], [1, 2], [2, 3], [2]]),
    "too few edges": y_roadmap(edges=[[0, 1], [1, 2], [2, 3]]),
    "an edge out of range": y_roadmap(edges=[[0, 1], [1, 2], [2, 3], [2, 5]]),
    "a negative node id in an edge": y_roadmap(edges=[[0, 1], [1, 2], [2, 3], [-1, 4]]),
    "a cycle (not a tree)": y_roadmap(edges=[[0, 1], [1, 2], [2, 0], [3, 4]]),
    "a doubled edge (node 4 disconnected)": y_roadmap(edges=[[0, 1], [1, 2], [2, 3], [2, 3]]),
    "no root": y_roadmap(root=None),
    "a root out of range": y_roadmap(root=5),
    "an entry node out of range": y_roadmap(entry_node=-1),
    "an entry node as text": y_roadmap(entry_node="0"),
    "no target": y_roadmap(target_node=None),
    "a target out of range": y_roadmap(target_node=9),
    "a boolean target": y_roadmap(target_node=True),
    "a fractional target": y_roadmap(target_node=3.0),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_DOCS))
def test_a_malformed_roadmap_is_one_value_error_line_naming_the_file(
    tmp_path: Path, case: str
) -> None:
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(HOSTILE_DOCS[case]), encoding="utf-8")  # NaN/inf as JSON allows
    with pytest.raises(ValueError) as caught:
        read_roadmap(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message


RAW_FILES: dict[str, bytes] = {
    "an empty file": b"",
    "not JSON": b"{roadmap: yes",
    "truncated JSON": json.dumps(y_roadmap()).encode()[:-20],
    "binary garbage": bytes(range(256)) * 4,
    "UTF-16 text": json.dumps(y_roadmap()).encode("utf-16"),
}


@pytest.mark.parametrize("case", sorted(RAW_FILES))
def test_an_unreadable_roadmap_file_is_one_value_error_line_naming_it(
    tmp_path: Path, case: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(RAW_FILES[case])
    with pytest.raises(ValueError) as caught:
        read_roadmap(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message


def test_a_missing_roadmap_file_or_a_folder_is_one_value_error_line(tmp_path: Path) -> None:
    for path in (tmp_path / "absent.json", tmp_path):
        with pytest.raises(ValueError) as caught:
            read_roadmap(path)
        assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_a_deeply_nested_roadmap_file_is_one_value_error_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    with pytest.raises(ValueError, match=r"deep\.json"):
        read_roadmap(path)


def test_a_huge_node_id_in_an_edge_is_one_value_error_line() -> None:
    doc = y_roadmap(edges=[[0, 1], [1, 2], [2, 3], [2, 10**30]])
    with pytest.raises(ValueError, match="edges"):
        roadmap_from_json(doc, "roadmap huge.json")


@pytest.mark.parametrize("bad_id", [3.7, "3", True])
def test_a_node_id_in_an_edge_that_is_not_an_integer_is_one_value_error_line(
    bad_id: object,
) -> None:
    doc = y_roadmap(edges=[[0, 1], [1, 2], [2, bad_id], [2, 4]])
    with pytest.raises(ValueError, match="edges"):
        roadmap_from_json(doc, "roadmap odd.json")


def test_roadmap_from_json_names_where_the_document_came_from() -> None:
    good = roadmap_from_json(y_roadmap(), "here")
    assert good.target == 3 and good.nav.order[0] == 0
    with pytest.raises(ValueError, match=r"^from the wire: "):
        roadmap_from_json(y_roadmap(version=0), "from the wire")


def test_nearest_maps_a_point_on_a_segment_back_to_that_place() -> None:
    nav = RobotFluoroSimulator(3, size=(256, 256)).roadmap().nav
    checked = 0
    for node in nav.order[1::7]:
        along = 0.4 * nav.seg_mm[node]
        x, y = nav.tip_xy(Tip(node, along))
        found = nav.nearest(x, y)
        assert math.dist(nav.tip_xy(found), (x, y)) < 1e-6
        checked += 1
    assert checked > 10


def test_near_a_bifurcation_the_kept_branch_wins_a_tie() -> None:
    """A tracked point just past the fork, a little nearer to the other branch (a tie within
    the tracker's noise): the place stays on the branch the tip was known to be on."""
    nav = roadmap_from_json(y_roadmap()).nav
    fork, left, right = 2, 3, 4
    assert sorted(nav.kids[fork]) == [left, right]
    on_left = Tip(left, 3.0)
    fork_x, _ = nav.tip_xy(Tip(fork, nav.seg_mm[fork]))
    _, y = nav.tip_xy(on_left)
    nudged = (fork_x + 0.2, y)  # just right of the midline: nearer the right branch, by < 1 mm
    assert nav.nearest(*nudged).node == right  # with nothing known: the closest place
    assert nav.nearest(*nudged, near=on_left).node == left
    assert nav.nearest(fork_x - 0.2, y, near=Tip(right, 3.0)).node == right
