// Live chart: bounded time series drawn by uPlot (bundled, no CDN). The kernel sends only new points,
// in columns; ChartData keeps them in the aligned table uPlot draws (one time column, one value column
// per series, null where a series has no point at that time), updated in place so that a frame costs
// what the new points cost, not what the chart holds.
//
// Interaction: a legend with each series' live value (click: hide or show it), the values under the
// cursor, drag to zoom into a time range, shift-drag to pan, double-click (or Reset) to follow live data
// again, window presets, linear or log scale, pause and resume.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { ChartColumn, ChartDelta, ChartState, ChartTraits } from "./contract";
import { FrameTask, Scope, type ViewProps, clip, finite, formatNumber, h, isRecord, setHidden, setText } from "./dom";
import { pauseControl } from "./pause";
import { watchColors } from "./sparkline";
import { SeqSync } from "./sync";

/** Line colours, in series order (readable on light and dark backgrounds). */
export const PALETTE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
] as const;
/** Window presets in seconds; null keeps everything the chart holds in view. */
export const PRESETS: readonly (number | null)[] = [60, 300, 900, null];
export const CHART_HEIGHT = 260;
/** Width before the browser reports the real one (and in jsdom). */
const FALLBACK_WIDTH = 640;
/** The view's own bounds, whatever the kernel says: series, points per series, rows of the table. */
export const MAX_SERIES = 64;
const DEFAULT_MAX_POINTS = 10_000;
export const MAX_ROWS = 200_000;
/** Rows dropped from the front of the table are spliced out in batches, not one at a time. */
const COMPACT_AT = 4096;
/** How far back the hover readout looks for a series' last value before the cursor. */
const HOVER_SCAN = 512;

type Col = (number | null)[];

export function presetLabel(seconds: number | null): string {
  if (seconds === null) return "All";
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${formatNumber(seconds)} s`;
}

function lowerBound(xs: number[], t: number, from: number): number {
  let lo = from;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The chart's data, independent of the DOM: series, the aligned table, bounds and counters. */
export class ChartData {
  names: string[] = [];
  /** Times (epoch seconds), ascending and unique; rows before `head` hold no point any more. */
  xs: number[] = [];
  /** Values per series, aligned with xs (null: no point of that series at that time). */
  raw: Col[] = [];
  /** What is drawn: raw, or on the log scale a copy without the values <= 0. */
  shown: Col[] = [];
  head = 0;
  /** Per series: points held, the row of its oldest and of its newest point. */
  counts: number[] = [];
  first: number[] = [];
  last: number[] = [];
  maxPoints = DEFAULT_MAX_POINTS;
  maxSeries = 32;
  droppedSeries = 0;
  droppedPoints = 0;
  ignored = 0;
  /** Points the view itself could not keep (past MAX_SERIES). */
  refused = 0;
  log = false;
  /** Values <= 0 held (left out of the drawing on the log scale). */
  nonPositive = 0;
  /** Bumped when the series change (the chart is rebuilt), and on every data change. */
  structure = 0;
  version = 0;

  get rows(): number {
    return this.xs.length - this.head;
  }

  get start(): number | null {
    return this.head < this.xs.length ? this.xs[this.head]! : null;
  }

  get end(): number | null {
    return this.xs.length > 0 ? this.xs[this.xs.length - 1]! : null;
  }

  /** Whether a series holds as many points as the kernel keeps (older ones are being dropped). */
  get full(): boolean {
    return this.counts.some((n) => n >= this.maxPoints);
  }

  latest(s: number): number | null {
    const i = this.last[s] ?? -1;
    return i >= 0 ? (this.raw[s]![i] ?? null) : null;
  }

  reset(state: Partial<ChartState>): void {
    this.names = [];
    this.xs = [];
    this.raw = [];
    this.shown = this.raw;
    this.head = 0;
    this.counts = [];
    this.first = [];
    this.last = [];
    this.refused = 0;
    this.nonPositive = 0;
    const maxPoints = finite(state.max_points);
    this.maxPoints = maxPoints !== null && maxPoints > 0 ? maxPoints : DEFAULT_MAX_POINTS;
    const maxSeries = finite(state.max_series);
    this.maxSeries = maxSeries !== null && maxSeries > 0 ? maxSeries : 32;
    this.counters(state);
    if (Array.isArray(state.series)) this.addNames(state.series);
    const columns = Array.isArray(state.columns) ? state.columns : [];
    // Points of all series, in time order, so that each goes to the end of the table.
    const points: [number, number, number][] = [];
    this.eachPoint(columns, (s, t, v) => points.push([t, s, v]));
    points.sort((a, b) => a[0] - b[0]);
    for (const [t, s, v] of points) this.insert(s, t, v);
    if (this.log) this.setLog(true, true);
    this.structure++;
    this.version++;
  }

  /** Returns whether the series changed (the chart must be rebuilt). */
  apply(delta: ChartDelta): boolean {
    const before = this.names.length;
    if (Array.isArray(delta.series)) this.addNames(delta.series);
    if (Array.isArray(delta.append)) this.eachPoint(delta.append, (s, t, v) => this.insert(s, t, v));
    this.counters(delta);
    this.version++;
    if (this.names.length === before) return false;
    this.structure++;
    return true;
  }

  setLog(log: boolean, force = false): void {
    if (log === this.log && !force) return;
    this.log = log;
    this.shown = log ? this.raw.map((col) => col.map((v) => (v !== null && v <= 0 ? null : v))) : this.raw;
    this.structure++;
    this.version++;
  }

  /** The last value of series s at or before row i (a hover readout), or null. */
  valueAt(s: number, i: number): number | null {
    const col = this.raw[s];
    if (!col) return null;
    for (let j = Math.min(i, col.length - 1), n = 0; j >= this.head && n < HOVER_SCAN; j--, n++) {
      const v = col[j];
      if (v !== null && v !== undefined) return v;
    }
    return null;
  }

  private counters(from: { dropped_series?: unknown; dropped_points?: unknown; ignored?: unknown }): void {
    const ds = finite(from.dropped_series);
    if (ds !== null) this.droppedSeries = ds;
    const dp = finite(from.dropped_points);
    if (dp !== null) this.droppedPoints = dp;
    const ig = finite(from.ignored);
    if (ig !== null) this.ignored = ig;
  }

  private addNames(names: unknown[]): void {
    for (const name of names) {
      if (this.names.length >= MAX_SERIES) return;
      this.names.push(typeof name === "string" ? name : String(name));
      const col: Col = new Array<number | null>(this.xs.length).fill(null);
      this.raw.push(col);
      if (this.shown !== this.raw) this.shown.push(col.slice());
      this.counts.push(0);
      this.first.push(Number.MAX_SAFE_INTEGER);
      this.last.push(-1);
    }
  }

  private eachPoint(columns: unknown[], fn: (s: number, t: number, v: number) => void): void {
    let times: unknown[] = [];
    for (const c of columns) {
      if (!isRecord(c)) continue;
      const column = c as Partial<ChartColumn>;
      if (Array.isArray(column.t)) times = column.t;
      const s = finite(column.s);
      const values: unknown[] = Array.isArray(column.v) ? column.v : [];
      if (s === null || s < 0 || !Number.isInteger(s)) continue;
      if (s >= this.names.length) {
        this.refused += values.length;
        continue;
      }
      const n = Math.min(times.length, values.length);
      for (let i = 0; i < n; i++) {
        const t = finite(times[i]);
        const v = finite(values[i]);
        if (t !== null && v !== null) fn(s, t, v);
      }
    }
  }

  /** Put one point in the table: at the end (the usual case), on the last row, or in time order. */
  insert(s: number, t: number, v: number): void {
    const xs = this.xs;
    const raw = this.raw;
    const n = xs.length;
    let i: number;
    if (n === 0 || t > xs[n - 1]!) {
      xs.push(t);
      for (const col of raw) col.push(null);
      if (this.shown !== raw) for (const col of this.shown) col.push(null);
      i = n;
    } else if (t === xs[n - 1]) {
      i = n - 1;
    } else {
      i = lowerBound(xs, t, 0);
      if (xs[i] !== t) this.insertRow(i, t);
      if (i < this.head) this.head = i;
    }
    const col = raw[s]!;
    const old = col[i] ?? null;
    const had = old !== null;
    col[i] = v;
    if (old !== null && old <= 0) this.nonPositive--;
    if (v <= 0) this.nonPositive++;
    if (this.shown !== raw) this.shown[s]![i] = v <= 0 ? null : v;
    if (!had) {
      this.counts[s]!++;
      if (i < this.first[s]!) this.first[s] = i;
    }
    if (i >= this.last[s]!) this.last[s] = i;
    if (this.counts[s]! > this.maxPoints) this.evict(s);
    if (this.rows > MAX_ROWS) this.dropRow();
  }

  private insertRow(i: number, t: number): void {
    this.xs.splice(i, 0, t);
    for (const col of this.raw) col.splice(i, 0, null);
    if (this.shown !== this.raw) for (const col of this.shown) col.splice(i, 0, null);
    for (let s = 0; s < this.first.length; s++) {
      if (this.first[s]! >= i && this.first[s] !== Number.MAX_SAFE_INTEGER) this.first[s]!++;
      if (this.last[s]! >= i) this.last[s]!++;
    }
  }

  /** Drop the oldest point of series s. */
  private evict(s: number): void {
    const col = this.raw[s]!;
    let i = this.first[s]!;
    while (i < col.length && col[i] === null) i++;
    if (i >= col.length) return;
    if ((col[i] ?? 1) <= 0) this.nonPositive--;
    col[i] = null;
    if (this.shown !== this.raw) this.shown[s]![i] = null;
    this.counts[s]!--;
    let next = i + 1;
    while (next < col.length && col[next] === null) next++;
    this.first[s] = next < col.length ? next : Number.MAX_SAFE_INTEGER;
    this.advanceHead();
  }

  /** Past MAX_ROWS: drop the oldest row, whichever series have points in it. */
  private dropRow(): void {
    const i = this.head;
    for (let s = 0; s < this.raw.length; s++) {
      const v = this.raw[s]![i] ?? null;
      if (v !== null) {
        if (v <= 0) this.nonPositive--;
        this.raw[s]![i] = null;
        if (this.shown !== this.raw) this.shown[s]![i] = null;
        this.counts[s]!--;
        let next = i + 1;
        const col = this.raw[s]!;
        while (next < col.length && col[next] === null) next++;
        this.first[s] = next < col.length ? next : Number.MAX_SAFE_INTEGER;
      }
    }
    this.head++;
    this.advanceHead();
  }

  private advanceHead(): void {
    const xs = this.xs;
    let head = this.head;
    outer: while (head < xs.length) {
      for (const col of this.raw) if (col[head] !== null) break outer;
      head++;
    }
    this.head = head;
    if (head >= COMPACT_AT && head * 4 > xs.length) this.compact();
  }

  private compact(): void {
    const k = this.head;
    this.xs.splice(0, k);
    for (const col of this.raw) col.splice(0, k);
    if (this.shown !== this.raw) for (const col of this.shown) col.splice(0, k);
    for (let s = 0; s < this.first.length; s++) {
      if (this.first[s] !== Number.MAX_SAFE_INTEGER) this.first[s] = Math.max(0, this.first[s]! - k);
      if (this.last[s]! >= 0) this.last[s] = Math.max(-1, this.last[s]! - k);
    }
    this.head = 0;
  }
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  fractionalSecondDigits: 3,
  hour12: false,
});

const secondFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });

/** A time of day, to the millisecond (or to the second when `coarse`). */
export function formatTime(seconds: number, coarse = false): string {
  return (coarse ? secondFormat : timeFormat).format(new Date(seconds * 1000));
}

interface LegendItem {
  el: HTMLButtonElement;
  value: Text;
  shown: string;
}

/** The x range the chart shows: following live data over a window, or a range the user chose. */
export interface XRange {
  min: number;
  max: number;
}

export function renderChart({ model, el, signal }: ViewProps<ChartTraits>): () => void {
  const scope = new Scope();
  scope.bindSignal(signal);
  const data = new ChartData();

  const presets = h("span", { class: "rtw-chart-presets", role: "group", "aria-label": "Time window" });
  const logBox = h("input", { type: "checkbox", class: "rtw-chart-log" });
  const logLabel = h("label", { class: "rtw-chart-scale", title: "Logarithmic y axis" }, [logBox, "log"]);
  const resetButton = h("button", {
    class: "rtw-btn rtw-chart-reset",
    type: "button",
    text: "Reset zoom",
    title: "Follow live data again (or double-click the chart)",
  });
  const range = h("span", { class: "rtw-chart-range rtw-muted" });
  const toolbar = h("div", { class: "rtw-toolbar rtw-chart-toolbar" }, [
    presets,
    logLabel,
    resetButton,
    range,
    h("span", { class: "rtw-spacer" }),
  ]);
  const legend = h("div", { class: "rtw-chart-legend", role: "group", "aria-label": "Series" });
  const plot = h("div", { class: "rtw-chart-plot" });
  const tooltip = h("div", { class: "rtw-chart-tooltip", role: "status" });
  const empty = h("div", { class: "rtw-muted rtw-chart-empty", text: "Waiting for data…" });
  const notes = h("div", { class: "rtw-chart-notes rtw-muted" });
  const root = h("div", { class: "rtw-root rtw-chart" }, [toolbar, legend, plot, empty, notes]);
  root.dataset.mode = "live";
  el.append(root);
  scope.add(() => root.remove());

  let windowSec: number | null = windowOf(model.get("window"));
  let zoom: XRange | null = null;
  const hidden = new Set<string>();
  let u: uPlot | null = null;
  let builtFor = -1;
  let drawnVersion = -1;
  let width = FALLBACK_WIDTH;
  let hoverIdx: number | null = null;
  let hoverLeft = 0;
  const items: LegendItem[] = [];
  let shownRange = "";

  // -- presets -------------------------------------------------------------------------------------

  const renderPresets = (): void => {
    const values = PRESETS.includes(windowSec) ? PRESETS : [...PRESETS.slice(0, -1), windowSec, null];
    const sig = values.join(",");
    if (presets.dataset.sig !== sig) {
      presets.dataset.sig = sig;
      presets.replaceChildren(
        ...values.map((v) =>
          h("button", {
            class: "rtw-btn rtw-chart-preset",
            type: "button",
            "data-window": v === null ? "all" : String(v),
            text: presetLabel(v),
            title: v === null ? "Everything the chart keeps" : `The last ${presetLabel(v)}`,
          }),
        ),
      );
    }
    for (const b of Array.from(presets.children) as HTMLElement[]) {
      const v = b.dataset.window === "all" ? null : Number(b.dataset.window);
      b.setAttribute("aria-pressed", String(v === windowSec && zoom === null));
    }
  };

  // -- the x range ---------------------------------------------------------------------------------

  const liveRange = (): XRange | null => {
    const end = data.end;
    const start = data.start;
    if (end === null || start === null) return null;
    if (windowSec === null) return start < end ? { min: start, max: end } : { min: end - 1, max: end };
    return { min: end - windowSec, max: end };
  };
  const currentRange = (): XRange | null => zoom ?? liveRange();

  const setZoom = (next: XRange | null): void => {
    zoom = next !== null && next.max > next.min ? next : null;
    root.dataset.mode = zoom === null ? "live" : "zoomed";
    drawnVersion = -1;
    frame.schedule();
  };

  // -- uPlot -----------------------------------------------------------------------------------------

  const seriesColor = (s: number): string => PALETTE[s % PALETTE.length]!;

  const alignedData = (): uPlot.AlignedData => [data.xs, ...data.shown] as uPlot.AlignedData;

  // Axis and grid colours follow the theme (read with every view's, once a second, outside
  // animation frames: sparkline.ts); a change redraws the axes in the next frame.
  let recolor = false;
  const colors = watchColors(root, { "--rtw-muted": "#666", "--rtw-border": "#e0e0e0" }, (values) => {
    axisColor = values["--rtw-muted"]!;
    gridColor = values["--rtw-border"]!;
    root.dataset.axisColor = axisColor;
    recolor = true;
    frame.schedule();
  });
  scope.add(colors.stop);
  let axisColor = colors.values["--rtw-muted"]!;
  let gridColor = colors.values["--rtw-border"]!;
  root.dataset.axisColor = axisColor;

  const build = (): void => {
    u?.destroy();
    u = null;
    builtFor = data.structure;
    if (data.names.length === 0) return;
    const axisOpts: uPlot.Axis = {
      stroke: () => axisColor,
      grid: { stroke: () => gridColor, width: 1 },
      ticks: { stroke: () => gridColor, width: 1 },
    };
    const opts: uPlot.Options = {
      width,
      height: CHART_HEIGHT,
      legend: { show: false },
      scales: {
        x: { time: true, auto: false },
        y: data.log ? { distr: 3, log: 10, auto: true } : { auto: true },
      },
      series: [
        {},
        ...data.names.map((name, s) => ({
          label: name,
          stroke: seriesColor(s),
          width: 1.5,
          spanGaps: true,
          show: !hidden.has(name),
          points: { show: false },
        })),
      ],
      axes: [axisOpts, { ...axisOpts, size: 64 }],
      cursor: {
        drag: { x: true, y: false, setScale: false },
        points: { size: 6 },
        bind: {
          // Shift-drag pans instead of selecting; the double-click is handled below (reset to live).
          mousedown: (_u, _targ, handler) => (e: MouseEvent) => {
            if (e.shiftKey) {
              startPan(e);
              return null;
            }
            return handler(e);
          },
          dblclick: () => null,
        },
      },
      hooks: {
        setSelect: [
          (self: uPlot) => {
            const sel = self.select;
            if (sel.width < 3) return;
            const min = self.posToVal(sel.left, "x");
            const max = self.posToVal(sel.left + sel.width, "x");
            self.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            setZoom({ min, max });
          },
        ],
        setCursor: [
          (self: uPlot) => {
            const idx = self.cursor.idx;
            hoverIdx = idx === undefined ? null : idx;
            hoverLeft = self.cursor.left ?? -1;
            renderTooltip();
          },
        ],
      },
    };
    u = new uPlot(opts, alignedData(), plot);
    u.over.append(tooltip);
    scope.listen(u.over, "dblclick", (e) => {
      e.preventDefault();
      setZoom(null);
    });
    drawnVersion = -1;
  };

  const applyRange = (): void => {
    const r = currentRange();
    if (!u || r === null) return;
    u.setScale("x", { min: r.min, max: r.max });
    const coarse = r.max - r.min >= 10;
    const text = `${formatTime(r.min, coarse)} – ${formatTime(r.max, coarse)}`;
    if (text !== shownRange) setText(range, (shownRange = text));
    root.dataset.xMin = String(r.min);
    root.dataset.xMax = String(r.max);
    root.dataset.rows = String(data.rows);
    root.dataset.start = String(data.start);
  };

  // -- pan -------------------------------------------------------------------------------------------

  const startPan = (e: MouseEvent): void => {
    const r = currentRange();
    if (!u || r === null) return;
    e.preventDefault();
    const x0 = e.clientX;
    const span = r.max - r.min;
    const pixels = Math.max(1, u.over.clientWidth || u.bbox.width / (window.devicePixelRatio || 1));
    const pan = scope.child();
    pan.listen(document, "mousemove", (ev) => {
      const dt = ((ev.clientX - x0) / pixels) * span;
      setZoom({ min: r.min - dt, max: r.max - dt });
    });
    pan.listen(document, "mouseup", () => pan.dispose());
  };

  // -- legend, tooltip and notes -----------------------------------------------------------------------

  const renderLegend = (): void => {
    while (items.length < data.names.length) {
      const s = items.length;
      const name = data.names[s]!;
      const value = document.createTextNode("");
      const swatch = h("span", { class: "rtw-chart-swatch", "aria-hidden": "true" });
      swatch.style.background = seriesColor(s);
      const item = h("button", { class: "rtw-chart-series", type: "button", "data-series": name, title: `Show or hide ${name}` }, [
        swatch,
        // A long name shows cut; the whole of it is in the title.
        h("span", { class: "rtw-chart-name", text: clip(name) }),
        h("span", { class: "rtw-chart-value" }, [value]),
      ]);
      legend.append(item);
      items.push({ el: item, value, shown: "" });
    }
    while (items.length > data.names.length) items.pop()!.el.remove();
    for (let s = 0; s < items.length; s++) {
      const item = items[s]!;
      const off = hidden.has(data.names[s]!);
      if (item.el.getAttribute("aria-pressed") !== String(!off)) item.el.setAttribute("aria-pressed", String(!off));
      const v = data.latest(s);
      const text = v === null ? "–" : formatNumber(v);
      if (text !== item.shown) item.value.data = item.shown = text;
    }
  };

  const renderTooltip = (): void => {
    if (hoverIdx === null || hoverLeft < 0 || hoverIdx >= data.xs.length) {
      setHidden(tooltip, true);
      return;
    }
    const rows = [h("div", { class: "rtw-chart-tooltip-time", text: formatTime(data.xs[hoverIdx]!) })];
    for (let s = 0; s < data.names.length; s++) {
      if (hidden.has(data.names[s]!)) continue;
      const v = data.valueAt(s, hoverIdx);
      const swatch = h("span", { class: "rtw-chart-swatch", "aria-hidden": "true" });
      swatch.style.background = seriesColor(s);
      rows.push(
        h("div", { class: "rtw-chart-tooltip-row" }, [
          swatch,
          h("span", { class: "rtw-chart-name", text: clip(data.names[s]!) }),
          h("span", { class: "rtw-chart-value", text: v === null ? "–" : formatNumber(v) }),
        ]),
      );
    }
    tooltip.replaceChildren(...rows);
    tooltip.style.left = `${hoverLeft + 12}px`;
    tooltip.classList.toggle("rtw-chart-tooltip-left", hoverLeft > width / 2);
    setHidden(tooltip, false);
  };

  const renderNotes = (): void => {
    const lines: string[] = [];
    if (data.droppedSeries > 0 || data.refused > 0) {
      const n = Math.max(data.droppedSeries, data.refused > 0 ? 1 : 0);
      lines.push(`${formatNumber(n)}${data.droppedSeries >= 1000 ? "+" : ""} more series not shown (at most ${formatNumber(Math.min(data.maxSeries, MAX_SERIES))} series).`);
    }
    if (data.full) lines.push(`Showing the last ${formatNumber(data.maxPoints)} points of each series.`);
    if (data.ignored > 0) lines.push(`${formatNumber(data.ignored)} values ignored: not numbers, or rows without the fields.`);
    if (data.log && data.nonPositive > 0) lines.push(`${formatNumber(data.nonPositive)} values ≤ 0 not shown on the log scale.`);
    const text = lines.join(" ");
    setText(notes, text);
    setHidden(notes, text === "");
  };

  // -- the frame ----------------------------------------------------------------------------------------

  const draw = (): void => {
    if (builtFor !== data.structure) build();
    else if (recolor && u) u.redraw(false, true);
    recolor = false;
    if (u && drawnVersion !== data.version) {
      const chart = u;
      chart.batch(() => {
        chart.setData(alignedData(), false);
        applyRange();
      });
      drawnVersion = data.version;
    } else if (u && drawnVersion === -1) applyRange();
    renderLegend();
    renderNotes();
    renderPresets();
    setHidden(resetButton, zoom === null);
    setHidden(empty, data.names.length !== 0);
    setHidden(plot, data.names.length === 0);
  };

  const frame = new FrameTask(scope, draw);

  const sync = new SeqSync<"chart">(
    model,
    {
      reset: (state) => {
        frame.measure(() => data.reset(state));
        frame.schedule();
      },
      apply: (delta) => {
        frame.measure(() => data.apply(delta));
        frame.schedule();
      },
    },
    scope,
  );
  const pause = pauseControl(model, sync, scope, (held) => root.classList.toggle("rtw-held", held));
  toolbar.append(pause.el);

  // -- controls -------------------------------------------------------------------------------------------

  scope.listen(presets, "click", (ev) => {
    const b = (ev.target as Element | null)?.closest<HTMLElement>(".rtw-chart-preset");
    if (!b) return;
    windowSec = b.dataset.window === "all" ? null : Number(b.dataset.window);
    setZoom(null);
  });
  scope.listen(legend, "click", (ev) => {
    const b = (ev.target as Element | null)?.closest<HTMLElement>(".rtw-chart-series");
    const s = b ? items.findIndex((i) => i.el === b) : -1;
    if (s < 0) return;
    const name = data.names[s]!;
    const show = hidden.has(name);
    if (show) hidden.delete(name);
    else hidden.add(name);
    u?.setSeries(s + 1, { show });
    drawnVersion = -1;
    frame.schedule();
  });
  scope.listen(logBox, "change", () => {
    data.setLog(logBox.checked);
    frame.schedule();
  });
  scope.listen(resetButton, "click", () => setZoom(null));
  scope.on(model, "change:window", () => {
    windowSec = windowOf(model.get("window"));
    setZoom(null);
  });

  if (typeof ResizeObserver === "function") {
    const ro = new ResizeObserver((entries) => {
      const w = Math.round(entries[0]?.contentRect.width ?? 0);
      if (w > 0 && w !== width) {
        width = w;
        u?.setSize({ width, height: CHART_HEIGHT });
      }
    });
    ro.observe(plot);
    scope.add(() => ro.disconnect());
  }
  scope.add(() => {
    u?.destroy();
    u = null;
  });

  setHidden(tooltip, true);
  draw();
  return () => scope.dispose();
}

function windowOf(value: unknown): number | null {
  const v = finite(value);
  return v !== null && v > 0 ? v : null;
}
