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
