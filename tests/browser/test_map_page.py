"""The map page as a person sees it, in a real Chromium, offline but for the app itself."""

from __future__ import annotations

import datetime
import itertools
import re

import httpx
from playwright.async_api import expect

from tests.browser.conftest import Watched
from tests.browser.pixels import close, hex_rgb, pixel

PALMYRA = (38.2672, 34.56)
DEBOUNCE_MS = 250  # app/static/map.js: a slider asks the server once it rested this long


async def open_map(watched: Watched, fragment: str, *rendered: str) -> None:
    await watched.page.goto(f"{watched.origin}/map#{fragment}")
    for pane, date in zip(("a", "b"), rendered, strict=False):
        await watched.page.wait_for_selector(f'#pane-{pane}[data-rendered="{date}"]', state="attached")


async def screen_point(watched: Watched, lon: float, lat: float, pane: int = 0) -> tuple[int, int]:
    x, y = await watched.page.evaluate(
        """([lon, lat, pane]) => {
            const map = window.territory.panes[pane].map;
            const point = map.project([lon, lat]);
            const box = map.getContainer().getBoundingClientRect();
            return [Math.round(box.left + point.x), Math.round(box.top + point.y)];
        }""",
        [lon, lat, pane],
    )
    return x, y


async def colour_at(watched: Watched, x: int, y: int) -> tuple[int, int, int]:
    png = await watched.page.screenshot(clip={"x": x - 1, "y": y - 1, "width": 3, "height": 3})
    return pixel(png, 1, 1)


async def actor_colours(origin: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=origin) as http:
        return {a["slug"]: a["color"] for a in (await http.get("/v1/actors")).json()}


async def test_map_loads_with_no_error_and_nothing_from_outside(watched: Watched) -> None:
    await open_map(watched, "date=2016-12-12", "2016-12-12")
    page = watched.page
    await expect(page.locator("#time-a .date")).to_have_text("2016-12-12")
    assert any("/static/vendor/maplibre-gl/maplibre-gl-worker.mjs" in url for url in watched.requested)
    assert any("/static/background/region.geojson" in url for url in watched.requested)
    assert any(
        re.search(r"/v1/tiles/territories/\d+/\d+/\d+\.mvt\?at=2016-12-12", u) for u in watched.requested
    )
    assert any("/v1/calendar" in url for url in watched.requested)
    # The slider spans the data, from the API: its last day is the calendar's.
    calendar = await page.evaluate("window.territory.state.calendar")
    maximum = int(await page.locator("#slider-a").get_attribute("max") or 0)
    assert maximum > 2000 and calendar["first"] == "2011-03-15"
    assert await page.locator("#time-a .ticks i").count() == len(calendar["dates"])
    # The legend groups actors by coalition on the date.
    legend = page.locator("#legend .groups")
    await expect(legend).to_contain_text("Pro-Assad coalition")
    await expect(legend).to_contain_text("Syrian Arab Army")
    watched.assert_clean()


async def test_palmyra_is_drawn_in_its_holders_colour_each_day(watched: Watched) -> None:
    colours = await actor_colours(watched.origin)
    for day, holder, other in (
        ("2016-12-10", "syrian-army", "islamic-state"),
        ("2016-12-12", "islamic-state", "syrian-army"),
    ):
        await open_map(watched, f"date={day}", day)
        x, y = await screen_point(watched, *PALMYRA)
        seen = await colour_at(watched, x, y)
        assert close(seen, hex_rgb(colours[holder])), (day, seen, colours[holder])
        assert not close(seen, hex_rgb(colours[other]), tolerance=40)
    watched.assert_clean()


async def test_moving_the_slider_updates_the_url_and_the_tiles(watched: Watched) -> None:
    await open_map(watched, "date=2016-12-12", "2016-12-12")
    page = watched.page
    slider = page.locator("#slider-a")
    await slider.focus()
    async with page.expect_request(re.compile(r"/v1/tiles/territories/\d+/\d+/\d+\.mvt\?at=2016-12-13$")):
        await page.keyboard.press("ArrowRight")
    await page.wait_for_function("location.hash === '#date=2016-12-13'")
    await page.wait_for_selector('#pane-a[data-rendered="2016-12-13"]', state="attached")
    async with page.expect_request(re.compile(r"/v1/tiles/frontlines/\d+/\d+/\d+\.mvt\?at=2016-12-20$")):
        await page.get_by_role("button", name="One week forward", exact=True).click()
    await page.wait_for_function("location.hash === '#date=2016-12-20'")
    # A quick run of keys asks the server once it rests, not for every day passed. How quick the run was is up to
    # the machine, so the page notes when each key moved the slider: only a pause of the debounce's length or
    # more between two keys may cost a request (each key its own request without the debounce).
    await page.evaluate(
        """() => {
            window.slid = [];
            document.querySelector("#slider-a").addEventListener("input", () => window.slid.push(performance.now()));
        }"""
    )
    before = len(watched.requested)
    await slider.focus()
    for _ in range(4):
        await page.keyboard.press("ArrowLeft")
    await page.wait_for_selector('#pane-a[data-rendered="2016-12-16"]', state="attached")
    slid = await page.evaluate("window.slid")
    pauses = sum(1 for earlier, later in itertools.pairwise(slid) if later - earlier >= DEBOUNCE_MS - 5)
    days_passed = ("2016-12-19", "2016-12-18", "2016-12-17", "2016-12-16")
    maps = [u for u in watched.requested[before:] if "/v1/control?at=" in u and u.endswith(days_passed)]
    assert len(slid) == 4 and maps[-1].endswith("at=2016-12-16")
    assert len(maps) <= 1 + pauses, (maps, slid)
    watched.assert_clean()


async def test_compare_shows_both_dates_and_what_changed_between(watched: Watched) -> None:
    await open_map(watched, "date=2016-12-01&compare=2017-01-31", "2016-12-01", "2017-01-31")
    page = watched.page
    await expect(page.locator("#pane-a .stamp")).to_have_text("1 Dec 2016")
    await expect(page.locator("#pane-b .stamp")).to_have_text("31 Jan 2017")
    changes = page.locator("#changes ol.list")
    await expect(changes).to_contain_text("Palmyra")
    await expect(changes).to_contain_text("Aleppo")
    await changes.get_by_role("button", name="Palmyra").click()
    panel = page.locator("#panel")
    await expect(panel).to_have_attribute("data-place", "palmyra")
    await expect(panel).to_contain_text("Islamic State")  # on the right map's date
    # The two maps move together.
    await page.evaluate("window.territory.panes[0].map.jumpTo({center: [40.15, 35.33], zoom: 8})")
    centre = await page.evaluate("window.territory.panes[1].map.getCenter().toArray()")
    assert abs(centre[0] - 40.15) < 1e-6 and abs(centre[1] - 35.33) < 1e-6
    watched.assert_clean()


async def test_compare_defaults_to_the_articles_week(watched: Watched) -> None:
    await open_map(watched, "date=2016-12-20", "2016-12-20")
    page = watched.page
    await page.get_by_role("button", name="Compare two dates").click()
    await page.wait_for_function("location.hash === '#date=2017-01-09&compare=2017-01-16'")
    await page.wait_for_selector('#pane-a[data-rendered="2017-01-09"]', state="attached")
    await page.wait_for_selector('#pane-b[data-rendered="2017-01-16"]', state="attached")
    await expect(page.locator("#changes")).to_be_visible()
    # No place changed hands that week, but the areas were redrawn: IS's new Deir ez-Zor area is listed.
    redrawn = page.locator("#changes .redrawn")
    await expect(redrawn).to_contain_text("Islamic State: area from 16 Jan 2017")
    await expect(redrawn).to_contain_text("cutting Assad regime-held pocket in half")
    # The Deir ez-Zor split: two government pockets on the 16th, one the week before.
    pockets = await page.evaluate(
        """() => window.territory.panes.map((pane) => new Set(pane.map
            .querySourceFeatures('territories', {sourceLayer: 'territories'})
            .filter((f) => f.properties.actor === 'syrian-army' && /deir-ez-zor/.test(f.properties.external_id))
            .map((f) => f.properties.external_id)).size)"""
    )
    assert pockets == [1, 2]
    watched.assert_clean()


async def test_clicking_a_place_opens_its_panel_with_sources(watched: Watched) -> None:
    await open_map(watched, "date=2016-12-20", "2016-12-20")
    page = watched.page
    x, y = await screen_point(watched, *PALMYRA)
    await page.mouse.click(x, y)
    panel = page.locator("#panel")
    await expect(panel).to_have_attribute("data-place", "palmyra")
    await expect(panel.locator("h2").first).to_have_text("Palmyra")
    await expect(panel).to_contain_text("Islamic State")
    await expect(panel).to_contain_text("11 Dec 2016")  # since
    source = panel.locator(".sources a", has_text="Palmyra offensive (December 2016)")
    await expect(source).to_have_attribute("href", re.compile(r"^https?://"))
    # The timeline strip: one coloured bar per period of Palmyra's record, and today's marker.
    assert await panel.locator(".strip span:not(.now)").count() == 5
    watched.assert_clean()


async def test_search_finds_a_place_by_another_spelling(watched: Watched) -> None:
    await open_map(watched, "date=2016-12-20", "2016-12-20")
    page = watched.page
    await page.get_by_label("Find a place").fill("Tadmur")
    await page.get_by_label("Find a place").press("Enter")
    await expect(page.locator("#panel")).to_have_attribute("data-place", "palmyra")
    await page.wait_for_function("window.territory.panes[0].map.getZoom() > 7.9")
    watched.assert_clean()


async def test_api_docs_render_offline(watched: Watched) -> None:
    page = watched.page
    await page.goto(f"{watched.origin}/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Territory")
    await page.goto(f"{watched.origin}/redoc")
    await expect(page.locator("h1").first).to_contain_text("Territory")
    await page.goto(f"{watched.origin}/")
    await page.get_by_role("link", name="The map").click()
    await page.wait_for_selector("#pane-a[data-rendered]", state="attached")
    watched.assert_clean()


async def test_clicking_an_area_opens_its_actor_dates_area_and_source(watched: Watched) -> None:
    await open_map(watched, "date=2016-12-20", "2016-12-20")
    page = watched.page
    x, y = await screen_point(watched, 38.0, 34.62)  # in the IS area between T4 and Palmyra, off any place
    await page.mouse.click(x, y)
    panel = page.locator("#panel")
    await expect(panel.locator("h2").first).to_have_text("Area held by Islamic State")
    await expect(panel).to_contain_text("11 Dec 2016")
    await expect(panel).to_contain_text("approximate")
    await expect(panel).to_contain_text("km²")
    await expect(panel.locator("a", has_text="wp-palmyra-offensive-2016-12")).to_have_attribute(
        "href", "/v1/sources/wp-palmyra-offensive-2016-12"
    )
    watched.assert_clean()


async def test_play_advances_by_weeks_until_paused(watched: Watched) -> None:
    await open_map(watched, "date=2016-12-01", "2016-12-01")
    page = watched.page
    play = page.get_by_role("button", name="Play", exact=True)
    await play.click()
    await expect(play).to_have_attribute("aria-pressed", "true")
    # Two steps at least (a loaded machine may draw a frame slower than a step: the hash is not seen at each).
    await page.wait_for_function("location.hash >= '#date=2016-12-15'")
    await play.click()
    await expect(play).to_have_attribute("aria-pressed", "false")
    stopped = await page.evaluate("location.hash")
    played = datetime.date.fromisoformat(stopped.removeprefix("#date=")) - datetime.date(2016, 12, 1)
    assert played.days % 7 == 0, stopped
    await page.wait_for_timeout(2000)  # longer than two steps of play: the date must stay put
    assert await page.evaluate("location.hash") == stopped
    watched.assert_clean()
