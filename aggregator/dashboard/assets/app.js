// crosswatch dashboard: reads the aggregator's JSON API and refreshes when /api/v1/stream
// says ingest committed something. No framework and no build step; every value from the API is
// put into the page as text (never as HTML).

const TYPE_NAMES = {
  red_light_running: "Red-light running",
  ped_against_signal: "Crossing against the signal",
  jaywalking: "Jaywalking",
  platform_edge_intrusion: "Platform-edge intrusion",
  track_intrusion: "Track intrusion",
};
const typeName = (t) => TYPE_NAMES[t] || t;

// Bins the site page offers, with the window each one shows.
const BINS = { "5m": "6h", "15m": "24h", "60m": "168h" };

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
  const types = typesFor(cat, kind);
  const hash = (k, r) => {
    const q = new URLSearchParams();
    if (k) q.set("kind", k);
    if (r && r !== "risk") q.set("rank", r);
    return "#/" + (q.toString() ? "?" + q : "");
  };

  const filter = h("select", { id: "kind", "data-key": "kind", onchange: (e) => { location.hash = hash(e.target.value, rank); } },
    h("option", { value: "", selected: kind === "" }, "Road and rail"),
    h("option", { value: "road", selected: kind === "road" }, "Road (intersection approaches)"),
    h("option", { value: "rail", selected: kind === "rail" }, "Rail (platforms)"));
  const rankBy = h("select", { id: "rank", "data-key": "rank", onchange: (e) => { location.hash = hash(kind, e.target.value); } },
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
    h("div", { class: "controls" }, h("label", { for: "kind" }, "Show "), filter, " ", h("label", { for: "rank" }, "Rank by "), rankBy),
    h("section", { "aria-labelledby": "table-h" }, h("h2", { id: "table-h" }, "Ranking"),
      ranked.length ? h("div", { class: "scroll" }, table) : h("p", { id: "no-ranked" }, shown.length ? "No site has enough road users counted to rank." : "No sites of this kind are configured.")),
    apart.length ? h("section", { "aria-labelledby": "apart-h" }, h("h2", { id: "apart-h" }, `Insufficient data (${apart.length})`),
      h("div", { class: "scroll" }, apartTable)) : null,
    h("section", { "aria-labelledby": "plan-h", class: "plan" }, h("h2", { id: "plan-h" }, "Plan view"), planView(shown)));
  // Sparklines come after the first render: the tables are readable without them.
  sparklines(shown);
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

async function sparklines(sites) {
  await Promise.all(sites.map(async (x) => {
    let bins;
    try { bins = await api(`/api/v1/sites/${encodeURIComponent(x.id)}/series?window=24h&bin=60m`); } catch (_) { return; }
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

// planView places sites by latitude and longitude (equirectangular; a city is flat enough).
function planView(sites) {
  const W = 760, H = 340, pad = 40;
  const pts = sites.filter((x) => x.lat || x.lon);
  if (!pts.length) return h("p", {}, "No site has coordinates.");
  const lat0 = pts.reduce((a, x) => a + x.lat, 0) / pts.length;
  const kx = Math.cos((lat0 * Math.PI) / 180);
  const xs = pts.map((x) => x.lon * kx), ys = pts.map((x) => x.lat);
  const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
  const span = Math.max(maxX - minX, maxY - minY, 1e-4);
  const scale = Math.min((W - 2 * pad) / span, (H - 2 * pad) / span);
  const cx = (W - (maxX - minX) * scale) / 2, cy = (H - (maxY - minY) * scale) / 2;
  const metres = span * 111320;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "group", "aria-label": "Sites on a plan, north up; colour and size by score", class: "planview" },
    s("rect", { x: 0, y: 0, width: W, height: H, class: "plan-bg" }),
    s("text", { x: W - 8, y: 16, "text-anchor": "end", class: "plan-note" }, "N ↑"),
    s("text", { x: 8, y: H - 8, class: "plan-note" }, `${metres >= 1000 ? (metres / 1000).toFixed(1) + " km" : Math.round(metres) + " m"} across`));
  pts.forEach((x, i) => {
    const px = cx + (xs[i] - minX) * scale, py = H - (cy + (ys[i] - minY) * scale);
    const r = 7 + (x.score === null ? 0 : Math.min(12, (1000 - Math.min(1000, x.score)) / 40));
    const what = x.score === null ? "insufficient data" : `rank ${x.rank}, score ${x.score}`;
    const link = s("a", { href: "#/site/" + encodeURIComponent(x.id), "aria-label": `${x.name || x.id}: ${what}`, class: "plan-site", "data-key": "plan-" + x.id },
      s("title", {}, `${x.name || x.id} — ${what}`),
      x.kind === "rail"
        ? s("rect", { x: px - r, y: py - r, width: 2 * r, height: 2 * r, class: "pin " + scoreClass(x.score) })
        : s("circle", { cx: px, cy: py, r, class: "pin " + scoreClass(x.score) }),
      px > W * 0.65
        ? s("text", { x: px - r - 4, y: py + 4, "text-anchor": "end", class: "plan-label" }, `${x.name || x.id} (${fmtScore(x.score)})`)
        : s("text", { x: px + r + 4, y: py + 4, class: "plan-label" }, `${x.name || x.id} (${fmtScore(x.score)})`));
    svg.append(link);
  });
  return h("figure", {}, svg, h("figcaption", { class: "sub" }, "● road approach   ■ rail platform · larger and redder is worse; grey: insufficient data"));
}

async function viewSite(id, params) {
  const bin = BINS[params.get("bin")] ? params.get("bin") : "15m";
  const shownEvents = Math.min(1000, Math.max(12, Number(params.get("events")) || 12));
  const enc = encodeURIComponent(id);
  let sites, series, ledger, events, cameras, devices, cat, changes;
  try {
    [sites, series, ledger, events, cameras, devices, cat, changes] = await Promise.all([
      api("/api/v1/sites"),
      api(`/api/v1/sites/${enc}/series?bin=${bin}&window=${BINS[bin]}`),
      api(`/api/v1/sites/${enc}/ledger?newest=100`),
      api(`/api/v1/sites/${enc}/events?limit=${shownEvents}`),
      api(`/api/v1/sites/${enc}/cameras`),
      api("/api/v1/devices"),
      getCatalog(),
      api(`/api/v1/sites/${enc}/changes`),
    ]);
  } catch (e) {
    if (e.status === 404) {
      main.replaceChildren(h("h1", {}, "Unknown site"), h("p", {}, `No site "${id}". `, h("a", { href: "#/" }, "All sites")));
      return;
    }
    throw e;
  }
  const site = sites.find((x) => x.id === id);
  const types = typesFor(cat, site.kind);
  const devByID = Object.fromEntries(devices.map((d) => [d.id, d]));

  const summary = h("dl", { class: "facts", id: "site-facts" },
    h("dt", {}, "Rank"), h("dd", { "data-col": "rank" }, site.rank ? `${site.rank} of ${sites.filter((x) => x.rank).length}` : "not ranked (insufficient data)"),
    h("dt", {}, "Points per 1,000 road users"), h("dd", { "data-col": "risk" }, fmtRisk(site.risk), site.risk ? " (95 % interval)" : null),
    h("dt", {}, "Score"), h("dd", {}, h("span", { class: "score " + scoreClass(site.score), "data-col": "score" }, fmtScore(site.score)),
      ` (1,000 − points per 1,000 road users; catalog ${site.catalog_version})`),
    h("dt", {}, "Window"), h("dd", {}, `${fmtTime(site.from)} – ${fmtTime(site.to)}`),
    h("dt", {}, "Points"), h("dd", { "data-col": "points" }, fmtInt(site.points)),
    h("dt", {}, "Deductions"), h("dd", { "data-col": "deductions" }, fmtInt(site.deductions)),
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
    Object.keys(BINS).map((b) => h("a", { href: `#/site/${enc}?bin=${b}`, class: "button", "aria-current": b === bin ? "true" : null, "data-key": "bin-" + b },
      `${b.replace("60m", "1 h")} bins`)));
  const charts = h("div", { class: "charts" }, types.map((t) => chart(series, t, bin, changes)),
    chart(series, "", bin, changes));

  const ledgerTable = ledger.length ? h("table", { id: "ledger" },
    h("caption", {}, `The ${ledger.length} newest deductions under catalog ${cat.version}, each with the event behind it`),
    h("thead", {}, h("tr", {}, ["Time", "Event type", "Points", "Catalog", "Event"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, ledger.map((l) => h("tr", { "data-event": l.event_id },
      h("td", {}, fmtTime(l.time)), h("td", {}, typeName(l.type)), h("td", { class: "num", "data-col": "points" }, "−" + l.points),
      h("td", {}, l.catalog_version),
      h("td", {}, h("a", { href: `#/event/${encodeURIComponent(l.device)}/${encodeURIComponent(l.event_id)}` }, l.event_id))))))
    : h("p", {}, "No deductions.");

  const feed = events.length ? h("ul", { class: "feed", id: "feed" }, events.map((e) => h("li", { "data-event": e.id },
    h("a", { href: `#/event/${encodeURIComponent(e.device)}/${encodeURIComponent(e.id)}`, class: "thumb-link" },
      e.has_evidence
        ? h("img", { src: evidenceURL(e), alt: `Anonymised evidence: ${typeName(e.type)} at ${fmtTime(e.time)}`, width: 160, height: 90, class: "thumb" })
        : h("span", { class: "thumb none" }, "no image"),
      h("span", { class: "feed-text" }, h("strong", {}, typeName(e.type)), h("br"), fmtTime(e.time), h("br"),
        h("span", { class: "sub" }, `${e.class || "?"} · zone ${e.zone} · ${e.camera}`))))))
    : h("p", {}, "No events in the window.");
  const more = events.length === shownEvents && shownEvents < 1000
    ? h("p", {}, h("a", { href: `#/site/${enc}?bin=${bin}&events=${shownEvents + 24}`, class: "button", "data-key": "more-events" }, "Show 24 more events"))
    : null;

  const camTable = h("table", { id: "cameras" },
    h("caption", {}, "Cameras watching this site and the devices that reported from them"),
    h("thead", {}, h("tr", {}, ["Camera", "Device", "Device status", "Events", "Last record"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, cameras.map((c) => {
      const d = devByID[c.device];
      return h("tr", {}, h("td", {}, c.camera), h("td", {}, c.device || "—"),
        h("td", {}, d ? onlineBadge(d) : c.device ? "unknown" : "no device yet"),
        h("td", { class: "num" }, fmtInt(c.events)), h("td", {}, c.device ? fmtTime(c.last_record) : "—"));
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
    h("section", { "aria-labelledby": "ts-h" }, h("h2", { id: "ts-h" }, "Time series"), binButtons, charts),
    changesSection(site, changes),
    h("section", { "aria-labelledby": "feed-h" }, h("h2", { id: "feed-h" }, "Latest events"), feed, more),
    h("section", { "aria-labelledby": "ledger-h" }, h("h2", { id: "ledger-h" }, "Ledger"), h("div", { class: "scroll tall", tabindex: "0", "aria-label": "Ledger, scrollable" }, ledgerTable)),
    h("section", { "aria-labelledby": "cam-h" }, h("h2", { id: "cam-h" }, "Cameras and devices"), camTable));
}

const evidenceURL = (e) => `/api/v1/events/${encodeURIComponent(e.device)}/${encodeURIComponent(e.id)}/evidence.jpg`;

// chart draws one bar per bin: events of type t, or road users counted when t is "", and a
// dashed line at each recorded change of the site inside the chart's span.
function chart(series, t, bin, changes) {
  const vals = series.map((b) => (t ? b.events[t] || 0 : b.road_users));
  const total = vals.reduce((a, n) => a + n, 0);
  const W = 360, H = 120, left = 34, bottom = 18, max = Math.max(1, ...vals);
  const bw = (W - left) / Math.max(1, vals.length);
  const title = t ? typeName(t) : "Road users counted";
  const label = `${title}: ${total} in ${vals.length} bins of ${bin}, at most ${max === 1 && !total ? 0 : max} in one bin`;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "chart" },
    s("title", {}, label),
    s("line", { x1: left, y1: H - bottom, x2: W, y2: H - bottom, class: "axis" }),
    s("text", { x: left - 4, y: 10, "text-anchor": "end", class: "tick" }, max),
    s("text", { x: left - 4, y: H - bottom, "text-anchor": "end", class: "tick" }, 0));
  vals.forEach((v, i) => {
    if (!v) return;
    const bh = (v / max) * (H - bottom - 8);
    svg.append(s("rect", { x: left + i * bw + 0.5, y: H - bottom - bh, width: Math.max(1, bw - 1), height: bh, class: t ? "bar" : "bar users" },
      s("title", {}, `${fmtTime(series[i].start)}: ${v}`)));
  });
  if (series.length) {
    const t0 = Date.parse(series[0].start), binMs = series.length > 1 ? Date.parse(series[1].start) - t0 : 3600e3;
    for (const c of changes || []) {
      const at = (Date.parse(c.time) - t0) / binMs;
      if (at < 0 || at > series.length) continue;
      const x = left + at * bw;
      svg.append(s("g", { class: "change", "data-change": c.id },
        s("title", {}, `Change ${fmtTime(c.time)}: ${c.description}`),
        s("line", { x1: x, y1: 4, x2: x, y2: H - bottom, class: "change-mark" }),
        s("text", { x: x + 2, y: 12, class: "change-label" }, "change")));
    }
    svg.append(s("text", { x: left, y: H - 4, class: "tick" }, fmtTime(series[0].start).slice(5)));
    svg.append(s("text", { x: W, y: H - 4, "text-anchor": "end", class: "tick" }, fmtTime(series[series.length - 1].start).slice(5)));
  }
  return h("figure", { class: "chart-box", "data-type": t || "road_users" }, h("figcaption", {}, h("strong", {}, title), ` — ${fmtInt(total)}`), svg);
}

// changesSection lists a site's recorded changes, each with its before/after study; an admin
// can record one.
function changesSection(site, changes) {
  const enc = encodeURIComponent(site.id);
  const list = changes.length ? h("table", { id: "changes" },
    h("caption", {}, "Changes made at this site (drawn on the charts as dashed lines)"),
    h("thead", {}, h("tr", {}, ["Took effect", "Change", "Recorded by", "Study"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, changes.map((c) => h("tr", { "data-change": c.id },
      h("td", {}, fmtTime(c.time)), h("td", {}, c.description), h("td", {}, c.actor),
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

const dateOnly = (t) => (t ? new Date(t).toISOString().slice(0, 10) : "");

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
    h("caption", {}, `Before ${fmtTime(c.before.from)} – ${fmtTime(c.before.to)} (${fmtInt(c.before.road_users)} road users) against after `
      + `${fmtTime(c.after.from)} – ${fmtTime(c.after.to)} (${fmtInt(c.after.road_users)} road users). Method: ${c.method}.`),
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
      : "Choose the date the change took effect (the periods default to equal spans either side, up to now), or both periods.");
  main.replaceChildren(
    h("p", { class: "crumb" }, h("a", { href: "#/" }, "Sites"), " › ", h("a", { href: "#/site/" + enc }, id), " › before and after"),
    h("h1", {}, "Before and after: ", id),
    changes.length ? h("p", { id: "compare-changes" }, "Recorded changes: ", changes.flatMap((x, i) => [i ? " · " : "",
      h("a", { href: `#/site/${enc}/compare?change=${x.id}` }, `${fmtTime(x.time)} ${x.description}`)])) : null,
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
  shows = () => false; // a stored event never changes
  main.replaceChildren(
    h("p", { class: "crumb" }, h("a", { href: "#/" }, "Sites"), " › ", h("a", { href: "#/site/" + encodeURIComponent(e.site) }, e.site), " › ", e.id),
    h("h1", {}, typeName(e.type)),
    h("div", { class: "two" },
      e.has_evidence ? h("img", { src: evidenceURL(e), alt: `Anonymised evidence image of this ${typeName(e.type)} event; people are pixelated`, class: "evidence" })
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
        h("dt", {}, "Event id"), h("dd", {}, h("code", {}, e.id)))));
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
    const r = route();
    const focusKey = refresh && document.activeElement ? document.activeElement.getAttribute("data-key") : null;
    const y = window.scrollY;
    const boxes = refresh ? [...main.querySelectorAll(".scroll")].map((el) => [el.scrollTop, el.scrollLeft]) : [];
    shows = () => true; // until the view says what it shows (an error page retries on any change)
    main.setAttribute("aria-busy", "true");
    for (const a of document.querySelectorAll("[data-nav]")) {
      a.toggleAttribute("aria-current", a.dataset.nav === r.name || ((r.name === "site" || r.name === "compare") && a.dataset.nav === "sites"));
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
    // redraw: never postponed further, so a steady stream of changes cannot starve the page, and
    // a busy aggregator (every device's counts each minute) cannot keep it refetching.
    if (!timer) {
      timer = setTimeout(() => { timer = null; lastRedraw = Date.now(); render(true); },
        Math.max(200, lastRedraw + 2000 - Date.now()));
    }
  });
  es.onerror = () => { liveEl.textContent = "reconnecting…"; liveEl.className = "live off"; };
}

// ---- signing in and out ------------------------------------------------------------------

const whoEl = document.getElementById("who");

function showWho() {
  whoEl.replaceChildren();
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
