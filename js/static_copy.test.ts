// A drawn view hides the plain copy of its own model wherever the host put it, and nothing else.
import type { AnyModel } from "@anywidget/types";
import { afterEach, describe, expect, it } from "vitest";
import { COPY_ATTR, HIDDEN_ATTR, hideCopiesOf, isModel } from "./static_copy";
import { FakeManager, type FakeModel } from "./testing/fake_model";
import { mount } from "./testing/helpers";

const STATUS = { _view: "status", source: null, details: true, position: "inline" };

/** One output in its own containers, as VS Code's output webview nests them. */
function output(cell: HTMLElement, inner: string): HTMLElement {
  const container = document.createElement("div");
  container.className = "output_container";
  const node = document.createElement("div");
  node.className = "output";
  const rendered = document.createElement("div");
  rendered.innerHTML = inner;
  node.append(rendered);
  container.append(node);
  cell.append(container);
  return container;
}

function copyHtml(id: string): string {
  return `<style>.x{}</style><div class="rtw-static-copy" ${COPY_ATTR}="${id}"><p>LiveTable: 3 rows</p></div>`;
}

function cell(): HTMLElement {
  const el = document.createElement("div");
  el.className = "cell_container";
  document.body.append(el);
  return el;
}

/** What anywidget hands a view: the model's methods, not the model (no model_id). */
function proxy(model: FakeModel): AnyModel<Record<string, unknown>> {
  return {
    get: model.get.bind(model),
    set: model.set.bind(model),
    on: model.on.bind(model),
    off: model.off.bind(model),
    send: model.send.bind(model),
    save_changes: model.save_changes.bind(model),
    widget_manager: model.widget_manager,
  } as unknown as AnyModel<Record<string, unknown>>;
}

/** Until the promised lookups are answered and the observer has run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** Whether neither `el` nor anything around it is hidden. */
const shown = (el: HTMLElement): boolean => {
  for (let at: HTMLElement | null = el; at !== null; at = at.parentElement) if (at.style.display === "none") return false;
  return true;
};

afterEach(() => {
  document.body.replaceChildren();
});

describe("a drawn view and the copies in its page", () => {
  it("hides its own copy with the output container around it; another model's copy and other outputs stay", async () => {
    const manager = new FakeManager();
    const model = manager.create("m1", STATUS);
    manager.create("m2", STATUS);
    const here = cell();
    const viewBox = output(here, "");
    const own = output(here, copyHtml("m1"));
    const print = output(here, "<pre>printed</pre>");
    const other = output(cell(), copyHtml("m2"));
    const { el, cleanup } = mount(model);
    viewBox.querySelector(".output > div")!.append(el);
    await settle();
    expect(shown(own)).toBe(false);
    expect(own.getAttribute(HIDDEN_ATTR)).toBe("m1");
    expect(shown(viewBox) && shown(print) && shown(other)).toBe(true);
    expect(document.querySelectorAll(`[${HIDDEN_ATTR}]`)).toHaveLength(1);
    cleanup();
    expect(shown(own)).toBe(true);
    expect(own.hasAttribute(HIDDEN_ATTR)).toBe(false);
  });

  it("hides a copy that arrives after the view drew, and only the copy where its wrapper holds more", async () => {
    const manager = new FakeManager();
    const model = manager.create("m1", STATUS);
    const here = cell();
    const { el, cleanup } = mount(model);
    output(here, "").querySelector(".output > div")!.append(el);
    await settle();
    // One wrapper that holds the copy and a visible line: only the copy goes.
    const shared = output(here, `${copyHtml("m1")}<p>and a line of text</p>`);
    await settle();
    const copy = shared.querySelector<HTMLElement>(".rtw-static-copy")!;
    expect(shown(copy)).toBe(false);
    expect(shown(shared)).toBe(true);
    cleanup();
  });

  it("shows the copy again when something is added to the wrapper it hid", async () => {
    const manager = new FakeManager();
    const model = manager.create("m1", STATUS);
    const here = cell();
    const { el, cleanup } = mount(model);
    output(here, "").querySelector(".output > div")!.append(el);
    const own = output(here, copyHtml("m1"));
    await settle();
    expect(shown(own)).toBe(false);
    const line = document.createElement("p");
    line.textContent = "printed later into the same output";
    own.querySelector(".output > div")!.append(line);
    await settle();
    expect(shown(own)).toBe(true);
    expect(shown(own.querySelector<HTMLElement>(".rtw-static-copy")!)).toBe(false);
    cleanup();
  });

  it("waits for the view to be in the page before it hides anything", async () => {
    const manager = new FakeManager();
    const model = manager.create("m1", STATUS);
    const here = cell();
    const viewBox = output(here, "");
    const own = output(here, copyHtml("m1"));
    const el = document.createElement("div"); // drawn, but not yet put in its output
    const stop = hideCopiesOf(model, el);
    await settle();
    expect(shown(own)).toBe(true);
    viewBox.querySelector(".output > div")!.append(el);
    await settle();
    expect(shown(own)).toBe(false);
    expect(shown(viewBox) && shown(here)).toBe(true);
    stop();
  });

  it("does not hide an output that is still to be drawn along with a copy next to it", async () => {
    const manager = new FakeManager();
    const model = manager.create("m1", STATUS);
    // A view of the model drawn elsewhere; here the cell's own view is not drawn yet.
    const { cleanup } = mount(model);
    const here = cell();
    const undrawn = output(here, "");
    const prompt = document.createElement("div"); // an empty leaf, as a prompt is
    here.prepend(prompt);
    const own = output(here, copyHtml("m1"));
    await settle();
    expect(shown(own)).toBe(false);
    expect(shown(undrawn)).toBe(true);
    expect(shown(here)).toBe(true);
    cleanup();
  });

  it("a copy hidden for two views of its model shows again only when both are gone", async () => {
    const manager = new FakeManager();
    const model = manager.create("m1", STATUS);
    const own = output(cell(), copyHtml("m1"));
    const first = mount(model);
    const second = mount(model);
    await settle();
    expect(shown(own)).toBe(false);
    first.cleanup();
    expect(shown(own)).toBe(false);
    second.cleanup();
    expect(shown(own)).toBe(true);
  });

  it("knows its model through the widget manager when handed the model's methods only", async () => {
    const manager = new FakeManager();
    const layout = manager.create("L1", { _view: "layout" });
    const real = manager.create("m1", { ...STATUS, layout });
    manager.create("m2", { ...STATUS, layout: manager.create("L2", {}) });
    const view = proxy(real);
    expect(await isModel(view, "m1")).toBe(true);
    expect(await isModel(view, "m2")).toBe(false);
    expect(await isModel(view, "missing")).toBe(false);
    // Hosts that keep references as strings.
    const strings = manager.create("m3", { ...STATUS, layout: "IPY_MODEL_L3" });
    manager.create("m4", { ...STATUS, layout: "IPY_MODEL_L4" });
    expect(await isModel(proxy(strings), "m3")).toBe(true);
    expect(await isModel(proxy(strings), "m4")).toBe(false);
    // No layout at all: nothing is taken for this model.
    const bare = manager.create("m5", STATUS);
    manager.create("m6", STATUS);
    expect(await isModel(proxy(bare), "m6")).toBe(false);

    const own = output(cell(), copyHtml("m1"));
    const other = output(cell(), copyHtml("m2"));
    const el = document.createElement("div");
    document.body.append(el);
    const stop = hideCopiesOf(view, el);
    await settle();
    expect(shown(own)).toBe(false);
    expect(shown(other)).toBe(true);
    stop();
    expect(shown(own)).toBe(true);
  });

  it("never hides the body, nor keeps anything after its last view is gone", async () => {
    const manager = new FakeManager();
    const model = manager.create("m1", STATUS);
    document.body.innerHTML = copyHtml("m1");
    const copy = document.querySelector<HTMLElement>(".rtw-static-copy")!;
    const { cleanup } = mount(model);
    await settle();
    expect(shown(copy)).toBe(false);
    expect(document.body.style.display).toBe("");
    cleanup();
    expect(shown(copy)).toBe(true);
    expect(document.querySelectorAll(`[${HIDDEN_ATTR}]`)).toHaveLength(0);
  });
});
