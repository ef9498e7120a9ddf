"""The command centre in a real browser: jurisdiction, the one map, language, accessibility."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .conftest import login, screenshot
from .server import LiveServer

NewPage = Callable[..., Any]


def open_map(page: Any) -> None:
    page.goto("/map")
    page.wait_for_selector("body[data-map-ready='1']")


def test_village_operator_sees_only_their_village(new_page: NewPage, live: LiveServer) -> None:
    page = new_page()
    login(page, live, "village_operator")
    _, code, name = live.logins["village_operator"]
    open_map(page)
    assert page.inner_text("#count-villages") == "1"
    assert page.inner_text("#count-towns") == "0"
    assert name in page.inner_text("[data-testid=who]")
    data = page.request.get("/api/map/villages").json()
    assert [f["properties"]["code"] for f in data["features"]] == [code]
    screenshot(page, "map-village-operator")


def test_district_map_layers_toggle_and_panel(new_page: NewPage, live: LiveServer) -> None:
    page = new_page(viewport={"width": 1366, "height": 800})
    login(page, live, "district_command")
    open_map(page)
    villages = int(page.inner_text("#count-villages"))
    assert villages == live.extra["village_count"]
    has = "id => window.zhikongMap.map.hasLayer(window.zhikongMap.layers[id])"
    assert page.evaluate(has, "villages") is True
    page.uncheck("#layer-villages")
    page.wait_for_function("() => !window.zhikongMap.map.hasLayer(window.zhikongMap.layers.villages)")
    page.check("#layer-villages")
    page.wait_for_function("() => window.zhikongMap.map.hasLayer(window.zhikongMap.layers.villages)")
    # a layer that is off by default loads on first use
    page.check("#layer-cameras")
    page.wait_for_function("() => !!window.zhikongMap.layers.cameras")
    # clicking a village opens its panel (point layers off, so the click lands on a polygon)
    for layer in ("places", "isolation", "alerts", "cases", "cameras"):
        page.uncheck(f"#layer-{layer}")
    point = page.evaluate("""() => {
        const z = window.zhikongMap; const lyr = z.layers.villages.getLayers()[0];
        const p = z.map.latLngToContainerPoint(lyr.getBounds().getCenter());
        return {x: p.x, y: p.y, names: z.layers.villages.getLayers().map(l => l.feature.properties.name)};
    }""")
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_selector("#map-panel:not([hidden])")
    assert page.get_attribute("#map-panel", "data-layer") == "villages"
    assert page.inner_text("#map-panel-title") in point["names"]
    for layer in ("places", "isolation"):
        page.check(f"#layer-{layer}")
    screenshot(page, "map-district")


def test_switch_language(new_page: NewPage, live: LiveServer) -> None:
    page = new_page()
    login(page, live, "town_operator")
    open_map(page)
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert "一张图" in page.inner_text("#sidebar")
    page.click("[data-testid=lang-en]")
    page.wait_for_selector("html[lang=en]")
    open_map(page)
    assert "One map" in page.inner_text("#sidebar")
    assert page.inner_text("#map-status") == "Map ready"
    page.click("[data-testid=lang-zh_CN]")
    page.wait_for_selector("html[lang=zh-CN]")
    assert "一张图" in page.inner_text("#sidebar")


def test_login_errors_are_shown_beside_the_field(new_page: NewPage, live: LiveServer) -> None:
    page = new_page()
    page.goto("/login")
    page.fill("#username", live.logins["village_operator"][0])
    page.fill("#password", "wrong-password")
    page.click("button[type=submit]")
    page.wait_for_selector("#password-error")
    assert page.get_attribute("#password", "aria-invalid") == "true"
    assert "密码" in page.inner_text("#password-error")
    screenshot(page, "login-error")
