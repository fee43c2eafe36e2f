// Browser tests of the registry page and the scene editor: Playwright (playwright-core)
// driving Debian's chromium against an aggregator that e2e/editor_test.go started.
//
// Environment (set by the Go test):
//   CROSSWATCH_URL                    the aggregator's base URL
//   CROSSWATCH_ADMIN_USER/PASSWORD    a dashboard admin
//   CROSSWATCH_VIEWER_USER/PASSWORD   a dashboard viewer
//   CROSSWATCH_TOKEN                  an admin API token for the test's own API calls
//   CROSSWATCH_SITE/CAMERA/DEVICE     the site, camera and device the admin creates
//   CROSSWATCH_SCREENSHOTS            directory for the PNGs
//   CHROMIUM                          the browser (default /usr/bin/chromium)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { act, api, at, clickAt, consoleErrors, launch, ready, signIn as signInAt } from "./editorharness.mjs";

const base = process.env.CROSSWATCH_URL, shots = process.env.CROSSWATCH_SCREENSHOTS, token = process.env.CROSSWATCH_TOKEN;
const siteId = process.env.CROSSWATCH_SITE, cameraId = process.env.CROSSWATCH_CAMERA, device = process.env.CROSSWATCH_DEVICE;
assert.ok(base && shots && token && siteId && cameraId && device, "run through e2e/editor_test.go");
mkdirSync(shots, { recursive: true });

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });
const call = (method, path, body, headers) => api(base, token, method, path, body, headers);
const signIn = (user, password) => signInAt(browser, base, user, password);

const near = (got, want, what) => assert.ok(Math.abs(got - want) < 0.01, `${what}: ${got}, want about ${want}`);

test("registry and editor: an admin creates a site and a camera, draws a stop line, saves", async () => {
  const page = await signIn(process.env.CROSSWATCH_ADMIN_USER, process.env.CROSSWATCH_ADMIN_PASSWORD);
  await page.click('[data-nav="registry"]');
  await ready(page, "registry");

  // A new site: a bad time zone is shown next to its field and creates nothing.
  await act(page, "registry", () => page.click("#new-site"));
  await page.fill("#reg-id", siteId);
  await page.fill("#reg-name", "Elm St, northbound approach");
  await page.selectOption("#reg-kind", "road");
  await page.fill("#reg-time_zone", "Mars/Olympus");
  await page.fill("#reg-lat", "48.2101");
  await page.fill("#reg-lon", "16.3702");
  await page.fill("#reg-cameras", cameraId);
  await act(page, "registry", () => page.click("#registry-save"));
  assert.match(await page.locator("#reg-time_zone-error").innerText(), /^time_zone: "Mars\/Olympus" is not an IANA time zone/);
  assert.equal(await page.getAttribute("#reg-time_zone", "aria-invalid"), "true");
  assert.equal((await call("GET", `/api/v1/registry/sites/${siteId}`)).status, 404, "a refused site was stored");
  assert.equal(await page.inputValue("#reg-name"), "Elm St, northbound approach", "the redraw lost what was typed");
  await page.fill("#reg-time_zone", "Europe/Vienna");
  await act(page, "registry", () => page.click("#registry-save"));
  assert.equal(await page.locator("#registry-message").innerText(), `Site ${siteId} saved: version 1.`);
  assert.equal(await page.locator(`#registry-sites tr[data-site="${siteId}"] [data-col="version"]`).innerText(), "1");

  // A stale edit: someone else saves the site first.
  await act(page, "registry", () => page.click(`[data-key="edit-site-${siteId}"]`));
  await page.fill("#reg-name", "Elm Street northbound");
  const other = await call("PUT", `/api/v1/registry/sites/${siteId}`, { name: "Elm St (nb)", kind: "road", lat: 48.2101, lon: 16.3702, cameras: [cameraId], time_zone: "Europe/Vienna" }, { "If-Match": '"1"' });
  assert.equal(other.status, 200);
  await act(page, "registry", () => page.click("#registry-save"));
  assert.match(await page.locator("#registry-stale").innerText(), /Someone else saved this site first/);
  await act(page, "registry", () => page.click("#registry-reload"));
  assert.equal(await page.inputValue("#reg-name"), "Elm St (nb)", "reload shows theirs");
  await act(page, "registry", () => page.click("#registry-save"));
  assert.equal(await page.locator("#registry-message").innerText(), `Site ${siteId} saved: version 3.`);

  // The camera: a bad device id is shown next to it; then saved.
  await act(page, "registry", () => page.click("#new-camera"));
  await page.fill("#reg-id", cameraId);
  await page.fill("#reg-device", "elm box");
  await act(page, "registry", () => page.click("#registry-save"));
  assert.match(await page.locator("#reg-device-error").innerText(), /^device: "elm box"/);
  await page.screenshot({ path: join(shots, "registry.png"), fullPage: true });
  await page.fill("#reg-device", device);
  await act(page, "registry", () => page.click("#registry-save"));
  const row = page.locator(`#registry-cameras tr[data-camera="${cameraId}"]`);
  assert.equal(await row.locator('[data-col="device"]').innerText(), device);
  assert.equal(await row.locator('[data-col="scene-version"]').innerText(), "1");

  // The editor: no reference frame stored yet (a grid), no live signal state.
  await page.click(`[data-key="scene-${cameraId}"]`);
  await ready(page, "editor");
  assert.equal(await page.locator("#editor-grid").count(), 1);
  assert.equal(await page.locator("#no-live").count(), 1);
  assert.equal(await page.locator("#editor-version").innerText(), "version 1");

  // Stopped before its first point, a new shape leaves nothing behind.
  await act(page, "editor", () => page.click("#add-crosswalk"));
  assert.equal(await page.locator('[data-key="pick-crosswalk-0"]').count(), 1);
  await act(page, "editor", () => page.keyboard.press("Escape"));
  assert.equal(await page.locator('[data-key="pick-crosswalk-0"]').count(), 0);
  // A signal head: two corners.
  await act(page, "editor", () => page.click("#add-signal"));
  await clickAt(page, 0.46, 0.08);
  await clickAt(page, 0.52, 0.22);
  assert.match(await page.locator('[data-shape="signal-0"] text').textContent(), /head-1: no live state/);
  // The stop line, drawn with the mouse; its direction flipped with f (toward the top of the
  // picture: traffic driving away from the camera).
  await act(page, "editor", () => page.click("#add-stop_line"));
  await clickAt(page, 0.2, 0.62);
  await clickAt(page, 0.8, 0.6);
  await act(page, "editor", () => page.keyboard.press("Enter"));
  // Drawn left to right, the line's normal points down the picture to start with.
  const pts = (await page.locator("#shape-points li").allInnerTexts()).map((t) => JSON.parse(t));
  const d0 = JSON.parse(await page.locator("#shape-direction").innerText());
  assert.equal(pts.length, 2);
  assert.ok(Math.abs(d0[0] * (pts[1][0] - pts[0][0]) + d0[1] * (pts[1][1] - pts[0][1])) < 1e-3 && d0[1] > 0.99, `direction ${d0} across ${JSON.stringify(pts)}`);
  await act(page, "editor", () => page.keyboard.press("f"));
  const dir = JSON.parse(await page.locator("#shape-direction").innerText());
  assert.deepEqual(dir, [-d0[0], -d0[1]]);
  assert.equal(await page.locator('[data-shape="stop_line-0"] .arrow-head').getAttribute("data-direction"), dir.join(","));
  assert.equal(await page.inputValue("#shape-site"), siteId);
  assert.equal(await page.inputValue("#shape-signal"), "head-1");
  await page.fill("#shape-id", "elm-nb");
  await page.locator("#shape-id").press("Tab");
  await ready(page, "editor");
  await act(page, "editor", () => page.click("#editor-save"));
  assert.match(await page.locator("#editor-message").innerText(), /^Saved: scene version 2/);
  assert.equal(await page.locator("#editor-version").innerText(), "version 2");
  let got = await call("GET", `/api/v1/registry/cameras/${cameraId}/scene.json`);
  const a = got.body.scene.approaches[0];
  assert.equal(got.body.scene_version, 2);
  assert.deepEqual([a.id, a.site, a.signal, a.direction], ["elm-nb", siteId, "head-1", dir]);
  near(a.stop_line[0][0], 0.2, "x0"); near(a.stop_line[0][1], 0.62, "y0"); near(a.stop_line[1][0], 0.8, "x1"); near(a.stop_line[1][1], 0.6, "y1");
  near(got.body.scene.signals[0].region[1][0], 0.52, "head x1");
  const saved = JSON.stringify(got.body.scene);

  // Nudge the second point with the keyboard: 0.001 per arrow key.
  await act(page, "editor", () => page.locator('[data-shape="stop_line-0"] circle[data-point="1"]').dispatchEvent("pointerdown", { pointerId: 1, bubbles: true }).then(() =>
    page.locator('[data-shape="stop_line-0"] circle[data-point="1"]').dispatchEvent("pointerup", { pointerId: 1, bubbles: true })));
  const x1 = a.stop_line[1][0];
  await act(page, "editor", () => page.keyboard.press("ArrowRight"));
  assert.equal(await page.locator('#shape-points li[data-point="1"]').innerText(), `[${Math.round((x1 + 0.001) * 1e4) / 1e4}, ${a.stop_line[1][1]}]`);

  // Dragged outside the frame: the API's message names the point, the line is marked, and
  // nothing is saved.
  const [hx, hy] = await at(page, x1 + 0.001, a.stop_line[1][1]);
  const [ox, oy] = await at(page, 1.04, 0.6);
  await act(page, "editor", async () => { await page.mouse.move(hx, hy); await page.mouse.down(); await page.mouse.move(ox, oy, { steps: 6 }); await page.mouse.up(); });
  await act(page, "editor", () => page.click("#editor-save"));
  assert.match(await page.locator("#editor-message").innerText(), /^Not saved: scene\.approaches\[0\]\.stop_line\[1\]: point \[1\.0\d*, 0\.6\d*\] is outside the frame/);
  assert.match(await page.getAttribute('[data-shape="stop_line-0"]', "class"), /\binvalid\b/);
  assert.equal(await page.locator("#editor-version").innerText(), "version 2");
  await page.screenshot({ path: join(shots, "editor.png"), fullPage: true });
  // A stop line of one point: refused too, naming it.
  await act(page, "editor", () => page.keyboard.press("Delete"));
  await act(page, "editor", () => page.click("#editor-save"));
  assert.match(await page.locator("#editor-message").innerText(), /^Not saved: scene\.approaches\[0\]\.stop_line: needs at least 2 points, got 1/);
  got = await call("GET", `/api/v1/registry/cameras/${cameraId}/scene.json`);
  assert.equal(got.body.scene_version, 2);
  assert.equal(JSON.stringify(got.body.scene), saved, "a refused save changed the scene");
  assert.deepEqual(consoleErrors, []);
  await page.context().close();
});

test("a viewer sees the registry and the scene, and cannot change them", async () => {
  const page = await signIn(process.env.CROSSWATCH_VIEWER_USER, process.env.CROSSWATCH_VIEWER_PASSWORD);
  await page.click('[data-nav="registry"]');
  await ready(page, "registry");
  assert.equal(await page.locator("#new-site").count(), 0);
  assert.equal(await page.locator(`[data-key="edit-site-${siteId}"]`).count(), 0);
  assert.equal(await page.locator(`#registry-sites tr[data-site="${siteId}"]`).count(), 1);
  assert.doesNotMatch(await page.locator("main").innerText(), /null|undefined/, "a missing value drawn as text");
  await page.click(`[data-key="scene-${cameraId}"]`);
  await ready(page, "editor");
  assert.equal(await page.locator('[data-shape="stop_line-0"]').count(), 1, "the saved stop line is drawn");
  assert.equal(await page.locator("#add-stop_line").count(), 0);
  assert.equal(await page.isDisabled("#editor-save"), true);
  assert.match(await page.locator("#editor-readonly").innerText(), /needs the admin role/);
  // And the API refuses a viewer's write whatever the page offers.
  const status = await page.evaluate(async (cam) => (await fetch(`/api/v1/registry/cameras/${cam}/scene.json`, { method: "PUT",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ device: "x", scene: { version: 1, camera: cam }, version: 2 }) })).status, cameraId);
  assert.ok(status === 403, `a viewer's PUT: ${status}`);
  assert.deepEqual(consoleErrors, []);
  await page.context().close();
});

// The reference frame and the live signal states come from the box (the contract: GET
// /api/v1/registry/cameras/{id}/frame.jpg with X-Frame-Time, POST …/frame-request answering
// 202, and each camera's signals in GET /api/v1/devices). Here the test serves them to the page,
// so that the editor's side of the contract is checked whether or not the aggregator's is there.
test("the editor draws over the reference frame and shows each head's live state", async () => {
  const frame = readFileSync(process.env.CROSSWATCH_FRAME_JPEG);
  const page = await signIn(process.env.CROSSWATCH_ADMIN_USER, process.env.CROSSWATCH_ADMIN_PASSWORD);
  let requested = 0, state = "red";
  await page.route(`**/api/v1/registry/cameras/${cameraId}/frame.jpg*`, (r) => r.fulfill({ status: 200, contentType: "image/jpeg",
    headers: { "X-Frame-Time": "2026-12-02T09:15:00Z", "Cache-Control": "no-store" }, body: frame }));
  await page.route(`**/api/v1/registry/cameras/${cameraId}/frame-request`, (r) => { requested++; return r.fulfill({ status: 202, contentType: "application/json", body: "{}" }); });
  await page.route("**/api/v1/devices", async (r) => {
    const real = await (await r.fetch()).json();
    real.push({ id: device, online: true, cameras: [{ id: cameraId, state: "up", signals: [{ id: "head-1", state, source: "camera" }] }] });
    return r.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(real) });
  });
  await page.goto(`${base}/#/registry/camera/${encodeURIComponent(cameraId)}/scene`);
  await ready(page, "editor");
  await page.waitForFunction(() => document.querySelector("#editor-frame") !== null);
  assert.equal(await page.locator("#editor-grid").count(), 0, "a grid over the frame");
  // The drawing takes the frame's 4:3, with the margin around it.
  const vb = (await page.getAttribute("#editor-svg", "viewBox")).split(" ").map(Number);
  assert.ok(Math.abs(vb[3] / vb[2] - 0.75) < 1e-6, `viewBox ${vb}`);
  assert.match(await page.locator(".lede").innerText(), /Reference frame of 2026-12-02 09:15Z/);
  assert.equal(await page.getAttribute('[data-shape="signal-0"] rect', "data-state"), "red");
  assert.match(await page.locator('[data-shape="signal-0"] text').textContent(), /^head-1: red \(camera\)$/);
  assert.equal(await page.locator("#no-live").count(), 0);
  // The state refreshes on its own.
  state = "green";
  await page.waitForFunction(() => document.querySelector('[data-shape="signal-0"] rect')?.getAttribute("data-state") === "green", null, { timeout: 10000 });
  // A point drawn on the frame lands where it was clicked, in the frame's fractions.
  await act(page, "editor", () => page.click("#add-count_line"));
  await clickAt(page, 0.1, 0.9);
  await clickAt(page, 0.4, 0.9);
  await act(page, "editor", () => page.keyboard.press("Enter"));
  const pts = (await page.locator("#shape-points li").allInnerTexts()).map((t) => JSON.parse(t));
  near(pts[0][0], 0.1, "x"); near(pts[0][1], 0.9, "y"); near(pts[1][0], 0.4, "x"); near(pts[1][1], 0.9, "y");
  await act(page, "editor", () => page.click("#request-frame"));
  assert.equal(requested, 1);
  assert.match(await page.locator("#editor-message").innerText(), /^Frame requested/);
  assert.deepEqual(consoleErrors, []);
  await page.context().close();
});
