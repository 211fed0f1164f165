// Territory's map page: a plain client of the public API (nothing here that another client could not do).
// One map, or two side by side at two dates (compare); the date lives in the URL: #date=2016-12-20, and
// #date=2017-01-09&compare=2017-01-16 for two maps.
import * as maplibregl from "/static/vendor/maplibre-gl/maplibre-gl.mjs";

performance.mark("territory-start");
maplibregl.prewarm(); // start the map's web workers now, while the first requests are out
const config = JSON.parse(document.body.dataset.config || "{}");
const DEFAULT_COMPARE = ["2017-01-09", "2017-01-16"]; // the article's week: Deir ez-Zor split on 16 January 2017
const DEBOUNCE_MS = 250; // a slider drag asks the server once it rests, not for every day it passes
const PLAY_MS = 900;
const VIEW = [[35.3, 31.8], [45.2, 37.6]]; // Syria and northern Iraq
const MINOR_LABELS_ZOOM = 6.8;
const $ = (selector, root = document) => root.querySelector(selector);

// ---------- dates (UTC calendar days) ----------
const DAY = 86_400_000;
const toDay = (iso) => Date.parse(iso + "T00:00:00Z") / DAY;
const toIso = (day) => new Date(day * DAY).toISOString().slice(0, 10);
const isIso = (text) => /^\d{4}-\d{2}-\d{2}$/.test(text || "") && !Number.isNaN(Date.parse(text));
function shift(iso, step) {
  const amount = parseInt(step, 10);
  const date = new Date(iso + "T00:00:00Z");
  if (step.endsWith("m")) date.setUTCMonth(date.getUTCMonth() + amount);
  else date.setUTCDate(date.getUTCDate() + amount);
  return date.toISOString().slice(0, 10);
}
const human = (iso) =>
  iso ? new Date(iso + "T00:00:00Z").toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" }) : "—";

// ---------- the API ----------
async function api(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}
const escapeHtml = (text) =>
  String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

// ---------- state ----------
const state = {
  calendar: null,
  actors: new Map(), // slug -> {slug, name, color}
  coalitions: [],
  dates: ["", ""],
  compare: false,
  panel: null, // {kind: "place", slug} while a place panel is open
};

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const date = params.get("date");
  const compare = params.get("compare");
  return { date: isIso(date) ? date : null, compare: isIso(compare) ? compare : null };
}

function writeHash() {
  const params = new URLSearchParams();
  params.set("date", state.dates[0]);
  if (state.compare) params.set("compare", state.dates[1]);
  // replaceState: moving the slider must not fill the browser history with every day passed.
  history.replaceState(null, "", "#" + params.toString().replaceAll("%2C", ","));
}

// ---------- hatch patterns: approximate areas are hatched in their actor's colour ----------
function hatch(color) {
  const size = 8;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  const g = canvas.getContext("2d");
  g.strokeStyle = color;
  g.lineWidth = 2;
  g.globalAlpha = 0.75;
  g.beginPath();
  for (const offset of [-size, 0, size]) {
    g.moveTo(offset, size);
    g.lineTo(offset + size, 0);
  }
  g.stroke();
  return g.getImageData(0, 0, size, size);
}

// ---------- the layers of a date ----------
async function layersOn(date) {
  // Places from the GeoJSON map of the date, with the colours of contested and besieged places' parties.
  const [control, fought, inferred] = await Promise.all([
    api(`/v1/control?at=${date}`),
    api(`/v1/contested?at=${date}`),
    api(`/v1/inferred?at=${date}`),
  ]);
  const parties = new Map(fought.places.map((p) => [p.slug, p]));
  for (const feature of control.features) {
    const p = feature.properties;
    const fight = parties.get(p.slug);
    p.fill = p.color || "#9aa5b1";
    p.rim = "#ffffff";
    p.ring = "#ffffff";
    if (p.status === "contested" && fight && fight.parties.length) {
      p.fill = fight.parties[0].color;
      p.rim = (fight.parties[1] || fight.parties[0]).color;
    } else if (p.status === "besieged" && fight && fight.parties.length) {
      p.ring = fight.parties[0].color;
    }
  }
  return { control, inferred };
}

// ---------- one map pane ----------
class Pane {
  constructor(index, date, initial) {
    // The map is made with its first date's tiles and data already in the style, so that its first rendering
    // is the finished map (not an empty one, then the data).
    this.index = index;
    this.root = $(index === 0 ? "#pane-a" : "#pane-b");
    this.date = "";
    this.builtFor = date;
    this.initial = initial;
    this.markers = [];
    this.map = new maplibregl.Map({
      container: $(".map", this.root),
      style: this.style(date, initial),
      bounds: VIEW,
      attributionControl: { compact: false },
      dragRotate: false,
      fadeDuration: 0, // no cross-fade of labels and tiles: a date's map is final as soon as it is drawn
      pitchWithRotate: false,
    });
    this.map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    this.map.addControl(new maplibregl.ScaleControl(), "bottom-left");
    this.loaded = new Promise((resolve) => this.map.on("load", resolve));
    this.map.once("load", () => performance.mark(`territory-style-loaded-${index}`));
    // Hatch patterns are made when a layer first asks for one, in the colour of the actor it names.
    this.map.setMissingStyleImageResolver(async (id) => {
      const actor = state.actors.get(id.replace(/^hatch-/, ""));
      if (!this.map.hasImage(id)) this.map.addImage(id, hatch(actor ? actor.color : "#52606d"));
    });
    this.map.on("click", (event) => this.clicked(event));
    // Zoomed out, only cities are named: the towns around Aleppo would pile their names onto each other.
    const crowded = () => this.root.classList.toggle("zoomed-out", this.map.getZoom() < MINOR_LABELS_ZOOM);
    this.map.on("zoom", crowded);
    crowded();
    for (const layer of ["places-dot", "territories-fill", "inferred-fill"]) {
      this.map.on("mouseenter", layer, () => (this.map.getCanvas().style.cursor = "pointer"));
      this.map.on("mouseleave", layer, () => (this.map.getCanvas().style.cursor = ""));
    }
  }

  style(date, initial) {
    const tiles = (layer) => ({ type: "vector", tiles: [this.tileUrl(layer, date)], minzoom: 0, maxzoom: 14 });
    const sources = {
      background: { type: "geojson", data: "/static/background/region.geojson", attribution: "Natural Earth (public domain)" },
      inferred: { type: "geojson", data: initial.inferred },
      territories: { ...tiles("territories"), attribution: "Territory (areas approximate)" },
      frontlines: tiles("frontlines"),
      places: { type: "geojson", data: initial.control },
    };
    const layers = [{ id: "sea", type: "background", paint: { "background-color": "#d5e4ee" } }];
    if (config.basemapUrl) {
      sources.basemap = { type: "raster", tiles: [config.basemapUrl], tileSize: 256, attribution: "Basemap: see settings" };
      layers.push({ id: "basemap", type: "raster", source: "basemap" });
    }
    const bg = (layer) => ["==", ["get", "layer"], layer];
    layers.push(
      { id: "land", type: "fill", source: "background", filter: bg("countries"), paint: { "fill-color": "#f3efe6", "fill-opacity": config.basemapUrl ? 0 : 1 } },
      { id: "lakes", type: "fill", source: "background", filter: bg("lakes"), paint: { "fill-color": "#b9d3e6" } },
      { id: "rivers", type: "line", source: "background", filter: bg("rivers"), paint: { "line-color": "#5b9bd5", "line-width": ["interpolate", ["linear"], ["zoom"], 4, 1, 9, 2.5] } },
      { id: "inferred-fill", type: "fill", source: "inferred", paint: { "fill-color": ["get", "color"], "fill-opacity": 0.14 } },
      { id: "inferred-line", type: "line", source: "inferred", paint: { "line-color": ["get", "color"], "line-width": 1.5, "line-dasharray": [1, 2], "line-opacity": 0.8 } },
      { id: "territories-fill", type: "fill", source: "territories", "source-layer": "territories", paint: { "fill-color": ["get", "color"], "fill-opacity": ["case", ["get", "approximate"], 0.16, 0.45] } },
      { id: "territories-hatch", type: "fill", source: "territories", "source-layer": "territories", filter: ["==", ["get", "approximate"], true], paint: { "fill-pattern": ["concat", "hatch-", ["get", "actor"]] } },
      { id: "territories-line", type: "line", source: "territories", "source-layer": "territories", paint: { "line-color": ["get", "color"], "line-width": 1.5 } },
      { id: "borders", type: "line", source: "background", filter: bg("countries"), paint: { "line-color": "#8a7f70", "line-width": 1, "line-dasharray": [4, 2] } },
      { id: "frontlines", type: "line", source: "frontlines", "source-layer": "frontlines", layout: { "line-cap": "round" }, paint: { "line-color": "#1f2933", "line-width": 3, "line-dasharray": [2, 1.2] } },
      // Besieged: a ring in the besieger's colour around the holder's dot.
      { id: "places-ring", type: "circle", source: "places", filter: ["==", ["get", "status"], "besieged"], paint: { "circle-radius": 11, "circle-opacity": 0, "circle-stroke-width": 3, "circle-stroke-color": ["get", "ring"] } },
      // Contested: one side's colour inside, the other's as a thick rim.
      {
        id: "places-dot", type: "circle", source: "places",
        paint: {
          "circle-radius": ["match", ["get", "kind"], "city", 7, 5.5],
          "circle-color": ["get", "fill"],
          "circle-stroke-color": ["get", "rim"],
          "circle-stroke-width": ["case", ["==", ["get", "status"], "contested"], 3.5, 1.5],
        },
      },
    );
    return { version: 8, sources, layers };
  }

  tileUrl(layer, date) {
    return `${location.origin}/v1/tiles/${layer}/{z}/{x}/{y}.mvt?at=${date}`;
  }

  async show(date) {
    this.date = date;
    $(".stamp", this.root).textContent = state.compare ? human(date) : "";
    const built = this.builtFor === date; // the map was made with this date's data and tiles
    this.builtFor = null;
    const [{ control, inferred }] = await Promise.all([built ? this.initial : layersOn(date), this.loaded]);
    this.initial = null;
    if (this.date !== date) return; // a later date was asked for meanwhile
    performance.mark(`territory-data-${this.index}`);
    if (!built) {
      this.map.getSource("places").setData(control);
      this.map.getSource("inferred").setData(inferred);
      // Tiles of a date have their own URLs: a date seen before is served from the browser cache.
      this.map.getSource("territories").setTiles([this.tileUrl("territories", date)]);
      this.map.getSource("frontlines").setTiles([this.tileUrl("frontlines", date)]);
    }
    this.label(control.features);
    this.places = control.features;
    const rendered = () => {
      if (this.date !== date) return;
      this.root.dataset.rendered = date;
      if (!performance.getEntriesByName("territory-first-render").length) {
        performance.mark("territory-first-render");
        performance.measure("territory-time-to-map", "territory-start", "territory-first-render");
      }
    };
    if (built && this.map.loaded()) rendered();
    else this.map.once("idle", rendered);
    this.map.triggerRepaint();
    return control;
  }

  label(features) {
    // Labels are DOM markers: the page ships no glyph server, and a dozen names need none.
    for (const marker of this.markers) marker.remove();
    this.markers = features.map((feature) => {
      const element = document.createElement("button");
      element.type = "button";
      element.className = feature.properties.kind === "city" ? "place-label" : "place-label minor";
      element.textContent = feature.properties.name;
      element.setAttribute("aria-label", `${feature.properties.name}: open its panel`);
      element.addEventListener("click", (event) => {
        event.stopPropagation();
        openPlace(feature.properties.slug, this.date);
      });
      // Cities are named above their dot, other places below: neighbours (a city and its airport) stay legible.
      const above = feature.properties.kind === "city";
      return new maplibregl.Marker({ element, anchor: above ? "bottom" : "top", offset: [0, above ? -8 : 7] })
        .setLngLat(feature.geometry.coordinates)
        .addTo(this.map);
    });
  }

  clicked(event) {
    const [hit] = this.map.queryRenderedFeatures(event.point, { layers: ["places-dot", "territories-fill", "inferred-fill"] });
    if (!hit) return;
    if (hit.layer.id === "places-dot") openPlace(hit.properties.slug, this.date);
    else if (hit.layer.id === "territories-fill") openTerritory(hit.properties, this.date);
    else openInferred(hit.properties, this.date);
  }
}

// ---------- time controls ----------
class TimeControl {
  constructor(index) {
    this.index = index;
    this.root = $(index === 0 ? "#time-a" : "#time-b");
    this.slider = $(".slider", this.root);
    this.output = $(".date", this.root);
    this.playButton = $(".play", this.root);
    this.timer = null;
    this.player = null;
    this.slider.addEventListener("input", () => {
      const date = toIso(state.first + Number(this.slider.value));
      this.output.textContent = date;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => setDate(this.index, date), DEBOUNCE_MS);
    });
    for (const button of this.root.querySelectorAll("[data-step]")) {
      button.addEventListener("click", () => setDate(this.index, shift(state.dates[this.index], button.dataset.step)));
    }
    this.playButton.addEventListener("click", () => this.toggle());
  }

  scale(calendar) {
    this.slider.max = String(toDay(calendar.last) - toDay(calendar.first));
    const span = Number(this.slider.max) || 1;
    const ticks = $(".ticks", this.root);
    ticks.replaceChildren(
      ...calendar.dates.map((d) => {
        const tick = document.createElement("i");
        tick.style.left = `${((toDay(d.date) - state.first) / span) * 100}%`;
        tick.title = `${d.date}: ${d.events} event${d.events === 1 ? "" : "s"}`;
        return tick;
      }),
    );
  }

  show(date) {
    this.slider.value = String(toDay(date) - state.first);
    this.slider.setAttribute("aria-valuetext", human(date));
    this.output.textContent = date;
  }

  toggle() {
    if (this.player) {
      clearInterval(this.player);
      this.player = null;
    } else {
      this.player = setInterval(() => {
        const next = shift(state.dates[this.index], "+7d");
        if (toDay(next) > toDay(state.calendar.last)) return this.toggle();
        setDate(this.index, next);
      }, PLAY_MS);
    }
    this.playButton.setAttribute("aria-pressed", String(Boolean(this.player)));
    this.playButton.textContent = this.player ? "❚❚" : "▶";
  }
}

// ---------- the page ----------
const panes = [];
const times = [];

function clamp(date) {
  const day = Math.min(Math.max(toDay(date), toDay(state.calendar.first)), toDay(state.calendar.last));
  return toIso(day);
}

async function setDate(index, date) {
  date = clamp(date);
  state.dates[index] = date;
  times[index].show(date);
  writeHash();
  await Promise.all([panes[index].show(date), index === 0 ? legend(date) : null, state.compare ? changes() : null]);
  if (state.panel && state.panel.index === index) openPlace(state.panel.slug, date);
}

async function setCompare(on) {
  state.compare = on;
  const resized = $("#pane-b").hidden === on;
  $("#compare-toggle").setAttribute("aria-pressed", String(on));
  $("#pane-b").hidden = !on;
  $("#time-b").hidden = !on;
  $("#changes").hidden = !on;
  $("#pane-name-a").textContent = on ? "Left map" : "Date";
  $("#map-a").setAttribute("aria-label", on ? "Map of the first date" : "Map");
  if (on && panes.length === 1) {
    // The second map is made the first time it is shown: a single map's first view does not wait for it.
    if (!state.dates[1]) state.dates[1] = DEFAULT_COMPARE[1];
    panes.push(new Pane(1, state.dates[1], await layersOn(state.dates[1])));
    synchronise(panes[0].map, panes[1].map);
  }
  if (resized) {
    for (const pane of panes) pane.map.resize();
    panes[0].map.fitBounds(VIEW, { duration: 0 }); // the pane's width changed: show the whole region again
  }
  if (on) {
    if (!state.dates[1]) state.dates[1] = DEFAULT_COMPARE[1];
    panes[1].map.jumpTo({ center: panes[0].map.getCenter(), zoom: panes[0].map.getZoom() });
    times[1].show(state.dates[1]);
    panes[1].show(state.dates[1]);
    changes();
  }
  panes[0].show(state.dates[0]);
  writeHash();
}

function synchronise(a, b) {
  // Two panes move together; the flag stops each from echoing the other's move back.
  let moving = false;
  const follow = (from, to) =>
    from.on("move", () => {
      if (moving) return;
      moving = true;
      to.jumpTo({ center: from.getCenter(), zoom: from.getZoom(), bearing: from.getBearing(), pitch: from.getPitch() });
      moving = false;
    });
  follow(a, b);
  follow(b, a);
}

function describeState(side) {
  if (!side) return "unknown";
  if (side.status === "contested") return `contested (${side.parties.map((p) => p.name).join(", ")})`;
  const holder = side.controller ? side.controller.name : "unknown";
  return side.status === "besieged" ? `${holder}, besieged` : holder;
}

function bounds(geometry) {
  let [west, south, east, north] = [180, 90, -180, -90];
  const walk = (c) => {
    if (typeof c[0] === "number") {
      [west, south, east, north] = [Math.min(west, c[0]), Math.min(south, c[1]), Math.max(east, c[0]), Math.max(north, c[1])];
    } else c.forEach(walk);
  };
  walk(geometry.coordinates);
  return [[west, south], [east, north]];
}

function redrawn(before, after) {
  // Areas drawn on one date and not the other: a split or a retreat that no place's holder shows.
  const ids = (collection) => new Set(collection.features.map((f) => f.properties.external_id));
  const [was, is] = [ids(before), ids(after)];
  const items = [
    ...after.features.filter((f) => !was.has(f.properties.external_id)).map((f) => [f, "drawn"]),
    ...before.features.filter((f) => !is.has(f.properties.external_id)).map((f) => [f, "ended"]),
  ];
  const list = $("#changes .redrawn");
  list.replaceChildren(
    ...items.map(([feature, change]) => {
      const p = feature.properties;
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = `${p.actor.name}: ${change === "drawn" ? `area from ${human(p.valid_from)}` : `area ended ${human(p.valid_to)}`}`;
      button.addEventListener("click", () => panes[0].map.fitBounds(bounds(feature.geometry), { padding: 40, maxZoom: 10 }));
      const detail = document.createElement("small");
      detail.textContent = p.source ? p.source.title : "";
      item.append(button, detail);
      return item;
    }),
  );
  if (!items.length) list.innerHTML = "<li>None.</li>";
}

async function changes() {
  const [from, to] = [...state.dates].sort();
  const list = $("#changes ol.list");
  const [body, before, after] = await Promise.all([
    api(`/v1/changes?from=${from}&to=${to}`),
    api(`/v1/territories?at=${from}`),
    api(`/v1/territories?at=${to}`),
  ]);
  redrawn(before, after);
  $("#changes h2").textContent = `Changed between ${human(from)} and ${human(to)}`;
  list.replaceChildren(
    ...body.changes.map((change) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = change.place.name;
      button.addEventListener("click", () => {
        const [lon, lat] = change.place.location.coordinates;
        panes[0].map.flyTo({ center: [lon, lat], zoom: Math.max(panes[0].map.getZoom(), 7) });
        openPlace(change.place.slug, state.dates[1] || to, 1);
      });
      const detail = document.createElement("small");
      const dates = change.events.map((e) => e.date).join(", ");
      detail.textContent = `${describeState(change.before)} → ${describeState(change.after)}${dates ? ` (${dates})` : ""}`;
      item.append(button, detail);
      return item;
    }),
  );
  if (!body.changes.length) list.innerHTML = "<li>No place changed hands.</li>";
}

async function legend(date) {
  // Actors grouped by the coalitions they belonged to on the date; the rest below.
  const memberships = await Promise.all(state.coalitions.map((c) => api(`/v1/coalitions/${c.slug}?at=${date}`)));
  const grouped = new Set();
  const groups = memberships.map((coalition) => {
    const members = coalition.members.map((m) => state.actors.get(m.actor.slug)).filter(Boolean);
    members.forEach((m) => grouped.add(m.slug));
    return { title: coalition.name, color: coalition.color, members };
  });
  groups.push({ title: "Not in a coalition that day", members: [...state.actors.values()].filter((a) => !grouped.has(a.slug)) });
  $("#legend .groups").innerHTML = groups
    .filter((g) => g.members.length)
    .map(
      (g) =>
        `<h3>${escapeHtml(g.title)}</h3><ul>${g.members
          .map((a) => `<li><span class="swatch" style="background:${escapeHtml(a.color)}"></span>${escapeHtml(a.name)}</li>`)
          .join("")}</ul>`,
    )
    .join("");
}

function showPanel(html) {
  const panel = $("#panel");
  $(".content", panel).innerHTML = html;
  panel.hidden = false;
}

function sourceList(sources) {
  if (!sources || !sources.length) return "<p>No source recorded.</p>";
  return `<ul class="sources">${sources
    .map((s) => {
      const title = escapeHtml(s.title) + (s.publisher ? ` <small>(${escapeHtml(s.publisher)})</small>` : "");
      return `<li>${s.url ? `<a href="${escapeHtml(s.url)}" target="_blank" rel="noopener noreferrer">${title}</a>` : title}</li>`;
    })
    .join("")}</ul>`;
}

function strip(periods, at) {
  // The place's whole record as coloured periods across the data's span; gaps are unknown.
  const first = toDay(state.calendar.first);
  const span = toDay(state.calendar.last) - first || 1;
  const pct = (iso) => ((Math.min(Math.max(toDay(iso), first), first + span) - first) / span) * 100;
  const bars = periods
    .map((p) => {
      const left = pct(p.since);
      const right = p.until ? pct(p.until) : 100;
      const color = p.status === "contested" ? "#9aa5b1" : (state.actors.get(p.controller?.slug) || {}).color || "#cbd2d9";
      const stripes = p.status === "contested" ? `background:repeating-linear-gradient(45deg,#52606d 0 2px,#cbd2d9 2px 5px)` : `background:${color}`;
      const title = `${p.since} – ${p.until || "open"}: ${describeState(p)}`;
      return `<span title="${escapeHtml(title)}" style="left:${left}%;width:${Math.max(right - left, 0.3)}%;${stripes}"></span>`;
    })
    .join("");
  const years = [];
  for (let y = Number(state.calendar.first.slice(0, 4)); y <= Number(state.calendar.last.slice(0, 4)); y += 1) years.push(`<span>${y}</span>`);
  return `<div class="strip" role="img" aria-label="Timeline of control">${bars}<span class="now" style="left:${pct(at)}%"></span></div><div class="strip-years">${years.join("")}</div>`;
}

async function openPlace(slug, date, index = 0) {
  state.panel = { slug, index };
  const [control, timeline] = await Promise.all([api(`/v1/places/${encodeURIComponent(slug)}/control?at=${date}`), api(`/v1/places/${encodeURIComponent(slug)}/timeline`)]);
  const event = control.event;
  const sources = event ? event.sources : control.territory && control.territory.source ? [control.territory.source] : [];
  showPanel(`
    <h2>${escapeHtml(control.place.name)}</h2>
    <p>on <strong>${human(control.at)}</strong></p>
    <dl class="facts">
      <dt>Held by</dt><dd>${control.controller ? `<span class="swatch" style="background:${escapeHtml((state.actors.get(control.controller.slug) || {}).color)}"></span>${escapeHtml(control.controller.name)}` : "no single holder"}</dd>
      <dt>Status</dt><dd>${escapeHtml(control.status)}${control.parties.length ? ` (${control.parties.map((p) => escapeHtml(p.name)).join(", ")})` : ""}</dd>
      <dt>Certainty</dt><dd>${escapeHtml(control.certainty || "—")}${control.basis ? `, from ${escapeHtml(control.basis)}` : ""}</dd>
      <dt>Since</dt><dd>${human(control.since)}</dd>
      <dt>Until</dt><dd>${control.until ? human(control.until) : "open"}</dd>
      ${event ? `<dt>Event</dt><dd>${escapeHtml(event.kind)} on ${human(event.date)}${event.precision !== "day" ? ` (to the ${escapeHtml(event.precision)})` : ""}, ${escapeHtml(event.confidence)}</dd>` : ""}
    </dl>
    ${event && event.notes ? `<p>${escapeHtml(event.notes)}</p>` : ""}
    <h3>Sources</h3>${sourceList(sources)}
    <h3>Timeline</h3>${strip(timeline.periods, date)}
  `);
  $("#panel").dataset.place = slug;
}

function openTerritory(p, date) {
  state.panel = null;
  showPanel(`
    <h2>Area held by ${escapeHtml(p.actor_name)}</h2>
    <p>shown on <strong>${human(date)}</strong></p>
    <dl class="facts">
      <dt>Actor</dt><dd><span class="swatch" style="background:${escapeHtml(p.color)}"></span>${escapeHtml(p.actor_name)}</dd>
      <dt>From</dt><dd>${human(p.valid_from)}</dd>
      <dt>Until</dt><dd>${p.valid_to ? human(p.valid_to) : "open"}</dd>
      <dt>Area</dt><dd>${Number(p.area_km2).toLocaleString("en-GB")} km²</dd>
      <dt>Outline</dt><dd>${p.approximate ? "approximate (schematic)" : "as sourced"}</dd>
      <dt>Source</dt><dd><a href="/v1/sources/${encodeURIComponent(p.source)}">${escapeHtml(p.source)}</a></dd>
    </dl>`);
  delete $("#panel").dataset.place;
}

function openInferred(p, date) {
  state.panel = null;
  const actor = typeof p.actor === "string" ? JSON.parse(p.actor) : p.actor;
  const places = typeof p.places === "string" ? JSON.parse(p.places) : p.places;
  showPanel(`
    <h2>Inferred: ${actor ? escapeHtml(actor.name) : "contested"}</h2>
    <p>on <strong>${human(date)}</strong>, inferred from the places' control (not a sourced outline)</p>
    <dl class="facts"><dt>Places</dt><dd>${places.map(escapeHtml).join(", ")}</dd><dt>Area</dt><dd>${Number(p.area_km2).toLocaleString("en-GB")} km²</dd></dl>`);
  delete $("#panel").dataset.place;
}

function search() {
  const form = $("#search");
  const input = $("#search-input");
  const results = $("#search-results");
  let found = [];
  const fly = (place) => {
    const [lon, lat] = place.location.coordinates;
    for (const pane of panes.slice(0, 1)) pane.map.flyTo({ center: [lon, lat], zoom: 8 });
    results.replaceChildren();
    openPlace(place.slug, state.dates[0]);
  };
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (input.value.trim().length < 2) return results.replaceChildren();
      found = (await api(`/v1/places?q=${encodeURIComponent(input.value.trim())}&limit=5`)).items;
      results.replaceChildren(
        ...found.map((place) => {
          const item = document.createElement("li");
          const button = document.createElement("button");
          button.type = "button";
          button.textContent = place.matched_name && place.matched_name !== place.name ? `${place.name} (${place.matched_name})` : place.name;
          button.addEventListener("click", () => fly(place));
          item.append(button);
          return item;
        }),
      );
    }, DEBOUNCE_MS);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = input.value.trim();
    if (!query) return;
    const items = (await api(`/v1/places?q=${encodeURIComponent(query)}&limit=5`)).items;
    if (items.length) fly(items[0]);
    else results.innerHTML = "<li><em>No place known by that name.</em></li>";
  });
}

function keyboard() {
  // Arrows move the date (a week with Shift, a month with PageUp/PageDown) unless typing in a field.
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) return;
    if (target instanceof HTMLElement && target.closest(".maplibregl-canvas-container")) return; // the map pans
    const steps = { ArrowLeft: event.shiftKey ? "-7d" : "-1d", ArrowRight: event.shiftKey ? "+7d" : "+1d", PageUp: "-1m", PageDown: "+1m" };
    if (!(event.key in steps)) return;
    event.preventDefault();
    setDate(0, shift(state.dates[0], steps[event.key]));
  });
}

function datesInUrl() {
  const { date, compare } = readHash();
  const today = new Date().toISOString().slice(0, 10);
  return [date || (compare ? DEFAULT_COMPARE[0] : today), compare || ""];
}

async function start() {
  // The first date's layers are asked for with the calendar, not after it: they are most of the first view.
  const wanted = datesInUrl();
  const early = wanted.map((date) => (date ? layersOn(date) : null));
  const [calendar, actors, coalitions] = await Promise.all([api("/v1/calendar"), api("/v1/actors"), api("/v1/coalitions")]);
  performance.mark("territory-calendar");
  state.calendar = calendar;
  state.first = toDay(calendar.first);
  for (const actor of actors) state.actors.set(actor.slug, actor);
  state.coalitions = coalitions;
  const first = wanted.map((date) => (date ? clamp(date) : ""));
  const initial = first.map((date, i) => (date === wanted[i] ? early[i] : date ? layersOn(date) : null));
  state.dates = first;
  // Lay the panes out before the maps are made, so that they start at their final size.
  $("#pane-b").hidden = !first[1];
  panes.push(new Pane(0, first[0], await initial[0]));
  if (first[1]) {
    panes.push(new Pane(1, first[1], await initial[1]));
    synchronise(panes[0].map, panes[1].map);
  }
  times.push(new TimeControl(0), new TimeControl(1));
  times.forEach((t) => t.scale(calendar));
  $("#panel .close").addEventListener("click", () => {
    $("#panel").hidden = true;
    state.panel = null;
  });
  $("#compare-toggle").addEventListener("click", () => {
    if (!state.compare && !readHash().compare) state.dates = [...DEFAULT_COMPARE];
    times[0].show(state.dates[0]);
    setCompare(!state.compare);
    legend(state.dates[0]);
  });
  search();
  keyboard();
  const fromUrl = () => {
    const [date, compare] = datesInUrl();
    state.dates = [clamp(date), compare ? clamp(compare) : ""];
    times[0].show(state.dates[0]);
    setCompare(Boolean(compare));
    legend(state.dates[0]);
  };
  window.addEventListener("hashchange", () => {
    const { date, compare } = readHash();
    if (date !== state.dates[0] || (compare || "") !== (state.compare ? state.dates[1] : "")) fromUrl();
  });
  fromUrl();
}

// A handle for people poking at the page from the console (and for the browser tests).
window.territory = { panes, state, setDate };
start();
