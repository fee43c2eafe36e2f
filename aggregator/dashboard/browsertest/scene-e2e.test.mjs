// The whole path in the browser, against an aggregator and a running box that
// e2e/editor_test.go TestDrawnSceneJudgesTheBox started: an admin creates a site and a camera
// on the registry page and draws the camera's scene; the box (crosswatch-edge run, replaying a
// synthetic clip with exact truth as its camera) applies each saved scene and replays the clip
// with it; a red-light event judged by the drawn stop line arrives; a reviewer dismisses it in
// the review queue and the site's points and score return to what they were.
//
// Environment (set by the Go test):
//   CROSSWATCH_URL, CROSSWATCH_TOKEN (admin API token), CROSSWATCH_SCREENSHOTS, CHROMIUM
//   CROSSWATCH_ADMIN_USER/PASSWORD, CROSSWATCH_REVIEWER_USER/PASSWORD
//   CROSSWATCH_SITE/CAMERA/DEVICE   the site, camera and box
//   CROSSWATCH_TRUTH                the clip's truth: {"stop_line": [[x,y],[x,y]], "head": [[x,y],[x,y]], "red_light": n}
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { act, api, clickAt, consoleErrors, createSiteAndCamera, drawLine, launch, ready, signIn } from "./editorharness.mjs";

const base = process.env.CROSSWATCH_URL, token = process.env.CROSSWATCH_TOKEN;
const siteId = process.env.CROSSWATCH_SITE, cameraId = process.env.CROSSWATCH_CAMERA, device = process.env.CROSSWATCH_DEVICE;
const truth = JSON.parse(process.env.CROSSWATCH_TRUTH || "null");
assert.ok(base && token && siteId && cameraId && device && truth, "run through e2e/editor_test.go");

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });
const call = (method, path, body, headers) => api(base, token, method, path, body, headers);
const site = async () => (await call("GET", "/api/v1/sites")).body.find((s) => s.id === siteId);

async function until(what, f, ms = 120000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function save(page, want) {
  await act(page, "editor", () => page.click("#editor-save"));
  assert.match(await page.locator("#editor-message").innerText(), new RegExp(`^Saved: scene version ${want}\\b`));
}

test("a scene drawn in the dashboard judges the box's red-light runner; dismissed, the score is what it was", async () => {
  const admin = await signIn(browser, base, process.env.CROSSWATCH_ADMIN_USER, process.env.CROSSWATCH_ADMIN_PASSWORD);
  await createSiteAndCamera(admin, siteId, "Oak St, northbound approach", cameraId, device);
  // The synthetic clip needs the lab's classical detector (a real camera's scene leaves
  // detector out): a field of the scene file that the editor keeps but does not draw, set here
  // as a lab would, through the API.
  const v1 = (await call("GET", `/api/v1/registry/cameras/${cameraId}/scene.json`)).body;
  assert.equal(v1.scene_version, 1);
  const lab = await call("PUT", `/api/v1/registry/cameras/${cameraId}/scene.json`, { device, scene: { ...v1.scene, detector: { kind: "classical" } } }, { "If-Match": '"1"' });
  assert.equal(lab.status, 200, JSON.stringify(lab.body));

  await admin.click(`[data-key="scene-${cameraId}"]`);
  await ready(admin, "editor");
  // First a count line across the approach below the stop line: the box counts the road users
  // and raises nothing, so the site has exposure and a score before the event.
  const [a, b] = truth.stop_line;
  const dir = await drawLine(admin, "count_line", [a[0], a[1] + 0.1], [b[0], b[1] + 0.1]);
  assert.ok(dir[1] < -0.99, `count line direction ${dir}`);
  await save(admin, 3);
  const counted = await until("the box's counts under the drawn count line", async () => { const s = await site(); return s && s.road_users > 0 && s; });
  // Another play of the clip may still be counting: wait until the counts settle.
  let before = counted;
  for (let same = 0; same < 6;) {
    await new Promise((r) => setTimeout(r, 500));
    const s = await site();
    same = s.road_users === before.road_users ? same + 1 : 0;
    before = s;
  }
  assert.equal(before.points, 0);
  assert.deepEqual(Object.values(before.events).reduce((x, n) => x + n, 0), 0);

  // The signal head the camera reads, two corners, and the stop line it governs.
  await act(admin, "editor", () => admin.click("#add-signal"));
  await clickAt(admin, ...truth.head[0]);
  await clickAt(admin, ...truth.head[1]);
  await drawLine(admin, "stop_line", a, b);
  assert.equal(await admin.inputValue("#shape-signal"), "head-1");
  assert.equal(await admin.inputValue("#shape-site"), siteId);
  await save(admin, 4);
  const raised = await until("a red-light event at the drawn stop line", async () => {
    const s = await site();
    return s && (s.events.red_light_running || 0) >= truth.red_light && s;
  });
  await new Promise((r) => setTimeout(r, 2000)); // nothing more arrives
  const s2 = await site();
  assert.deepEqual(s2.events, { red_light_running: truth.red_light }, "events the clip raised at the site");
  assert.ok(s2.points > 0 && raised.points > 0);
  const ledger = (await call("GET", `/api/v1/sites/${siteId}/ledger`)).body;
  assert.equal(ledger.length, truth.red_light);
  const eventId = ledger[0].event_id;
  const ev = (await call("GET", `/api/v1/events/${device}/${eventId}`)).body;
  assert.equal(ev.zone, "approach-1", "the event is judged by the drawn stop line");
  assert.equal(ev.camera, cameraId);
  await admin.context().close();

  // The reviewer dismisses it from the queue with the keyboard.
  const rev = await signIn(browser, base, process.env.CROSSWATCH_REVIEWER_USER, process.env.CROSSWATCH_REVIEWER_PASSWORD);
  await rev.goto(`${base}/#/review?site=${encodeURIComponent(siteId)}`);
  await ready(rev, "review");
  assert.equal(await rev.getAttribute("#review-panel", "data-event"), eventId);
  await act(rev, "review", () => rev.keyboard.press("d"));
  assert.match(await rev.locator("#review-message").innerText(), new RegExp(`${eventId}: dismissed \\(Not a violation\\)`));
  const after = await site();
  assert.equal(after.points, before.points, "the points did not return to what they were");
  assert.equal(after.score, before.score, "the score did not return to what it was");
  assert.notEqual(s2.score, before.score, "the event did not change the score");
  const fig = (x) => ({ road_users: x.road_users, points: x.points, score: x.score, events: x.events });
  console.log("site before the event, with it, after the dismissal:", JSON.stringify([fig(before), fig(s2), fig(after)]));
  assert.deepEqual(consoleErrors, []);
  await rev.context().close();
});
