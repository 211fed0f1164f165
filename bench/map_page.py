"""`python -m bench.map_page [--url URL] [--screenshot docs/compare.jpg]`: how fast the map page shows a map.

Against a running server (`make run`: http://127.0.0.1:8000), in Debian's Chromium: the time from the page's
first script to its first rendered map (the page's own `territory-time-to-map` performance measure: the data,
the tiles and the background drawn, MapLibre idle) and the bytes the server sent (headers and bodies on the
wire, compressed where the server compressed, counted by a relay in front of it), for a first visit with an
empty cache and for later visits with a warm one. Each visit is a new page in the same browser context, so the HTTP cache is the only thing shared.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path

from playwright.async_api import BrowserContext, async_playwright

from tests.browser.conftest import CHROMIUM_FLAGS, chromium_path

VIEW = "/map#date=2017-01-16"
COMPARE = "/map#date=2017-01-09&compare=2017-01-16"
WARM_VISITS = 7


class CountingProxy:
    """A TCP relay on loopback in front of the server, counting the bytes the server sends: what crossed the
    wire, headers included, whoever asked (the page or MapLibre's web workers, whose requests the browser's
    own accounting leaves out)."""

    def __init__(self, target: str) -> None:
        address = target.removeprefix("http://").split("/")[0]
        host, _, port = address.partition(":")
        self.target = (host, int(port or 80))
        self.received = 0

    async def start(self) -> str:
        self.server = await asyncio.start_server(self.relay, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def relay(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        server_in, server_out = await asyncio.open_connection(*self.target)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, count: bool) -> None:
            try:
                while chunk := await source.read(65536):
                    if count:
                        self.received += len(chunk)
                    sink.write(chunk)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(client_in, server_out, False), pipe(server_in, client_out, True))


async def visit(context: BrowserContext, url: str, proxy: CountingProxy) -> tuple[float, int]:
    """(ms to the first rendered map, bytes the server sent for the page, once the network is idle)."""
    page = await context.new_page()
    before = proxy.received
    await page.goto(url)
    await page.wait_for_selector("#pane-a[data-rendered]", state="attached", timeout=30_000)
    elapsed = await page.evaluate("performance.getEntriesByName('territory-time-to-map')[0].duration")
    await page.wait_for_load_state("networkidle")
    await page.close()
    return float(elapsed), proxy.received - before


async def main(url: str, screenshot: Path | None) -> None:
    proxy = CountingProxy(url)
    relayed = await proxy.start()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        cold = await visit(context, relayed + VIEW, proxy)
        warm = [await visit(context, relayed + VIEW, proxy) for _ in range(WARM_VISITS)]
        print(f"first view {VIEW} on {url} (viewport 1280x800, software WebGL)")
        print(f"  cold cache: {cold[0]:7.0f} ms to the first rendered map, {cold[1] / 1024:8.1f} KiB sent")
        times = sorted(w[0] for w in warm)
        print(
            f"  warm cache: {statistics.median(times):7.0f} ms median ({times[0]:.0f}–{times[-1]:.0f} over "
            f"{WARM_VISITS} visits), {statistics.median(w[1] for w in warm) / 1024:8.1f} KiB sent"
        )
        if screenshot:
            shot = await browser.new_context(viewport={"width": 1280, "height": 720})
            page = await shot.new_page()
            await page.goto(url + COMPARE)
            for pane in ("a", "b"):
                await page.wait_for_selector(f"#pane-{pane}[data-rendered]", state="attached", timeout=30_000)
            await page.evaluate("window.territory.panes[0].map.jumpTo({center: [40.12, 35.31], zoom: 9.6})")
            await page.wait_for_timeout(1500)
            # JPEG: the hatching makes a PNG of this view three times larger.
            await page.screenshot(path=str(screenshot), type="jpeg", quality=60)
            print(f"compare view written to {screenshot}")
        await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--screenshot", type=Path, default=None)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.url.rstrip("/"), arguments.screenshot))
