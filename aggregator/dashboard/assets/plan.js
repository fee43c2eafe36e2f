// The plan view's geometry, kept free of the DOM so that node can test it
// (browsertest/plan.unit.test.mjs): Web-Mercator projection, the zoom that fits the sites,
// the tiles that cover the view, and where each label goes.

const TILE = 256;

// mercator gives lon, lat in Web-Mercator pixels of the whole world at zoom 0 (256 × 256).
export function mercator(lon, lat) {
  const r = (Math.max(-85.05112878, Math.min(85.05112878, lat)) * Math.PI) / 180;
  return { x: ((lon + 180) / 360) * TILE, y: ((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * TILE };
}

// metresPerPixel is the ground distance of one pixel at zoom 0 at latitude lat.
export const metresPerPixel = (lat) => (156543.03392 * Math.cos((lat * Math.PI) / 180));

// fit places points ({lon, lat}) in a W × H view with pad pixels of margin: it returns
// the scale (pixels per zoom-0 pixel, so the zoom is log2(scale)), the offset and each point's
// position. A view never shows less than minMetres across, so one site is not drawn at a
// zoom no map has.
export function fit(points, W, H, pad, minMetres = 300) {
  const ps = points.map((p) => mercator(p.lon, p.lat));
  const xs = ps.map((p) => p.x), ys = ps.map((p) => p.y);
  const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
  const lat0 = points.reduce((a, p) => a + p.lat, 0) / points.length;
  const minSpan = minMetres / metresPerPixel(lat0);
  const scale = Math.min((W - 2 * pad) / Math.max(maxX - minX, minSpan), (H - 2 * pad) / Math.max(maxY - minY, minSpan));
  const ox = W / 2 - ((minX + maxX) / 2) * scale, oy = H / 2 - ((minY + maxY) / 2) * scale;
  return { scale, ox, oy, lat0, points: ps.map((p) => ({ x: ox + p.x * scale, y: oy + p.y * scale })) };
}

// tiles lists the tiles ({z, x, y, px, py, size}: where to draw each, in view pixels) that
// cover a W × H view of fit f from a tileset ({minzoom, maxzoom, bounds: [w, s, e, n]}): the
// zoom level nearest the view's, held to the tileset's levels, and only tiles inside its
// bounds. Null when the view would need more than maxTiles (far below the set's minzoom).
export function tiles(f, W, H, set, maxTiles = 200) {
  const z = Math.max(set.minzoom, Math.min(set.maxzoom, Math.round(Math.log2(f.scale))));
  const n = 2 ** z, size = (TILE / n) * f.scale; // one tile's size in the view
  const [w, s, e, nb] = set.bounds;
  const nw = mercator(w, nb), se = mercator(e, s);
  const range = (lo, hi) => [Math.max(0, Math.floor(lo)), Math.min(n - 1, Math.floor(hi))];
  // Columns and rows both seen and inside the bounds (a tile on a bound's edge is in).
  const [x0, x1] = range(Math.max(-f.ox / size, (nw.x * n) / TILE), Math.min((W - f.ox) / size, (se.x * n) / TILE - 1e-9));
  const [y0, y1] = range(Math.max(-f.oy / size, (nw.y * n) / TILE), Math.min((H - f.oy) / size, (se.y * n) / TILE - 1e-9));
  if (x1 < x0 || y1 < y0) return [];
  if ((x1 - x0 + 1) * (y1 - y0 + 1) > maxTiles) return null;
  const out = [];
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) out.push({ z, x, y, px: f.ox + x * size, py: f.oy + y * size, size });
  return out;
}

// scaleBar picks a round ground length whose bar is at most maxPx long at this fit.
export function scaleBar(f, maxPx = 120) {
  const mpp = metresPerPixel(f.lat0) / f.scale;
  let best = { metres: 1, px: 1 / mpp };
  for (const m of [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000, 1000000]) {
    if (m / mpp <= maxPx) best = { metres: m, px: m / mpp };
  }
  return best;
}

const overlaps = (a, b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

// crosses reports whether the segment l ({x1, y1, x2, y2}) passes through the inside of box b
// (Liang–Barsky clipping).
export function crosses(l, b) {
  let t0 = 0, t1 = 1;
  const dx = l.x2 - l.x1, dy = l.y2 - l.y1;
  for (const [p, q] of [[-dx, l.x1 - b.x0], [dx, b.x1 - l.x1], [-dy, l.y1 - b.y0], [dy, b.y1 - l.y1]]) {
    if (p === 0) {
      if (q <= 0) return false;
    } else {
      const t = q / p;
      if (p < 0) t0 = Math.max(t0, t);
      else t1 = Math.min(t1, t);
      if (t0 >= t1) return false;
    }
  }
  return true;
}

// Directions tried around a pin, in order: right and left of it first (read along the
// line), then the diagonals, then above and below.
const DIRS = [[1, 0], [-1, 0], [1, -1], [1, 1], [-1, -1], [-1, 1], [0, -1], [0, 1]];
// How far beyond the pin's edge a label may go, in pixels; past the first, with a leader line.
const RINGS = [4, 16, 30, 48, 70];

// placeLabels puts each pin's label ({x, y, r, w, h}: pin centre and radius, label size) in a
// W × H view where it overlaps no other label, no pin, no leader line and no reserved box
// ({x0, y0, x1, y1}), and stays inside the view with margin m. Pins are taken in the order given (the worst site
// first, so it is labelled if anything is); each takes the first free spot of 8 around it,
// nearest first, then the same 8 further out, joined to its pin by a leader line. A label with
// no room anywhere is hidden. Deterministic: the same input gives the same layout. Returns per
// pin {x0, y0, x1, y1, leader: null | {x1, y1, x2, y2}} or {hidden: true}.
export function placeLabels(pins, W, H, reserved = [], m = 2, gap = 2) {
  const taken = reserved.slice(), leaders = [];
  // Pins are obstacles for every label but their own (a label never hides a site).
  const pinBox = (p) => ({ x0: p.x - p.r - 1, y0: p.y - p.r - 1, x1: p.x + p.r + 1, y1: p.y + p.r + 1 });
  const pinBoxes = pins.map(pinBox);
  return pins.map((p, i) => {
    for (let k = 0; k < RINGS.length; k++) {
      const d = p.r + RINGS[k];
      for (const [dx, dy] of DIRS) {
        // The label's nearest corner or edge sits d from the centre in direction (dx, dy).
        // (A diagonal corner stays clear of the pin's square, as a rail pin is drawn.)
        const o = dx && dy ? Math.max(d * Math.SQRT1_2, p.r + 2) : d;
        const cx = p.x + dx * o, cy = p.y + dy * o;
        const x0 = dx > 0 ? cx : dx < 0 ? cx - p.w : cx - p.w / 2;
        const y0 = dy > 0 ? cy : dy < 0 ? cy - p.h : cy - p.h / 2;
        const box = { x0, y0, x1: x0 + p.w, y1: y0 + p.h };
        if (box.x0 < m || box.y0 < m || box.x1 > W - m || box.y1 > H - m) continue;
        // Kept gap pixels from other labels, so halos do not touch.
        const padded = { x0: box.x0 - gap, y0: box.y0 - gap, x1: box.x1 + gap, y1: box.y1 + gap };
        if (taken.some((t) => overlaps(padded, t))) continue;
        if (pinBoxes.some((b, j) => j !== i && overlaps(box, b)) || overlaps(box, pinBoxes[i])) continue;
        // No earlier leader line runs through it, and its own runs through no other label.
        if (leaders.some((l) => crosses(l, box))) continue;
        let leader = null;
        if (k > 0) {
          // From the pin's edge to the nearest point of the label.
          const nx = Math.max(box.x0, Math.min(p.x, box.x1)), ny = Math.max(box.y0, Math.min(p.y, box.y1));
          const len = Math.hypot(nx - p.x, ny - p.y) || 1;
          leader = { x1: p.x + ((nx - p.x) / len) * p.r, y1: p.y + ((ny - p.y) / len) * p.r, x2: nx, y2: ny };
          if (taken.some((t) => crosses(leader, t))) continue;
          leaders.push(leader);
        }
        taken.push(box);
        return { ...box, leader };
      }
    }
    return { hidden: true };
  });
}
