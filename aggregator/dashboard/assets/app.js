// crosswatch dashboard: reads the aggregator's JSON API and refreshes when /api/v1/stream
// says ingest committed something. No framework and no build step; every value from the API is
// put into the page as text (never as HTML).

import { fit, placeLabels, scaleBar, tiles } from "./plan.js";

const TYPE_NAMES = {
  red_light_running: "Red-light running",
  ped_against_signal: "Crossing against the signal",
  jaywalking: "Jaywalking",
  platform_edge_intrusion: "Platform-edge intrusion",
  track_intrusion: "Track intrusion",
};
const typeName = (t) => TYPE_NAMES[t] || t;

// Bins the site page offers, with the window each one shows when no period is chosen.
const BINS = { "5m": "6h", "15m": "24h", "60m": "168h", "1d": "720h", "1w": "2016h" };
const BIN_NAMES = { "5m": "5m bins", "15m": "15m bins", "60m": "1 h bins", "1d": "1 day bins", "1w": "1 week bins" };
const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

const main = document.getElementById("main");
const liveEl = document.getElementById("live");

// h builds an element: h("a", {href: "#/"}, "text", child, …). Strings become text nodes.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  append(el, children);
  return el;
}

// session is who the dashboard is signed in as ({name, role, via, csrf}), or null.
let session = null;

async function api(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (r.status === 401) {
    // The session ended (expired, or signed out elsewhere): sign in again, then come back here.
    showLogin("Your session has ended: sign in again.");
    const err = new Error("not signed in");
    err.status = 401;
    err.login = true;
    throw err;
  }
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
    const err = new Error(msg);
    err.status = r.status;
    throw err;
  }
  return r.json();
}

const fmtInt = (n) => Number(n).toLocaleString("en-US");
const fmtRate = (x) => Number(x).toFixed(1);
const fmtTime = (t) => {
  const d = new Date(t);
  if (!t || d.getUTCFullYear() < 1971) return "never";
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/:\d\dZ$/, "Z");
};
// fmtZone shows an instant on the wall clock of time zone tz, with its offset.
function fmtZone(t, tz) {
  const d = new Date(t);
  if (!t || d.getUTCFullYear() < 1971) return "never";
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "shortOffset" }).formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${p.timeZoneName.replace(/^GMT$/, "UTC")}`;
}
function ago(t) {
  const d = new Date(t);
  if (!t || d.getUTCFullYear() < 1971) return "never";
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  if (s < 90) return s + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 172800) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " days ago";
}

// scoreClass buckets a score for colour; the number is always shown as text too. A site with
// insufficient data has no score (null).
const scoreClass = (score) => (score === null || score === undefined ? "none" : score < 700 ? "bad" : score < 900 ? "warn" : "good");
const fmtScore = (score) => (score === null || score === undefined ? "—" : String(score));
// fmtRisk shows catalog points per 1,000 road users with its 95 % interval.
const fmtRisk = (r) => (r ? `${fmtRate(r.per_1000)} (${fmtRate(r.low)}–${fmtRate(r.high)})` : "—");

let catalog = null;
async function getCatalog() {
  if (!catalog) catalog = await api("/api/v1/catalog");
  return catalog;
}
// typesFor lists the catalog's event types that apply to a site kind ("" for all).
function typesFor(cat, kind) {
  return cat.entries.filter((e) => !kind || e.site_kinds.includes(kind)).map((e) => e.type);
}

// ---- views ----------------------------------------------------------------------------------

async function viewSites(params) {
  const kind = params.get("kind") || "";
  const rank = params.get("rank") || "risk";
  const [sites, cat] = await Promise.all([api("/api/v1/sites?rank=" + encodeURIComponent(rank)), getCatalog()]);
  const shown = sites.filter((x) => !kind || x.kind === kind);
  const ranked = shown.filter((x) => x.status === "ok"), apart = shown.filter((x) => x.status !== "ok");
  const kindTypes = typesFor(cat, kind);
  const type = kindTypes.includes(params.get("type")) ? params.get("type") : "";
  const types = type ? [type] : kindTypes;
  const sitesHash = (k, t, r) => {
    const q = new URLSearchParams();
    if (k) q.set("kind", k);
    if (t) q.set("type", t);
    if (r && r !== "risk") q.set("rank", r);
    return "#/" + (q.toString() ? "?" + q : "");
  };

  const filter = h("select", { id: "kind", "data-key": "kind", onchange: (e) => {
    location.hash = sitesHash(e.target.value, typesFor(cat, e.target.value).includes(type) ? type : "", rank);
  } },
  h("option", { value: "", selected: kind === "" }, "Road and rail"),
  h("option", { value: "road", selected: kind === "road" }, "Road (intersection approaches)"),
  h("option", { value: "rail", selected: kind === "rail" }, "Rail (platforms)"));
  const rankBy = h("select", { id: "rank", "data-key": "rank", onchange: (e) => { location.hash = sitesHash(kind, type, e.target.value); } },
    h("option", { value: "risk", selected: rank === "risk" }, "Risk: catalog points per 1,000 road users"),
    cat.entries.map((e) => h("option", { value: e.type, selected: rank === e.type }, `${typeName(e.type)} per 1,000 road users`)));

  const from = sites[0] ? sites[0].from : null, to = sites[0] ? sites[0].to : null;
  const rankedBy = rank === "risk" ? "catalog points per 1,000 road users (every event type, weighted by the catalog)" : `${typeName(rank)} per 1,000 road users`;
  const table = h("table", { class: "sites", id: "sites-table" },
    h("caption", {}, `Sites ranked worst first by the low end of the 95 % interval of ${rankedBy}: a site with little exposure cannot top the list by chance. `
      + "Score is 1,000 minus points per 1,000 road users. Rates are events per 1,000 counted road users (95 % interval)."),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Rank"),
      h("th", { scope: "col" }, "Site"),
      h("th", { scope: "col" }, "Kind"),
      h("th", { scope: "col", class: "num" }, "Points per 1,000 (95 %)"),
      h("th", { scope: "col", class: "num" }, "Score"),
      types.map((t) => h("th", { scope: "col", class: "num" }, typeName(t))),
      h("th", { scope: "col", class: "num" }, "Road users"),
      h("th", { scope: "col" }, "Events per hour, last 24 h"))),
    h("tbody", {}, ranked.map((x) => h("tr", { "data-site": x.id },
      h("td", { class: "num", "data-col": "rank" }, x.rank),
      siteNameCell(x),
      h("td", {}, x.kind),
      h("td", { class: "num", "data-col": "risk" }, fmtRisk(x.risk)),
      h("td", { class: "num" }, h("span", { class: "score " + scoreClass(x.score), "data-col": "score" }, fmtScore(x.score))),
      types.map((t) => h("td", { class: "num", "data-type": t },
        h("span", { "data-col": "events" }, fmtInt((x.events || {})[t] || 0)),
        rateCell(x, t))),
      h("td", { class: "num", "data-col": "road-users" }, fmtInt(x.road_users)),
      h("td", { class: "spark", "data-spark": x.id }, h("span", { class: "sub" }, "…"))))));
  const apartTable = h("table", { class: "sites", id: "insufficient-table" },
    h("caption", {}, "Too few road users counted in the window to rank (below score.min_road_users): their rates would mislead. Events are shown; they are not ranked and have no score."),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Site"),
      h("th", { scope: "col" }, "Kind"),
      h("th", { scope: "col", class: "num" }, "Points"),
      types.map((t) => h("th", { scope: "col", class: "num" }, typeName(t))),
      h("th", { scope: "col", class: "num" }, "Road users"),
      h("th", { scope: "col" }, "Events per hour, last 24 h"))),
    h("tbody", {}, apart.map((x) => h("tr", { "data-site": x.id },
      siteNameCell(x),
      h("td", {}, x.kind),
      h("td", { class: "num", "data-col": "points" }, fmtInt(x.points)),
      types.map((t) => h("td", { class: "num", "data-type": t }, h("span", { "data-col": "events" }, fmtInt((x.events || {})[t] || 0)))),
      h("td", { class: "num", "data-col": "road-users" }, fmtInt(x.road_users),
        h("div", { class: "badge insufficient", "data-col": "status" }, "insufficient data")),
      h("td", { class: "spark", "data-spark": x.id }, h("span", { class: "sub" }, "…"))))));

  main.replaceChildren(
    h("h1", {}, "Sites"),
    h("p", { class: "lede" }, `${shown.length} of ${sites.length} sites · window ${fmtTime(from)} – ${fmtTime(to)} · catalog ${cat.version} · `,
      h("a", { href: "/api/v1/export/sites.csv" }, "CSV"), " · ", h("a", { href: "/api/v1/export/sites.geojson" }, "GeoJSON")),
    h("div", { class: "controls" }, h("label", { for: "kind" }, "Show "), filter, " ", h("label", { for: "rank" }, "Rank by "), rankBy,
      h("label", { for: "site-type" }, " Event type "),
      h("select", { id: "site-type", "data-key": "site-type", onchange: (e) => { location.hash = sitesHash(kind, e.target.value, rank); } },
        h("option", { value: "", selected: !type }, "All types"), kindTypes.map((t) => h("option", { value: t, selected: t === type }, typeName(t))))),
    h("section", { "aria-labelledby": "table-h" }, h("h2", { id: "table-h" }, "Ranking"),
      ranked.length ? h("div", { class: "scroll" }, table) : h("p", { id: "no-ranked" }, shown.length ? "No site has enough road users counted to rank." : "No sites of this kind are configured.")),
    apart.length ? h("section", { "aria-labelledby": "apart-h" }, h("h2", { id: "apart-h" }, `Insufficient data (${apart.length})`),
      h("div", { class: "scroll" }, apartTable)) : null,
    h("section", { "aria-labelledby": "plan-h", class: "plan" }, h("h2", { id: "plan-h" }, "Plan view"), planView(shown)));
  // Sparklines come after the first render: the tables are readable without them.
  sparklines(shown, type);
  shows = (c) => (c.sites || []).length > 0;
}

function siteNameCell(x) {
  return h("th", { scope: "row", class: "site-name" }, h("a", { href: "#/site/" + encodeURIComponent(x.id), "data-key": "site-" + x.id }, x.name || x.id),
    h("div", { class: "sub" }, x.id));
}

function rateCell(site, type) {
  if (site.status !== "ok") return null;
  const r = (site.rates || {})[type];
  if (!r) return null;
  return h("div", { class: "sub", "data-col": "rate", title: `${r.events} per ${fmtInt(site.road_users)} road users` },
    `${fmtRate(r.per_1000)} ‰ (${fmtRate(r.low)}–${fmtRate(r.high)})`);
}

async function sparklines(sites, type) {
  await Promise.all(sites.map(async (x) => {
    let bins;
    try { bins = await api(`/api/v1/sites/${encodeURIComponent(x.id)}/series?window=24h&bin=60m${type ? "&type=" + type : ""}`); } catch (_) { return; }
    const cell = main.querySelector(`[data-spark="${CSS.escape(x.id)}"]`);
    if (!cell) return;
    const vals = bins.map((b) => Object.values(b.events).reduce((a, n) => a + n, 0));
    const total = vals.reduce((a, n) => a + n, 0);
    cell.replaceChildren(sparkline(vals, `${total} events in the last 24 hours`), h("span", { class: "sub" }, " " + total));
  }));
}

function sparkline(vals, label) {
  const w = 120, hgt = 24, max = Math.max(1, ...vals);
  const step = vals.length > 1 ? w / (vals.length - 1) : w;
  const pts = vals.map((v, i) => `${(i * step).toFixed(1)},${(hgt - 2 - (v / max) * (hgt - 4)).toFixed(1)}`).join(" ");
  return s("svg", { width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, role: "img", "aria-label": label, class: "sparkline" },
    s("title", {}, label), s("polyline", { points: pts, fill: "none", stroke: "currentColor", "stroke-width": "1.5" }));
}

// planView places sites by latitude and longitude (Web-Mercator), over the operator's map
// tiles when dashboard.tiles is set (served by the aggregator, never a tile server on the
// internet). Labels never overlap (plan.js placeLabels): one with no room is hidden, and its
// site stays reachable by its pin (hover or focus shows the label), its aria-label and the tables.
function planView(sites) {
  const W = 760, H = 340, pad = 40;
  const pts = sites.filter((x) => x.lat || x.lon);
  if (!pts.length) return h("p", {}, "No site has coordinates.");
  const f = fit(pts, W, H, pad);
  const bar = scaleBar(f);
  const barLabel = bar.metres >= 1000 ? `${bar.metres / 1000} km` : `${bar.metres} m`;
  const base = s("g", { class: "plan-tiles" });
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "group", "aria-label": "Sites on a plan, north up; colour and size by score", class: "planview" },
    s("rect", { x: 0, y: 0, width: W, height: H, class: "plan-bg" }), base,
    s("text", { x: W - 8, y: 16, "text-anchor": "end", class: "plan-note" }, "N ↑"),
    s("path", { d: `M8 ${H - 14} v4 h${bar.px.toFixed(1)} v-4`, class: "plan-scale" }),
    s("text", { x: 12 + bar.px, y: H - 8, class: "plan-note" }, barLabel));
  const reserved = [{ x0: W - 40, y0: 0, x1: W, y1: 22 }, { x0: 0, y0: H - 24, x1: 60 + bar.px, y1: H }, { x0: W * 0.55, y0: H - 18, x1: W, y1: H }];
  const text = (x) => `${x.name || x.id} (${fmtScore(x.score)})`;
  const size = measureLabels(pts.map(text));
  const pins = pts.map((x, i) => ({ ...f.points[i], r: 7 + (x.score === null ? 0 : Math.min(12, (1000 - Math.min(1000, x.score)) / 40)), ...size[i] }));
  const placed = placeLabels(pins, W, H, reserved);
  pts.forEach((x, i) => {
    const { x: px, y: py, r } = pins[i], at = placed[i];
    const what = x.score === null ? "insufficient data" : `rank ${x.rank}, score ${x.score}`;
    svg.append(s("a", { href: "#/site/" + encodeURIComponent(x.id), "aria-label": `${x.name || x.id}: ${what}`, class: "plan-site", "data-key": "plan-" + x.id },
      s("title", {}, `${x.name || x.id} — ${what}`),
      at.leader ? s("line", { x1: at.leader.x1, y1: at.leader.y1, x2: at.leader.x2, y2: at.leader.y2, class: "plan-leader" }) : null,
      x.kind === "rail"
        ? s("rect", { x: px - r, y: py - r, width: 2 * r, height: 2 * r, class: "pin " + scoreClass(x.score) })
        : s("circle", { cx: px, cy: py, r, class: "pin " + scoreClass(x.score) }),
      at.hidden
        ? s("text", { x: px + r + 4, y: py + 4, class: "plan-label off" }, text(x))
        : s("text", { x: at.x0, y: at.y0 + size[i].ascent, class: "plan-label" }, text(x))));
  });
  const hidden = placed.filter((p) => p.hidden).length;
  svg.setAttribute("data-hidden-labels", hidden);
  const caption = h("figcaption", { class: "sub" }, "● road approach   ■ rail platform · larger and redder is worse; grey: insufficient data",
    hidden ? h("span", { id: "plan-more" }, ` · +${hidden} more: no room for their labels (hover or focus a pin, or see the tables)`) : null);
  getTiles().then((set) => {
    const list = set && tiles(f, W, H, set);
    if (!list) return;
    base.append(...list.map((t) => s("image", { href: `/tiles/${t.z}/${t.x}/${t.y}`, x: t.px.toFixed(2), y: t.py.toFixed(2),
      width: (t.size + 0.5).toFixed(2), height: (t.size + 0.5).toFixed(2), preserveAspectRatio: "none", class: "plan-tile" })));
    // Attribution as the file gives it, as text (a TileJSON attribution may hold HTML).
    const credit = String(set.attribution || "").replace(/<[^>]*>/g, "").trim();
    if (credit) svg.append(s("text", { x: W - 6, y: H - 6, "text-anchor": "end", class: "plan-note plan-credit" }, credit));
  });
  return h("figure", {}, svg, caption);
}

// measureLabels gives each label's box (w, h, ascent) in the plan's font, as SVG text draws it.
let labelCtx = null;
function measureLabels(texts) {
  if (!labelCtx) labelCtx = document.createElement("canvas").getContext("2d");
  labelCtx.font = `12px ${getComputedStyle(document.body).fontFamily}`;
  return texts.map((t) => {
    const m = labelCtx.measureText(t);
    const ascent = m.fontBoundingBoxAscent ?? 11, descent = m.fontBoundingBoxDescent ?? 3;
    return { w: Math.ceil(m.width) + 2, h: Math.ceil(ascent + descent), ascent };
  });
}

// getTiles is the tileset's TileJSON, or null without one (204) or when it cannot be read:
// the plan is drawn either way.
let tileset = null;
function getTiles() {
  if (!tileset) {
    tileset = fetch("/tiles/tilejson", { credentials: "same-origin" })
      .then((r) => {
        if (r.status === 200) return r.json();
        if (r.status !== 204) tileset = null; // signed out, or a passing failure: ask again next time
        return null;
      })
      .catch(() => { tileset = null; return null; });
  }
  return tileset;
}

// siteHash is the site page's address with its view settings (empty ones left out).
function siteHash(enc, v) {
  const q = new URLSearchParams();
  for (const k of ["bin", "from", "to", "type", "heat", "events"]) if (v[k]) q.set(k, v[k]);
  const qs = q.toString();
  return `#/site/${enc}` + (qs ? "?" + qs : "");
}

// periodQuery is the API query of the chosen period: from and to (local dates of the site,
// the API reads them in its time zone; to includes its day), else the bin's default window.
function periodQuery(v, window) {
  const q = new URLSearchParams();
  if (v.from) q.set("from", v.from);
  if (v.to) q.set("to", v.to);
  if (!v.from && window) q.set("window", window);
  if (v.type) q.set("type", v.type);
  return q.toString();
}

// periodForm picks the period (a date range in the site's time), the event type and applies.
function periodForm(enc, v, types, message) {
  const form = h("form", { id: "period", class: "controls period", "aria-label": "Period and event type", onsubmit: (e) => {
    e.preventDefault();
    const f = e.target.elements;
    location.hash = siteHash(enc, { bin: v.bin, heat: v.heat, from: f.from.value, to: f.to.value, type: f.type.value });
  } },
  h("label", { for: "from" }, "From"), h("input", { type: "date", id: "from", name: "from", value: v.from || "", "data-key": "from" }),
  h("label", { for: "to" }, "to"), h("input", { type: "date", id: "to", name: "to", value: v.to || "", "data-key": "to" }),
  h("label", { for: "type" }, "Event type"),
  h("select", { id: "type", name: "type", "data-key": "type" }, h("option", { value: "", selected: !v.type }, "All types"),
    types.map((t) => h("option", { value: t, selected: v.type === t }, typeName(t)))),
  h("button", { type: "submit", class: "button", id: "period-apply", "data-key": "period-apply" }, "Show"),
  v.from || v.to || v.type ? h("a", { href: siteHash(enc, { bin: v.bin }), class: "button", "data-key": "period-latest" }, "Latest, all types") : null,
  message ? h("p", { role: "alert", class: "error", id: "period-error" }, message) : null);
  return form;
}

async function viewSite(id, params) {
  const bin = BINS[params.get("bin")] ? params.get("bin") : "15m";
  const shownEvents = Math.min(1000, Math.max(12, Number(params.get("events")) || 12));
  const enc = encodeURIComponent(id);
  const v = { bin, from: params.get("from") || "", to: params.get("to") || "", type: params.get("type") || "", heat: params.get("heat") === "rate" ? "rate" : "" };
  const period = periodQuery(v, BINS[bin]);
  let sites, series, ledger, events, cameras, devices, cat, pattern, precision, changes;
  try {
    [sites, series, ledger, events, cameras, devices, cat, pattern, precision, changes] = await Promise.all([
      api("/api/v1/sites"),
      api(`/api/v1/sites/${enc}/series?bin=${bin}&${period}`),
      api(`/api/v1/sites/${enc}/ledger?newest=100`),
      api(`/api/v1/sites/${enc}/events?limit=${shownEvents}&${periodQuery(v, "")}`),
      api(`/api/v1/sites/${enc}/cameras`),
      api("/api/v1/devices"),
      getCatalog(),
      api(`/api/v1/sites/${enc}/patterns?${periodQuery(v, "")}`),
      api("/api/v1/precision"),
      api(`/api/v1/sites/${enc}/changes`),
    ]);
  } catch (e) {
    if (e.status === 404) {
      main.replaceChildren(h("h1", {}, "Unknown site"), h("p", {}, `No site "${id}". `, h("a", { href: "#/" }, "All sites")));
      return;
    }
    if (e.status === 400) {
      // A period the API refuses (from after to, say): say why, next to the form to fix it.
      const c = await getCatalog();
      main.replaceChildren(h("p", { class: "crumb" }, h("a", { href: "#/" }, "Sites"), " › ", id), h("h1", {}, id),
        periodForm(enc, v, typesFor(c, ""), e.message));
      shows = () => false;
      return;
    }
    throw e;
  }
  const site = sites.find((x) => x.id === id);
  const allTypes = typesFor(cat, site.kind);
  const types = v.type ? [v.type] : allTypes;
  const tz = site.time_zone || "UTC";
  const devByID = Object.fromEntries(devices.map((d) => [d.id, d]));

  const summary = h("dl", { class: "facts", id: "site-facts" },
    h("dt", {}, "Rank"), h("dd", { "data-col": "rank" }, site.rank ? `${site.rank} of ${sites.filter((x) => x.rank).length}` : "not ranked (insufficient data)"),
    h("dt", {}, "Points per 1,000 road users"), h("dd", { "data-col": "risk" }, fmtRisk(site.risk), site.risk ? " (95 % interval)" : null),
    h("dt", {}, "Score"), h("dd", {}, h("span", { class: "score " + scoreClass(site.score), "data-col": "score" }, fmtScore(site.score)),
      ` (1,000 − points per 1,000 road users; catalog ${site.catalog_version})`),
    h("dt", {}, "Window"), h("dd", {}, `${fmtTime(site.from)} – ${fmtTime(site.to)}`),
    h("dt", {}, "Points"), h("dd", { "data-col": "points" }, fmtInt(site.points)),
    h("dt", {}, "Deductions"), h("dd", { "data-col": "deductions" }, fmtInt(site.deductions)),
    h("dt", {}, "Measured precision"), h("dd", { "data-col": "precision", title: "Confirmed ÷ (confirmed + dismissed) over every reviewed event" },
      fmtPrecision(precision.find((p) => p.site === id && !p.camera)), " · ", h("a", { href: "#/review?site=" + enc }, "review")),
    h("dt", {}, "Road users counted"), h("dd", { "data-col": "road-users" }, fmtInt(site.road_users),
      site.status === "insufficient_data" ? h("span", { class: "badge insufficient" }, " insufficient data for rates") : null));

  const rates = h("table", { class: "rates", id: "site-rates" },
    h("caption", {}, "Events in the window and rates per 1,000 road users"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Event type"), h("th", { scope: "col", class: "num" }, "Events"),
      h("th", { scope: "col", class: "num" }, "Per 1,000"), h("th", { scope: "col", class: "num" }, "95 % interval"))),
    h("tbody", {}, types.map((t) => {
      const r = site.status === "ok" ? (site.rates || {})[t] : null;
      return h("tr", { "data-type": t }, h("th", { scope: "row" }, typeName(t)),
        h("td", { class: "num", "data-col": "events" }, fmtInt((site.events || {})[t] || 0)),
        h("td", { class: "num" }, r ? fmtRate(r.per_1000) : "—"),
        h("td", { class: "num" }, r ? `${fmtRate(r.low)}–${fmtRate(r.high)}` : site.status === "ok" ? "—" : "insufficient data"));
    })));

  const binButtons = h("div", { class: "controls", role: "group", "aria-label": "Bin width" },
    Object.keys(BINS).map((b) => h("a", { href: siteHash(enc, { ...v, bin: b }), class: "button", "aria-current": b === bin ? "true" : null, "data-key": "bin-" + b },
      BIN_NAMES[b])));
  const charts = h("div", { class: "charts" }, types.map((t) => chart(series, t, bin, changes)),
    chart(series, "", bin, changes));
  const shownFrom = series.length ? series[0].start : null, shownTo = series.length ? series[series.length - 1].end : null;
  const periodNote = h("p", { class: "sub", id: "period-shown" }, shownFrom
    ? `Showing ${localTime(shownFrom)} – ${localTime(shownTo)} (${tz}), ${series.length} bins` : "No bins");
  const exportQuery = periodQuery(v, BINS[bin]);
  const countsQuery = periodQuery({ ...v, type: "" }, BINS[bin]);
  const exportsList = h("ul", { class: "exports", id: "exports" },
    h("li", {}, h("a", { href: `/api/v1/sites/${enc}/counts?bin=15m&format=csv&${countsQuery}`, "data-export": "counts-csv" }, "Class counts per zone, 15-minute bins (CSV)")),
    h("li", {}, h("a", { href: `/api/v1/sites/${enc}/counts?bin=60m&format=csv&${countsQuery}`, "data-export": "counts-hour-csv" }, "Class counts per zone, hourly (CSV)")),
    h("li", {}, h("a", { href: `/api/v1/sites/${enc}/counts?bin=15m&${countsQuery}`, "data-export": "counts-json" }, "Class counts with peak hours (JSON)")),
    h("li", {}, h("a", { href: `/api/v1/export/events.csv?site=${enc}&limit=2000&${exportQuery}`, "data-export": "events-csv" }, "Events, at most 2,000 (CSV)")),
    h("li", {}, h("a", { href: `/api/v1/sites/${enc}/series?bin=${bin}&${exportQuery}`, "data-export": "series-json" }, "This series (JSON)")),
    h("li", {}, h("a", { href: `/api/v1/sites/${enc}/patterns?${periodQuery(v, "")}`, "data-export": "patterns-json" }, "Weekly pattern (JSON)")));

  const ledgerTable = ledger.length ? h("table", { id: "ledger" },
    h("caption", {}, `The ${ledger.length} newest deductions under catalog ${cat.version}, each with the event behind it`),
    h("thead", {}, h("tr", {}, ["Time", "Event type", "Points", "Catalog", "Event", "Review"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, ledger.map((l) => {
      const dismissed = l.review && l.review.verdict === "dismissed";
      return h("tr", { "data-event": l.event_id, class: dismissed ? "dismissed" : null },
        h("td", {}, fmtZone(l.time, tz)), h("td", {}, typeName(l.type)),
        h("td", { class: "num", "data-col": "points" }, dismissed ? h("s", { title: "Dismissed: deducts nothing" }, "−" + l.points) : "−" + l.points),
        h("td", {}, l.catalog_version),
        h("td", {}, h("a", { href: `#/event/${encodeURIComponent(l.device)}/${encodeURIComponent(l.event_id)}` }, l.event_id)),
        h("td", { "data-col": "review" }, l.review ? reviewText(l.review) : "—"));
    })))
    : h("p", {}, "No deductions.");

  const feed = events.length ? h("ul", { class: "feed", id: "feed" }, events.map((e) => h("li", { "data-event": e.id },
    h("a", { href: `#/event/${encodeURIComponent(e.device)}/${encodeURIComponent(e.id)}`, class: "thumb-link" },
      e.has_evidence
        ? h("img", { src: evidenceURL(e), alt: `Anonymised evidence: ${typeName(e.type)} at ${fmtTime(e.time)}`, width: 160, height: 90, class: "thumb" })
        : h("span", { class: "thumb none" }, "no image"),
      h("span", { class: "feed-text" }, h("strong", {}, typeName(e.type)), h("br"), fmtZone(e.time, tz), h("br"),
        h("span", { class: "sub" }, `${e.class || "?"} · zone ${e.zone} · ${e.camera}`))))))
    : h("p", {}, "No events in the window.");
  const more = events.length === shownEvents && shownEvents < 1000
    ? h("p", {}, h("a", { href: siteHash(enc, { ...v, events: shownEvents + 24 }), class: "button", "data-key": "more-events" }, "Show 24 more events"))
    : null;

  const camTable = h("table", { id: "cameras" },
    h("caption", {}, "Cameras watching this site and the devices that reported from them"),
    h("thead", {}, h("tr", {}, ["Camera", "Device", "Device status", "Events", "Last record", "Measured precision"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, cameras.map((c) => {
      const d = devByID[c.device];
      return h("tr", { "data-camera": c.camera }, h("td", {}, c.camera), h("td", {}, c.device || "—"),
        h("td", {}, d ? onlineBadge(d) : c.device ? "unknown" : "no device yet"),
        h("td", { class: "num" }, fmtInt(c.events)), h("td", {}, c.device ? fmtTime(c.last_record) : "—"),
        h("td", { "data-col": "precision" }, fmtPrecision(precision.find((p) => p.site === id && p.camera === c.camera))));
    })));

  // The site's own devices report every few seconds; this page shows only whether each is online.
  const siteDevices = new Set(cameras.map((c) => c.device).filter(Boolean));
  shows = async (c) => {
    if ((c.sites || []).includes(id)) return true;
    if (!(c.devices || []).some((d) => siteDevices.has(d))) return false;
    const now = await api("/api/v1/devices");
    return now.some((d) => siteDevices.has(d.id) && d.online !== devByID[d.id]?.online);
  };
  main.replaceChildren(
    h("p", { class: "crumb" }, h("a", { href: "#/" }, "Sites"), " › ", site.id),
    h("h1", {}, site.name || site.id, " ", h("span", { class: "kind" }, site.kind)),
    h("div", { class: "two" }, summary, rates),
    h("section", { "aria-labelledby": "ts-h" }, h("h2", { id: "ts-h" }, "Time series"), periodForm(enc, v, allTypes), binButtons, periodNote, charts),
    h("section", { "aria-labelledby": "heat-h" }, h("h2", { id: "heat-h" }, "Weekly pattern"), heatMap(pattern, enc, v)),
    h("section", { "aria-labelledby": "exp-h" }, h("h2", { id: "exp-h" }, "Exports for this period"), exportsList),
    changesSection(site, changes),
    h("section", { "aria-labelledby": "feed-h" }, h("h2", { id: "feed-h" }, "Latest events"), feed, more),
    h("section", { "aria-labelledby": "ledger-h" }, h("h2", { id: "ledger-h" }, "Ledger"), h("div", { class: "scroll tall", tabindex: "0", "aria-label": "Ledger, scrollable" }, ledgerTable)),
    h("section", { "aria-labelledby": "cam-h" }, h("h2", { id: "cam-h" }, "Cameras and devices"), camTable));
}

const evidenceURL = (e) => `/api/v1/events/${encodeURIComponent(e.device)}/${encodeURIComponent(e.id)}/evidence.jpg`;

// localTime shows an API time as the site's wall clock: the API writes times with the site's
// offset (2026-03-30T08:00:00+02:00), so the text is the local time without converting.
const localTime = (t) => (t ? t.slice(0, 10) + " " + t.slice(11, 16) + " " + (t.length > 19 ? t.slice(19).replace(/^\.\d+/, "") : "") : "");

// tickLabel names a bin start on the time axis: the time of day for bins within a day when the
// period is short, else the date (and time where bins are shorter than a day).
function tickLabel(t, bin, spanDays) {
  if (bin === "1d" || bin === "1w") return t.slice(5, 10);
  if (spanDays <= 1.01) return t.slice(11, 16);
  return t.slice(5, 10) + " " + t.slice(11, 16);
}

// niceMax rounds a chart's top up to 1, 2 or 5 times a power of ten, so the y ticks are round.
function niceMax(v) {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// chart draws one bar per bin: events of type t, or road users counted when t is "", with a
// time axis of up to six local-time labels, three y ticks, each bin's value on hover, and a
// dashed line at each recorded change of the site inside the chart's span.
function chart(series, t, bin, changes) {
  const vals = series.map((b) => (t ? b.events[t] || 0 : b.road_users));
  const total = vals.reduce((a, n) => a + n, 0);
  const W = 360, H = 140, left = 34, bottom = 32, top = 8, peak = Math.max(0, ...vals), max = niceMax(peak);
  const bw = (W - left) / Math.max(1, vals.length);
  const title = t ? typeName(t) : "Road users counted";
  const label = `${title}: ${total} in ${vals.length} bins of ${bin}, at most ${peak} in one bin`;
  const y = (v) => H - bottom - (v / max) * (H - bottom - top);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "chart" },
    s("title", {}, label),
    s("line", { x1: left, y1: H - bottom, x2: W, y2: H - bottom, class: "axis" }));
  for (const v of [0, max / 2, max]) {
    svg.append(s("line", { x1: left, y1: y(v), x2: W, y2: y(v), class: v ? "grid" : "axis" }),
      s("text", { x: left - 4, y: y(v) + 3, "text-anchor": "end", class: "tick y-tick" }, Number.isInteger(v) ? v : v.toFixed(1)));
  }
  vals.forEach((v, i) => {
    const b = series[i];
    const hover = `${localTime(b.start)} – ${b.end ? localTime(b.end).slice(11) : ""}: ${fmtInt(v)} ${t ? typeName(t).toLowerCase() : "road users"}`;
    const g = s("g", { class: "bin" }, s("title", {}, hover),
      s("rect", { x: left + i * bw, y: top, width: Math.max(1, bw), height: H - bottom - top, class: "hit" }));
    if (v) g.append(s("rect", { x: left + i * bw + 0.5, y: y(v), width: Math.max(1, bw - 1), height: H - bottom - y(v), class: t ? "bar" : "bar users" }));
    svg.append(g);
  });
  if (series.length) {
    const spanDays = (new Date(series[series.length - 1].end || series[series.length - 1].start) - new Date(series[0].start)) / 864e5;
    // As many labels as fit without touching (about 5.5 px a character at 10 px), 3 to 6.
    const chars = tickLabel(series[0].start, bin, spanDays).length;
    const n = Math.min(series.length, Math.max(3, Math.min(6, Math.floor((W - left) / (chars * 5.5 + 14)))));
    const seen = new Set();
    for (let k = 0; k < n; k++) {
      const i = n === 1 ? 0 : Math.round((k * (series.length - 1)) / (n - 1));
      if (seen.has(i)) continue;
      seen.add(i);
      const x = left + i * bw + bw / 2;
      svg.append(s("line", { x1: x, y1: H - bottom, x2: x, y2: H - bottom + 4, class: "axis" }),
        s("text", { x, y: H - bottom + 15, "text-anchor": k === 0 ? "start" : k === n - 1 ? "end" : "middle", class: "tick x-tick" }, tickLabel(series[i].start, bin, spanDays)));
    }
    const off = series[0].start.slice(19) || "Z";
    svg.append(s("text", { x: W, y: H - 3, "text-anchor": "end", class: "tick" }, `local time (UTC${off === "Z" ? "" : off})`));
    const t0 = Date.parse(series[0].start), binMs = series.length > 1 ? Date.parse(series[1].start) - t0 : 3600e3;
    for (const c of changes || []) {
      const at = (Date.parse(c.time) - t0) / binMs;
      if (at < 0 || at > series.length) continue;
      const x = left + at * bw;
      svg.append(s("g", { class: "change", "data-change": c.id },
        s("title", {}, `Change ${localTime(c.time)}: ${c.description}`),
        s("line", { x1: x, y1: 4, x2: x, y2: H - bottom, class: "change-mark" }),
        s("text", { x: x + 2, y: 12, class: "change-label" }, "change")));
    }
  }
  return h("figure", { class: "chart-box", "data-type": t || "road_users" }, h("figcaption", {}, h("strong", {}, title), ` — ${fmtInt(total)}`), svg);
}

// heatMap is the weekly pattern as a table: a row per weekday, a column per local hour, each
// cell's events (or rate per 1,000 road users where the exposure allows one) as text and shade.
function heatMap(p, enc, v) {
  const rate = v.heat === "rate";
  const value = (c) => (rate ? (c.rate ? c.rate.per_1000 : null) : c.total);
  const max = Math.max(0, ...p.cells.map((c) => value(c) || 0));
  const level = (x) => (x === null ? "na" : !x || !max ? "0" : String(Math.min(5, Math.ceil((x / max) * 5))));
  const total = p.cells.reduce((a, c) => a + c.total, 0);
  const modes = h("div", { class: "controls", role: "group", "aria-label": "Heat map shows" },
    h("a", { href: siteHash(enc, { ...v, heat: "" }), class: "button", "aria-current": rate ? null : "true", "data-key": "heat-events" }, "Events"),
    h("a", { href: siteHash(enc, { ...v, heat: "rate" }), class: "button", "aria-current": rate ? "true" : null, "data-key": "heat-rate" }, "Rate per 1,000 road users"));
  const hour = (i) => String(i).padStart(2, "0");
  const table = h("table", { class: "heat", id: "heatmap", "data-mode": rate ? "rate" : "events" },
    h("caption", {}, `${rate ? "Events per 1,000 road users" : "Events"} by weekday and hour, ${p.time_zone} time, ${localTime(p.from).slice(0, 10)} – ${localTime(p.to).slice(0, 10)}`,
      p.types && p.types.length ? `, ${p.types.map(typeName).join(", ")} only` : "", `: ${fmtInt(total)} events.`,
      rate ? ` A rate needs ${fmtInt(p.min_road_users)} road users counted in the cell; – where fewer were.` : ""),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"), Array.from({ length: 24 }, (_, i) => h("th", { scope: "col", class: "num" }, hour(i))))),
    h("tbody", {}, WEEKDAYS.map((day, d) => h("tr", {}, h("th", { scope: "row" }, day.slice(0, 3)),
      p.cells.slice(d * 24, d * 24 + 24).map((c) => {
        const x = value(c);
        const tip = `${day} ${hour(c.hour)}:00–${hour((c.hour + 1) % 24)}:00: ${fmtInt(c.total)} events in ${c.hours} such hours, ${fmtInt(c.road_users)} road users` +
          (c.rate ? `, ${fmtRate(c.rate.per_1000)} per 1,000 (${fmtRate(c.rate.low)}–${fmtRate(c.rate.high)})` : ", too few road users for a rate");
        return h("td", { class: "num heat-" + level(x), title: tip, "data-cell": `${c.weekday}-${c.hour}`, "data-total": c.total },
          x === null ? "–" : rate ? fmtRate(x) : x ? x : "");
      })))));
  return h("div", {}, modes, h("div", { class: "scroll", tabindex: "0", "aria-label": "Weekly pattern, scrollable" }, table));
}

// changesSection lists a site's recorded changes, each with its before/after study; an admin
// can record one.
function changesSection(site, changes) {
  const enc = encodeURIComponent(site.id);
  const list = changes.length ? h("table", { id: "changes" },
    h("caption", {}, "Changes made at this site (drawn on the charts as dashed lines)"),
    h("thead", {}, h("tr", {}, ["Took effect", "Change", "Recorded by", "Study"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, changes.map((c) => h("tr", { "data-change": c.id },
      h("td", {}, localTime(c.time)), h("td", {}, c.description), h("td", {}, c.actor),
      h("td", {}, h("a", { href: `#/site/${enc}/compare?change=${c.id}`, "data-key": "compare-" + c.id }, "Before and after"))))))
    : h("p", { id: "no-changes" }, "No change recorded at this site.");
  const study = h("p", {}, h("a", { href: `#/site/${enc}/compare`, class: "button", "data-key": "compare" }, "Compare two periods"));
  let form = null;
  if (session && (session.role === "admin" || session.via === "insecure")) {
    const err = h("p", { role: "alert", class: "error", id: "change-error" });
    const when = h("input", { type: "date", id: "change-time", required: true });
    const what = h("input", { id: "change-description", required: true, maxlength: 500, size: 40 });
    form = h("form", { class: "inline", id: "change-form", onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = "";
      const r = await fetch(`/api/v1/sites/${enc}/changes`, { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": session.csrf || "" },
        body: JSON.stringify({ time: when.value, description: what.value }) });
      if (!r.ok) {
        err.textContent = (await r.json().catch(() => ({}))).error || `${r.status} ${r.statusText}`;
        return;
      }
      render(true);
    } },
    h("label", { for: "change-time" }, "Took effect", when), h("label", { for: "change-description" }, "What changed", what),
    h("button", { type: "submit", class: "button", id: "change-submit" }, "Record change"), err);
  }
  return h("section", { "aria-labelledby": "changes-h" }, h("h2", { id: "changes-h" }, "Changes and before/after"), list, study, form);
}

// dateOnly is the site's local date of an API time (written with the site's offset), which is
// what a date sent back to the API means.
const dateOnly = (t) => (t ? t.slice(0, 10) : "");

// viewCompare is a before/after study of a site: per event type, the counts, exposure, rates,
// the rate ratio with its 95 % interval and the conditional test's p-value (from the API).
async function viewCompare(id, params) {
  const enc = encodeURIComponent(id);
  const q = new URLSearchParams();
  for (const k of ["change", "before", "after"]) if (params.get(k)) q.set(k, params.get(k));
  const changes = await api(`/api/v1/sites/${enc}/changes`);
  let c = null, problem = null;
  if (q.toString()) {
    try { c = await api(`/api/v1/sites/${enc}/compare?${q}`); } catch (e) {
      if (e.status !== 400) throw e;
      problem = e.message;
    }
  }
  shows = (ch) => (ch.sites || []).includes(id);
  const val = (k, i) => (params.get(k) || "").split("/")[i] || "";
  const field = (fid, label, value) => h("label", { for: fid }, label, h("input", { type: "date", id: fid, value }));
  const form = h("form", { class: "inline", id: "compare-form", onsubmit: (e) => {
    e.preventDefault();
    const v = (fid) => document.getElementById(fid).value;
    const nq = new URLSearchParams();
    if (v("cmp-change")) nq.set("change", v("cmp-change"));
    if (v("cmp-before-from") && v("cmp-before-to")) nq.set("before", `${v("cmp-before-from")}/${v("cmp-before-to")}`);
    if (v("cmp-after-from") && v("cmp-after-to")) nq.set("after", `${v("cmp-after-from")}/${v("cmp-after-to")}`);
    location.hash = `#/site/${enc}/compare?${nq}`;
  } },
  field("cmp-change", "Change took effect", /^\d+$/.test(params.get("change") || "") ? dateOnly(c?.change?.time) : params.get("change") || ""),
  field("cmp-before-from", "Before: from", val("before", 0) || dateOnly(c?.before.from)), field("cmp-before-to", "to", val("before", 1) || dateOnly(c?.before.to)),
  field("cmp-after-from", "After: from", val("after", 0) || dateOnly(c?.after.from)), field("cmp-after-to", "to", val("after", 1) || dateOnly(c?.after.to)),
  h("button", { type: "submit", class: "button", id: "compare-submit" }, "Compare"));
  const num3 = (x, d) => (x === null || x === undefined ? "—" : Number(x).toFixed(d));
  const pval = (p) => (p === null || p === undefined ? "—" : p < 0.0001 ? "< 0.0001" : Number(p).toFixed(4));
  const result = c ? h("table", { id: "compare-table" },
    h("caption", {}, `Before ${localTime(c.before.from)} – ${localTime(c.before.to)} (${fmtInt(c.before.road_users)} road users) against after `
      + `${localTime(c.after.from)} – ${localTime(c.after.to)} (${fmtInt(c.after.road_users)} road users), ${c.time_zone} time. Method: ${c.method}.`),
    h("thead", {}, h("tr", {}, ["Event type", "Before", "Per 1,000", "After", "Per 1,000", "Rate ratio (95 %)", "p-value", "More than chance?"]
      .map((x, i) => h("th", { scope: "col", class: i ? "num" : null }, x)))),
    h("tbody", {}, c.types.map((r) => h("tr", { "data-type": r.type },
      h("th", { scope: "row" }, r.type === "all" ? "All events" : typeName(r.type)),
      h("td", { class: "num", "data-col": "before" }, fmtInt(r.before_events)), h("td", { class: "num" }, num3(r.before_per_1000, 2)),
      h("td", { class: "num", "data-col": "after" }, fmtInt(r.after_events)), h("td", { class: "num" }, num3(r.after_per_1000, 2)),
      h("td", { class: "num", "data-col": "ratio" }, r.rate_ratio === null ? (r.p_value === null ? "—" : "no events before") : `${num3(r.rate_ratio, 2)} (${num3(r.low, 2)}–${r.high === null ? "∞" : num3(r.high, 2)})`),
      h("td", { class: "num", "data-col": "p" }, pval(r.p_value)),
      h("td", { class: "num" }, r.p_value === null ? "no exposure" : h("span", { class: "verdict " + (r.significant ? "yes" : "no"), "data-col": "significant" },
        r.significant ? (r.rate_ratio < 1 ? "yes: fewer" : "yes: more") : "no"))))))
    : h("p", { id: "compare-hint" }, problem ? h("span", { role: "alert", class: "error", id: "compare-error" }, problem)
      : "Choose the date the change took effect (dates are the site's local dates; the periods default to equal spans either side, up to now), or both periods.");
  main.replaceChildren(
    h("p", { class: "crumb" }, h("a", { href: "#/" }, "Sites"), " › ", h("a", { href: "#/site/" + enc }, id), " › before and after"),
    h("h1", {}, "Before and after: ", id),
    changes.length ? h("p", { id: "compare-changes" }, "Recorded changes: ", changes.flatMap((x, i) => [i ? " · " : "",
      h("a", { href: `#/site/${enc}/compare?change=${x.id}` }, `${localTime(x.time)} ${x.description}`)])) : null,
    form, result);
}

function onlineBadge(d) {
  return h("span", { class: "badge " + (d.online ? "online" : "offline"), "data-col": "online" }, d.online ? "online" : "offline");
}

async function viewEvent(device, id) {
  let e;
  try {
    e = await api(`/api/v1/events/${encodeURIComponent(device)}/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err.status === 404) {
      main.replaceChildren(h("h1", {}, "Unknown event"), h("p", {}, `No event ${device}/${id}.`));
      return;
    }
    throw err;
  }
  const review = await api(`/api/v1/events/${encodeURIComponent(device)}/${encodeURIComponent(id)}/review`); // null: not reviewed
  shows = (c) => c.reviews > 0 && (c.sites || []).includes(e.site); // a stored event changes only by its review
  main.replaceChildren(
    h("p", { class: "crumb" }, h("a", { href: "#/" }, "Sites"), " › ", h("a", { href: "#/site/" + encodeURIComponent(e.site) }, e.site), " › ", e.id),
    h("h1", {}, typeName(e.type)),
    h("div", { class: "two" },
      e.has_evidence ? h("figure", { class: "evidence-figure" },
        h("img", { src: evidenceURL(e), alt: `Anonymised evidence of this ${typeName(e.type)} event: stills before, at and after the moment judged; people, faces and number plates are pixelated`, class: "evidence" }),
        h("figcaption", {}, "Before, at and after the moment judged (0.8 s apart), top to bottom: the road user in a magenta box, the line it crossed in red or the zone it entered in cyan, and in each banner the signal state and where it was read (camera, controller or plan). People, faces and number plates are pixelated on the camera box."))
        : h("p", {}, "This event has no evidence image."),
      h("dl", { class: "facts" },
        h("dt", {}, "Time"), h("dd", {}, fmtTime(e.time)),
        h("dt", {}, "Received"), h("dd", {}, fmtTime(e.received)),
        h("dt", {}, "Site · zone"), h("dd", {}, `${e.site} · ${e.zone}`),
        h("dt", {}, "Road user"), h("dd", {}, e.class || "—"),
        h("dt", {}, "Confidence"), h("dd", {}, Number(e.confidence).toFixed(2)),
        e.signal_source ? [h("dt", {}, "Signal state from"), h("dd", {}, e.signal_source)] : null,
        e.time_into_red_s ? [h("dt", {}, "Time into red"), h("dd", {}, Number(e.time_into_red_s).toFixed(2) + " s")] : null,
        h("dt", {}, "Camera · device"), h("dd", {}, `${e.camera} · ${e.device}`),
        h("dt", {}, "Event id"), h("dd", {}, h("code", {}, e.id)),
        h("dt", {}, "Review"), h("dd", { id: "event-review" }, reviewText(review), " · ", h("a", { href: "#/review?site=" + encodeURIComponent(e.site) }, "review queue")))));
}

async function viewDevices() {
  const [devices, gaps] = await Promise.all([api("/api/v1/devices"), api("/api/v1/gaps")]);
  shows = (c) => (c.devices || []).length > 0 || c.gaps > 0;
  main.replaceChildren(
    h("h1", {}, "Devices"),
    devices.length ? h("div", { class: "scroll" }, h("table", { id: "devices" },
      h("caption", {}, "Edge devices as they last reported. Backlog is what the device holds that the aggregator has not committed yet."),
      h("thead", {}, h("tr", {}, ["Device", "Status", "Backlog", "Oldest pending", "Last seen", "Signal-source disagreements", "Camera view changed", "Software"]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, devices.map((d) => h("tr", { "data-device": d.id },
        h("th", { scope: "row" }, d.id), h("td", {}, onlineBadge(d), d.view_mismatch_since
          ? [" ", h("span", { class: "badge offline", "data-col": "view-mismatch",
            title: "The camera shows another view than its scene's reference (a cut, a pan or zoom, a knock): it raises no events and withholds its counts until the view matches again. Check it with crosswatch-edge scene draw; if the new view is the right one, write its reference with --write-reference." },
            "view does not match its scene since ", h("time", { datetime: d.view_mismatch_since }, fmtTime(d.view_mismatch_since)))]
          : null),
        h("td", { class: "num", "data-col": "backlog" }, fmtInt(d.backlog)),
        h("td", { class: "num" }, d.backlog ? Number(d.oldest_pending_s).toFixed(0) + " s" : "—"),
        h("td", {}, h("time", { datetime: d.last_seen, title: fmtTime(d.last_seen) }, ago(d.last_seen))),
        h("td", { class: "num", "data-col": "disagreements" }, d.signal_disagreements ? h("span", { class: "badge warn" }, fmtInt(d.signal_disagreements)) : "0"),
        h("td", { "data-col": "view" }, d.last_view_change
          ? h("span", { class: "badge warn", title: "The picture changed almost entirely at once (a cut, or the camera knocked or turned): check that the scene still fits, with crosswatch-edge scene draw" },
            `${fmtInt(d.view_changes)}× since start · last `, h("time", { datetime: d.last_view_change }, fmtTime(d.last_view_change)))
          : "—"),
        h("td", {}, d.software || "—"))))))
      : h("p", {}, "No device has reported yet."),
    h("h2", {}, "Cameras"),
    camerasTable(devices),
    h("h2", {}, "Reported losses"),
    gaps.length ? h("table", { id: "gaps" },
      h("caption", {}, "What devices report they lost or could not judge, newest first: payloads dropped by their declared policy (full outbox or disk), camera streams down, camera views that did not match their scene"),
      h("thead", {}, h("tr", {}, ["Time", "Device", "Reason", "Evicted", "Not accepted", "Covering"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, gaps.slice(0, 50).map((g) => h("tr", {},
        h("td", {}, fmtTime(g.time)), h("td", {}, g.device), h("td", {}, g.reason.replace("_", " ")),
        h("td", {}, Object.entries(g.evicted || {}).map(([k, n]) => `${typeName(k)} ${n}`).join(", ") || "—"),
        h("td", { class: "num" }, g.not_accepted), h("td", {}, `${fmtTime(g.oldest)} – ${fmtTime(g.newest)}`)))))
      : h("p", {}, "No device has reported a loss."));
}

// CAMERA_STATES: each state a device reports for a camera, its badge and what it means.
const CAMERA_STATES = {
  up: ["online", "Its source delivers frames to its pipeline."],
  reconnecting: ["warn", "Its live source dropped; the box is reconnecting to it (1 s to 30 s between attempts)."],
  down: ["offline", "It does not run: its source cannot be opened, its scene fails, it waits to retry, or its video file ended."],
};

// camerasTable is a row per camera under its device (a row group per device), as each device
// last reported them. A device offline says nothing current about its cameras: their state
// reads "device offline", with the last one reported beside it.
function camerasTable(devices) {
  const withCams = devices.filter((d) => (d.cameras || []).length > 0);
  if (!withCams.length) return h("p", { id: "no-cameras" }, "No device has reported its cameras (a box running crosswatch-edge run reports each of them).");
  return h("div", { class: "scroll" }, h("table", { id: "cameras" },
    h("caption", {}, "Each device's cameras as the device last reported them: every 5 s, and at once when a camera goes down or comes back. Frame rates are over the seconds before the report."),
    h("thead", {}, h("tr", {}, ["Device", "Camera", "State", "Decoded fps", "Analysed fps", "Last frame", "Reconnects", "View", "Error"]
      .map((c) => h("th", { scope: "col" }, c)))),
    withCams.map((d) => h("tbody", { "data-device": d.id }, d.cameras.map((c, i) => {
      const [cls, what] = CAMERA_STATES[c.state] || ["offline", ""];
      const state = d.online
        ? h("span", { class: "badge " + cls, "data-col": "state", title: what }, c.state)
        : [h("span", { class: "badge offline", "data-col": "state", title: "The device is offline: this is the last state it reported." }, "device offline"),
          h("div", { class: "sub" }, "last reported: " + c.state)];
      return h("tr", { "data-device": d.id, "data-camera": c.id },
        i === 0 ? h("th", { scope: "rowgroup", rowspan: d.cameras.length }, d.id) : null,
        h("th", { scope: "row" }, c.id),
        h("td", {}, state),
        h("td", { class: "num", "data-col": "decoded-fps" }, Number(c.decoded_fps).toFixed(1)),
        h("td", { class: "num", "data-col": "analysed-fps" }, Number(c.analysed_fps).toFixed(1)),
        h("td", { "data-col": "last-frame" }, c.last_frame ? h("time", { datetime: c.last_frame, title: fmtTime(c.last_frame) }, ago(c.last_frame)) : "never"),
        h("td", { class: "num", "data-col": "reconnects" }, fmtInt(c.reconnects)),
        h("td", { "data-col": "camera-view" }, c.view_mismatch
          ? h("span", { class: "badge offline", title: "Its view does not match its scene's reference: it raises no events and withholds its counts until it does." }, "does not match its scene")
          : c.view_changes ? h("span", { class: "badge warn", title: "Its picture changed almost entirely at once (a cut, a knock): check that the scene still fits." }, `changed ${fmtInt(c.view_changes)}×`) : "—"),
        h("td", { "data-col": "error" }, c.error || "—"));
    })))));
}

async function viewCatalog() {
  catalog = null; // the catalog page always shows what the server has now
  const cat = await getCatalog();
  shows = () => false; // ingest never changes the catalog
  main.replaceChildren(
    h("h1", {}, "Catalog ", h("span", { class: "kind", id: "catalog-version" }, cat.version)),
    h("p", { class: "lede" }, "Severity points deducted from a site's score for each event. A new version re-prices every stored event; each ledger row names the version that priced it."),
    h("table", { id: "catalog" },
      h("thead", {}, h("tr", {}, ["Event type", "Points", "Applies to", "Minimum confidence", "Description"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, cat.entries.map((e) => h("tr", { "data-type": e.type },
        h("th", { scope: "row" }, typeName(e.type), h("div", { class: "sub" }, e.type)),
        h("td", { class: "num", "data-col": "points" }, e.points), h("td", {}, e.site_kinds.join(", ")),
        h("td", { class: "num" }, Number(e.min_confidence).toFixed(2)), h("td", {}, e.description))))));
}

// ---- review queue and dead letters ---------------------------------------------------------

const DISMISS_REASONS = {
  not_a_violation: "Not a violation",
  wrong_road_user: "Wrong road user",
  signal_misread: "Signal misread",
  duplicate: "Duplicate",
  other: "Other (say why in the note)",
};

// post sends a change with the session's CSRF token and returns the JSON answer; an error
// carries the server's message.
async function post(path, body) {
  const r = await fetch(path, { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": (session && session.csrf) || "" },
    body: JSON.stringify(body) });
  const out = await r.json().catch(() => ({}));
  if (r.status === 401) { showLogin("Your session has ended: sign in again."); throw new Error("not signed in"); }
  if (!r.ok) throw new Error(out.error || `${r.status} ${r.statusText}`);
  return out;
}

const canReview = () => session && (session.role === "reviewer" || session.role === "admin");
const fmtPrecision = (p) => (p && p.n ? `${(100 * p.precision).toFixed(0)} % (n = ${p.n})` : "no reviews yet");

function reviewText(rv) {
  if (!rv) return "not reviewed";
  const why = rv.reason ? ` (${DISMISS_REASONS[rv.reason] || rv.reason}${rv.note ? ": " + rv.note : ""})` : rv.note ? ` (${rv.note})` : "";
  return `${rv.verdict}${why} by ${rv.reviewer.replace(/^(user|token):/, "")}, ${fmtTime(rv.time)}`;
}

function reviewBadge(rv) {
  if (!rv) return h("span", { class: "badge insufficient", "data-col": "review" }, "to review");
  return h("span", { class: "badge " + (rv.verdict === "dismissed" ? "offline" : "online"), "data-col": "review", title: reviewText(rv) }, rv.verdict);
}

// The review queue keeps the selected event (by device and id) across redraws.
let reviewSelected = null;
let reviewMessage = "";
// reviewDraft is the reason and note being written for the selected event: a redraw (new
// events arrive, another reviewer decides) must not wipe a note half typed.
let reviewDraft = { key: null, reason: "not_a_violation", note: "" };

async function viewReview(params) {
  const site = params.get("site") || "";
  const [queue, sites] = await Promise.all([
    api(`/api/v1/reviews?limit=200${site ? "&site=" + encodeURIComponent(site) : ""}`),
    api("/api/v1/sites"),
  ]);
  const key = (e) => e.device + "/" + e.id;
  let idx = Math.max(0, queue.findIndex((e) => key(e) === reviewSelected));
  const cur = queue[idx];
  reviewSelected = cur ? key(cur) : null;
  if (reviewDraft.key !== reviewSelected) reviewDraft = { key: reviewSelected, reason: "not_a_violation", note: "" };
  const unreviewed = queue.filter((e) => !e.review).length;

  const select = (i) => {
    if (i < 0 || i >= queue.length) return;
    reviewSelected = key(queue[i]);
    reviewMessage = "";
    render(true);
  };
  const decide = async (verdict) => {
    if (!cur || !canReview()) return;
    const body = { verdict };
    if (verdict === "dismissed") {
      body.reason = reasonSel.value;
      if (note.value.trim()) body.note = note.value.trim();
    } else if (note.value.trim()) body.note = note.value.trim();
    try {
      const rv = await post(`/api/v1/events/${encodeURIComponent(cur.device)}/${encodeURIComponent(cur.id)}/review`, body);
      reviewMessage = `${cur.id}: ${reviewText(rv)}.`;
      // On to the next event nobody has reviewed, else the next one.
      const next = queue.findIndex((e, i) => i !== idx && !e.review);
      const after = next >= 0 ? queue[next] : queue[idx + 1];
      reviewSelected = after ? key(after) : key(cur);
    } catch (x) {
      reviewMessage = "Not saved: " + (x.message || x);
    }
    render(true);
  };

  const list = h("table", { id: "review-list" },
    h("caption", {}, `${unreviewed} of ${queue.length} events not reviewed yet; those first, newest first`),
    h("thead", {}, h("tr", {}, ["", "Time", "Site", "Event type", "Camera", "Review"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, queue.map((e, i) => h("tr", { "data-event": e.id, class: i === idx ? "selected" : null, "aria-selected": i === idx ? "true" : null },
      h("td", {}, h("button", { type: "button", class: "button small", "data-key": "pick-" + key(e), onclick: () => select(i),
        "aria-label": `Show ${typeName(e.type)} ${e.id}` }, i === idx ? "▶" : "Show")),
      h("td", {}, fmtTime(e.time)), h("td", {}, e.site), h("td", {}, typeName(e.type)), h("td", {}, e.camera),
      h("td", {}, reviewBadge(e.review))))));

  const reasonSel = h("select", { id: "review-reason", "data-key": "review-reason", "aria-label": "Reason for dismissing",
    onchange: () => { reviewDraft.reason = reasonSel.value; } },
  Object.entries(DISMISS_REASONS).map(([k, v], i) => h("option", { value: k, selected: k === reviewDraft.reason }, `${i + 1} · ${v}`)));
  const note = h("input", { id: "review-note", "data-key": "review-note", class: "note", maxlength: 500, placeholder: "Note (optional; needed for Other)",
    "aria-label": "Note", value: reviewDraft.note, oninput: () => { reviewDraft.note = note.value; } });
  const disabled = !canReview() || !cur;
  const panel = cur ? h("section", { id: "review-panel", class: "review-panel", "aria-labelledby": "review-h", "data-event": cur.id },
    h("h2", { id: "review-h" }, `${typeName(cur.type)} at ${cur.site}`),
    cur.has_evidence
      ? h("img", { src: evidenceURL(cur), alt: `Anonymised evidence image of this ${typeName(cur.type)} event; people are pixelated`, class: "evidence", id: "review-evidence" })
      : h("p", { class: "thumb none" }, "This event has no evidence image."),
    h("dl", { class: "facts" },
      h("dt", {}, "Time"), h("dd", {}, fmtTime(cur.time)),
      h("dt", {}, "Site · zone"), h("dd", {}, `${cur.site} · ${cur.zone}`),
      h("dt", {}, "Road user"), h("dd", {}, cur.class || "—"),
      h("dt", {}, "Confidence"), h("dd", {}, Number(cur.confidence).toFixed(2)),
      cur.signal_source ? [h("dt", {}, "Signal state from"), h("dd", {}, cur.signal_source)] : null,
      h("dt", {}, "Camera · device"), h("dd", {}, `${cur.camera} · ${cur.device}`),
      h("dt", {}, "Review"), h("dd", { id: "review-status" }, reviewText(cur.review))),
    h("div", { class: "controls" },
      h("button", { type: "button", class: "button", id: "review-confirm", disabled, onclick: () => decide("confirmed") }, "Confirm (c)"),
      h("button", { type: "button", class: "button", id: "review-dismiss", disabled, onclick: () => decide("dismissed") }, "Dismiss (d)"),
      reasonSel, note),
    canReview() ? null : h("p", { class: "sub" }, "Confirming and dismissing needs the reviewer role."),
    h("p", { class: "sub" }, "Keys: j next · k previous · c confirm · d dismiss with the reason chosen · 1–5 choose the reason")) : h("p", {}, "No events to review.");

  reviewKeys = (ev) => {
    if (ev.key === "j") select(idx + 1);
    else if (ev.key === "k") select(idx - 1);
    else if (ev.key === "c") decide("confirmed");
    else if (ev.key === "d") decide("dismissed");
    else if (/^[1-5]$/.test(ev.key)) { reasonSel.selectedIndex = Number(ev.key) - 1; reviewDraft.reason = reasonSel.value; }
    else return;
    ev.preventDefault();
  };
  shows = (c) => c.events > 0 || c.reviews > 0;
  main.replaceChildren(
    h("h1", {}, "Review"),
    h("p", { class: "lede" }, "Confirm or dismiss each event from its evidence. A dismissed event leaves the site's score and rates; its ledger row stays, marked with the review. ",
      h("label", { for: "review-site" }, "Site "),
      h("select", { id: "review-site", "data-key": "review-site", onchange: (e) => { location.hash = e.target.value ? "#/review?site=" + encodeURIComponent(e.target.value) : "#/review"; } },
        h("option", { value: "", selected: site === "" }, "every site"),
        sites.map((x) => h("option", { value: x.id, selected: x.id === site }, x.name || x.id)))),
    h("p", { role: "status", id: "review-message", class: reviewMessage.startsWith("Not saved") ? "error" : "sub" }, reviewMessage),
    h("div", { class: "two" }, h("div", { class: "grow scroll tall", tabindex: "0", "aria-label": "Review queue, scrollable" }, list), panel));
  main.querySelector("tr.selected")?.scrollIntoView({ block: "nearest" });
}

// reviewKeys handles the review queue's shortcuts while it is shown.
let reviewKeys = null;
document.addEventListener("keydown", (ev) => {
  if (main.dataset.view !== "review" || !reviewKeys || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || (t.tagName === "SELECT" && !/^[1-5]$/.test(ev.key)))) return;
  reviewKeys(ev);
});

let deadLetterMessage = "";

async function viewDeadLetters(params) {
  const reason = params.get("reason") || "", device = params.get("device") || "", before = params.get("before") || "";
  const q = new URLSearchParams();
  if (reason) q.set("reason", reason);
  if (device) q.set("device", device);
  if (before) q.set("before", before);
  q.set("limit", "100");
  let groups, letters;
  try {
    [groups, letters] = await Promise.all([api("/api/v1/dead-letters/groups"), api("/api/v1/dead-letters?" + q)]);
  } catch (e) {
    if (e.status === 403) {
      main.replaceChildren(h("h1", {}, "Dead letters"), h("p", { role: "alert" }, "Dead letters hold raw rejected payloads: they need the admin role."));
      shows = () => false;
      return;
    }
    throw e;
  }
  const link = (r, d) => {
    const p = new URLSearchParams();
    if (r) p.set("reason", r);
    if (d) p.set("device", d);
    return "#/dead-letters" + (p.toString() ? "?" + p : "");
  };
  const reprocess = async (body, label) => {
    try {
      const r = await post("/api/v1/dead-letters/reprocess", body);
      deadLetterMessage = `${label}: ${r.examined} examined · ${r.recorded} recorded · ${r.duplicates} already stored · ` +
        `${r.still_invalid} still invalid (${r.new_reason} for a new reason)` + (r.incomplete ? ` · ${r.incomplete} kept only in part` : "") +
        (r.skipped ? ` · ${r.skipped} status reports skipped` : "");
    } catch (x) {
      deadLetterMessage = "Not reprocessed: " + (x.message || x);
    }
    render(true);
  };
  const total = groups.reduce((a, g) => a + g.count, 0);
  const groupTable = groups.length ? h("table", { id: "dead-letter-groups" },
    h("caption", {}, `${fmtInt(total)} dead letters by reason and device. After a fix (a site added to the configuration and the aggregator restarted, a camera listed) reprocess them: those valid now are recorded once; the others stay, with the reason they fail now.`),
    h("thead", {}, h("tr", {}, ["Reason", "Device", "Count", ""].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, groups.map((g) => h("tr", { "data-reason": g.reason, "data-device": g.device },
      h("td", {}, h("a", { href: link(g.reason, g.device), "data-key": "group-" + g.reason + g.device }, g.reason)), h("td", {}, g.device || "—"),
      h("td", { class: "num", "data-col": "count" }, fmtInt(g.count)),
      h("td", {}, h("button", { type: "button", class: "button small", "data-key": "reprocess-" + g.reason + g.device,
        onclick: () => reprocess({ reason: g.reason, device: g.device }, `${g.reason} from ${g.device || "no device"}`) }, "Reprocess"))))))
    : h("p", {}, "No dead letters: every payload received was valid.");
  const rows = h("table", { id: "dead-letters" },
    h("caption", {}, (reason || device ? `Dead letters${reason ? " for “" + reason + "”" : ""}${device ? " from " + device : ""}` : "Every dead letter") + ", newest first; payloads as received, the first 4 KiB shown"),
    h("thead", {}, h("tr", {}, ["#", "Received", "Device", "Topic", "Reason", "Payload", ""].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, letters.map((d) => h("tr", { "data-seq": d.seq },
      h("td", { class: "num" }, d.seq), h("td", {}, fmtTime(d.received)), h("td", {}, d.device || "—"), h("td", {}, h("code", {}, d.topic)),
      h("td", { "data-col": "reason" }, d.reason),
      h("td", {}, h("code", { class: "payload" }, payloadPreview(d))),
      h("td", {}, h("button", { type: "button", class: "button small", "data-key": "reprocess-seq-" + d.seq,
        onclick: () => reprocess({ seq: d.seq }, `dead letter ${d.seq}`) }, "Reprocess"))))));
  const older = letters.length === 100 ? h("a", { href: link(reason, device) + (reason || device ? "&" : "?") + "before=" + letters[letters.length - 1].seq, class: "button" }, "Older") : null;
  shows = (c) => c.dead_letters > 0;
  main.replaceChildren(
    h("h1", {}, "Dead letters"),
    h("p", { class: "lede" }, "Payloads the aggregator refused, with the reason. Their devices were told, so they do not send them again."),
    h("p", { role: "status", id: "dead-letter-message", class: deadLetterMessage.startsWith("Not") ? "error" : "sub" }, deadLetterMessage),
    h("section", { "aria-labelledby": "dlg-h" }, h("h2", { id: "dlg-h" }, "By reason and device"), groupTable),
    h("section", { "aria-labelledby": "dll-h" }, h("h2", { id: "dll-h" }, "Payloads"),
      h("div", { class: "controls" },
        reason || device ? h("a", { href: "#/dead-letters", class: "button" }, "Show all") : null,
        letters.length ? h("button", { type: "button", class: "button", id: "reprocess-shown", "data-key": "reprocess-shown",
          onclick: () => reprocess({ reason, device }, reason || device ? "The dead letters shown" : "Every dead letter") },
        reason || device ? "Reprocess all these" : "Reprocess all") : null, older),
      letters.length ? h("div", { class: "scroll" }, rows) : h("p", {}, "None.")));
}

function payloadPreview(d) {
  let text;
  try { text = atob(d.payload || ""); } catch (_) { text = ""; }
  // An event's evidence image is base64 in the payload: elide it.
  text = text.replace(/("evidence_jpeg"\s*:\s*")[^"]{40,}/, (m, k) => k + "…");
  const more = d.size > 200 || text.length > 200 ? ` … (${fmtInt(d.size)} bytes)` : "";
  return text.slice(0, 200) + more;
}

// ---- registry and scene editor -----------------------------------------------------------

const isAdmin = () => session && (session.role === "admin" || session.via === "insecure");

// send makes a write with the session's CSRF token and returns {ok, status, body, etag}; it
// throws only when the session ended, so that a view can show a 400's field or a 412.
async function send(method, path, body, headers) {
  const r = await fetch(path, { method, credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": (session && session.csrf) || "", ...(headers || {}) },
    body: body === undefined ? undefined : JSON.stringify(body) });
  const out = await r.json().catch(() => ({}));
  if (r.status === 401) { showLogin("Your session has ended: sign in again."); const e = new Error("not signed in"); e.login = true; throw e; }
  return { ok: r.ok, status: r.status, body: out, etag: r.headers.get("ETag") };
}

// registryForm is what the registry page's open form holds across redraws: which record,
// its fields as typed, the version read and the errors by field.
let registryForm = null;
let registryMessage = "";

const SITE_FIELDS = [["id", "Id"], ["name", "Name"], ["kind", "Kind"], ["time_zone", "Time zone"], ["lat", "Latitude"], ["lon", "Longitude"], ["cameras", "Cameras (comma separated)"]];
const CAMERA_FIELDS = [["id", "Id"], ["device", "Device"]];

async function viewRegistry() {
  const [sites, cameras] = await Promise.all([api("/api/v1/registry/sites"), api("/api/v1/registry/cameras")]);
  shows = (c) => (c.sites || []).length > 0 && !registryForm;
  const admin = isAdmin();
  const open = (f) => { registryForm = f; registryMessage = ""; render(true); };
  const editSite = (x) => open({ what: "site", create: false, version: x.version,
    values: { id: x.id, name: x.name, kind: x.kind, time_zone: x.time_zone || "", lat: String(x.lat), lon: String(x.lon), cameras: (x.cameras || []).join(", ") }, errors: {} });
  const editCamera = (c) => open({ what: "camera", create: false, values: { id: c.id, device: c.device || "" }, errors: {} });

  const saveSite = async (f) => {
    const v = f.values, num = (s) => (s.trim() === "" ? null : Number(s));
    const body = { id: v.id.trim(), name: v.name, kind: v.kind, lat: num(v.lat), lon: num(v.lon),
      cameras: v.cameras.split(",").map((c) => c.trim()).filter(Boolean), time_zone: v.time_zone.trim() };
    const r = f.create ? await send("POST", "/api/v1/registry/sites", body)
      : await send("PUT", "/api/v1/registry/sites/" + encodeURIComponent(body.id), body, { "If-Match": `"${f.version}"` });
    return r;
  };
  const saveCamera = async (f) => {
    const id = f.values.id.trim(), device = f.values.device.trim();
    if (!id) return { ok: false, status: 400, body: { field: "id", error: "id: missing" } };
    // A camera's scene is kept as it is; a new camera starts with an empty one (drawn in the editor).
    let scene = `version: 1\ncamera: ${JSON.stringify(id)}\n`, version = 0;
    const cur = await fetch("/api/v1/registry/cameras/" + encodeURIComponent(id), { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (cur.ok) {
      const c = await cur.json();
      if (c.scene_version > 0) { scene = c.scene; version = c.scene_version; }
    }
    if (f.create && version > 0) return { ok: false, status: 409, body: { field: "id", error: `id: camera "${id}" exists already (scene version ${version}); edit it instead` } };
    return send("PUT", "/api/v1/registry/cameras/" + encodeURIComponent(id), { device, scene }, { "If-Match": `"${f.version ?? version}"` });
  };
  const submit = async (ev) => {
    ev.preventDefault();
    const f = registryForm;
    const r = f.what === "site" ? await saveSite(f) : await saveCamera(f);
    if (r.ok) {
      registryMessage = f.what === "site" ? `Site ${r.body.id} saved: version ${r.body.version}.` : `Camera ${r.body.id} saved on device ${r.body.device}.`;
      registryForm = null;
    } else if (r.status === 412) {
      f.errors = {};
      f.stale = true;
      registryMessage = "";
    } else {
      const field = (r.body.field || "").replace(/\[\d+\]$/, "");
      f.errors = { [SITE_FIELDS.concat(CAMERA_FIELDS).some(([k]) => k === field) ? field : "_form"]: r.body.error || `${r.status}` };
    }
    render(true);
  };

  const form = () => {
    const f = registryForm;
    if (!f) return null;
    const fields = f.what === "site" ? SITE_FIELDS : CAMERA_FIELDS;
    const input = (k) => {
      const common = { id: `reg-${k}`, name: k, "data-key": `reg-${k}`, "aria-invalid": f.errors[k] ? "true" : null,
        "aria-describedby": f.errors[k] ? `reg-${k}-error` : null, oninput: (e) => { f.values[k] = e.target.value; } };
      if (k === "kind") {
        return h("select", { ...common, onchange: common.oninput }, ["road", "rail"].map((x) => h("option", { value: x, selected: f.values.kind === x }, x)));
      }
      return h("input", { ...common, value: f.values[k] ?? "", readonly: k === "id" && !f.create ? true : null,
        placeholder: k === "time_zone" ? "Europe/Vienna" : k === "lat" ? "48.2082" : k === "lon" ? "16.3738" : null });
    };
    return h("form", { id: "registry-form", class: "registry-form", "data-what": f.what, onsubmit: submit },
      h("h2", {}, `${f.create ? "New" : "Edit"} ${f.what}${f.create ? "" : " " + f.values.id}`),
      f.stale ? h("p", { role: "alert", class: "error", id: "registry-stale" }, `Someone else saved this ${f.what} first. `,
        h("button", { type: "button", class: "button small", id: "registry-reload",
          onclick: async () => { if (f.what === "site") editSite(await api("/api/v1/registry/sites/" + encodeURIComponent(f.values.id))); else { registryForm = null; render(true); } } },
        "Reload theirs")) : null,
      fields.map(([k, label]) => h("div", { class: "field" }, h("label", { for: `reg-${k}` }, label), input(k),
        f.errors[k] ? h("span", { class: "field-error", id: `reg-${k}-error`, role: "alert" }, f.errors[k]) : null)),
      f.errors._form ? h("p", { class: "error", role: "alert", id: "reg-form-error" }, f.errors._form) : null,
      h("div", { class: "controls" }, h("button", { type: "submit", class: "button", id: "registry-save" }, "Save"),
        h("button", { type: "button", class: "button", onclick: () => { registryForm = null; render(true); } }, "Cancel")));
  };

  main.replaceChildren(...[
    h("h1", {}, "Registry"),
    h("p", { class: "lede" }, "Sites and the cameras that watch them, stored at the aggregator. A camera's scene is drawn in the scene editor and reaches its box on saving. ",
      admin ? "" : "Changing them needs the admin role."),
    h("p", { role: "status", id: "registry-message", class: "sub" }, registryMessage),
    admin ? h("div", { class: "controls" },
      h("button", { type: "button", class: "button", id: "new-site", onclick: () => open({ what: "site", create: true, values: { id: "", name: "", kind: "road", time_zone: "", lat: "", lon: "", cameras: "" }, errors: {} }) }, "New site"),
      h("button", { type: "button", class: "button", id: "new-camera", onclick: () => open({ what: "camera", create: true, values: { id: "", device: "" }, errors: {} }) }, "New camera")) : null,
    form(),
    h("h2", {}, "Sites"),
    h("div", { class: "scroll" }, h("table", { id: "registry-sites" },
      h("thead", {}, h("tr", {}, ["Id", "Name", "Kind", "Time zone", "Location", "Cameras", "Version", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, sites.map((x) => h("tr", { "data-site": x.id },
        h("th", { scope: "row" }, x.id), h("td", {}, x.name), h("td", {}, x.kind), h("td", {}, x.time_zone || "UTC"),
        h("td", {}, `${Number(x.lat).toFixed(4)}, ${Number(x.lon).toFixed(4)}`), h("td", { "data-col": "cameras" }, (x.cameras || []).join(", ") || "any"),
        h("td", { class: "num", "data-col": "version" }, x.version),
        h("td", {}, admin ? h("button", { type: "button", class: "button small", "data-key": "edit-site-" + x.id, onclick: () => editSite(x) }, "Edit") : null)))))),
    h("h2", {}, "Cameras"),
    cameras.length ? h("div", { class: "scroll" }, h("table", { id: "registry-cameras" },
      h("thead", {}, h("tr", {}, ["Id", "Device", "Sites", "Scene version", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, cameras.map((c) => h("tr", { "data-camera": c.id },
        h("th", { scope: "row" }, c.id), h("td", { "data-col": "device" }, c.device || "—"), h("td", {}, (c.sites || []).join(", ") || "—"),
        h("td", { class: "num", "data-col": "scene-version" }, c.scene_version || "none"),
        h("td", {}, h("a", { href: `#/registry/camera/${encodeURIComponent(c.id)}/scene`, class: "button small", "data-key": "scene-" + c.id }, admin ? "Draw scene" : "Scene"), " ",
          admin ? h("button", { type: "button", class: "button small", "data-key": "edit-camera-" + c.id, onclick: () => editCamera(c) }, "Edit") : null))))))
      : h("p", {}, "No cameras yet: list one in a site's cameras, or add one.")].filter(Boolean));
}

// SHAPES: each kind of shape the editor draws, where it lives in the scene, its points and
// whether it has a direction of travel. pts(o) is the array of points of item o.
const SHAPES = [
  { kind: "stop_line", list: "approaches", key: "stop_line", label: "Stop line", line: true, dir: true, min: 2 },
  { kind: "confirm_line", list: "approaches", key: "confirm_line", label: "Confirm line", line: true, min: 2, sub: true },
  { kind: "crosswalk", list: "crosswalks", key: "polygon", label: "Crosswalk", min: 3 },
  { kind: "roadway", list: "roadways", key: "polygon", label: "Roadway", min: 3 },
  { kind: "platform_edge", list: "platform_edges", key: "polygon", label: "Platform edge", min: 3 },
  { kind: "track", list: "tracks", key: "polygon", label: "Track", min: 3 },
  { kind: "count_line", list: "count_lines", key: "line", label: "Count line", line: true, dir: true, min: 2 },
  { kind: "mask", list: "masks", key: null, label: "Mask", min: 3 },
  { kind: "signal", list: "signals", key: "region", label: "Signal head", rect: true, min: 2 },
];
const shapeOf = (kind) => SHAPES.find((k) => k.kind === kind);
const FW = 1000; // the frame's width in SVG units; its height follows the frame's aspect
const MARGIN = 0.06; // room around the frame, so a point dragged outside it can be seen (and is refused)
const round4 = (v) => Math.round(v * 10000) / 10000;

// editor is the scene being edited, kept across redraws of the page.
let editor = null;
let editorTimer = null;

function shapesIn(scene) {
  const out = [];
  for (const k of SHAPES) {
    (scene[k.list] || []).forEach((o, i) => {
      const pts = k.key ? o[k.key] : o;
      if (k.sub && !pts) return;
      if (k.rect && !pts) return; // a head the camera does not see
      out.push({ k, i, o, pts: pts || [], path: `${k.list}[${i}]` + (k.key ? "." + k.key : "") });
    });
  }
  return out;
}

function newItem(k, scene, sites) {
  const n = (scene[k.list] || []).length + 1, site = sites[0] || "";
  const vehicle = (scene.signals || []).find((g) => g.kind === "vehicle");
  switch (k.kind) {
    case "stop_line": return { id: `approach-${n}`, site, stop_line: [], direction: [0, -1], signal: vehicle ? vehicle.id : "", grace_s: 0.5 };
    case "crosswalk": return { id: `crosswalk-${n}`, site, polygon: [] };
    case "roadway": case "track": return { id: `${k.kind}-${n}`, site, polygon: [] };
    case "platform_edge": return { id: `platform-edge-${n}`, site, polygon: [], dwell_s: 3 };
    case "count_line": return { id: `count-${n}`, site, line: [], direction: [0, -1] };
    case "mask": return [];
    case "signal": return { id: `head-${n}`, kind: "vehicle", region: [] };
  }
  return null;
}

async function loadEditor(id) {
  const doc = await api(`/api/v1/registry/cameras/${encodeURIComponent(id)}/scene.json`);
  const scene = doc.scene || { version: 1, camera: id };
  editor = { id, doc, scene, version: doc.scene_version, device: doc.device || "", sel: null, drawing: null, message: "", error: null,
    frame: null, frameTime: "", aspect: 9 / 16, signals: null };
  const f = await fetch(`/api/v1/registry/cameras/${encodeURIComponent(id)}/frame.jpg`, { credentials: "same-origin" }).catch(() => null);
  if (f && f.ok && (f.headers.get("Content-Type") || "").startsWith("image/")) {
    const url = `/api/v1/registry/cameras/${encodeURIComponent(id)}/frame.jpg?t=${Date.now()}`;
    const img = new Image();
    img.src = url;
    await img.decode().then(() => { editor.frame = url; editor.aspect = img.naturalHeight / img.naturalWidth; }).catch(() => {});
    editor.frameTime = f.headers.get("X-Frame-Time") || "";
  }
}

// liveSignals reads each head's live state from the device's status, or null when the
// aggregator reports none for this camera.
async function liveSignals(ed) {
  try {
    const devices = await api("/api/v1/devices");
    const cam = (devices.find((d) => d.id === ed.device)?.cameras || []).find((c) => c.id === ed.id);
    return cam && Array.isArray(cam.signals) ? cam.signals : null;
  } catch (e) {
    if (e.login) throw e;
    return null;
  }
}

async function viewEditor(id) {
  if (!editor || editor.id !== id) await loadEditor(id);
  const ed = editor, scene = ed.scene, admin = isAdmin();
  shows = () => false; // live changes must not redraw a drawing half done; the signal states refresh on their own
  ed.signals = await liveSignals(ed);
  const H = FW * ed.aspect;
  const X = (p) => p[0] * FW, Y = (p) => p[1] * H;
  const svg = s("svg", { id: "editor-svg", class: "editor-svg", viewBox: `${-MARGIN * FW} ${-MARGIN * H} ${FW * (1 + 2 * MARGIN)} ${H * (1 + 2 * MARGIN)}`,
    role: "application", tabindex: "0", "aria-label": "Scene drawing: click to add points while drawing; drag a point to move it; arrow keys nudge the selected point, Delete removes it, f flips the direction" });
  const toScene = (ev) => {
    const pt = svg.createSVGPoint();
    pt.x = ev.clientX; pt.y = ev.clientY;
    const q = pt.matrixTransform(svg.getScreenCTM().inverse());
    return [round4(q.x / FW), round4(q.y / H)];
  };
  const redraw = () => render(true);

  // The picture: the reference frame, or a neutral grid.
  svg.append(s("rect", { x: -MARGIN * FW, y: -MARGIN * H, width: FW * (1 + 2 * MARGIN), height: H * (1 + 2 * MARGIN), class: "editor-outside" }));
  if (ed.frame) {
    svg.append(s("image", { href: ed.frame, x: 0, y: 0, width: FW, height: H, preserveAspectRatio: "none", id: "editor-frame" }));
  } else {
    svg.append(s("rect", { x: 0, y: 0, width: FW, height: H, class: "editor-grid-bg", id: "editor-grid" }));
    for (let i = 1; i < 10; i++) {
      svg.append(s("line", { x1: (FW * i) / 10, y1: 0, x2: (FW * i) / 10, y2: H, class: "editor-grid" }),
        s("line", { x1: 0, y1: (H * i) / 10, x2: FW, y2: (H * i) / 10, class: "editor-grid" }));
    }
  }
  svg.append(s("rect", { x: 0, y: 0, width: FW, height: H, class: "editor-frame-edge" }));

  const errPath = ed.error ? ed.error.field.replace(/^scene\./, "") : "";
  const live = new Map((ed.signals || []).map((g) => [g.id, g]));
  for (const sh of shapesIn(scene)) {
    const sel = ed.sel && ed.sel.kind === sh.k.kind && ed.sel.i === sh.i;
    const bad = errPath && (errPath === sh.path || errPath.startsWith(sh.path + "[") || errPath.startsWith(sh.path + ".") ||
      (!sh.k.sub && errPath.replace(/\..*$/, "") === `${sh.k.list}[${sh.i}]`));
    const cls = `shape ${sh.k.kind}${sel ? " selected" : ""}${bad ? " invalid" : ""}`;
    const g = s("g", { class: cls, "data-shape": `${sh.k.kind}-${sh.i}`, "data-path": sh.path });
    const pick = (ev) => { if (ed.drawing) return; ev.stopPropagation(); ed.sel = { kind: sh.k.kind, i: sh.i, p: null }; redraw(); };
    if (sh.k.rect && sh.pts.length === 2) {
      const [a, b] = sh.pts, st = live.get(sh.o.id);
      g.append(s("rect", { x: Math.min(X(a), X(b)), y: Math.min(Y(a), Y(b)), width: Math.abs(X(a) - X(b)), height: Math.abs(Y(a) - Y(b)),
        class: "head" + (st ? " state-" + st.state : ""), "data-state": st ? st.state : "none" }));
      g.append(s("text", { x: Math.min(X(a), X(b)), y: Math.min(Y(a), Y(b)) - 6, class: "shape-label" },
        `${sh.o.id}: ${st ? `${st.state} (${st.source})` : "no live state"}`));
    } else if (sh.pts.length) {
      const d = sh.pts.map((p) => `${X(p)},${Y(p)}`).join(" ");
      g.append(s(sh.k.line || sh.pts.length < 3 ? "polyline" : "polygon", { points: d, class: "outline" }));
      g.append(s("text", { x: X(sh.pts[0]) + 6, y: Y(sh.pts[0]) - 6, class: "shape-label" }, sh.k.kind === "mask" ? `mask ${sh.i + 1}` : `${sh.o.id}`));
    }
    if (sh.k.dir && sh.pts.length >= 2 && sh.o.direction) {
      // The arrow from the line's middle along the direction of travel.
      const m = [(sh.pts[0][0] + sh.pts[sh.pts.length - 1][0]) / 2, (sh.pts[0][1] + sh.pts[sh.pts.length - 1][1]) / 2];
      const [dx, dy] = sh.o.direction, n = Math.hypot(dx * FW, dy * H) || 1, L = 60;
      const x2 = X(m) + (dx * FW * L) / n, y2 = Y(m) + (dy * H * L) / n;
      const ux = (x2 - X(m)) / L, uy = (y2 - Y(m)) / L;
      g.append(s("line", { x1: X(m), y1: Y(m), x2, y2, class: "arrow" }),
        s("polygon", { points: `${x2 + ux * 10},${y2 + uy * 10} ${x2 - uy * 7},${y2 + ux * 7} ${x2 + uy * 7},${y2 - ux * 7}`, class: "arrow-head", "data-direction": `${dx},${dy}` }));
    }
    g.addEventListener("pointerdown", pick);
    sh.pts.forEach((p, j) => {
      const selP = sel && ed.sel.p === j;
      const c = s("circle", { cx: X(p), cy: Y(p), r: selP ? 9 : 6, class: "handle" + (selP ? " selected" : ""), "data-point": j });
      if (admin) {
        c.addEventListener("pointerdown", (ev) => {
          if (ed.drawing) return;
          ev.stopPropagation();
          ed.sel = { kind: sh.k.kind, i: sh.i, p: j };
          c.setPointerCapture(ev.pointerId);
          let moved = false;
          c.addEventListener("pointermove", (mv) => {
            const q = toScene(mv);
            p[0] = q[0]; p[1] = q[1];
            moved = true;
            c.setAttribute("cx", X(p)); c.setAttribute("cy", Y(p));
          });
          c.addEventListener("pointerup", () => { if (moved) ed.error = null; redraw(); }, { once: true });
        });
      }
      g.append(c);
    });
    svg.append(g);
  }
  // Drawing: each click adds a point to the shape being drawn.
  svg.addEventListener("pointerdown", (ev) => {
    if (!ed.drawing) { if (ed.sel) { ed.sel = null; redraw(); } return; }
    const sh = shapesIn(scene).find((x) => x.k.kind === ed.drawing.kind && x.i === ed.drawing.i);
    if (!sh) return;
    sh.pts.push(toScene(ev));
    ed.sel = { kind: sh.k.kind, i: sh.i, p: sh.pts.length - 1 };
    if (sh.k.rect && sh.pts.length === 2) finish();
    else redraw();
  });
  const finish = () => {
    const d = ed.drawing;
    ed.drawing = null;
    const sh = d && shapesIn(scene).find((x) => x.k.kind === d.kind && x.i === d.i);
    if (sh && sh.k.dir && sh.pts.length >= 2) {
      // Travel across the line: its normal, pointing down the picture (toward the camera) to start with.
      const a = sh.pts[0], b = sh.pts[sh.pts.length - 1];
      let nx = -(b[1] - a[1]), ny = b[0] - a[0];
      if (ny < 0 || (ny === 0 && nx < 0)) { nx = -nx; ny = -ny; }
      const n = Math.hypot(nx, ny) || 1;
      sh.o.direction = [round4(nx / n), round4(ny / n)];
    }
    redraw();
  };
  const sites = ed.doc.sites || [];
  const add = (k) => {
    if (k.sub) {
      const a = ed.sel && ed.sel.kind === "stop_line" ? scene.approaches[ed.sel.i] : null;
      if (!a) { ed.message = "Select a stop line first: a confirm line belongs to its approach."; redraw(); return; }
      a.confirm_line = [];
      ed.drawing = { kind: k.kind, i: ed.sel.i };
    } else if (k.kind === "signal" && ed.sel && ed.sel.kind === "signal" && !scene.signals[ed.sel.i].region) {
      scene.signals[ed.sel.i].region = [];
      ed.drawing = { kind: "signal", i: ed.sel.i };
    } else {
      scene[k.list] = scene[k.list] || [];
      scene[k.list].push(newItem(k, scene, sites));
      ed.drawing = { kind: k.kind, i: scene[k.list].length - 1, fresh: true };
    }
    ed.sel = { kind: k.kind, i: ed.drawing.i, p: null };
    ed.message = `Drawing a ${k.label.toLowerCase()}: click in the picture to add points` + (k.rect ? " (two opposite corners)." : "; Enter or Finish when done.");
    redraw();
  };
  const removeShape = () => {
    const sh = selected();
    if (!sh) return;
    if (sh.k.sub) delete sh.o.confirm_line;
    else if (sh.k.rect) delete sh.o.region;
    else scene[sh.k.list].splice(sh.i, 1);
    if (scene[sh.k.list] && scene[sh.k.list].length === 0) delete scene[sh.k.list];
    ed.sel = null;
    redraw();
  };
  const selected = () => ed.sel && shapesIn(scene).find((x) => x.k.kind === ed.sel.kind && x.i === ed.sel.i);
  const flip = () => {
    const sh = selected();
    if (!sh || !sh.k.dir || !sh.o.direction) return;
    sh.o.direction = sh.o.direction.map((v) => (v === 0 ? 0 : -v));
    redraw();
  };
  editorKeys = (ev) => {
    if (!admin) return;
    const sh = selected();
    if (ev.key === "Enter" && ed.drawing) finish();
    else if (ev.key === "Escape") {
      // Stopping a shape before its first point leaves nothing behind.
      if (ed.drawing && sh && sh.pts.length === 0) {
        if (ed.drawing.fresh) scene[sh.k.list].splice(sh.i, 1);
        else if (sh.k.sub) delete sh.o.confirm_line;
        else if (sh.k.rect) delete sh.o.region;
        if (scene[sh.k.list] && scene[sh.k.list].length === 0) delete scene[sh.k.list];
      }
      ed.drawing = null; ed.sel = null; redraw();
    }
    else if (ev.key === "f" && sh) flip();
    else if (sh && ed.sel.p !== null && ed.sel.p < sh.pts.length && ev.key.startsWith("Arrow")) {
      const step = ev.shiftKey ? 0.01 : 0.001, p = sh.pts[ed.sel.p];
      if (ev.key === "ArrowLeft") p[0] = round4(p[0] - step);
      if (ev.key === "ArrowRight") p[0] = round4(p[0] + step);
      if (ev.key === "ArrowUp") p[1] = round4(p[1] - step);
      if (ev.key === "ArrowDown") p[1] = round4(p[1] + step);
      redraw();
    } else if ((ev.key === "Delete" || ev.key === "Backspace") && sh) {
      if (ed.sel.p !== null && ed.sel.p < sh.pts.length) { sh.pts.splice(ed.sel.p, 1); ed.sel.p = null; redraw(); } else removeShape();
    } else return;
    ev.preventDefault();
  };

  const save = async () => {
    const r = await send("PUT", `/api/v1/registry/cameras/${encodeURIComponent(ed.id)}/scene.json`, { device: ed.device, scene }, { "If-Match": `"${ed.version}"` });
    if (r.ok) {
      ed.version = r.body.scene_version;
      ed.doc = r.body;
      ed.scene = r.body.scene;
      ed.error = null;
      ed.message = `Saved: scene version ${ed.version}. The box applies it without a restart.`;
    } else if (r.status === 412) {
      ed.error = { field: "version", error: r.body.error };
      ed.message = "Someone else saved this scene first: reload to draw over theirs (your changes here are not saved).";
      ed.stale = true;
    } else {
      ed.error = { field: r.body.field || "scene", error: r.body.error || `${r.status}` };
      ed.message = "Not saved: " + ed.error.error;
    }
    render(true);
  };
  const requestFrame = async () => {
    const r = await send("POST", `/api/v1/registry/cameras/${encodeURIComponent(ed.id)}/frame-request`, {});
    ed.message = r.ok || r.status === 202 ? "Frame requested: the box sends a fresh still; reload the editor in a few seconds." : `The frame request was not taken: ${r.body.error || r.status}`;
    render(true);
  };

  // The side panel: what to add, the shapes, the selected one's fields and points.
  const sh = selected();
  const field = (label, id, value, onchange, opts) => h("div", { class: "field" }, h("label", { for: id }, label),
    opts ? h("select", { id, "data-key": id, disabled: !admin, onchange: (e) => { onchange(e.target.value); redraw(); } },
      opts.map((o) => h("option", { value: o, selected: o === value }, o || "—")))
      : h("input", { id, "data-key": id, value: value ?? "", readonly: !admin, onchange: (e) => { onchange(e.target.value); redraw(); } }));
  const details = sh ? h("section", { id: "editor-selected", "aria-labelledby": "editor-sel-h", "data-shape": `${sh.k.kind}-${sh.i}` },
    h("h3", { id: "editor-sel-h" }, `${sh.k.label}${sh.k.kind === "mask" ? " " + (sh.i + 1) : ": " + sh.o.id}`),
    sh.k.kind !== "mask" && !sh.k.sub ? field("Id", "shape-id", sh.o.id, (v) => { sh.o.id = v; }) : null,
    sh.o.site !== undefined && !sh.k.sub ? field("Site", "shape-site", sh.o.site, (v) => { sh.o.site = v; }, [...new Set(["", ...sites, sh.o.site])]) : null,
    sh.k.kind === "stop_line" ? field("Signal", "shape-signal", sh.o.signal || "", (v) => { if (v) sh.o.signal = v; else delete sh.o.signal; },
      [...new Set(["", ...(scene.signals || []).filter((g) => g.kind === "vehicle").map((g) => g.id), sh.o.signal || ""])]) : null,
    sh.k.kind === "signal" ? field("Kind", "shape-kind", sh.o.kind, (v) => { sh.o.kind = v; }, ["vehicle", "pedestrian", "berth"]) : null,
    sh.k.kind === "signal" ? h("p", { id: "signal-live", class: "sub" }, live.get(sh.o.id) ? `Live: ${live.get(sh.o.id).state} (from ${live.get(sh.o.id).source})` : "No live state for this head.") : null,
    sh.k.dir && sh.o.direction ? h("p", {}, "Direction of travel ", h("code", { id: "shape-direction" }, `[${sh.o.direction.join(", ")}]`), " ",
      admin ? h("button", { type: "button", class: "button small", id: "flip-direction", onclick: flip }, "Flip (f)") : null) : null,
    h("ol", { id: "shape-points", class: "points", start: 0 }, sh.pts.map((p, j) => h("li", { class: ed.sel.p === j ? "selected" : null, "data-point": j },
      h("code", {}, `[${p[0]}, ${p[1]}]`)))),
    admin ? h("div", { class: "controls" },
      ed.drawing ? h("button", { type: "button", class: "button", id: "finish-shape", onclick: finish }, "Finish (Enter)") : null,
      h("button", { type: "button", class: "button", id: "delete-shape", onclick: removeShape }, "Delete shape")) : null) : null;

  const list = h("ul", { id: "editor-shapes", class: "shape-list" }, shapesIn(scene).map((x) =>
    h("li", {}, h("button", { type: "button", class: "button small" + (ed.sel && ed.sel.kind === x.k.kind && ed.sel.i === x.i ? " on" : ""), "data-key": `pick-${x.k.kind}-${x.i}`,
      onclick: () => { ed.sel = { kind: x.k.kind, i: x.i, p: null }; redraw(); } }, `${x.k.label}${x.k.kind === "mask" ? " " + (x.i + 1) : ": " + x.o.id}`))));

  const stale = ed.stale ? h("button", { type: "button", class: "button", id: "editor-reload", onclick: () => { editor = null; render(false); } }, "Reload") : null;
  main.replaceChildren(
    h("p", { class: "crumb" }, h("a", { href: "#/registry" }, "Registry"), " › ", ed.id, " › scene"),
    h("h1", {}, `Scene of ${ed.id} `, h("span", { class: "kind", id: "editor-version" }, ed.version ? `version ${ed.version}` : "no scene yet")),
    h("p", { class: "lede" }, `Device ${ed.device || "—"} · sites ${sites.join(", ") || "none list this camera"} · coordinates are fractions of the frame (0..1), as the scene file has them. `,
      ed.frame ? `Reference frame of ${ed.frameTime ? fmtTime(ed.frameTime) : "unknown time"}.` : "No reference frame stored yet: drawing on a 16:9 grid.", " ",
      admin ? h("button", { type: "button", class: "button small", id: "request-frame", onclick: requestFrame }, "Request a frame") : null),
    h("p", { role: "status", id: "editor-message", class: ed.error ? "error" : "sub" }, ed.message, " ", stale),
    h("div", { class: "two editor" },
      h("div", { class: "grow" }, svg, h("p", { class: "sub" }, "Keys: arrows nudge the selected point (Shift: 10×) · Delete removes it · f flips the direction · Enter finishes a shape · Esc stops.")),
      h("aside", { class: "editor-panel", "aria-label": "Shapes" },
        admin ? h("div", { class: "controls add" }, SHAPES.map((k) => h("button", { type: "button", class: "button small", id: "add-" + k.kind, onclick: () => add(k) }, "+ " + k.label))) : null,
        list, details,
        h("div", { class: "controls" }, h("button", { type: "button", class: "button", id: "editor-save", disabled: !admin, onclick: save }, "Save scene")),
        admin ? null : h("p", { class: "sub", id: "editor-readonly" }, "Saving a scene needs the admin role."),
        ed.signals ? null : h("p", { class: "sub", id: "no-live" }, "No live signal state: the camera's device reports none."))));

  clearInterval(editorTimer);
  // The heads' live states refresh every 3 s without redrawing the drawing.
  editorTimer = setInterval(async () => {
    if (main.dataset.view !== "editor" || editor !== ed) { clearInterval(editorTimer); return; }
    const sig = await liveSignals(ed).catch(() => null);
    if (JSON.stringify(sig) !== JSON.stringify(ed.signals) && !ed.drawing) redraw();
  }, 3000);
}

// editorKeys handles the scene editor's keys while it is shown.
let editorKeys = null;
document.addEventListener("keydown", (ev) => {
  if (main.dataset.view !== "editor" || !editorKeys || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
  editorKeys(ev);
});

// ---- routing and live updates ---------------------------------------------------------------

function route() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query] = raw.split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "site" && parts[1] && parts[2] === "compare") return { name: "compare", run: () => viewCompare(parts[1], params) };
  if (parts[0] === "site" && parts[1]) return { name: "site", run: () => viewSite(parts[1], params) };
  if (parts[0] === "event" && parts[2]) return { name: "event", run: () => viewEvent(parts[1], parts[2]) };
  if (parts[0] === "devices") return { name: "devices", run: viewDevices };
  if (parts[0] === "catalog") return { name: "catalog", run: viewCatalog };
  if (parts[0] === "review") return { name: "review", run: () => viewReview(params) };
  if (parts[0] === "registry" && parts[1] === "camera" && parts[2] && parts[3] === "scene") return { name: "editor", run: () => viewEditor(parts[2]) };
  if (parts[0] === "registry") return { name: "registry", run: () => { editor = null; return viewRegistry(); } };
  if (parts[0] === "dead-letters") return { name: "dead-letters", run: () => viewDeadLetters(params) };
  return { name: "sites", run: () => viewSites(params) };
}

// shows tells (maybe asynchronously) whether a live change touches what the current view
// shows; each view sets it when drawn. A device reports its status every few seconds:
// redrawing every view on each report would refetch it all and throw a reader's place in a
// scrolled table back to the top.
let shows = () => true;

let rendering = Promise.resolve();
// render draws the current route. A refresh keeps keyboard focus on the same control, and the
// page's and each scrolled box's position.
function render(refresh) {
  rendering = rendering.then(async () => {
    const r = route(), hash = location.hash;
    const focusKey = refresh && document.activeElement ? document.activeElement.getAttribute("data-key") : null;
    const y = window.scrollY;
    const boxes = refresh ? [...main.querySelectorAll(".scroll")].map((el) => [el.scrollTop, el.scrollLeft]) : [];
    shows = () => true; // until the view says what it shows (an error page retries on any change)
    main.setAttribute("aria-busy", "true");
    for (const a of document.querySelectorAll("[data-nav]")) {
      a.toggleAttribute("aria-current", a.dataset.nav === r.name || ((r.name === "site" || r.name === "compare") && a.dataset.nav === "sites") || (r.name === "editor" && a.dataset.nav === "registry"));
    }
    try {
      await r.run();
      document.title = (main.querySelector("h1")?.textContent || "crosswatch") + " · crosswatch";
    } catch (e) {
      if (e.login) return; // the sign-in form is showing
      main.replaceChildren(h("h1", {}, "Something went wrong"), h("p", { role: "alert" }, String(e.message || e)));
    }
    main.setAttribute("aria-busy", "false");
    main.dataset.view = r.name;
    // The hash this view was drawn for: a view is current once it equals location.hash (a
    // link to the same view with other parameters leaves the old one showing, not busy,
    // until the hashchange has run).
    main.dataset.hash = hash;
    if (refresh) {
      main.querySelectorAll(".scroll").forEach((el, i) => { if (boxes[i]) [el.scrollTop, el.scrollLeft] = boxes[i]; });
      window.scrollTo(0, y);
      if (focusKey) main.querySelector(`[data-key="${CSS.escape(focusKey)}"]`)?.focus();
    } else {
      window.scrollTo(0, 0);
    }
    document.body.dataset.renders = String(Number(document.body.dataset.renders || 0) + 1);
    // Milliseconds from navigation to the first complete view: the browser test reports it.
    if (!document.body.dataset.firstRenderMs) document.body.dataset.firstRenderMs = String(Math.round(performance.now()));
  });
  return rendering;
}

let events = null; // the live stream, while signed in

function connectLive() {
  if (!window.EventSource) {
    liveEl.textContent = "live updates unavailable";
    return;
  }
  if (events) return;
  liveEl.textContent = "connecting…";
  const es = new EventSource("/api/v1/stream");
  events = es;
  let timer = null, lastRedraw = 0;
  es.addEventListener("ready", () => { liveEl.textContent = "live"; liveEl.className = "live on"; });
  es.addEventListener("change", async (m) => {
    let c = {};
    try { c = JSON.parse(m.data); } catch (_) { return; }
    liveEl.textContent = `live · updated ${new Date().toLocaleTimeString("en-GB")}` + (c.events ? ` (+${c.events} events)` : "");
    await rendering; // judged by the view drawn, not one half drawn
    let redraw = true;
    try { redraw = await shows(c); } catch (_) { /* cannot tell: redraw */ }
    if (!redraw) return;
    // One redraw for a burst of changes, 200 ms after its first and at least 2 s after the last
    // redraw ended: never postponed further, so a steady stream of changes cannot starve the
    // page; a busy aggregator (every device's counts each minute) cannot keep it refetching; and
    // a slow one, whose redraws take seconds, still leaves the page settled most of the time.
    if (!timer) {
      timer = setTimeout(async () => { await render(true); lastRedraw = Date.now(); timer = null; },
        Math.max(200, lastRedraw + 2000 - Date.now()));
    }
  });
  es.onerror = () => { liveEl.textContent = "reconnecting…"; liveEl.className = "live off"; };
}

// ---- signing in and out ------------------------------------------------------------------

const whoEl = document.getElementById("who");

function showWho() {
  whoEl.replaceChildren();
  // Dead letters are for admins: the link shows only to them.
  document.querySelector('[data-nav="dead-letters"]').hidden = !(session && session.role === "admin");
  if (!session) return;
  if (session.via === "insecure") {
    whoEl.append(h("span", { class: "warn-text", title: "http.insecure: true in the aggregator's configuration" }, "no sign-in (insecure)"));
    return;
  }
  whoEl.append(h("span", { id: "who-name" }, `${session.name} (${session.role})`), " ",
    h("button", { type: "button", class: "button small", id: "sign-out", onclick: signOut }, "Sign out"));
}

function stopLive() {
  if (events) events.close();
  events = null;
  liveEl.textContent = "";
  liveEl.className = "live";
}

// showLogin replaces the view with the sign-in form; after signing in the route in the
// address bar is drawn.
function showLogin(message) {
  session = null;
  showWho();
  stopLive();
  const err = h("p", { role: "alert", id: "login-error", class: "error" }, message || "");
  const name = h("input", { id: "login-name", name: "username", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", class: "button", id: "login-submit" }, "Sign in");
  const form = h("form", { id: "login", class: "login", onsubmit: async (e) => {
    e.preventDefault();
    button.disabled = true;
    err.textContent = "";
    try {
      const r = await fetch("/api/v1/login", { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ name: name.value, password: password.value }) });
      const body = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
      session = body;
      password.value = "";
      started();
    } catch (x) {
      err.textContent = String(x.message || x);
      password.focus();
    } finally {
      button.disabled = false;
    }
  } },
  h("label", { for: "login-name" }, "Name"), name,
  h("label", { for: "login-password" }, "Password"), password,
  button);
  main.replaceChildren(h("h1", {}, "Sign in"),
    h("p", { class: "lede" }, "Sign in with the name and password your administrator created ('crosswatch-aggregator user add')."),
    err, form);
  for (const a of document.querySelectorAll("[data-nav]")) a.removeAttribute("aria-current");
  main.setAttribute("aria-busy", "false");
  main.dataset.view = "login";
  document.title = "Sign in · crosswatch";
  name.focus();
}

async function signOut() {
  const csrf = session && session.csrf;
  try {
    await fetch("/api/v1/logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf || "" } });
  } finally {
    showLogin("Signed out.");
  }
}

function started() {
  showWho();
  render(false);
  connectLive();
}

document.getElementById("skip").addEventListener("click", (e) => {
  e.preventDefault();
  main.focus();
});
window.addEventListener("hashchange", () => { if (session) render(false); });
(async () => {
  try {
    const r = await fetch("/api/v1/session", { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (r.status === 401) return showLogin();
    if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
    session = await r.json();
    started();
  } catch (e) {
    main.replaceChildren(h("h1", {}, "Something went wrong"), h("p", { role: "alert" }, String(e.message || e)));
    main.setAttribute("aria-busy", "false");
  }
})();
