// A small stand-in for an anywidget model: traits, change/custom events, sent messages and a widget
// manager that resolves other fake models by id. It counts listeners so tests can prove cleanup.
import type { AnyModel } from "@anywidget/types";

type Handler = (...args: any[]) => void;

export class FakeManager {
  models = new Map<string, FakeModel>();

  async get_model(id: string): Promise<FakeModel> {
    const model = this.models.get(id);
    if (!model) throw new Error(`no model ${id}`);
    return model;
  }

  create(id: string, attrs: Record<string, any>): FakeModel {
    const model = new FakeModel(attrs, this);
    this.models.set(id, model);
    return model;
  }
}

export class FakeModel implements AnyModel<Record<string, any>> {
  attrs: Record<string, any>;
  sent: any[] = [];
  saves = 0;
  widget_manager: FakeManager;
  private handlers = new Map<string, Handler[]>();

  constructor(attrs: Record<string, any> = {}, manager?: FakeManager) {
    this.attrs = { ...attrs };
    this.widget_manager = manager ?? new FakeManager();
  }

  get(key: any): any {
    return this.attrs[key];
  }

  /** Like Backbone: a change event only when the value is different. */
  set(key: any, value: any): void {
    const old = this.attrs[key];
    this.attrs[key] = value;
    if (old !== value) this.emit(`change:${key}`);
  }

  /** Set several traits, then fire their change events (as a hold_sync flush does). */
  update(attrs: Record<string, any>): void {
    const changed = Object.keys(attrs).filter((k) => this.attrs[k] !== attrs[k]);
    Object.assign(this.attrs, attrs);
    for (const k of changed) this.emit(`change:${k}`);
  }

  on(event: string, callback: Handler): void {
    const list = this.handlers.get(event) ?? [];
    list.push(callback);
    this.handlers.set(event, list);
  }

  off(event?: any, callback?: Handler | null): void {
    if (!event) {
      this.handlers.clear();
      return;
    }
    if (!callback) {
      this.handlers.delete(event);
      return;
    }
    const list = this.handlers.get(event);
    if (!list) return;
    const i = list.indexOf(callback);
    if (i >= 0) list.splice(i, 1);
  }

  send(content: any): void {
    this.sent.push(content);
  }

  save_changes(): void {
    this.saves++;
  }

  emit(event: string, ...args: any[]): void {
    for (const fn of [...(this.handlers.get(event) ?? [])]) fn(...args);
  }

  /** Deliver a custom message from the kernel. */
  receive(msg: any): void {
    this.emit("msg:custom", msg, []);
  }

  listenerCount(): number {
    let n = 0;
    for (const list of this.handlers.values()) n += list.length;
    return n;
  }
}
