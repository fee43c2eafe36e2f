// Browser test of the plan view: Playwright (playwright-core) driving Debian's chromium against
// two aggregators e2e/plan_test.go started with thirteen sites, ten of them at one junction:
// one with dashboard.tiles (an MBTiles file of a synthetic town), one without.
//
// Environment (set by the Go test):
//   CROSSWATCH_URL, CROSSWATCH_USER, CROSSWATCH_PASSWORD                   the one with tiles
//   CROSSWATCH_PLAIN_URL, CROSSWATCH_PLAIN_USER, CROSSWATCH_PLAIN_PASSWORD the one without
//   CROSSWATCH_SCREENSHOTS  directory for plan.png
//   CHROMIUM                the browser (default /usr/bin/chromium)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { crosses } from "../assets/plan.js";

const env = process.env;
assert.ok(env.CROSSWATCH_URL && env.CROSSWATCH_PLAIN_URL, "CROSSWATCH_URL and CROSSWATCH_PLAIN_URL are not set: run through e2e/plan_test.go");
const shots = env.CROSSWATCH_SCREENSHOTS;
assert.ok(shots, "CROSSWATCH_SCREENSHOTS is not set");
mkdirSync(shots, { recursive: true });

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    chromiumSandbox: false,
    args: ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});
after(async () => { await browser?.close(); });

// open signs in to the aggregator at base and shows the sites page. It records requests to
// other origins (there must be none), console errors and every /tiles/ request.
async function open(base, user, password) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, reducedMotion: "reduce" });
  const seen = { foreign: [], errors: [], tiles: [] };
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.origin !== new URL(base).origin && url.protocol !== "data:") {
      seen.foreign.push(url.href);
      return route.abort();
    }
    if (url.pathname.startsWith("/tiles/")) seen.tiles.push(url.pathname);
    return route.continue();
  });
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error" && !m.text().includes("401")) seen.errors.push(m.text()); });
  page.on("pageerror", (e) => seen.errors.push(String(e)));
  await page.goto(base + "/");
  await page.waitForSelector('main[data-view="login"]', { timeout: 15000 });
  await page.fill("#login-name", user);
  await page.fill("#login-password", password);
  await page.click("#login-submit");
  await page.waitForSelector('main[data-view="sites"][aria-busy="false"]', { timeout: 15000 });
  return { context, page, seen };
}

// labelBoxes reads every label the plan shows (not those hidden for want of room) with its
// box as the browser laid it out (getBBox, in the plan's coordinates), and each pin's box.
async function layout(page) {
  return page.evaluate(() => {
    const box = (el) => { const b = el.getBBox(); return { x0: b.x, y0: b.y, x1: b.x + b.width, y1: b.y + b.height }; };
    const svg = document.querySelector("svg.planview");
    return {
      labels: [...svg.querySelectorAll("a.plan-site")].map((a) => {
        const t = a.querySelector(".plan-label"), l = a.querySelector(".plan-leader");
        const leader = l && { x1: l.x1.baseVal.value, y1: l.y1.baseVal.value, x2: l.x2.baseVal.value, y2: l.y2.baseVal.value };
        return { site: a.getAttribute("aria-label"), text: t.textContent, hidden: getComputedStyle(t).display === "none", box: box(t), leader };
      }),
      pins: [...svg.querySelectorAll("a.plan-site .pin")].map(box),
      hiddenCount: Number(svg.getAttribute("data-hidden-labels")),
      width: svg.viewBox.baseVal.width, height: svg.viewBox.baseVal.height,
    };
  });
}

const overlaps = (a, b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

// checkLabels asserts what both plans must hold: every site linked with its aria-label, no two
// shown labels overlapping, none over a pin or out of the plan, the hidden ones counted.
function checkLabels(l) {
  assert.ok(l.labels.length >= 16, `${l.labels.length} sites on the plan, want the 3 examples and 13 of the test`);
  for (const x of l.labels) assert.match(x.site, /: (rank \d+, score \d+|insufficient data)$/, "each pin's link says its site");
  const shown = l.labels.filter((x) => !x.hidden);
  console.log(`labels shown ${shown.length} of ${l.labels.length}, hidden ${l.hiddenCount}`);
  assert.equal(l.labels.length - shown.length, l.hiddenCount, "the hidden labels are counted");
  assert.ok(shown.length >= 10, `only ${shown.length} labels shown`);
  for (let i = 0; i < shown.length; i++) {
    const a = shown[i].box;
    assert.ok(a.x0 >= 0 && a.y0 >= 0 && a.x1 <= l.width && a.y1 <= l.height, `"${shown[i].text}" leaves the plan`);
    for (let j = i + 1; j < shown.length; j++) {
      assert.ok(!overlaps(a, shown[j].box), `labels "${shown[i].text}" and "${shown[j].text}" overlap: ${JSON.stringify([a, shown[j].box])}`);
    }
    for (const p of l.pins) assert.ok(!overlaps(a, { x0: p.x0 + 1, y0: p.y0 + 1, x1: p.x1 - 1, y1: p.y1 - 1 }), `"${shown[i].text}" covers a pin`);
    // A leader line joins a label moved away to its pin and runs through no other label.
    for (const o of shown) {
      if (o !== shown[i] && o.leader) assert.ok(!crosses(o.leader, { x0: a.x0 + 1, y0: a.y0 + 1, x1: a.x1 - 1, y1: a.y1 - 1 }), `the leader of "${o.text}" runs through "${shown[i].text}"`);
    }
  }
  assert.ok(shown.some((x) => x.leader), "no label of the crowded junction was moved out with a leader line");
}

test("plan with tiles: labels never overlap, tiles under the sites, the set's attribution", async () => {
  const { context, page, seen } = await open(env.CROSSWATCH_URL, env.CROSSWATCH_USER, env.CROSSWATCH_PASSWORD);
  await page.waitForSelector("svg.planview image.plan-tile", { timeout: 15000 });
  // (No "networkidle": the page keeps its event stream open.) Each tile fetched and decoded,
  // then two frames for the plan to be painted with them.
  await page.evaluate(async () => {
    await Promise.all([...document.querySelectorAll("svg.planview image.plan-tile")].map((t) => {
      const img = new Image();
      img.src = t.getAttribute("href");
      return img.decode();
    }));
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  });
  const l = await layout(page);
  checkLabels(l);

  // The tiles come before every pin (drawn under them), cover each pin, are all of one zoom
  // level and answer as PNGs.
  const tiles = await page.evaluate(() => {
    const svg = document.querySelector("svg.planview");
    const all = [...svg.querySelectorAll("*")];
    const firstPin = all.findIndex((e) => e.classList.contains("pin"));
    return [...svg.querySelectorAll("image.plan-tile")].map((img) => {
      const b = img.getBBox();
      return { href: img.getAttribute("href"), under: all.indexOf(img) < firstPin, x0: b.x, y0: b.y, x1: b.x + b.width, y1: b.y + b.height };
    });
  });
  assert.ok(tiles.length >= 4, `${tiles.length} tiles`);
  assert.ok(tiles.every((t) => t.under), "a tile is drawn over a pin");
  const zooms = new Set(tiles.map((t) => t.href.split("/")[2]));
  assert.equal(zooms.size, 1, `zoom levels ${[...zooms]}`);
  const z = Number([...zooms][0]);
  assert.ok(z >= 12 && z <= 16, `zoom ${z} outside the set's 12..16`);
  for (const p of l.pins) {
    const c = { x: (p.x0 + p.x1) / 2, y: (p.y0 + p.y1) / 2 };
    assert.ok(tiles.some((t) => c.x >= t.x0 && c.x <= t.x1 && c.y >= t.y0 && c.y <= t.y1), `no tile under the pin at ${JSON.stringify(c)}`);
  }
  for (const href of tiles.slice(0, 3).map((t) => t.href)) {
    const r = await page.evaluate(async (u) => { const r = await fetch(u); return { status: r.status, type: r.headers.get("content-type"), size: (await r.arrayBuffer()).byteLength }; }, href);
    assert.deepEqual([r.status, r.type], [200, "image/png"], href);
    assert.ok(r.size > 100, `${href}: ${r.size} bytes`);
  }
  // The browser decodes them as the 256-pixel images of a tile.
  const decoded = await page.evaluate(async (u) => { const img = new Image(); img.src = u; await img.decode(); return [img.naturalWidth, img.naturalHeight]; }, tiles[0].href);
  assert.deepEqual(decoded, [256, 256], `${tiles[0].href} decoded`);
  assert.equal(await page.locator("svg.planview .plan-credit").textContent(), "Synthetic town (made by the test, no real map)");

  // A hidden label shows while its pin has the keyboard focus.
  const hidden = page.locator("a.plan-site:has(.plan-label.off)");
  if (await hidden.count()) {
    await hidden.first().focus();
    assert.notEqual(await hidden.first().locator(".plan-label").evaluate((t) => getComputedStyle(t).display), "none");
    assert.match(await page.locator("#plan-more").textContent(), /^ · \+\d+ more: no room for their labels/);
    await page.locator("#main").focus();
  }
  assert.deepEqual(seen.foreign, [], "requests to other origins");
  assert.deepEqual(seen.errors, [], "console errors");
  await page.locator("section.plan").screenshot({ path: join(shots, "plan.png") });
  await context.close();
});

test("plan without tiles: no tile asked for, the same readable labels", async () => {
  const { context, page, seen } = await open(env.CROSSWATCH_PLAIN_URL, env.CROSSWATCH_PLAIN_USER, env.CROSSWATCH_PLAIN_PASSWORD);
  // The page has asked whether there are tiles and heard there are none (204).
  await page.waitForFunction(() => performance.getEntriesByType("resource").some((e) => e.name.endsWith("/tiles/tilejson") && e.responseEnd > 0), null, { timeout: 15000 });
  await page.waitForTimeout(500);
  assert.equal(await page.locator("svg.planview image").count(), 0);
  assert.deepEqual(seen.tiles, ["/tiles/tilejson"], "only whether there are tiles is asked");
  assert.equal(await page.locator("svg.planview .plan-credit").count(), 0);
  checkLabels(await layout(page));
  assert.deepEqual(seen.foreign, [], "requests to other origins");
  assert.deepEqual(seen.errors, [], "console errors");
  await context.close();
});
