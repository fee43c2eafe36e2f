// Browser tests of the dashboard: Playwright (playwright-core) driving Debian's chromium
// against an aggregator that e2e/dashboard_test.go started and fed through real ingest.
//
// Environment (set by the Go test):
//   CROSSWATCH_URL          the aggregator's base URL
//   CROSSWATCH_USER         a dashboard user (viewer) and ...
//   CROSSWATCH_PASSWORD     ... its password: the page signs in with them
//   CROSSWATCH_TOKEN        an API token (viewer) for the test's own API reads
//   CROSSWATCH_ADMIN_TOKEN  an API token (admin) to record a site change
//   CROSSWATCH_SCREENSHOTS  directory for one PNG per page
//   CROSSWATCH_LIVE_CMD     JSON argv of a command that publishes one new event ...
//   CROSSWATCH_LIVE_SITE    ... at this site, with ...
//   CROSSWATCH_LIVE_ID      ... this event id
//   CHROMIUM                the browser (default /usr/bin/chromium)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { ready as viewReady } from "./editorharness.mjs";

const base = process.env.CROSSWATCH_URL;
const shots = process.env.CROSSWATCH_SCREENSHOTS;
const user = process.env.CROSSWATCH_USER, password = process.env.CROSSWATCH_PASSWORD, token = process.env.CROSSWATCH_TOKEN;
assert.ok(base, "CROSSWATCH_URL is not set: run through e2e/dashboard_test.go");
assert.ok(user && password && token, "CROSSWATCH_USER, CROSSWATCH_PASSWORD and CROSSWATCH_TOKEN must be set");
assert.ok(shots, "CROSSWATCH_SCREENSHOTS is not set");
mkdirSync(shots, { recursive: true });

let browser, context, page;
const consoleErrors = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    chromiumSandbox: false,
    // Without these, chromium keeps dialling Google on a machine with no internet.
    args: ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  context = await browser.newContext({ viewport: { width: 1360, height: 900 }, reducedMotion: "reduce" });
  // Nothing may leave the machine: the dashboard uses no CDN. Any request elsewhere fails the test.
  const foreign = [];
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.origin !== new URL(base).origin && url.protocol !== "data:") {
      foreign.push(url.href);
      return route.abort();
    }
    return route.continue();
  });
  context.foreign = foreign;
  page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  // Which request failed: the console's own message does not say.
  page.on("response", (r) => { if (r.status() >= 400 && r.status() !== 401) console.log(`HTTP ${r.status()} ${r.url()}`); });
  // Signed out, the page shows the sign-in form; signing in draws the page asked for.
  await page.goto(base + "/");
  await page.waitForSelector('main[data-view="login"]', { timeout: 15000 });
  await page.fill("#login-name", user);
  await page.fill("#login-password", password);
  await page.click("#login-submit");
  await page.waitForSelector('main[data-view="sites"]', { timeout: 15000 });
  const cookie = (await context.cookies()).find((c) => c.name === "crosswatch_session");
  assert.ok(cookie && cookie.httpOnly && cookie.sameSite === "Strict", `session cookie ${JSON.stringify(cookie)}`);
  // The 401 of /api/v1/session before signing in is the only console error so far.
  assert.ok(consoleErrors.every((e) => e.includes("401")), consoleErrors.join("\n"));
  consoleErrors.length = 0;
});

after(async () => {
  await browser?.close();
});

async function apiJSON(path) {
  const r = await fetch(base + path, { headers: { Authorization: "Bearer " + token } });
  assert.equal(r.status, 200, `GET ${path}`);
  return r.json();
}

// ready waits until the view drawn for the current hash has rendered and returns the render count.
const ready = (view) => viewReady(page, view);

const text = async (loc) => (await loc.innerText()).trim();
const num = (s) => Number(String(s).replace(/[^\d.-]/g, ""));

test("sites page: first render, ranking and numbers match the API", async () => {
  await page.goto(base + "/");
  await ready("sites");
  const firstRender = Number(await page.getAttribute("body", "data-first-render-ms"));
  // Pages of events are at most 2,000; the yearly site table counts them all.
  const stored = (await apiJSON("/api/v1/sites?window=8760h")).reduce((n, s) => n + Object.values(s.events || {}).reduce((a, b) => a + b, 0), 0);
  console.log(`first render of the sites page: ${firstRender} ms with ${stored} events stored`);
  assert.ok(stored >= 10000, `only ${stored} events stored; the test needs 10,000`);
  // The target is 1 s (docs/BENCHMARKS.md reports the figure); this bound only catches a
  // pathological regression on a loaded machine.
  assert.ok(firstRender < 3000, `first render took ${firstRender} ms`);

  const sites = await apiJSON("/api/v1/sites");
  const cat = await apiJSON("/api/v1/catalog");
  // Ranked sites in the ranking, in the API's order (by the low end of the risk interval); the
  // sites with insufficient data in their own table, unranked.
  const ranked = sites.filter((s) => s.status === "ok"), apart = sites.filter((s) => s.status !== "ok");
  assert.ok(ranked.every((s, i) => s.rank === i + 1) && apart.every((s) => !s.rank) && sites.indexOf(apart[0]) === ranked.length,
    "the API lists ranked sites first, 1, 2, …, then the rest unranked");
  for (let i = 1; i < ranked.length; i++) assert.ok(ranked[i - 1].risk.low >= ranked[i].risk.low, "ranked by the low end");
  const rows = page.locator("#sites-table tbody tr");
  assert.equal(await rows.count(), ranked.length);
  const apartRows = page.locator("#insufficient-table tbody tr");
  assert.equal(await apartRows.count(), apart.length);
  for (let i = 0; i < apart.length; i++) {
    const s = apart[i], row = apartRows.nth(i);
    assert.equal(await row.getAttribute("data-site"), s.id, `insufficient ${i + 1}`);
    assert.equal(num(await text(row.locator('[data-col="points"]'))), s.points, `${s.id} points`);
    assert.equal(await row.locator('[data-col="status"]').count(), 1, `${s.id} insufficient-data badge`);
    assert.equal(await row.locator('[data-col="score"]').count(), 0, `${s.id}: no score without data`);
  }
  for (let i = 0; i < ranked.length; i++) {
    const s = ranked[i], row = rows.nth(i);
    assert.equal(await row.getAttribute("data-site"), s.id, `rank ${i + 1}`);
    assert.equal(await text(row.locator('[data-col="rank"]')), String(s.rank), `${s.id} rank`);
    assert.equal(await text(row.locator('[data-col="score"]')), String(s.score), `${s.id} score`);
    assert.ok((await text(row.locator('[data-col="risk"]'))).startsWith(s.risk.per_1000.toFixed(1)), `${s.id} risk`);
    for (const e of cat.entries) {
      const cell = row.locator(`td[data-type="${e.type}"]`);
      assert.equal(num(await text(cell.locator('[data-col="events"]'))), (s.events || {})[e.type] || 0, `${s.id} ${e.type} events`);
      const rate = cell.locator('[data-col="rate"]');
      if (s.status === "ok" && s.rates[e.type]) {
        assert.ok((await text(rate)).startsWith(s.rates[e.type].per_1000.toFixed(1)), `${s.id} ${e.type} rate`);
      } else {
        assert.equal(await rate.count(), 0, `${s.id} ${e.type}: no rate without data`);
      }
    }
    assert.equal(num(await text(row.locator('[data-col="road-users"]').first())), s.road_users, `${s.id} road users`);
    assert.equal(await row.locator('[data-col="status"]').count(), 0, `${s.id}: no insufficient-data badge`);
  }
  assert.ok(sites.some((s) => s.status === "insufficient_data") && sites.some((s) => s.status === "ok"),
    "the fixture should have sites with and without enough road users");
  // The plan view has one link per site with coordinates; sparklines were filled in.
  assert.equal(await page.locator("svg.planview a.plan-site").count(), sites.filter((s) => s.lat || s.lon).length);
  await page.waitForFunction(() => document.querySelectorAll("svg.sparkline").length > 0);
  await page.screenshot({ path: join(shots, "sites.png"), fullPage: true });

  // Rank by one event type: the API's order for that type.
  const byType = cat.entries[0].type;
  await page.selectOption("#rank", byType);
  await page.waitForFunction((t) => location.hash === "#/?rank=" + t, byType);
  await ready("sites");
  const typed = (await apiJSON("/api/v1/sites?rank=" + byType)).filter((s) => s.status === "ok");
  assert.equal(await rows.count(), typed.length);
  for (let i = 0; i < typed.length; i++) assert.equal(await rows.nth(i).getAttribute("data-site"), typed[i].id, `by ${byType}: rank ${i + 1}`);
  await page.selectOption("#rank", "risk");
  await page.waitForFunction(() => location.hash === "#/");
  await ready("sites");

  // Filter by kind.
  await page.selectOption("#kind", "rail");
  await page.waitForFunction(() => location.hash === "#/?kind=rail");
  await ready("sites");
  const rail = ranked.filter((s) => s.kind === "rail");
  assert.equal(await rows.count(), rail.length);
  for (let i = 0; i < rail.length; i++) assert.equal(await rows.nth(i).getAttribute("data-site"), rail[i].id);
  assert.deepEqual(consoleErrors, []);
});

test("keyboard: skip link, then reach and open a site with Tab and Enter", async () => {
  await page.goto(base + "/#/");
  await ready("sites");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "skip");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement.id), "main");
  const sites = await apiJSON("/api/v1/sites");
  const target = "site-" + sites[0].id;
  let found = false;
  for (let i = 0; i < 80 && !found; i++) {
    await page.keyboard.press("Tab");
    found = await page.evaluate((k) => document.activeElement?.getAttribute("data-key") === k, target);
  }
  assert.ok(found, "the worst site's link is reachable by Tab");
  // Focus is visible: the focused link has an outline.
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, "none");
  await page.keyboard.press("Enter");
  await ready("site");
  assert.equal(await page.evaluate(() => location.hash), "#/site/" + sites[0].id);
});

test("site page: charts, ledger, events with evidence, cameras match the API", async () => {
  const sites = await apiJSON("/api/v1/sites");
  const site = sites.find((s) => s.id === process.env.CROSSWATCH_LIVE_SITE) || sites[0];
  const enc = encodeURIComponent(site.id);
  await page.goto(`${base}/#/site/${enc}?bin=60m`);
  await ready("site");
  assert.equal(await text(page.locator("#site-facts [data-col=score]")), site.score === null ? "—" : String(site.score));
  assert.equal(num(await text(page.locator("#site-facts [data-col=deductions]"))), site.deductions);
  assert.equal(num(await text(page.locator("#site-facts [data-col=points]"))), site.points);
  for (const [type, n] of Object.entries(site.events)) {
    assert.equal(num(await text(page.locator(`#site-rates tr[data-type="${type}"] [data-col=events]`))), n, type);
  }
  // Charts: each type's total over the window equals the series API's.
  const series = await apiJSON(`/api/v1/sites/${enc}/series?bin=60m&window=168h`);
  for (const fig of await page.locator("figure.chart-box").all()) {
    const type = await fig.getAttribute("data-type");
    const want = series.reduce((a, b) => a + (type === "road_users" ? b.road_users : b.events[type] || 0), 0);
    const caption = await text(fig.locator("figcaption"));
    assert.equal(num(caption.split("—")[1]), want, `chart ${type}: ${caption}`);
  }
  assert.equal(await page.locator("a.button[data-key^=bin-][aria-current]").innerText(), "1 h bins");
  // Ledger: the newest 100 rows, each linking to its event.
  const ledger = await apiJSON(`/api/v1/sites/${enc}/ledger?newest=100`);
  const lrows = page.locator("#ledger tbody tr");
  assert.equal(await lrows.count(), ledger.length);
  assert.equal(await lrows.first().getAttribute("data-event"), ledger[0].event_id);
  assert.equal(await text(lrows.first().locator("[data-col=points]")), "−" + ledger[0].points);
  // Events feed, newest first, with anonymised evidence thumbnails that load.
  const events = await apiJSON(`/api/v1/sites/${enc}/events?limit=12`);
  const items = page.locator("#feed li");
  assert.equal(await items.count(), events.length);
  assert.equal(await items.first().getAttribute("data-event"), events[0].id);
  const withEvidence = events.filter((e) => e.has_evidence).length;
  assert.ok(withEvidence > 0, "the fixture attaches evidence to some events");
  assert.equal(await page.locator("#feed img.thumb").count(), withEvidence);
  // A live change (a device's late status, say) may redraw the page at any moment, so the image
  // is found afresh on every poll rather than held as a handle that a redraw detaches.
  await page.waitForFunction(() => {
    const img = document.querySelector("#feed img.thumb");
    if (!img) return false;
    img.scrollIntoView({ block: "nearest" });
    return img.complete && img.naturalWidth > 0;
  });
  // More events on request.
  await page.click("[data-key=more-events]");
  await page.waitForFunction(() => document.querySelectorAll("#feed li").length === 36);
  assert.equal(await page.evaluate(() => location.hash), `#/site/${enc}?bin=60m&events=36`);
  // Cameras and devices.
  const cams = await apiJSON(`/api/v1/sites/${enc}/cameras`);
  assert.equal(await page.locator("#cameras tbody tr").count(), cams.length);
  await page.goto(`${base}/#/site/${enc}?bin=60m`);
  await ready("site");
  await page.waitForFunction(() => [...document.querySelectorAll("#feed img")].every((i) => i.complete));
  await page.screenshot({ path: join(shots, "site.png"), fullPage: true });

  // The event behind a feed item, with its evidence image.
  await items.first().locator("a").click();
  await ready("event");
  if (events[0].has_evidence) {
    await page.waitForFunction(() => document.querySelector("img.evidence")?.naturalWidth > 0);
    // Three stills (before, at, after), explained beside the image.
    const cap = await page.locator("figure.evidence-figure figcaption").innerText();
    assert.match(cap, /Before, at and after the moment judged/);
    assert.match(cap, /number plates are pixelated/);
  }
  await page.screenshot({ path: join(shots, "event.png"), fullPage: true });
  assert.deepEqual(consoleErrors, []);
});

// parseCSV reads RFC 4180 CSV (quoted fields, doubled quotes, CRLF or LF); it throws on a quote
// inside an unquoted field or an unterminated one, so a malformed export fails the test.
function parseCSV(text) {
  const rows = [];
  let row = [], field = "", i = 0, quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (c === '"') { quoted = false; i++; continue; }
      field += c; i++; continue;
    }
    if (c === '"') {
      if (field !== "") throw new Error(`quote inside an unquoted field at ${i}`);
      quoted = true; i++; continue;
    }
    if (c === ",") { row.push(field); field = ""; i++; continue; }
    if (c === "\n" || c === "\r") {
      row.push(field); rows.push(row); row = []; field = "";
      i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
      continue;
    }
    field += c; i++;
  }
  if (quoted) throw new Error("unterminated quoted field");
  if (field !== "" || row.length) { row.push(field); rows.push(row); }
  for (const r of rows) if (r.length !== rows[0].length) throw new Error(`row of ${r.length} fields, header has ${rows[0].length}`);
  return rows;
}

const stored = JSON.parse(process.env.CROSSWATCH_STORED_COUNTS || "null");
// localDate is the calendar date of an instant in a time zone (YYYY-MM-DD).
const localDate = (ms, tz) => new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(ms));
// wallClock is an instant's local date and time in tz as "YYYY-MM-DD HH:MM".
function wallClock(ms, tz) {
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}
const CSV_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/;

test("site page: the date picker shows the chosen period, with readable axes and values on hover", async () => {
  assert.ok(stored, "CROSSWATCH_STORED_COUNTS is not set");
  const enc = encodeURIComponent(stored.site);
  await page.goto(`${base}/#/site/${enc}?bin=1d`);
  await ready("site");
  const from = localDate(Date.now() - 14 * 864e5, stored.time_zone), to = localDate(Date.now() - 2 * 864e5, stored.time_zone);
  await page.fill("#from", from);
  await page.fill("#to", to);
  await page.click("#period-apply");
  await page.waitForFunction((f) => location.hash.includes("from=" + f), from);
  await ready("site");
  assert.equal(await page.locator("#from").inputValue(), from);
  assert.equal(await page.locator("#to").inputValue(), to);
  const check = async (bin, want) => {
    const series = await apiJSON(`/api/v1/sites/${enc}/series?bin=${bin}&from=${from}&to=${to}`);
    assert.equal(series.length, want, `${bin} bins from ${from} to ${to}`);
    assert.equal(series[0].start.slice(0, 10), from);
    assert.equal(series.at(-1).start.slice(0, 10), to);
    assert.match(await text(page.locator("#period-shown")), new RegExp(`Showing ${from} 00:00 .*${stored.time_zone}`));
    for (const fig of await page.locator("figure.chart-box").all()) {
      const type = await fig.getAttribute("data-type");
      const vals = series.map((b) => (type === "road_users" ? b.road_users : b.events[type] || 0));
      const caption = await text(fig.locator("figcaption"));
      assert.equal(num(caption.split("—")[1]), vals.reduce((a, n) => a + n, 0), `chart ${type}: ${caption}`);
      // Readable axes: more than two time labels, in the site's time, and three value ticks.
      const xt = await fig.locator("text.x-tick").allTextContents();
      assert.ok(xt.length > 2 && xt.length <= 6, `x ticks ${xt}`);
      assert.equal(xt[0], bin === "1d" ? from.slice(5) : from.slice(5) + " 00:00");
      // The labels do not overlap.
      const boxes = await fig.locator("text.x-tick").evaluateAll((ts) => ts.map((t) => { const b = t.getBBox(); return [b.x, b.x + b.width]; }));
      for (let k = 1; k < boxes.length; k++) assert.ok(boxes[k - 1][1] < boxes[k][0], `x ticks ${xt[k - 1]} and ${xt[k]} overlap: ${JSON.stringify(boxes)}`);
      assert.equal((await fig.locator("text.y-tick").allTextContents()).length, 3);
      // Values on hover: every bin has a title with its local time and value.
      const titles = await fig.locator("g.bin > title").allTextContents();
      assert.equal(titles.length, series.length);
      const i = vals.findIndex((x) => x > 0);
      if (i >= 0) {
        assert.ok(titles[i].startsWith(series[i].start.slice(0, 10) + " " + series[i].start.slice(11, 16)), titles[i]);
        assert.ok(titles[i].includes(": " + vals[i].toLocaleString("en-US") + " "), `${titles[i]} for ${vals[i]}`);
      }
    }
  };
  await check("1d", 13);
  // Another bin width keeps the period.
  await page.click("[data-key=bin-60m]");
  await page.waitForFunction(() => location.hash.includes("bin=60m"));
  await ready("site");
  assert.ok((await page.evaluate(() => location.hash)).includes(`from=${from}&to=${to}`));
  await check("60m", 13 * 24);
  // A period the wrong way round is refused, saying why, with the form to fix it.
  await page.fill("#from", to);
  await page.fill("#to", from);
  await page.click("#period-apply");
  await page.waitForSelector("#period-error");
  assert.match(await text(page.locator("#period-error")), /^from: .* is not before to/);
  assert.deepEqual(consoleErrors.filter((e) => !e.includes("400")), []);
  consoleErrors.length = 0;
});

test("a recorded change shows on the site's charts and opens its before/after study", async () => {
  const sites = await apiJSON("/api/v1/sites");
  const site = sites.find((s) => s.status === "ok" && Object.keys(s.events).length);
  const enc = encodeURIComponent(site.id);
  // The fixture spreads events over the past 700 h: a change 5 days ago has data either side
  // and lies in the week the site page's 1 h charts show.
  const when = new Date(Date.now() - 5 * 86400e3).toISOString().slice(0, 10);
  const r = await fetch(`${base}/api/v1/sites/${enc}/changes`, { method: "POST",
    headers: { Authorization: "Bearer " + process.env.CROSSWATCH_ADMIN_TOKEN, "Content-Type": "application/json" },
    body: JSON.stringify({ time: when, description: "signal retimed: all-red 2 s" }) });
  assert.equal(r.status, 201, "record a change");
  const change = await r.json();
  // A viewer sees the change, drawn on the charts whose span holds it (a week of 1 h bins).
  await page.goto(`${base}/#/site/${enc}?bin=60m`);
  await ready("site");
  assert.equal(await page.locator(`#changes tr[data-change="${change.id}"]`).count(), 1);
  assert.ok(await page.locator(`svg.chart g.change[data-change="${change.id}"]`).count() > 0, "a change line on the charts");
  assert.equal(await page.locator("#change-form").count(), 0, "a viewer cannot record changes");
  await page.click(`[data-key="compare-${change.id}"]`);
  await ready("compare");
  const c = await apiJSON(`/api/v1/sites/${enc}/compare?change=${change.id}`);
  const rows = page.locator("#compare-table tbody tr");
  assert.equal(await rows.count(), c.types.length);
  for (let i = 0; i < c.types.length; i++) {
    const t = c.types[i], row = rows.nth(i);
    assert.equal(await row.getAttribute("data-type"), t.type);
    assert.equal(num(await text(row.locator("[data-col=before]"))), t.before_events, `${t.type} before`);
    assert.equal(num(await text(row.locator("[data-col=after]"))), t.after_events, `${t.type} after`);
    if (t.rate_ratio !== null) assert.ok((await text(row.locator("[data-col=ratio]"))).startsWith(t.rate_ratio.toFixed(2)), `${t.type} ratio`);
    if (t.p_value !== null) assert.equal(await text(row.locator("[data-col=significant]")), t.significant ? (t.rate_ratio < 1 ? "yes: fewer" : "yes: more") : "no");
  }
  assert.equal(await page.inputValue("#cmp-change"), when);
  // The date posted is the site's local date: its midnight on the site's clock, with the offset.
  assert.match(await text(page.locator("#compare-changes")), new RegExp(`^Recorded changes: ${when} 00:00 (Z|[+-]\\d\\d:\\d\\d) signal retimed: all-red 2 s$`));
  assert.equal(c.change.time.slice(0, 10), when);
  await page.screenshot({ path: join(shots, "compare.png"), fullPage: true });
  // Periods typed in the form: the URL and the table follow; a bad pair is refused with the API's reason.
  await page.fill("#cmp-change", "");
  await page.fill("#cmp-before-from", c.before.from.slice(0, 10));
  await page.fill("#cmp-before-to", when);
  await page.fill("#cmp-after-from", c.before.from.slice(0, 10));
  await page.fill("#cmp-after-to", c.after.to.slice(0, 10));
  await page.click("#compare-submit");
  await page.waitForSelector("#compare-error");
  assert.match(await text(page.locator("#compare-error")), /before: must end by the start of after/);
  assert.deepEqual(consoleErrors.filter((e) => !e.includes("400")), []);
  consoleErrors.length = 0;
});

test("site page: the weekly heat map matches the patterns API, and the type filter applies", async () => {
  const enc = encodeURIComponent(stored.site);
  await page.goto(`${base}/#/site/${enc}`);
  await ready("site");
  const cells = () => page.evaluate(() => Object.fromEntries([...document.querySelectorAll("#heatmap td[data-cell]")].map((td) => [td.dataset.cell, Number(td.dataset.total)])));
  const compare = async (query) => {
    const p = await apiJSON(`/api/v1/sites/${enc}/patterns${query}`);
    assert.equal(p.time_zone, stored.time_zone);
    const got = await cells();
    assert.equal(Object.keys(got).length, 168);
    for (const c of p.cells) assert.equal(got[`${c.weekday}-${c.hour}`], c.total, `cell ${c.weekday}-${c.hour}`);
    return p.cells.reduce((a, c) => a + c.total, 0);
  };
  const all = await compare("");
  assert.ok(all > 0, "the heat map has events");
  assert.match(await text(page.locator("#heatmap caption")), new RegExp(`${stored.time_zone} time`));
  await page.selectOption("#type", "jaywalking");
  await page.click("#period-apply");
  await page.waitForFunction(() => location.hash.includes("type=jaywalking"));
  await ready("site");
  const jay = await compare("?type=jaywalking");
  assert.ok(jay > 0 && jay < all, `jaywalking ${jay} of ${all}`);
  // Every view follows the filter: the charts, the rates and the feed.
  assert.deepEqual(await page.locator("figure.chart-box").evaluateAll((f) => f.map((x) => x.dataset.type)), ["jaywalking", "road_users"]);
  const feed = await apiJSON(`/api/v1/sites/${enc}/events?limit=12&type=jaywalking`);
  assert.deepEqual(await page.locator("#feed li").evaluateAll((l) => l.map((x) => x.dataset.event)), feed.map((e) => e.id));
  assert.equal(await page.locator("#site-rates tbody tr").count(), 1);
  // Rates where the exposure allows, "–" where it does not.
  await page.click("[data-key=heat-rate]");
  await page.waitForSelector('#heatmap[data-mode="rate"]');
  await ready("site");
  const p = await apiJSON(`/api/v1/sites/${enc}/patterns?type=jaywalking`);
  const shown = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll("#heatmap td[data-cell]")].map((td) => [td.dataset.cell, td.textContent])));
  for (const c of p.cells) assert.equal(shown[`${c.weekday}-${c.hour}`], c.rate ? c.rate.per_1000.toFixed(1) : "–", `cell ${c.weekday}-${c.hour}`);
  await page.locator("#heatmap").screenshot({ path: join(shots, "heatmap.png") });
  // The sites page filters its type columns and sparklines too.
  await page.goto(base + "/#/?type=jaywalking");
  await ready("sites");
  assert.deepEqual(await page.locator("#sites-table td[data-type]").evaluateAll((c) => [...new Set(c.map((x) => x.dataset.type))]), ["jaywalking"]);
  assert.equal(await page.locator("#site-type").inputValue(), "jaywalking");
  assert.deepEqual(consoleErrors, []);
});

test("exports: each opens in a CSV parser, with the site's local times, and counts equal the stored ones", async () => {
  const enc = encodeURIComponent(stored.site);
  const from = localDate(Date.now() - 40 * 864e5, stored.time_zone), to = localDate(Date.now() + 864e5, stored.time_zone);
  await page.goto(`${base}/#/site/${enc}?from=${from}&to=${to}`);
  await ready("site");
  // The dashboard's own links, fetched with its session as a click would.
  const fetchLink = async (key) => {
    const href = await page.getAttribute(`[data-export=${key}]`, "href");
    const r = await context.request.get(base + href);
    assert.equal(r.status(), 200, href);
    return [href, await r.text(), r.headers()["content-type"]];
  };
  for (const key of ["counts-csv", "counts-hour-csv"]) {
    const [href, body, ct] = await fetchLink(key);
    assert.match(ct, /^text\/csv/);
    const rows = parseCSV(body);
    const head = rows[0];
    assert.deepEqual([head[0], head[1], head[2], head.at(-1)], ["start", "end", "zone", "total"], href);
    assert.equal(head[3], "movement");
    const cls = head.indexOf(stored.class);
    assert.ok(cls > 3, `no ${stored.class} column in ${head}`);
    let sum = 0, total = 0;
    for (const r of rows.slice(1)) {
      assert.match(r[0], CSV_TIME);
      assert.match(r[1], CSV_TIME);
      // Local time: the wall clock written is the site's at that instant, offset and all.
      assert.equal(r[0].slice(0, 16).replace("T", " "), wallClock(Date.parse(r[0]), stored.time_zone), r[0]);
      if (r[3] !== "") continue; // a turning movement splits its zone's count
      if (r[2] === stored.zone) sum += Number(r[cls]);
      total += Number(r.at(-1));
    }
    assert.equal(sum, stored.total, `${href}: ${stored.class} in zone ${stored.zone}`);
    // The export's total is the road users the ranking counts over the same instants.
    const [first, last] = [rows[1][0], rows.at(-1)[1]];
    const sites = await apiJSON(`/api/v1/sites?from=${encodeURIComponent(first)}&to=${encodeURIComponent(last)}`);
    assert.equal(total, sites.find((x) => x.id === stored.site).road_users, href);
  }
  const [, json] = await fetchLink("counts-json");
  const study = JSON.parse(json);
  assert.equal(study.totals[stored.zone][stored.class], stored.total);
  assert.ok(study.peak_hour.total.volume > 0 && study.peak_hour.total.factor > 0 && study.peak_hour.total.factor <= 1, JSON.stringify(study.peak_hour.total));
  const [href, body] = await fetchLink("events-csv");
  const rows = parseCSV(body);
  assert.equal(rows[0][0], "time");
  const events = await apiJSON(`/api/v1/sites/${enc}/events?limit=2000&from=${from}&to=${to}`);
  assert.equal(rows.length - 1, events.length, href);
  for (const [i, r] of rows.slice(1).entries()) {
    assert.match(r[0], CSV_TIME);
    assert.equal(Date.parse(r[0]), Date.parse(events[i].time), `row ${i}`);
    assert.equal(r[0].slice(0, 16).replace("T", " "), wallClock(Date.parse(r[0]), stored.time_zone));
  }
  // sites.csv, from the sites page: per-type events and rates with their interval.
  await page.goto(base + "/");
  await ready("sites");
  const r = await context.request.get(base + (await page.getAttribute("a[href^='/api/v1/export/sites.csv']", "href")));
  const srows = parseCSV(await r.text());
  for (const c of ["time_zone", "red_light_running_events", "red_light_running_per_1000", "red_light_running_low", "red_light_running_high"]) {
    assert.ok(srows[0].includes(c), `sites.csv has no ${c}`);
  }
  const sites = await apiJSON("/api/v1/sites");
  const row = srows.find((x) => x[1] === stored.site);
  const col = (c) => row[srows[0].indexOf(c)];
  const site = sites.find((x) => x.id === stored.site);
  assert.equal(col("time_zone"), stored.time_zone);
  assert.equal(Number(col("red_light_running_events")), site.events.red_light_running || 0);
  if (site.rates.red_light_running) assert.equal(Number(col("red_light_running_low")), Number(site.rates.red_light_running.low.toFixed(3)));
  assert.match(col("from"), CSV_TIME);
  assert.deepEqual(consoleErrors, []);
});

// Every visible piece of text on the sites and site pages meets WCAG AA contrast (4.5:1) against
// the background it is drawn on.
test("readable contrast", async () => {
  for (const url of ["/#/", `/#/site/${encodeURIComponent(process.env.CROSSWATCH_LIVE_SITE)}`, "/#/devices", "/#/catalog"]) {
    await page.goto(base + url);
    await page.waitForSelector('main[aria-busy="false"]');
    const bad = await page.evaluate(() => {
      const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
      const lum = ([r, g, b]) => {
        const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
      };
      // The first ancestor (or self) with an opaque background decides what the text sits on.
      const bgOf = (el) => {
        for (let e = el; e; e = e.parentElement) {
          const c = rgb(getComputedStyle(e).backgroundColor);
          if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c;
        }
        return [255, 255, 255];
      };
      const out = [];
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const el = n.parentElement;
        if (!n.textContent.trim() || !el || el.closest("svg") || el.offsetParent === null) continue;
        const st = getComputedStyle(el);
        if (st.visibility === "hidden") continue;
        const fg = lum(rgb(st.color)), bg = lum(bgOf(el));
        const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
        if (ratio < 4.5) out.push(`${n.textContent.trim().slice(0, 30)} (${ratio.toFixed(2)})`);
      }
      return [...new Set(out)].slice(0, 10);
    });
    assert.deepEqual(bad, [], `${url}: text below 4.5:1`);
  }
});

test("devices page matches the API", async () => {
  await page.goto(base + "/#/devices");
  await ready("devices");
  const devices = await apiJSON("/api/v1/devices");
  assert.ok(devices.length > 0);
  for (const d of devices) {
    const row = page.locator(`#devices tr[data-device="${d.id}"]`);
    assert.equal(await text(row.locator("[data-col=online]")), d.online ? "online" : "offline", d.id);
    assert.equal(num(await text(row.locator("[data-col=backlog]"))), d.backlog, d.id);
    assert.equal(num(await text(row.locator("[data-col=disagreements]"))), d.signal_disagreements, d.id);
    const view = await text(row.locator("[data-col=view]"));
    if (d.last_view_change) assert.ok(view.startsWith(`${d.view_changes}× since start`), `${d.id}: ${view}`);
    else assert.equal(view, "—", d.id);
    // A quarantined camera says so beside its online state; the others do not.
    const mismatch = row.locator("[data-col=view-mismatch]");
    if (d.view_mismatch_since) assert.ok((await text(mismatch)).startsWith("view does not match its scene"), d.id);
    else assert.equal(await mismatch.count(), 0, d.id);
  }
  // A row per camera under its device (a row group headed by the device), its state in words.
  const withCams = devices.filter((d) => d.cameras.length > 0);
  assert.ok(withCams.some((d) => d.online) && withCams.some((d) => !d.online), "the fixture has an online and an offline device with cameras");
  assert.equal(await page.locator("#cameras tbody").count(), withCams.length);
  assert.equal(await page.locator("#cameras tbody tr").count(), withCams.reduce((n, d) => n + d.cameras.length, 0));
  for (const d of withCams) {
    const group = page.locator(`#cameras tbody[data-device="${d.id}"]`);
    const head = group.locator("th[scope=rowgroup]");
    assert.equal(await text(head), d.id);
    assert.equal(await head.getAttribute("rowspan"), String(d.cameras.length), d.id);
    assert.deepEqual(await group.locator("th[scope=row]").allInnerTexts(), d.cameras.map((c) => c.id), d.id);
    for (const c of d.cameras) {
      const row = group.locator(`tr[data-camera="${c.id}"]`);
      const what = `${d.id}/${c.id}`;
      assert.equal(await text(row.locator("[data-col=state]")), d.online ? c.state : "device offline", what);
      if (!d.online) assert.ok((await text(row)).includes("last reported: " + c.state), what);
      assert.equal(num(await text(row.locator("[data-col=decoded-fps]"))), Math.round(c.decoded_fps * 10) / 10, what);
      assert.equal(num(await text(row.locator("[data-col=analysed-fps]"))), Math.round(c.analysed_fps * 10) / 10, what);
      assert.equal(num(await text(row.locator("[data-col=reconnects]"))), c.reconnects, what);
      assert.equal(await text(row.locator("[data-col=error]")), c.error || "—", what);
      const view = await text(row.locator("[data-col=camera-view]"));
      assert.equal(view, c.view_mismatch ? "does not match its scene" : c.view_changes ? `changed ${c.view_changes}×` : "—", what);
      assert.equal(await row.locator("[data-col=last-frame] time").count(), c.last_frame ? 1 : 0, what);
    }
  }
  // Up, reconnecting and down look different (not by colour alone: the words differ too).
  const badge = async (state) => page.locator(`#cameras [data-col=state]:text-is("${state}")`).first().getAttribute("class");
  const classes = new Set([await badge("up"), await badge("reconnecting"), await badge("down")]);
  assert.equal(classes.size, 3, [...classes].join(" | "));
  await page.screenshot({ path: join(shots, "devices.png"), fullPage: true });
});

test("catalog page matches the API", async () => {
  await page.goto(base + "/#/catalog");
  await ready("catalog");
  const cat = await apiJSON("/api/v1/catalog");
  assert.equal(await text(page.locator("#catalog-version")), cat.version);
  assert.equal(await page.locator("#catalog tbody tr").count(), cat.entries.length);
  for (const e of cat.entries) {
    assert.equal(num(await text(page.locator(`#catalog tr[data-type="${e.type}"] [data-col=points]`))), e.points);
  }
  await page.screenshot({ path: join(shots, "catalog.png"), fullPage: true });
});

// Devices report their status every few seconds. A view redraws only for a change it shows:
// a site page not for another site's device, nor for its own device's routine report, so a
// reader's place in the page stays put; the devices page for any device.
test("live changes redraw only the views that show them", async () => {
  const siteID = process.env.CROSSWATCH_LIVE_SITE;
  const renders = async () => Number(await page.getAttribute("body", "data-renders"));
  const own = (await apiJSON(`/api/v1/sites/${encodeURIComponent(siteID)}/cameras`)).map((c) => c.device).filter(Boolean);
  assert.ok(own.length > 0, "the live site has a device");
  const other = (await apiJSON("/api/v1/devices")).map((d) => d.id).find((d) => !own.includes(d));
  // The stream, stubbed: it ends after one change and the browser reconnects in 100 ms, so the
  // page gets this change about ten times a second.
  let change = { events: 0, devices: [other, ...own] };
  await page.route("**/api/v1/stream", (route) => route.fulfill({
    status: 200, headers: { "content-type": "text/event-stream" },
    body: `retry: 100\nevent: ready\ndata: {}\n\nevent: change\ndata: ${JSON.stringify(change)}\n\n`,
  }));
  // The device list, held still: the live edge's real device can go offline or come back
  // while the test runs (a slow race build), and that change the site page does show.
  const devicesNow = await apiJSON("/api/v1/devices");
  await page.route("**/api/v1/devices", (route) => route.fulfill({
    status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify(devicesNow),
  }));
  try {
    await page.goto(`${base}/#/site/${encodeURIComponent(siteID)}`);
    await page.reload();
    await ready("site");
    await page.waitForFunction(() => document.getElementById("live").textContent.includes("updated"));
    const n = await renders();
    await page.waitForTimeout(1500);
    assert.equal(await renders(), n, "a site page redrew for device reports that change nothing on it");
    await page.click("a[data-nav=devices]");
    const d = await ready("devices");
    await page.waitForFunction((k) => Number(document.body.dataset.renders) > k, d, { timeout: 5000 });
    // A change at the site redraws its page, and a reader scrolled down the ledger stays there.
    change = { events: 1, sites: [siteID] };
    await page.goto(`${base}/#/site/${encodeURIComponent(siteID)}`);
    await ready("site");
    const ledger = 'main [aria-label="Ledger, scrollable"]';
    // Scrolled between redraws (a redraw notes the scroll positions as it begins).
    const m = await (await page.waitForFunction((sel) => {
      if (document.querySelector("main").getAttribute("aria-busy") !== "false") return false;
      document.querySelector(sel).scrollTop = 150;
      return Number(document.body.dataset.renders);
    }, ledger)).jsonValue();
    await page.waitForFunction((k) => Number(document.body.dataset.renders) > k, m, { timeout: 10000 });
    assert.equal(await page.evaluate((sel) => document.querySelector(sel).scrollTop, ledger), 150, "the redraw lost the ledger's scroll");
    // Ten changes a second make one redraw, then 2 s of rest after it ends, then the next: in
    // 5 s at least one (a redraw takes under 3 s even on a loaded machine) and at most three.
    const r0 = await renders();
    await page.waitForTimeout(5000);
    const redraws = (await renders()) - r0;
    assert.ok(redraws >= 1 && redraws <= 3, `${redraws} redraws in 5 s of constant changes`);
  } finally {
    await page.unroute("**/api/v1/stream");
    await page.unroute("**/api/v1/devices");
    await page.reload(); // the real stream again
    await ready("site");
  }
  assert.deepEqual(consoleErrors, []);
});

test("a new event appears live, without a reload", async () => {
  const siteID = process.env.CROSSWATCH_LIVE_SITE, id = process.env.CROSSWATCH_LIVE_ID;
  const cmd = JSON.parse(process.env.CROSSWATCH_LIVE_CMD);
  await page.goto(`${base}/#/site/${encodeURIComponent(siteID)}`);
  const renders = await ready("site");
  await page.waitForSelector("#live.on"); // the stream is connected
  const before = (await apiJSON("/api/v1/sites")).find((s) => s.id === siteID);
  await page.evaluate(() => { window.__sameDocument = true; });
  execFileSync(cmd[0], cmd.slice(1), { stdio: "inherit", timeout: 60000 });
  await page.waitForSelector(`#feed li[data-event="${id}"]`, { timeout: 15000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page reloaded");
  assert.ok(Number(await page.getAttribute("body", "data-renders")) > renders);
  const after = (await apiJSON("/api/v1/sites")).find((s) => s.id === siteID);
  assert.equal(after.deductions, before.deductions + 1);
  await page.waitForFunction((n) => document.querySelector("#site-facts [data-col=deductions]")?.textContent.replace(/\D/g, "") === String(n), after.deductions);
  assert.equal(await text(page.locator("#site-facts [data-col=score]")), after.score === null ? "—" : String(after.score));
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(context.foreign, [], "requests left the aggregator's origin");
});

test("sign out, and a wrong password is refused", async () => {
  await page.click("#sign-out");
  await page.waitForSelector('main[data-view="login"]');
  assert.equal((await context.cookies()).find((c) => c.name === "crosswatch_session"), undefined, "the cookie outlived sign-out");
  await page.goto(`${base}/#/devices`);
  await page.waitForSelector('main[data-view="login"]');
  assert.equal(await page.locator("#devices").count(), 0, "devices shown signed out");
  await page.fill("#login-name", user);
  await page.fill("#login-password", password + "x");
  await page.click("#login-submit");
  await page.waitForFunction(() => document.querySelector("#login-error").textContent.includes("wrong name or password"));
  await page.screenshot({ path: join(shots, "login.png") });
  await page.fill("#login-password", password);
  await page.click("#login-submit");
  await page.waitForSelector('main[data-view="devices"]'); // back where the reader asked to be
  assert.ok(consoleErrors.every((e) => e.includes("401")), consoleErrors.join("\n"));
});
