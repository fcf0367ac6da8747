// Live metrics: one KPI card per series with a canvas sparkline. Deltas only mark series dirty; one
// animation frame redraws just the dirty, visible cards.
import type { MetricsDelta, MetricsState, MetricsTraits, Threshold } from "./contract";
import { FrameTask, Scope, type ViewProps, clip, finite, formatCompact, h, isRecord, numeric, setHidden } from "./dom";
import { drawSparkline, prepareCanvas, watchColors } from "./sparkline";
import { pauseControl } from "./pause";
import { SeqSync } from "./sync";

/** Sparkline width before the browser reports the card's real width (and in jsdom). */
export const SPARK_WIDTH = 160;
export const SPARK_HEIGHT = 36;
/** Client-side cap on points per series when the state does not say how much history the kernel
 * keeps (`history_size`; the kernel's default is 300; a longer snapshot raises the cap to its length). */
const DEFAULT_HISTORY = 300;

interface Series {
  name: string;
  latest: number | null;
  previous: number | null;
  ts: number[];
  vs: number[];
}

interface Card {
  el: HTMLElement;
  value: HTMLElement;
  change: HTMLElement;
  canvas: HTMLCanvasElement;
  /** The text nodes inside value and change: updating their data is cheaper than replacing them. */
  valueText: Text;
  changeText: Text;
  /** What the DOM shows now, so a frame compares strings instead of reading the DOM back. */
  shownValue: string;
  shownChange: string;
  shownTrend: number;
  shownAlert: boolean;
  shownTitle: string;
  /** The thresholds object the title was made from (thresholds are replaced whole, never mutated). */
  titleOf: Threshold | undefined | null;
}

export class MetricsData {
  series = new Map<string, Series>();
  thresholds: Record<string, Threshold> = {};
  /** `series` from the state: names to show, or null for all. */
  selection: string[] | null = null;
  cap = DEFAULT_HISTORY;

  private get(name: string): Series {
    let s = this.series.get(name);
    if (!s) {
      s = { name, latest: null, previous: null, ts: [], vs: [] };
      this.series.set(name, s);
    }
    return s;
  }

  private append(s: Series, points: unknown): void {
    if (!Array.isArray(points)) return;
    for (const p of points) {
      if (!Array.isArray(p)) continue;
      // Values may be numeric strings ("192.31"): numbers all the same.
      const t = numeric(p[0]);
      const v = numeric(p[1]);
      if (t === null || v === null) continue;
      const n = s.ts.length;
      if (n === 0 || t >= s.ts[n - 1]!) {
        s.ts.push(t);
        s.vs.push(v);
        continue;
      }
      // A point older than the newest (each point carries its message's own time): into its
      // place, after the points of the same time.
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (s.ts[mid]! <= t) lo = mid + 1;
        else hi = mid;
      }
      s.ts.splice(lo, 0, t);
      s.vs.splice(lo, 0, v);
    }
    const extra = s.vs.length - this.cap;
    if (extra > 0) {
      s.ts.splice(0, extra);
      s.vs.splice(0, extra);
    }
  }

  reset(state: Partial<MetricsState>): void {
    this.series.clear();
    const history = isRecord(state.history) ? state.history : {};
    const longest = Math.max(0, ...Object.values(history).map((h) => (Array.isArray(h) ? h.length : 0)));
    const size = finite(state.history_size);
    this.cap = size !== null && size > 0 ? size : Math.max(DEFAULT_HISTORY, longest);
    for (const [name, points] of Object.entries(history)) this.append(this.get(name), points);
    const latest = isRecord(state.latest) ? state.latest : {};
    for (const [name, value] of Object.entries(latest)) {
      const s = this.get(name);
      s.latest = numeric(value);
    }
    for (const s of this.series.values()) {
      const n = s.vs.length;
      if (s.latest === null && n > 0) s.latest = s.vs[n - 1]!;
      // The previous value is the history point before the one that equals the latest value.
      if (n >= 2 && s.vs[n - 1] === s.latest) s.previous = s.vs[n - 2]!;
      else if (n >= 1 && s.vs[n - 1] !== s.latest) s.previous = s.vs[n - 1]!;
    }
    this.thresholds = isRecord(state.thresholds) ? state.thresholds : {};
    this.selection = Array.isArray(state.series) ? state.series.map(String) : null;
  }

  /** Returns the names that changed. */
  apply(delta: MetricsDelta): Set<string> {
    const changed = new Set<string>();
    if (isRecord(delta.append)) {
      for (const [name, points] of Object.entries(delta.append)) {
        this.append(this.get(name), points);
        changed.add(name);
      }
    }
    if (isRecord(delta.latest)) {
      for (const [name, value] of Object.entries(delta.latest)) {
        const s = this.get(name);
        const v = numeric(value);
        if (s.latest !== null && v !== s.latest) s.previous = s.latest;
        s.latest = v;
        changed.add(name);
      }
    }
    if ("series" in delta) this.selection = Array.isArray(delta.series) ? delta.series.map(String) : null;
    if (isRecord(delta.thresholds)) {
      this.thresholds = delta.thresholds;
      for (const name of this.series.keys()) changed.add(name);
    }
    return changed;
  }

  alert(name: string): boolean {
    const s = this.series.get(name);
    const t = this.thresholds[name];
    if (!s || s.latest === null || !isRecord(t)) return false;
    const above = finite(t.above);
    const below = finite(t.below);
    return (above !== null && s.latest > above) || (below !== null && s.latest < below);
  }
}

function thresholdText(t: Threshold | undefined): string {
  if (!isRecord(t)) return "";
  const parts: string[] = [];
  if (finite(t.above) !== null) parts.push(`alert above ${formatCompact(t.above!)}`);
  if (finite(t.below) !== null) parts.push(`alert below ${formatCompact(t.below!)}`);
  return parts.join(", ");
}

export function renderMetrics({ model, el, signal }: ViewProps<MetricsTraits>): () => void {
  const scope = new Scope();
  scope.bindSignal(signal);
  const data = new MetricsData();
  const grid = h("div", { class: "rtw-metric-grid" });
  const chooserList = h("div", { class: "rtw-series-list" });
  const chooser = h("details", { class: "rtw-series-chooser" }, [h("summary", { text: "Series" }), chooserList]);
  const empty = h("div", { class: "rtw-muted rtw-metric-empty", text: "Waiting for metrics…" });
  const root = h("div", { class: "rtw-root rtw-metrics" }, [chooser, grid, empty]);
  el.append(root);
  scope.add(() => root.remove());

  const cards = new Map<string, Card>();
  const dirty = new Set<string>();
  let layoutDirty = true;
  /** View-local choice; starts from the state's `series` when given. */
  let chosen: Set<string> | null = null;
  const hidden = new Set<string>();
  let stateSelection: string | null = null;

  const visible = (name: string): boolean => (chosen ? chosen.has(name) : !hidden.has(name));

  const adoptSelection = (): void => {
    const sel = data.selection;
    const sig = JSON.stringify(sel);
    if (sig === stateSelection) return;
    stateSelection = sig;
    chosen = sel ? new Set(sel) : null;
    hidden.clear();
    layoutDirty = true;
  };

  // Canvas widths come from a ResizeObserver so that drawing never reads layout (no forced reflow).
  const widths = new WeakMap<Element, number>();
  const resizer =
    typeof ResizeObserver === "function"
      ? new ResizeObserver((entries) => {
          for (const entry of entries) {
            const width = Math.round(entry.contentRect.width);
            const name = (entry.target as HTMLElement).closest<HTMLElement>(".rtw-metric-card")?.dataset.series;
            if (width > 0 && width !== widths.get(entry.target) && name !== undefined) {
              widths.set(entry.target, width);
              dirty.add(name);
            }
          }
          frame.schedule();
        })
      : null;
  if (resizer) scope.add(() => resizer.disconnect());

  const makeCard = (name: string): Card => {
    const valueText = document.createTextNode("");
    const changeText = document.createTextNode("");
    const value = h("div", { class: "rtw-metric-value" }, [valueText]);
    const change = h("div", { class: "rtw-metric-change" }, [changeText]);
    const canvas = h("canvas", { class: "rtw-sparkline", "aria-hidden": "true" });
    canvas.style.height = `${SPARK_HEIGHT}px`;
    resizer?.observe(canvas);
    const el = h("div", { class: "rtw-metric-card", "data-series": name }, [
      // A long name shows cut; the whole of it is the title.
      h("div", { class: "rtw-metric-name", text: clip(name), title: name }),
      h("div", { class: "rtw-metric-row" }, [value, change]),
      canvas,
    ]);
    return {
      el,
      value,
      change,
      canvas,
      valueText,
      changeText,
      shownValue: "",
      shownChange: "",
      shownTrend: 0,
      shownAlert: false,
      shownTitle: "",
      titleOf: null,
    };
  };

  const layout = (): void => {
    const names = Array.from(data.series.keys());
    const existing = new Set(Array.from(chooserList.querySelectorAll("input")).map((i) => i.value));
    if (names.length !== existing.size || names.some((n) => !existing.has(n))) {
      chooserList.replaceChildren(
        ...names.map((name) => {
          const box = h("input", { type: "checkbox", value: name });
          return h("label", { class: "rtw-series-option", title: name }, [box, clip(name)]);
        }),
      );
    }
    for (const box of Array.from(chooserList.querySelectorAll("input"))) box.checked = visible(box.value);
    const shown = names.filter(visible);
    for (const [name, card] of cards) {
      if (!data.series.has(name)) {
        resizer?.unobserve(card.canvas);
        card.el.remove();
        cards.delete(name);
      }
    }
    const els = shown.map((name) => {
      let card = cards.get(name);
      if (!card) {
        card = makeCard(name);
        cards.set(name, card);
        dirty.add(name);
      }
      return card.el;
    });
    let same = grid.children.length === els.length;
    for (let i = 0; same && i < els.length; i++) same = grid.children[i] === els[i];
    if (!same) {
      grid.replaceChildren(...els);
      for (const name of shown) dirty.add(name);
    }
    setHidden(chooser, names.length === 0);
    setHidden(empty, names.length !== 0);
    layoutDirty = false;
  };

  // The line colours follow the theme (read with every view's, once a second, outside animation
  // frames: sparkline.ts); a change redraws every card.
  const colors = watchColors(root, { "--rtw-accent": "#1976d2", "--rtw-danger": "#d32f2f" }, (values) => {
    color = values["--rtw-accent"]!;
    alertColor = values["--rtw-danger"]!;
    for (const name of cards.keys()) dirty.add(name);
    frame.schedule();
  });
  scope.add(colors.stop);
  let color = colors.values["--rtw-accent"]!;
  let alertColor = colors.values["--rtw-danger"]!;

  const draw = (): void => {
    if (layoutDirty) layout();
    if (dirty.size === 0) return;
    for (const name of dirty) {
      const card = cards.get(name);
      const s = data.series.get(name);
      if (!card || !s || card.el.parentNode !== grid) continue;
      // Every write below happens only when what is shown changes: an unchanged class, title or text
      // costs nothing, and a changed text node keeps its node (no layout object is rebuilt).
      const valueStr = s.latest === null ? "–" : formatCompact(s.latest);
      if (valueStr !== card.shownValue) card.valueText.data = card.shownValue = valueStr;
      const delta = s.latest !== null && s.previous !== null ? s.latest - s.previous : null;
      const changeStr = delta === null ? "" : `${delta > 0 ? "▲ +" : delta < 0 ? "▼ " : "± "}${formatCompact(delta)}`;
      if (changeStr !== card.shownChange) card.changeText.data = card.shownChange = changeStr;
      const trend = delta === null || delta === 0 ? 0 : delta > 0 ? 1 : -1;
      if (trend !== card.shownTrend) {
        card.shownTrend = trend;
        card.change.classList.toggle("rtw-up", trend > 0);
        card.change.classList.toggle("rtw-down", trend < 0);
      }
      const alert = data.alert(name);
      if (alert !== card.shownAlert) {
        card.shownAlert = alert;
        card.el.classList.toggle("rtw-alert", alert);
      }
      const thresholds = data.thresholds[name];
      if (thresholds !== card.titleOf) {
        card.titleOf = thresholds;
        const title = thresholdText(thresholds);
        // An attribute write invalidates style even when the value is the same.
        if (title !== card.shownTitle) card.el.title = card.shownTitle = title;
      }

      const width = widths.get(card.canvas) ?? SPARK_WIDTH;
      const ctx = prepareCanvas(card.canvas, width, SPARK_HEIGHT);
      if (ctx) drawSparkline(ctx, s.ts, s.vs, width, SPARK_HEIGHT, { color: alert ? alertColor : color });
    }
    dirty.clear();
  };

  const frame = new FrameTask(scope, draw);

  const sync = new SeqSync<"metrics">(model, {
    reset: (state) => {
      frame.measure(() => data.reset(state));
      adoptSelection();
      for (const name of data.series.keys()) dirty.add(name);
      layoutDirty = true;
      frame.schedule();
    },
    apply: (delta) => {
      const before = data.series.size;
      for (const name of frame.measure(() => data.apply(delta))) dirty.add(name);
      if (data.series.size !== before) layoutDirty = true;
      if ("series" in delta) adoptSelection();
      frame.schedule();
    },
  }, scope);
  root.prepend(pauseControl(model, sync, scope).el);

  scope.on(model, "change:series", () => {
    adoptSelection();
    frame.schedule();
  });
  scope.listen(chooserList, "change", (ev) => {
    const box = ev.target as HTMLInputElement;
    if (box.type !== "checkbox") return;
    if (chosen) {
      if (box.checked) chosen.add(box.value);
      else chosen.delete(box.value);
    } else if (box.checked) hidden.delete(box.value);
    else hidden.add(box.value);
    layoutDirty = true;
    frame.schedule();
  });

  draw();
  return () => scope.dispose();
}
