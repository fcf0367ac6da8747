// The explorer ("realtime" view of a RealtimeWidget): status indicator, a per-type overview and one tab
// per auto view, each tab rendering the child model with the matching view.
import { type OverviewEntry, type RealtimeTraits, sendCommand } from "./contract";
import {
  FrameTask,
  MAX_SHOWN_CHARS,
  Scope,
  type ViewProps,
  clip,
  finite,
  formatAgo,
  formatCompact,
  formatNumber,
  h,
  isRecord,
  modelId,
  renderNamed,
  setHidden,
  setText,
  toEpochMs,
} from "./dom";
import { renderChart } from "./chart";
import { renderLog } from "./log";
import { renderMetrics } from "./metrics";
import { renderNotifications } from "./notifications";
import { watchPresence } from "./presence";
import { cssColor, drawSparkline, prepareCanvas } from "./sparkline";
import { createIndicator, renderStatus } from "./status";
import { renderTable } from "./table";

/** The views a child model can ask for through its `_view` trait. */
export const CHILD_VIEWS = {
  table: renderTable,
  metrics: renderMetrics,
  notifications: renderNotifications,
  chart: renderChart,
  log: renderLog,
  status: renderStatus,
} as const;

const TREND_W = 64;
const TREND_H = 16;

interface OverviewRow {
  tr: HTMLTableRowElement;
  kind: HTMLElement;
  count: HTMLElement;
  rate: HTMLElement;
  seen: HTMLElement;
  canvas: HTMLCanvasElement;
  ratesSig: string;
}

export function renderExplorer({ model, el, signal }: ViewProps<RealtimeTraits>): () => void {
  const scope = new Scope();
  scope.bindSignal(signal);

  const indicator = createIndicator(model, scope, { details: true, position: "inline" });
  const tbody = h("tbody");
  const overview = h("table", { class: "rtw-grid rtw-overview" }, [
    h("thead", {}, [
      h("tr", {}, [
        h("th", { text: "Type" }),
        h("th", { text: "View" }),
        h("th", { class: "rtw-num", text: "Count" }),
        h("th", { class: "rtw-num", text: "Rate/s" }),
        h("th", { text: "Last seen" }),
        h("th", { text: "Trend" }),
      ]),
    ]),
    tbody,
  ]);
  const noData = h("div", { class: "rtw-muted rtw-overview-empty", text: "No messages yet." });
  const sendType = h("input", { class: "rtw-input rtw-send-type", placeholder: "type", "aria-label": "Message type" });
  const sendPayload = h("input", {
    class: "rtw-input rtw-send-payload",
    placeholder: 'payload (JSON), e.g. {"channel": "metrics"}',
    "aria-label": "Message payload as JSON",
  });
  const sendNote = h("span", { class: "rtw-send-note", role: "status" });
  const sendForm = h("form", { class: "rtw-send-form" }, [
    sendType,
    sendPayload,
    h("button", { class: "rtw-btn rtw-send-button", type: "submit", text: "Send" }),
    sendNote,
  ]);
  const sendBox = h("details", { class: "rtw-send" }, [h("summary", { text: "Send a message" }), sendForm]);
  const tabs = h("div", { class: "rtw-tabs", role: "tablist" });
  const panel = h("div", { class: "rtw-tab-panel", role: "tabpanel" });
  const root = h("div", { class: "rtw-root rtw-explorer" }, [
    indicator.el,
    h("div", { class: "rtw-section" }, [overview, noData]),
    sendBox,
    tabs,
    panel,
  ]);
  el.append(root);
  scope.add(() => root.remove());

  const rows = new Map<string, OverviewRow>();
  let activeType: string | null = null;
  let activeScope: Scope | null = null;
  let picked = false;
  let shownTabs = "";

  /** The tab of each type: its view, and its chart (shown under the view, or alone). */
  const tabViews = (): Map<string, { view: string | null; chart: string | null }> => {
    const out = new Map<string, { view: string | null; chart: string | null }>();
    for (const trait of ["children", "charts"] as const) {
      const value: unknown = model.get(trait);
      if (!isRecord(value)) continue;
      for (const [type, ref] of Object.entries(value)) {
        if (typeof ref !== "string") continue;
        const entry = out.get(type) ?? { view: null, chart: null };
        if (trait === "children") entry.view = ref;
        else if (ref !== entry.view) entry.chart = ref;
        out.set(type, entry);
      }
    }
    return out;
  };
  /** Each type's view, by type name: a Map, so a type named `toString` has only the view it was given. */
  const children = (): Map<string, string | null> => {
    const out = new Map<string, string | null>();
    for (const [type, refs] of tabViews()) out.set(type, refs.view ?? refs.chart);
    return out;
  };

  const makeRow = (type: string): OverviewRow => {
    const kind = h("td", { class: "rtw-kind" });
    const count = h("td", { class: "rtw-num" });
    const rate = h("td", { class: "rtw-num" });
    const seen = h("td", { class: "rtw-seen" });
    const canvas = h("canvas", { class: "rtw-trend", "aria-hidden": "true" });
    canvas.style.width = `${TREND_W}px`;
    canvas.style.height = `${TREND_H}px`;
    const tr = h("tr", { class: "rtw-overview-row", "data-type": type }, [
      // A long name shows cut; the whole of it is on hover.
      h("td", { class: "rtw-type", text: clip(type), ...(type.length > MAX_SHOWN_CHARS ? { title: type } : {}) }),
      kind,
      count,
      rate,
      seen,
      h("td", {}, [canvas]),
    ]);
    return { tr, kind, count, rate, seen, canvas, ratesSig: "" };
  };

  /** The overview entries; a kernel of another version may send other shapes, so each is checked. */
  const overviewEntries = (): [string, Partial<OverviewEntry>][] => {
    const ov: unknown = model.get("overview");
    if (!isRecord(ov)) return [];
    return Object.entries(ov).filter((e): e is [string, Partial<OverviewEntry>] => isRecord(e[1]));
  };

  const refreshAges = (): void => {
    const ov = new Map(overviewEntries());
    const now = Date.now();
    for (const [type, row] of rows) {
      const info = ov.get(type);
      const ms = info ? toEpochMs(info.last_seen) : null;
      setText(row.seen, ms === null ? "–" : formatAgo(ms, now));
    }
  };

  const renderOverview = (): void => {
    const entries = overviewEntries();
    const kids = children();
    const color = cssColor(root, "--rtw-accent", "#1976d2");
    const order: HTMLTableRowElement[] = [];
    for (const [type, info] of entries) {
      let row = rows.get(type);
      if (!row) {
        row = makeRow(type);
        rows.set(type, row);
      }
      const has = kids.has(type);
      row.tr.classList.toggle("rtw-has-view", has);
      if (has) row.tr.tabIndex = 0;
      else row.tr.removeAttribute("tabindex");
      row.tr.classList.toggle("rtw-active", type === activeType);
      row.tr.title = has ? `Open the ${clip(type)} view` : "";
      setText(row.kind, typeof info.kind === "string" ? info.kind : "");
      const count = finite(info.count);
      setText(row.count, count === null ? "–" : formatNumber(count));
      const rate = finite(info.rate);
      setText(row.rate, rate === null ? "–" : formatCompact(rate));
      const rates = Array.isArray(info.rates) ? info.rates.filter((r: unknown): r is number => finite(r) !== null) : [];
      const sig = rates.join(",");
      if (sig !== row.ratesSig) {
        row.ratesSig = sig;
        const ctx = prepareCanvas(row.canvas, TREND_W, TREND_H);
        if (ctx) drawSparkline(ctx, null, rates, TREND_W, TREND_H, { color, lineWidth: 1 });
      }
      order.push(row.tr);
    }
    for (const [type, row] of rows) {
      if (!order.includes(row.tr)) {
        row.tr.remove();
        rows.delete(type);
      }
    }
    let same = tbody.children.length === order.length;
    for (let i = 0; same && i < order.length; i++) same = tbody.children[i] === order[i];
    if (!same) tbody.replaceChildren(...order);
    setHidden(overview, order.length === 0);
    setHidden(noData, order.length !== 0);
    refreshAges();
  };

  const renderTabs = (): void => {
    const kids = children();
    const types = Array.from(kids.keys());
    const sig = types.join("\0");
    if (sig !== shownTabs) {
      shownTabs = sig;
      tabs.replaceChildren(
        ...types.map((type) =>
          h("button", {
            class: "rtw-tab",
            type: "button",
            role: "tab",
            "data-type": type,
            text: clip(type),
            ...(type.length > MAX_SHOWN_CHARS ? { title: type } : {}),
          }),
        ),
      );
    }
    for (const tab of Array.from(tabs.children) as HTMLElement[]) {
      const selected = tab.dataset.type === activeType;
      tab.setAttribute("aria-selected", String(selected));
      tab.classList.toggle("rtw-active", selected);
    }
    setHidden(tabs, types.length === 0);
    if (activeType !== null && !kids.has(activeType)) closeTab();
    if (activeType === null && !picked && types.length > 0) openTab(types[0]!);
  };

  const closeTab = (): void => {
    activeScope?.dispose();
    activeScope = null;
    activeType = null;
    panel.replaceChildren();
  };

  /** Render the child model of `type` into the panel; a newer call or closeTab() cancels a pending one. */
  const openTab = (type: string): void => {
    if (type === activeType) return;
    closeTab();
    const refs = tabViews().get(type);
    const id = modelId(refs?.view ?? refs?.chart);
    if (id === null) return;
    activeType = type;
    const tabScope = scope.child();
    activeScope = tabScope;
    const container = h("div", { class: "rtw-tab-content", "data-type": type });
    panel.append(container);
    renderTabs();
    frame.schedule();
    if (refs?.view && refs.chart) mountChild(modelId(refs.chart), type, tabScope, container);
    mountChild(id, type, tabScope, container, true);
  };

  /** Render a child model into the tab's container (first, or after what is there). */
  const mountChild = (id: string | null, type: string, tabScope: Scope, tab: HTMLElement, first = false): void => {
    if (id === null) return;
    const container = h("div", { class: "rtw-tab-view" });
    if (first) tab.prepend(container);
    else tab.append(container);
    model.widget_manager.get_model<Record<string, unknown>>(id).then(
      (child) => {
        if (tabScope.disposed) return;
        const controller = new AbortController();
        tabScope.add(() => controller.abort());
        try {
          // The tab's view leases its own model's attention, as a view of its own would: the
          // kernel keeps a view the explorer made quiet until one of its views is shown. The
          // explorer tells a saved view from a live one for both.
          watchPresence(child, container, tabScope, { judge: false });
          const cleanup = renderNamed(CHILD_VIEWS, { model: child, el: container, signal: controller.signal });
          if (cleanup === null) {
            container.append(h("div", { class: "rtw-error", text: `No view for ${String(child.get("_view"))}` }));
            return;
          }
          tabScope.add(cleanup);
        } catch (err) {
          console.error("rt_widgets: could not render", type, err);
          container.append(h("div", { class: "rtw-error", text: `Could not show ${type}: ${String(err)}` }));
        }
      },
      (err: unknown) => {
        if (!tabScope.disposed) container.append(h("div", { class: "rtw-error", text: `Could not open ${type}: ${String(err)}` }));
      },
    );
  };

  const pick = (type: string | undefined): void => {
    if (!type || !children().has(type)) return;
    picked = true;
    openTab(type);
    renderTabs();
  };

  const frame = new FrameTask(scope, renderOverview);
  scope.on(model, "change:overview", () => frame.schedule());
  scope.on(model, "change:children", () => {
    renderTabs();
    frame.schedule();
  });
  scope.on(model, "change:charts", () => {
    // A chart that joins the open tab shows under its view.
    const type = activeType;
    if (type !== null && tabViews().get(type)?.chart && !panel.querySelector(".rtw-chart")) {
      closeTab();
      openTab(type);
    }
    renderTabs();
  });
  scope.listen(tabs, "click", (ev) => pick((ev.target as Element | null)?.closest<HTMLElement>(".rtw-tab")?.dataset.type));
  const rowType = (ev: Event): string | undefined =>
    (ev.target as Element | null)?.closest<HTMLElement>(".rtw-overview-row")?.dataset.type;
  scope.listen(tbody, "click", (ev) => pick(rowType(ev)));
  scope.listen(tbody, "keydown", (ev) => {
    if (ev.key !== "Enter" && ev.key !== " ") return;
    ev.preventDefault();
    pick(rowType(ev));
  });
  scope.listen(sendForm, "submit", (ev) => {
    ev.preventDefault();
    const type = sendType.value.trim();
    if (type === "") {
      setText(sendNote, "Give the message a type.");
      sendNote.dataset.state = "error";
      return;
    }
    let payload: unknown = null;
    if (sendPayload.value.trim() !== "") {
      try {
        payload = JSON.parse(sendPayload.value);
      } catch {
        setText(sendNote, "The payload is not valid JSON.");
        sendNote.dataset.state = "error";
        return;
      }
    }
    sendCommand(model, { kind: "send", type, payload });
    // Sent to the kernel; it queues the message while the link is down.
    setText(sendNote, `Sent ${type}.`);
    sendNote.dataset.state = "ok";
  });
  scope.interval(refreshAges, 1000);
  scope.add(closeTab);

  renderOverview();
  renderTabs();
  return () => scope.dispose();
}
