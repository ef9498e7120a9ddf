"""``zhikong video`` commands end to end on the default SQLite database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.integration.video.footage import require_sample
from zhikong.cli import app as root_app
from zhikong.core.config import Settings, get_settings
from zhikong.core.db import unit_of_work
from zhikong.core.migrate import upgrade
from zhikong.video.cli import app
from zhikong.video.models import Camera
from zhikong.video.ov_runtime import openvino_installed

runner = CliRunner()
ZONE = {"name": "z", "polygon": [[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]], "intrusion": True}


def test_import_is_all_or_nothing_with_errors_per_camera(settings: Settings, tmp_path: Path) -> None:
    upgrade()
    good = {"code": "c1", "name": "一号", "stream_url": "rtsp://127.0.0.1/1", "username": "u",
            "password": "p", "rules": {"frame_width": 640, "frame_height": 360, "zones": [ZONE]}}
    bad = {"code": "c2", "name": "二号", "stream_url": "rtsp://127.0.0.1/2",
           "rules": {"frame_width": 640, "frame_height": 360,
                     "zones": [{**ZONE, "polygon": [[0, 0], [100, 0], [100, 100]]}]}}
    path = tmp_path / "cams.yaml"
    path.write_text(yaml.safe_dump([good, bad], allow_unicode=True), encoding="utf-8")
    r = runner.invoke(root_app, ["video", "import", str(path)], standalone_mode=False)
    assert isinstance(r.exception, Exception) and "camera c2: zone z polygon" in str(r.exception)
    with unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Camera)) == 0
    path.write_text(yaml.safe_dump([good], allow_unicode=True), encoding="utf-8")
    r = runner.invoke(app, ["import", str(path)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["list"])
    assert r.exit_code == 0 and "c1" in r.output and "unknown" in r.output


@pytest.mark.slow
def test_detect_and_textgraph(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sample = require_sample()
    r = runner.invoke(app, ["detect", str(sample), "--frame", "300", "--out", str(tmp_path / "b.jpg")])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["people"] == 1
    assert json.loads(r.output)["runtime"] == ("openvino" if openvino_installed() else "opencv")
    # the runtime is a setting: OpenCV dnn counts the same person
    monkeypatch.setenv("ZHIKONG_VIDEO_RUNTIME", "opencv")
    get_settings.cache_clear()
    r = runner.invoke(app, ["detect", str(sample), "--frame", "300"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["people"] == 1 and json.loads(r.output)["runtime"] == "opencv"
    assert (tmp_path / "b.jpg").read_bytes()[:2] == b"\xff\xd8"
    r = runner.invoke(app, ["textgraph", str(tmp_path / "g.pbtxt")])
    assert r.exit_code == 0 and "1 class + background" in r.output
