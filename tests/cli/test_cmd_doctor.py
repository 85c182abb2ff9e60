"""``orstream doctor``: versions, backends and install hints."""

from __future__ import annotations

import json
import subprocess
import sys


def test_doctor_reports_the_core_components_as_json() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orstream", "doctor", "--json"],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for name in ("numpy", "pyzmq", "onnxruntime"):
        assert report["components"][name]["ok"]
    assert report["zmq_curve"] is True
    missing = [c for c in report["components"].values() if not c["ok"]]
    assert all(c["install"].startswith("pip install") for c in missing)
