// Unit tests of the plan view's geometry (assets/plan.js): pure functions, no browser.
// Run by aggregator/dashboard's TestPlanGeometry (node --test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { crosses, fit, mercator, placeLabels, scaleBar, tiles } from "../assets/plan.js";

const W = 760, H = 340;
const overlaps = (a, b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

// A junction with ten approaches within 60 m, as the dashboard test has, and three sites
// further off: the ten crowd one corner of the plan.
function junction() {
  const sites = [];
  for (let i = 0; i < 10; i++) {
    const a = (i / 10) * 2 * Math.PI;
    sites.push({ lon: 16.3700 + 0.0006 * Math.cos(a), lat: 48.2080 + 0.0004 * Math.sin(a), name: `Junction approach ${i + 1} (${900 - i * 40})` });
  }
  sites.push({ lon: 16.3900, lat: 48.2150, name: "Far east platform (980)" }, { lon: 16.3600, lat: 48.2000, name: "South-west approach (870)" },
    { lon: 16.3850, lat: 48.1990, name: "South-east approach (720)" });
  return sites;
}

function pinsOf(sites) {
  const f = fit(sites, W, H, 40);
  // 6.5 px per character and 15 px high: about what 12 px text measures.
  return { f, pins: sites.map((x, i) => ({ ...f.points[i], r: 9, w: x.name.length * 6.5, h: 15 })) };
}

test("mercator: the corners and centre of the zoom-0 world", () => {
  assert.deepEqual(mercator(0, 0), { x: 128, y: 128 });
  assert.ok(Math.abs(mercator(180, 0).x - 256) < 1e-9 && Math.abs(mercator(-180, 0).x) < 1e-9);
  assert.ok(Math.abs(mercator(0, 85.05112878).y) < 1e-6 && Math.abs(mercator(0, -85.05112878).y - 256) < 1e-6);
  assert.ok(mercator(16, 48.3).y < mercator(16, 48.2).y, "north is up");
});

test("fit: every site inside the padded view, centred, the wider extent filling it", () => {
  const { f } = pinsOf(junction());
  for (const p of f.points) assert.ok(p.x >= 40 - 1e-9 && p.x <= W - 40 + 1e-9 && p.y >= 40 - 1e-9 && p.y <= H - 40 + 1e-9, JSON.stringify(p));
  const xs = f.points.map((p) => p.x), ys = f.points.map((p) => p.y);
  const fills = Math.abs(Math.max(...xs) - Math.min(...xs) - (W - 80)) < 1e-6 || Math.abs(Math.max(...ys) - Math.min(...ys) - (H - 80)) < 1e-6;
  assert.ok(fills, "one extent fills the view");
  // One site alone is shown with 300 m around it, not at a zoom no map has.
  const one = fit([{ lon: 16.37, lat: 48.2 }], W, H, 40);
  assert.ok(Math.log2(one.scale) < 19 && Math.log2(one.scale) > 15, `zoom ${Math.log2(one.scale)}`);
  assert.deepEqual(one.points[0], { x: W / 2, y: H / 2 });
});

test("placeLabels: thirteen clustered sites, no two labels overlap, none covers a pin", () => {
  const { pins } = pinsOf(junction());
  const reserved = [{ x0: W - 40, y0: 0, x1: W, y1: 22 }];
  const placed = placeLabels(pins, W, H, reserved);
  const shown = placed.filter((p) => !p.hidden);
  assert.ok(shown.length >= 10, `only ${shown.length} of 13 labelled`);
  for (let i = 0; i < placed.length; i++) {
    const a = placed[i];
    if (a.hidden) continue;
    assert.ok(a.x0 >= 2 && a.y0 >= 2 && a.x1 <= W - 2 && a.y1 <= H - 2, `label ${i} leaves the view`);
    assert.ok(!overlaps(a, reserved[0]), `label ${i} covers the north arrow`);
    assert.ok(Math.abs(a.x1 - a.x0 - pins[i].w) < 1e-9 && Math.abs(a.y1 - a.y0 - pins[i].h) < 1e-9, "the label's own size");
    for (let j = 0; j < placed.length; j++) {
      const b = placed[j], p = pins[j];
      if (j !== i && !b.hidden) assert.ok(!overlaps(a, b), `labels ${i} and ${j} overlap`);
      assert.ok(!overlaps(a, { x0: p.x - p.r, y0: p.y - p.r, x1: p.x + p.r, y1: p.y + p.r }), `label ${i} covers pin ${j}`);
    }
  }
  // Some labels of the crowded junction had to move away: a leader joins each to its pin.
  const far = shown.filter((p) => p.leader);
  assert.ok(far.length > 0, "no label moved out of the crowd");
  for (const p of far) {
    assert.ok(p.leader.x2 >= p.x0 && p.leader.x2 <= p.x1 && p.leader.y2 >= p.y0 && p.leader.y2 <= p.y1, "leader ends on its label");
    for (const q of shown) if (q !== p) assert.ok(!crosses(p.leader, q), "a leader line runs through another label");
  }
  // Deterministic.
  assert.deepEqual(placeLabels(pins, W, H, reserved), placed);
});

test("crosses: a segment through a box, along its edge, short of it", () => {
  const b = { x0: 10, y0: 10, x1: 20, y1: 20 };
  assert.equal(crosses({ x1: 0, y1: 15, x2: 30, y2: 15 }, b), true);
  assert.equal(crosses({ x1: 0, y1: 0, x2: 30, y2: 30 }, b), true);
  assert.equal(crosses({ x1: 0, y1: 15, x2: 9, y2: 15 }, b), false);
  assert.equal(crosses({ x1: 0, y1: 10, x2: 30, y2: 10 }, b), false, "along the edge is not through");
  assert.equal(crosses({ x1: 15, y1: 0, x2: 15, y2: 10 }, b), false, "ending on the edge is not through");
  assert.equal(crosses({ x1: 0, y1: 30, x2: 30, y2: 25 }, b), false);
});

test("placeLabels: a lone pin is labelled right of it; at the right edge, left of it", () => {
  const [a] = placeLabels([{ x: 100, y: 100, r: 8, w: 80, h: 15 }], W, H);
  assert.deepEqual(a, { x0: 112, y0: 92.5, x1: 192, y1: 107.5, leader: null });
  const [b] = placeLabels([{ x: W - 20, y: 100, r: 8, w: 80, h: 15 }], W, H);
  assert.equal(b.x1, W - 20 - 12);
});

test("placeLabels: hidden only when there is no room, the first pins first", () => {
  // Twelve pins on one spot of a small view: room for a few labels around it only.
  const pins = Array.from({ length: 12 }, () => ({ x: 100, y: 60, r: 6, w: 90, h: 15 }));
  const placed = placeLabels(pins, 200, 120);
  const hidden = placed.map((p, i) => (p.hidden ? i : -1)).filter((i) => i >= 0);
  assert.ok(hidden.length > 0 && hidden.length < 12, `${hidden.length} hidden`);
  // Once one is hidden, every later one is too (same spot, less room): the worst site, first
  // in the list, keeps its label.
  assert.deepEqual(hidden, Array.from({ length: hidden.length }, (_, k) => 12 - hidden.length + k));
});

test("tiles: cover the view at the nearest zoom within the set's levels and bounds", () => {
  const sites = junction();
  const { f } = pinsOf(sites);
  const z = Math.round(Math.log2(f.scale));
  const set = { minzoom: 10, maxzoom: 18, bounds: [16.30, 48.15, 16.45, 48.25] };
  const list = tiles(f, W, H, set);
  assert.ok(list.length > 0 && list.every((t) => t.z === z), `zoom ${z}`);
  // The union covers the view: each view pixel corner of a coarse grid lies in some tile.
  for (let x = 0; x <= W; x += 38) for (let y = 0; y <= H; y += 34) {
    assert.ok(list.some((t) => x >= t.px && x <= t.px + t.size && y >= t.py && y <= t.py + t.size), `(${x}, ${y}) uncovered`);
  }
  // No tile is asked for twice or from outside the view.
  assert.equal(new Set(list.map((t) => `${t.x}/${t.y}`)).size, list.length);
  for (const t of list) assert.ok(t.px < W && t.py < H && t.px + t.size > 0 && t.py + t.size > 0, "tile outside the view");

  // Held to the set's deepest level: fewer, larger tiles.
  const coarse = tiles(f, W, H, { ...set, maxzoom: z - 2 });
  assert.ok(coarse.every((t) => t.z === z - 2 && Math.abs(t.size - list[0].size * 4) < 1e-6));
  // Bounds: a set covering only the east of the view gives only tiles east of its west edge.
  const east = tiles(f, W, H, { ...set, bounds: [16.38, 48.15, 16.45, 48.25] });
  const edge = f.ox + mercator(16.38, 48.2).x * f.scale;
  assert.ok(east.length > 0 && east.length < list.length && east.every((t) => t.px + t.size > edge));
  // Far below the set's shallowest level, the view would need too many tiles: none.
  assert.equal(tiles(fit([{ lon: 0, lat: 0 }, { lon: 40, lat: 30 }], W, H, 40), W, H, { ...set, minzoom: 14, bounds: [-180, -85, 180, 85] }), null);
  // Outside the set's bounds altogether: none.
  assert.deepEqual(tiles(f, W, H, { ...set, bounds: [10, 40, 11, 41] }), []);
});

test("scaleBar: a round length no longer than asked", () => {
  const { f } = pinsOf(junction());
  const b = scaleBar(f, 120);
  assert.ok([1, 2, 5].includes(Number(String(b.metres)[0])) && /^\d0*$/.test(String(b.metres)), `${b.metres} m`);
  assert.ok(b.px <= 120 && b.px > 120 / 2.5, `${b.px} px`);
});
