// Canvas sparklines: one path per draw, sized for the device pixel ratio so lines stay crisp.

export interface SparkOptions {
  color: string;
  /** Fill under the line with this colour (drawn from the same path, so still one path). */
  fill?: string;
  lineWidth?: number;
}

/**
 * Make the canvas backing store match its CSS size times devicePixelRatio and return the 2D context
 * scaled to CSS pixels, or null when the canvas cannot draw (no 2D context).
 */
export function prepareCanvas(
  canvas: HTMLCanvasElement,
  cssWidth: number,
  cssHeight: number,
): CanvasRenderingContext2D | null {
  const ctx = canvas.getContext("2d");
  if (!ctx) return null;
  const dpr = (typeof window !== "undefined" && window.devicePixelRatio) || 1;
  const w = Math.max(1, Math.round(cssWidth * dpr));
  const h = Math.max(1, Math.round(cssHeight * dpr));
  // Assigning width/height clears the canvas and reallocates it even when unchanged: only on resize.
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssWidth, cssHeight);
  return ctx;
}

/**
 * Draw values (y) against xs (or their index when xs is null) as a single polyline. A flat series is
 * drawn through the middle. Cost is linear in the number of points.
 */
export function drawSparkline(
  ctx: CanvasRenderingContext2D,
  xs: ArrayLike<number> | null,
  ys: ArrayLike<number>,
  width: number,
  height: number,
  opts: SparkOptions,
): void {
  const n = ys.length;
  if (n === 0) return;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = ys[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!Number.isFinite(min) || !Number.isFinite(max)) return;
  const x0 = xs ? xs[0]! : 0;
  const x1 = xs ? xs[n - 1]! : n - 1;
  const lw = opts.lineWidth ?? 1.5;
  const pad = lw;
  const spanX = x1 - x0 || 1;
  const spanY = max - min;
  const innerH = height - 2 * pad;
  const sx = (width - 2 * pad) / spanX;
  const yOf = (v: number): number => (spanY === 0 ? height / 2 : pad + innerH - ((v - min) / spanY) * innerH);
  ctx.beginPath();
  if (n === 1) {
    const y = yOf(ys[0]!);
    ctx.moveTo(pad, y);
    ctx.lineTo(width - pad, y);
  } else {
    for (let i = 0; i < n; i++) {
      const x = pad + ((xs ? xs[i]! : i) - x0) * sx;
      const y = yOf(ys[i]!);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
  }
  ctx.lineWidth = lw;
  ctx.lineJoin = "round";
  ctx.strokeStyle = opts.color;
  ctx.stroke();
  if (opts.fill && n > 1) {
    ctx.lineTo(width - pad, height);
    ctx.lineTo(pad, height);
    ctx.closePath();
    ctx.fillStyle = opts.fill;
    ctx.fill();
  }
}

/** Read a CSS colour from an element (custom properties resolved by the browser), with a fallback. */
export function cssColor(el: Element, prop: string, fallback: string): string {
  if (typeof getComputedStyle !== "function") return fallback;
  const value = getComputedStyle(el).getPropertyValue(prop).trim();
  return value || fallback;
}

/** How often the views' theme colours are read again (a theme switch shows within this long). */
export const COLOR_POLL_MS = 1000;

interface ColorWatch {
  el: Element;
  /** Custom property → the colour used while it is unset. */
  props: Record<string, string>;
  values: Record<string, string>;
  onChange: (values: Record<string, string>) => void;
}

const colorWatches = new Set<ColorWatch>();
let colorTimer: ReturnType<typeof setInterval> | null = null;

function readWatch(w: ColorWatch): boolean {
  let changed = false;
  for (const [prop, fallback] of Object.entries(w.props)) {
    const value = cssColor(w.el, prop, w.values[prop] ?? fallback);
    if (value !== w.values[prop]) {
      w.values[prop] = value;
      changed = true;
    }
  }
  return changed;
}

/**
 * Follow an element's theme colours: read them now, then every COLOR_POLL_MS, for every watched
 * view together in one timer task, and call onChange (with all of them) when one changed. A read
 * in a timer task finds the page's style up to date (views write their DOM in animation frames),
 * where a read in a view's frame, after other views wrote theirs, makes the browser recompute the
 * page's style on the spot. Returns the values read now; the returned function stops watching.
 */
export function watchColors(
  el: Element,
  props: Record<string, string>,
  onChange: (values: Record<string, string>) => void,
): { values: Record<string, string>; stop: () => void } {
  const w: ColorWatch = { el, props, values: {}, onChange };
  readWatch(w);
  colorWatches.add(w);
  if (colorTimer === null) {
    colorTimer = setInterval(() => {
      for (const watch of Array.from(colorWatches)) if (colorWatches.has(watch) && readWatch(watch)) watch.onChange({ ...watch.values });
    }, COLOR_POLL_MS);
  }
  const stop = (): void => {
    if (!colorWatches.delete(w) || colorWatches.size > 0 || colorTimer === null) return;
    clearInterval(colorTimer);
    colorTimer = null;
  };
  return { values: { ...w.values }, stop };
}
