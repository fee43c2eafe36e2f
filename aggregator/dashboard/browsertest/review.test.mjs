// Browser tests of the dead-letter page and the review queue: Playwright (playwright-core)
// driving Debian's chromium against an aggregator that e2e/review_test.go started, fed and
// restarted after adding a site its events named.
//
// Environment (set by the Go test):
//   CROSSWATCH_URL                  the aggregator's base URL
//   CROSSWATCH_ADMIN_USER/PASSWORD  a dashboard admin
//   CROSSWATCH_REVIEWER_USER/PASSWORD a dashboard reviewer
//   CROSSWATCH_TOKEN                an admin API token for the test's own API reads
//   CROSSWATCH_FIXED_SITE           the site added after its events were dead letters
//   CROSSWATCH_REVIEW_SITE          the site whose raised event the reviewer dismisses
//   CROSSWATCH_LIVE_CMD             JSON argv of a command that raises one event there ...
//   CROSSWATCH_LIVE_DEVICE/ID       ... from this device, with this id
//   CROSSWATCH_SCREENSHOTS          directory for the PNGs
//   CHROMIUM                        the browser (default /usr/bin/chromium)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { ready } from "./editorharness.mjs";

const base = process.env.CROSSWATCH_URL, shots = process.env.CROSSWATCH_SCREENSHOTS, token = process.env.CROSSWATCH_TOKEN;
const fixedSite = process.env.CROSSWATCH_FIXED_SITE, reviewSite = process.env.CROSSWATCH_REVIEW_SITE;
assert.ok(base && shots && token && fixedSite && reviewSite, "run through e2e/review_test.go");
mkdirSync(shots, { recursive: true });

let browser;
const consoleErrors = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, chromiumSandbox: false,
    args: ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
after(async () => { await browser?.close(); });

async function api(path, body) {
  const r = await fetch(base + path, body === undefined ? { headers: { Authorization: "Bearer " + token } }
    : { method: "POST", headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(r.status, 200, `${body === undefined ? "GET" : "POST"} ${path}`);
  return r.json();
}
const site = async (id) => (await api("/api/v1/sites")).find((s) => s.id === id);

// signIn opens a new browser context signed in as user and returns its page.
async function signIn(user, password) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, reducedMotion: "reduce" });
  await context.route("**/*", (route) => (new URL(route.request().url()).origin === new URL(base).origin ? route.continue() : route.abort()));
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error" && !m.text().includes("401")) consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.goto(base + "/");
  await page.waitForSelector('main[data-view="login"]', { timeout: 15000 });
  await page.fill("#login-name", user);
  await page.fill("#login-password", password);
  await page.click("#login-submit");
  await page.waitForSelector('main[data-view="sites"][aria-busy="false"]', { timeout: 15000 });
  return page;
}

test("dead letters: listed by reason and device, reprocessed after the fix, once", async () => {
  const page = await signIn(process.env.CROSSWATCH_ADMIN_USER, process.env.CROSSWATCH_ADMIN_PASSWORD);
  assert.equal(await page.locator('[data-nav="dead-letters"]').isVisible(), true, "an admin sees the dead-letters link");
  const before = await site(fixedSite);
  assert.equal(before.points, 0);
  assert.equal(Object.values(before.events).reduce((a, n) => a + n, 0), 0);

  await page.click('[data-nav="dead-letters"]');
  await ready(page, "dead-letters");
  const fixedReason = `unknown site "${fixedSite}"`;
  const group = page.locator(`#dead-letter-groups tr[data-reason='${fixedReason}']`);
  assert.equal(await group.locator('[data-col="count"]').innerText(), "6");
  assert.equal(await page.locator('#dead-letter-groups tr[data-reason=\'unknown site "ghost-site"\'] [data-col="count"]').innerText(), "2");
  // A group's link lists its dead letters only.
  await group.locator("a").click();
  await ready(page, "dead-letters");
  assert.equal(await page.locator("#dead-letters tbody tr").count(), 6);
  assert.ok((await page.locator("#dead-letters tbody tr").first().innerText()).includes("dl-edge"));

  // Reprocess that group: its events are recorded.
  let r = await ready(page, "dead-letters");
  await page.click("#reprocess-shown");
  await page.waitForFunction((k) => Number(document.body.dataset.renders) > k, r);
  await ready(page, "dead-letters");
  const msg = await page.locator("#dead-letter-message").innerText();
  assert.match(msg, /6 examined · 6 recorded · 0 already stored · 0 still invalid/);
  assert.equal(await page.locator("#dead-letters tbody tr").count(), 0, "the reprocessed dead letters are gone");
  const fixed = await site(fixedSite);
  assert.equal(Object.values(fixed.events).reduce((a, n) => a + n, 0), 6, "the six events are recorded");
  assert.ok(fixed.points > 0);

  // Everything again: what is still invalid stays, with its reason; nothing is recorded twice.
  await page.click('a.button[href="#/dead-letters"]');
  r = await ready(page, "dead-letters");
  await page.click("#reprocess-shown");
  await page.waitForFunction((k) => Number(document.body.dataset.renders) > k, r);
  await ready(page, "dead-letters");
  assert.match(await page.locator("#dead-letter-message").innerText(), /2 examined · 0 recorded · 0 already stored · 2 still invalid \(0 for a new reason\)/);
  const rows = page.locator("#dead-letters tbody tr");
  assert.equal(await rows.count(), 2);
  assert.ok((await rows.first().locator('[data-col="reason"]').innerText()).includes('unknown site "ghost-site"'));
  await page.screenshot({ path: join(shots, "dead-letters.png"), fullPage: true });
  const again = await api("/api/v1/dead-letters/reprocess", {});
  assert.deepEqual({ recorded: again.recorded, duplicates: again.duplicates, still: again.still_invalid }, { recorded: 0, duplicates: 0, still: 2 });
  const twice = await site(fixedSite);
  assert.deepEqual([twice.points, twice.events], [fixed.points, fixed.events], "reprocessing twice changed the site");
  assert.deepEqual(consoleErrors, []);
  await page.context().close();
});

test("review: a raised event dismissed from the queue with the keyboard; the points return", async () => {
  const page = await signIn(process.env.CROSSWATCH_REVIEWER_USER, process.env.CROSSWATCH_REVIEWER_PASSWORD);
  assert.equal(await page.locator('[data-nav="dead-letters"]').isVisible(), false, "a reviewer is not offered dead letters");
  const device = process.env.CROSSWATCH_LIVE_DEVICE, id = process.env.CROSSWATCH_LIVE_ID;
  const cmd = JSON.parse(process.env.CROSSWATCH_LIVE_CMD);
  const before = await site(reviewSite);
  execFileSync(cmd[0], cmd.slice(1), { stdio: "inherit", timeout: 60000 });
  const raised = await site(reviewSite);
  assert.ok(raised.points > before.points, `the raised event deducted nothing: ${raised.points} points`);

  await page.click('[data-nav="review"]');
  await ready(page, "review");
  await page.selectOption("#review-site", reviewSite);
  await page.waitForFunction((s) => location.hash === "#/review?site=" + s, reviewSite);
  await ready(page, "review");
  // Unreviewed first, newest first: the raised event is selected, with its evidence.
  assert.equal(await page.getAttribute("#review-panel", "data-event"), id);
  await page.waitForFunction(() => document.querySelector("#review-evidence")?.naturalWidth > 0);
  // j and k move through the queue.
  const moved = async (key, want) => {
    const r = Number(await page.getAttribute("body", "data-renders"));
    await page.keyboard.press(key);
    await page.waitForFunction((k) => Number(document.body.dataset.renders) > k, r);
    await ready(page, "review");
    assert.equal(await page.getAttribute("#review-panel", "data-event"), want, `after ${key}`);
  };
  const second = await page.locator("#review-list tbody tr").nth(1).getAttribute("data-event");
  await moved("j", second);
  await moved("k", id);
  // 2 picks "wrong road user"; a note half typed survives a redraw (here: another reviewer
  // confirms the third event); d dismisses.
  await page.keyboard.press("2");
  assert.equal(await page.locator("#review-reason").inputValue(), "wrong_road_user");
  await page.fill("#review-note", "the cyclist");
  const third = await page.locator("#review-list tbody tr").nth(2).getAttribute("data-event");
  const r0 = Number(await page.getAttribute("body", "data-renders"));
  await api(`/api/v1/events/rv-edge/${third}/review`, { verdict: "confirmed" });
  await page.waitForFunction((k) => Number(document.body.dataset.renders) > k, r0, { timeout: 10000 });
  await ready(page, "review");
  assert.equal(await page.locator("#review-note").inputValue(), "the cyclist", "a redraw wiped the note");
  assert.equal(await page.locator("#review-reason").inputValue(), "wrong_road_user", "a redraw lost the reason");
  await page.locator("#review-h").click(); // out of the note: keys are shortcuts again
  await moved("d", second); // on to the next unreviewed event
  assert.match(await page.locator("#review-message").innerText(), new RegExp(`${id}: dismissed \\(Wrong road user: the cyclist\\) by rita`));
  const after = await site(reviewSite);
  assert.equal(after.points, before.points, "the points did not return to what they were before the event");
  assert.equal(after.score, before.score, "the score did not return to what it was before the event");
  assert.deepEqual(after.events, before.events);
  const row = (await api(`/api/v1/sites/${reviewSite}/ledger`)).find((l) => l.event_id === id);
  assert.ok(row && row.review && row.review.verdict === "dismissed" && row.review.reason === "wrong_road_user" && row.review.reviewer === "user:rita",
    `ledger row ${JSON.stringify(row)}`);
  // c confirms the next one.
  await page.keyboard.press("c");
  await page.waitForFunction(() => document.querySelector("#review-message")?.textContent.includes("confirmed"));
  await ready(page, "review");
  const list = page.locator(`#review-list tr[data-event="${id}"] [data-col="review"]`);
  assert.equal(await list.innerText(), "dismissed");
  await page.screenshot({ path: join(shots, "review.png"), fullPage: true });

  // The site page: measured precision, the ledger row marked.
  await page.goto(`${base}/#/site/${encodeURIComponent(reviewSite)}`);
  await ready(page, "site");
  assert.equal(await page.locator('#site-facts [data-col="precision"]').innerText().then((s) => s.split(" · ")[0]), "67 % (n = 3)");
  assert.equal(await page.locator('#cameras tr[data-camera="synth-cam-1"] [data-col="precision"]').first().innerText(), "67 % (n = 3)");
  assert.match(await page.locator(`#ledger tr[data-event="${id}"] [data-col="review"]`).innerText(), /^dismissed \(Wrong road user: the cyclist\) by rita/);
  assert.equal(await page.locator('#site-facts [data-col="points"]').innerText(), String(before.points));
  // An audit entry per review.
  const audit = await api("/api/v1/audit");
  assert.ok(audit.some((a) => a.action === "event.review" && a.actor === "user:rita" && a.detail.startsWith(`${device}/${id} at site ${reviewSite}: dismissed (wrong_road_user)`)),
    JSON.stringify(audit.slice(0, 3)));
  assert.deepEqual(consoleErrors, []);
  await page.context().close();
});
