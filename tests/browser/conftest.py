"""A real Chromium (Debian's package, driven by Playwright) against a real uvicorn on 127.0.0.1, serving the
seeded test database. Every request to anything but that server is blocked and recorded, and each test asserts
there was none, with no console error and no failed request."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Request, Route, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import app_on
from tests.live_server import serving

TIMEOUT_MS = 60_000  # any one wait (software WebGL on a loaded machine is slow): a broken page still fails
expect.set_options(timeout=TIMEOUT_MS)
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",  # WebGL then runs on SwiftShader, in software
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        # A failure, not a skip: CI must install it (.ci/run does: apt-get install -y chromium).
        pytest.fail("Chromium is not installed: apt-get install -y chromium")
    return path


@pytest.fixture(scope="session")
async def map_server(engine: AsyncEngine) -> AsyncIterator[str]:
    """The app under uvicorn on loopback, on the seeded session database (the pages only read)."""
    async with serving(app_on(engine)) as url:
        yield url


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    # Playwright gives the browser a fresh temporary profile of its own (and deletes it afterwards).
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()


@dataclass
class Watched:
    """A page and everything that went wrong on it."""

    page: Page
    origin: str
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.blocked == [], "requests left the app"
        assert self.console_errors == [], "console errors"
        assert self.failed == [], "failed requests"


@pytest.fixture
async def watched(browser: Browser, map_server: str) -> AsyncIterator[Watched]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    seen = Watched(page, map_server)

    async def only_the_app(route: Route) -> None:
        if route.request.url.startswith(map_server + "/"):
            await route.continue_()
        else:
            seen.blocked.append(route.request.url)
            await route.abort()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.console_errors.append(message.text)

    def on_failed(request: Request) -> None:
        # A tile the page cancelled itself (MapLibre drops those that left the view) did not fail.
        if request.failure != "net::ERR_ABORTED" or request.url in seen.blocked:
            seen.failed.append(f"{request.url}: {request.failure}")

    await page.route("**/*", only_the_app)
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.console_errors.append(str(error)))
    page.on("requestfailed", on_failed)
    page.on("request", lambda request: seen.requested.append(request.url))

    async def on_response(response: object) -> None:
        status = getattr(response, "status", 0)
        if status >= 400:
            seen.failed.append(f"{getattr(response, 'url', '?')}: HTTP {status}")

    page.on("response", on_response)
    yield seen
    await context.close()
