// What the registry and scene-editor browser tests share: a browser, signing in, waiting for a
// view's redraw, and where a scene point is on the screen.
import { chromium } from "playwright-core";

export const consoleErrors = [];

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, chromiumSandbox: false,
    args: ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// api calls the aggregator with an API token and returns {status, body}.
export async function api(base, token, method, path, body, headers) {
  const r = await fetch(base + path, { method, headers: { Authorization: "Bearer " + token, "Content-Type": "application/json", ...(headers || {}) },
    body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: await r.json().catch(() => null) };
}

// signIn opens a new browser context on base signed in as user and returns its page.
export async function signIn(browser, base, user, password) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, reducedMotion: "reduce" });
  await context.route("**/*", (route) => (new URL(route.request().url()).origin === new URL(base).origin ? route.continue() : route.abort()));
  const page = await context.newPage();
  // The refusals the tests provoke (400, 403, 412) and the reference frame not stored yet (404)
  // are logged by the browser as failed loads: expected. Anything else is not.
  page.on("console", (m) => { if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of (400|401|403|404|412)\b/.test(m.text())) consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.goto(base + "/");
  await page.waitForSelector('main[data-view="login"]', { timeout: 15000 });
  await page.fill("#login-name", user);
  await page.fill("#login-password", password);
  await page.click("#login-submit");
  await page.waitForSelector('main[data-view="sites"][aria-busy="false"]', { timeout: 15000 });
  return page;
}

export async function ready(page, view) {
  // The view drawn for the current hash: after a link within one view the old drawing is
  // still that view and not busy until the hashchange has run.
  await page.waitForFunction((v) => {
    const m = document.querySelector("main");
    return m.dataset.view === v && m.getAttribute("aria-busy") === "false" && m.dataset.hash === location.hash;
  }, view, { timeout: 15000 });
  return Number(await page.getAttribute("body", "data-renders"));
}

// act runs f and waits for the redraw it causes.
export async function act(page, view, f) {
  const r = Number(await page.getAttribute("body", "data-renders"));
  await f();
  await page.waitForFunction((k) => Number(document.body.dataset.renders) > k, r, { timeout: 15000 });
  await ready(page, view);
}

// at is where the scene point [x, y] (fractions of the frame; outside 0..1 in the margin the
// editor leaves around it) is on the screen.
export async function at(page, x, y) {
  const b = await page.locator("#editor-svg").boundingBox();
  const m = 0.06;
  return [b.x + ((m + x) / (1 + 2 * m)) * b.width, b.y + ((m + y) / (1 + 2 * m)) * b.height];
}

// clickAt clicks the scene point [x, y] in the editor.
export async function clickAt(page, x, y) {
  const [cx, cy] = await at(page, x, y);
  await act(page, "editor", () => page.mouse.click(cx, cy));
}

// createSiteAndCamera creates, on the registry page, a road site listing camera and the camera
// on device.
export async function createSiteAndCamera(page, site, name, camera, device) {
  await page.click('[data-nav="registry"]');
  await ready(page, "registry");
  await act(page, "registry", () => page.click("#new-site"));
  await page.fill("#reg-id", site);
  await page.fill("#reg-name", name);
  await page.selectOption("#reg-kind", "road");
  await page.fill("#reg-time_zone", "Europe/Vienna");
  await page.fill("#reg-lat", "48.2101");
  await page.fill("#reg-lon", "16.3702");
  await page.fill("#reg-cameras", camera);
  await act(page, "registry", () => page.click("#registry-save"));
  await act(page, "registry", () => page.click("#new-camera"));
  await page.fill("#reg-id", camera);
  await page.fill("#reg-device", device);
  await act(page, "registry", () => page.click("#registry-save"));
}

// drawLine draws a line of kind (stop_line, count_line) from a to b with the mouse, its
// direction of travel up the picture (f flips the first guess, down, when needed).
export async function drawLine(page, kind, a, b) {
  await act(page, "editor", () => page.click("#add-" + kind));
  await clickAt(page, ...a);
  await clickAt(page, ...b);
  await act(page, "editor", () => page.keyboard.press("Enter"));
  const d = JSON.parse(await page.locator("#shape-direction").innerText());
  if (d[1] > 0) await act(page, "editor", () => page.keyboard.press("f"));
  return JSON.parse(await page.locator("#shape-direction").innerText());
}
