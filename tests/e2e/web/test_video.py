"""The video wall and the patroller's screen in Chromium: frames, cycling, a finding → task."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .conftest import login, screenshot
from .server import LiveServer

NewPage = Callable[..., Any]


def test_video_wall_and_patrol_finding(new_page: NewPage, live: LiveServer) -> None:
    page = new_page(viewport={"width": 1280, "height": 800})
    login(page, live, "video_patroller")
    page.goto("/video")
    tiles = page.locator(".video-tile")
    assert tiles.count() == 2
    frame = page.locator("img.video-frame").first
    frame.wait_for()
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", frame.element_handle())
    assert page.locator(".video-noframe").count() == 1  # the second camera has no frame: said so
    screenshot(page, "video-wall-empty")

    page.goto(f"/video/patrol/{live.extra['patrol_plan_id']}")
    visible = page.locator(".patrol-cam:not([hidden])")
    assert visible.get_attribute("data-camera") == "e2e-cam-1"
    page.click("#patrol-next")
    assert page.locator(".patrol-cam:not([hidden])").get_attribute("data-camera") == "e2e-cam-2"
    assert page.input_value("#finding-camera") == "e2e-cam-2"
    page.click("#patrol-pause")
    assert page.get_attribute("#patrol-pause", "aria-pressed") == "true"
    page.select_option("#finding-camera", "e2e-cam-1")
    page.click("[data-testid=record-finding]")  # no category chosen: refused beside the field
    page.wait_for_selector("#finding-kind-error")
    assert page.get_attribute("#finding-kind", "aria-invalid") == "true"
    assert page.input_value("#finding-camera") == "e2e-cam-1"  # the form keeps the camera
    page.select_option("#finding-kind", "gathering")
    page.fill("#finding-note", "卡点人员聚集，未保持间距")
    page.click("[data-testid=record-finding]")
    page.wait_for_selector("[data-testid=finding-recorded]")
    screenshot(page, "video-patrol")
    page.click("[data-testid=finding-recorded] a")
    page.wait_for_url("**/tasks/*")
    assert "视频巡查" in page.inner_text("h1")
    task_url = page.url

    # the finding's alarm became a task: no open alarm on the tile, the task linked instead
    page.goto("/video")
    tile = page.locator(".video-tile[data-camera='e2e-cam-1']")
    assert tile.locator("[data-testid=alarm-count]").count() == 0
    done = tile.locator(".video-tasked")
    assert "卡点人员聚集" in done.inner_text()
    assert task_url.endswith(done.locator("a[data-task-id]").get_attribute("href") or "?")
    assert page.locator(".video-tile[data-camera='e2e-cam-2'] [data-testid=alarm-count]").count() == 0
    screenshot(page, "video-wall")  # test-output/screenshots; docs/img holds a chosen copy
