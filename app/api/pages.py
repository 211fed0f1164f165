"""The browser side: the landing page, the map, the API docs, and their assets (all served from the app, so
everything works with no internet)."""

from __future__ import annotations

import html
from pathlib import Path

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import HTMLResponse

from app.settings import Settings

STATIC = Path(__file__).resolve().parent.parent / "static"
VENDOR = "/static/vendor"
router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def landing() -> HTMLResponse:
    """What this is, and where to go next."""
    return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))


@router.get("/map", response_class=HTMLResponse)
async def map_page(request: Request) -> HTMLResponse:
    """The map page, with the page's own settings (an optional online basemap) written into it."""
    settings: Settings = request.app.state.settings
    config = orjson.dumps({"basemapUrl": settings.basemap_url}).decode()
    page = (STATIC / "map.html").read_text(encoding="utf-8")
    return HTMLResponse(page.replace("{{CONFIG}}", html.escape(config, quote=True)))


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title="Territory API",
        swagger_js_url=f"{VENDOR}/swagger-ui-dist/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui-dist/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/swagger-ui-dist/favicon-32x32.png",
        # The online validator badge would call out to the internet.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title="Territory API",
        redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{VENDOR}/swagger-ui-dist/favicon-32x32.png",
        with_google_fonts=False,
    )


def install_browser_side(app: FastAPI, settings: Settings) -> None:
    """Pages and assets, and CORS for the origins the settings name (none by default)."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if origins := [origin.strip() for origin in settings.cors_origins.split(",") if origin.strip()]:
        # Added last, so outermost: preflights are answered before anything else runs.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "HEAD", "OPTIONS"],
            # Territory-LSN: a read naming a write's position (app/api/replication.py).
            allow_headers=["If-None-Match", "Last-Event-ID", "Authorization", "X-API-Key", "Territory-LSN"],
            expose_headers=["ETag", "Retry-After", "Link", "Territory-Served-By"],
            max_age=600,
        )
