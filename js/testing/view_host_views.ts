// The view side of view_host.ts (loaded once jsdom exists): models made from a kernel's comm
// messages, the real views rendered from them, and what those views hold.
import type { RenderProps } from "@anywidget/types";
import { Scope, cellText, clip, formatNumber } from "../dom";
import { renderView } from "../index";
import { MetricsData } from "../metrics";
import { SeqSync, type SyncModel } from "../sync";
import { TableData } from "../table";
import { FakeManager, type FakeModel } from "./fake_model";

interface CommMessage {
  comm_id: string;
  msg_type: string;
  data: Record<string, unknown>;
}

type Command =
  | { op: "feed"; messages: CommMessage[] }
  | { op: "collect"; filter?: string }
  | { op: "reset" };

interface Mounted {
  id: string;
  view: string;
  el: HTMLElement;
  controller: AbortController;
  cleanup: () => void;
}

/** A second reader of a data model: the view's own data class kept in sync by the view's own
 * SeqSync, so every row it holds can be read (the table renders only the rows in view). */
interface Shadow<D> {
  data: D;
  scope: Scope;
  mounted: Mounted;
}

/** Views rendered per model: the explorer, and tables and metrics on their own too. */
const MOUNTED_VIEWS = new Set(["realtime", "table", "metrics"]);

/** A row's own field (undefined when it has none): written here, not taken from the views, so a
 * view that reads a field a row only inherits (`constructor`, `toString`) shows what this does not. */
function field(row: Record<string, unknown>, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(row, name) ? row[name] : undefined;
}

function describe(err: unknown): string {
  return String((err as Error | undefined)?.stack ?? err);
}

export class ViewHost {
  private manager = new FakeManager();
  private mounted: Mounted[] = [];
  private tables = new Map<string, Shadow<TableData>>();
  private metrics = new Map<string, Shadow<MetricsData>>();

  constructor(
    private win: Window,
    private errors: string[],
    private missing: string[],
  ) {}

  async handle(command: Command): Promise<unknown> {
    if (command.op === "reset") {
      this.reset();
      return { ok: true };
    }
    if (command.op === "feed") {
      for (const message of command.messages) this.deliver(message);
      await this.settle();
      return { ok: true };
    }
    if (command.op === "collect") return this.collect(command.filter ?? "");
    return { ok: false, error: `unknown command ${JSON.stringify(command)}` };
  }

  /** Let the views render: animation frames, and the promises of child models between them. */
  private async settle(frames = 3): Promise<void> {
    for (let i = 0; i < frames; i++) {
      await new Promise<void>((resolve) => this.win.requestAnimationFrame(() => resolve()));
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
    }
  }

  /** `problems()` once the view shows what it should: views pace their drawing (a costly draw
   * delays the next), so the DOM is read frame after frame until it agrees or `ms` pass. */
  private async agreed(problems: () => string[], ms = 3000): Promise<string[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = problems();
      if (found.length === 0 || Date.now() > deadline) return found;
      await this.settle(1);
    }
  }

  private deliver(message: CommMessage): void {
    const { comm_id: id, msg_type: type, data } = message;
    try {
      if (type === "comm_open") {
        const state = (data.state ?? {}) as Record<string, unknown>;
        const model = this.manager.create(id, state);
        const view = String(state._view ?? "");
        if (MOUNTED_VIEWS.has(view)) this.mount(id, view, model);
        return;
      }
      if (type !== "comm_msg") return;
      const model = this.manager.models.get(id);
      if (model === undefined) return;
      if (data.method === "update") model.update((data.state ?? {}) as Record<string, unknown>);
      else if (data.method === "custom") model.receive(data.content);
    } catch (err) {
      this.errors.push(`${type} ${String(data.method ?? "")} of ${id}: ${describe(err)}`);
    }
  }

  private mount(id: string, view: string, model: FakeModel): void {
    const el = document.createElement("div");
    document.body.append(el);
    const controller = new AbortController();
    const props = { model, el, signal: controller.signal } as unknown as RenderProps<Record<string, unknown>>;
    const mounted: Mounted = { id, view, el, controller, cleanup: renderView(props, { presence: false }) };
    this.mounted.push(mounted);
    if (view === "table") {
      const data = new TableData();
      const scope = new Scope();
      new SeqSync<"table">(model as unknown as SyncModel<"table">, {
        reset: (state) => data.reset(state),
        apply: (delta) => data.apply(delta, Date.now()),
      }, scope);
      this.tables.set(id, { data, scope, mounted });
    } else if (view === "metrics") {
      const data = new MetricsData();
      const scope = new Scope();
      new SeqSync<"metrics">(model as unknown as SyncModel<"metrics">, {
        reset: (state) => data.reset(state),
        apply: (delta) => void data.apply(delta),
      }, scope);
      this.metrics.set(id, { data, scope, mounted });
    }
  }

  private reset(): void {
    for (const m of this.mounted) {
      try {
        m.controller.abort();
        m.cleanup();
      } catch (err) {
        this.errors.push(`cleanup of ${m.view} ${m.id}: ${describe(err)}`);
      }
      m.el.remove();
    }
    for (const shadow of [...this.tables.values(), ...this.metrics.values()]) shadow.scope.dispose();
    this.mounted = [];
    this.tables.clear();
    this.metrics.clear();
    this.manager = new FakeManager();
    this.errors.length = 0;
    this.missing.length = 0;
  }

  /** What each table's DOM shows that disagrees with its data: the header, the rows in view (in
   * `order`), their keys and cell texts, and the row count. */
  private domProblems(shadow: Shadow<TableData>, order: string[], total: number): string[] {
    const { data, mounted } = shadow;
    const problems: string[] = [];
    const root = mounted.el;
    const columns = data.columns;
    const headers = Array.from(root.querySelectorAll<HTMLElement>("thead th")).map((th) => th.dataset.column);
    if (JSON.stringify(headers) !== JSON.stringify(columns)) {
      problems.push(`header ${JSON.stringify(headers)} is not the columns ${JSON.stringify(columns)}`);
    }
    const trs = Array.from(root.querySelectorAll<HTMLElement>("tbody tr.rtw-row"));
    if (trs.length > order.length || trs.length < Math.min(order.length, 14)) {
      problems.push(`${trs.length} rows in the DOM for ${order.length} rows`);
    }
    trs.forEach((tr, i) => {
      const id = order[i];
      const row = id === undefined ? undefined : data.rows.get(id);
      if (id === undefined || row === undefined) return;
      if (tr.dataset.key !== data.label(row, id)) {
        problems.push(`row ${i}: data-key ${JSON.stringify(tr.dataset.key)}, not ${JSON.stringify(data.label(row, id))}`);
      }
      const cells = Array.from(tr.querySelectorAll("td"));
      columns.forEach((col, c) => {
        const want = clip(cellText(field(row, col)));
        const got = cells[c]?.textContent;
        if (got !== want) problems.push(`row ${i} column ${JSON.stringify(col)}: ${JSON.stringify(got)}, not ${JSON.stringify(want)}`);
      });
    });
    const shown = order.length;
    const want =
      shown === total ? `${formatNumber(total)} ${total === 1 ? "row" : "rows"}` : `${formatNumber(shown)} of ${formatNumber(total)} rows`;
    const count = root.querySelector(".rtw-table-count")?.textContent;
    if (count !== want) problems.push(`count ${JSON.stringify(count)}, not ${JSON.stringify(want)}`);
    return problems;
  }

  private async collect(filter: string): Promise<unknown> {
    await this.settle();
    const tables: Record<string, unknown> = {};
    for (const [id, shadow] of this.tables) {
      const { data, mounted } = shadow;
      const order = Array.from(data.rows.keys());
      const dom = await this.agreed(() => this.domProblems(shadow, order, order.length));
      // Typing in the filter box: the rows the data says match are the rows shown.
      const box = mounted.el.querySelector<HTMLInputElement>("input.rtw-table-filter");
      const filtered: string[] = [];
      if (box !== null && filter !== "") {
        box.value = filter;
        box.dispatchEvent(new Event("input"));
        await this.settle();
        const matching = data.view(filter, null, "asc");
        filtered.push(...(await this.agreed(() => this.domProblems(shadow, matching, order.length))));
        box.value = "";
        box.dispatchEvent(new Event("input"));
        filtered.push(...(await this.agreed(() => this.domProblems(shadow, order, order.length))));
      }
      // Sorting by a column (a header click: ascending, descending, then arrival order again)
      // shows the rows in the order the data sorts them, whatever the column's name or values.
      const sorted: string[] = [];
      for (const th of Array.from(mounted.el.querySelectorAll<HTMLElement>("thead th")).slice(0, 4)) {
        const col = th.dataset.column ?? "";
        for (const dir of ["asc", "desc", null] as const) {
          th.click();
          await this.settle(1);
          const want = dir === null ? order : data.view("", col, dir);
          const found = await this.agreed(() => this.domProblems(shadow, want, order.length));
          sorted.push(...found.map((p) => `by ${JSON.stringify(col)} ${dir}: ${p}`));
        }
      }
      tables[id] = { columns: data.columns, rows: Array.from(data.rows.values()), keys: order, dom, filtered, sorted };
    }
    const metrics: Record<string, unknown> = {};
    for (const [id, { data, mounted }] of this.metrics) {
      metrics[id] = {
        latest: Array.from(data.series.values()).map((s) => [s.name, s.latest]),
        cards: Array.from(mounted.el.querySelectorAll<HTMLElement>(".rtw-metric-card")).map((card) => [
          card.dataset.series,
          card.querySelector(".rtw-metric-value")?.textContent ?? null,
        ]),
      };
    }
    // Open every tab of every explorer: each child view renders through it.
    const explorers: Record<string, unknown> = {};
    for (const m of this.mounted) {
      if (m.view !== "realtime") continue;
      const tabs = Array.from(m.el.querySelectorAll<HTMLElement>(".rtw-tab"));
      for (const tab of tabs) {
        tab.click();
        await this.settle(2);
      }
      explorers[m.id] = {
        tabs: tabs.map((t) => t.dataset.type),
        overview: Array.from(m.el.querySelectorAll<HTMLElement>(".rtw-overview-row")).map((r) => r.dataset.type),
      };
    }
    // Errors a view shows in place of a child view (the status line's own is connection news).
    const shownErrors = Array.from(document.querySelectorAll(".rtw-error:not([role=status])")).map((e) => e.textContent);
    return {
      ok: true,
      tables,
      metrics,
      explorers,
      errors: [...this.errors, ...shownErrors.map((t) => `shown: ${t}`)],
      missing: Array.from(new Set(this.missing)),
    };
  }
}
