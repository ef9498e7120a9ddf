"""A lake with tiny reference tables (towers T1, T2; camera C1; venue V1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zhikong.core.config import Settings
from zhikong.lake.service import ingest_ref


@pytest.fixture
def lake_with_refs(settings: Settings, tmp_path: Path) -> Path:
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "tower.csv").write_text("tower_id,lat,lon,radius_m,unit_code\n"
                                   "T1,29.40,106.70,300,500113001001\nT2,29.41,106.71,300,500113001001\n")
    (ref / "camera.csv").write_text("camera_id,place_code,lat,lon,unit_code\n"
                                    "C1,V1,29.40,106.70,500113001001\n")
    (ref / "venue.csv").write_text("venue_id,name,kind,lat,lon,unit_code\n"
                                   "V1,市场,market,29.40,106.70,500113001001\n")
    assert ingest_ref(ref) == {"camera": 1, "tower": 2, "venue": 1}
    return tmp_path
