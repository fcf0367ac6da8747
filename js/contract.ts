// The comm contract between the widgets and their views, view side: every synced trait and every
// custom message, in one place. The kernel side is rt_widgets/widgets/_contract.py;
// tests/widgets/test_contract.py evaluates CONTRACT below and fails when it differs from the
// kernel's, so a trait or a message field cannot change on one side only.
//
// Each trait and field is a descriptor string (the same grammar on both sides):
//   string | integer | number | boolean | any | model | object      (model: "IPY_MODEL_<id>")
//   list<T> | map<T>           (map: an object with string keys)
//   <Enum> | <Shape>           (a name from ENUMS / SHAPES)
//   T|null                     (nullable);   "field?" in a shape: the field may be absent
// and the TypeScript types (RealtimeTraits, TableDelta, ...) are derived from the descriptors, so
// the types cannot drift from the values the test compares.
import type { AnyModel } from "@anywidget/types";

export const ENUMS = {
  Status: ["connecting", "connected", "reconnecting", "disconnected", "closed"],
  Position: ["inline", "fixed"],
  ViewKind: ["table", "metrics", "notifications", "log", "raw"],
  Level: ["info", "success", "warning", "error"],
  BrowserEvent: ["online", "offline", "visible", "hidden"],
} as const;

export const SHAPES = {
  ChartColumn: { s: "integer", "t?": "list<number>", v: "list<number>" },
  ChartState: {
    seq: "integer",
    series: "list<string>",
    columns: "list<ChartColumn>",
    max_series: "integer",
    max_points: "integer",
    dropped_series: "integer",
    dropped_points: "integer",
    ignored: "integer",
  },
  LogEntry: { id: "integer", type: "string", time: "string", text: "string", truncated: "boolean", size: "integer" },
  LogState: { seq: "integer", limit: "integer", total: "integer", entries: "list<LogEntry>" },
  MetricsState: {
    seq: "integer",
    latest: "map<number>",
    history: "map<list<list<number>>>",
    series: "list<string>|null",
    thresholds: "map<Threshold>",
    history_size: "integer",
  },
  Notification: {
    id: "integer",
    level: "Level",
    title: "string",
    message: "string",
    timestamp: "string",
    source: "string",
  },
  NotificationsState: { seq: "integer", items: "list<Notification>" },
  PackedColumn: {
    "j?": "list<any>",
    "y?": "string",
    "at?": "integer",
    "n?": "integer",
    "o?": "integer",
    "s?": "integer",
    "i?": "boolean",
    "d?": "boolean",
    "k?": "list<string>",
    "p?": "string",
    "w?": "integer",
  },
  PackedPoints: { "n?": "string", "s?": "integer", "t?": "PackedColumn", v: "PackedColumn" },
  PackedRows: { f: "list<string>", c: "list<PackedColumn>" },
  /** One message of a bundle: for the view whose `_route` is `to`, with the bundle's buffers `b`. */
  BundleItem: { to: "string", m: "any", b: "list<integer>" },
  /** A grouped window's table (window.ts): the rows its groups hold, and its columns' headers. */
  GroupedWindow: { rows: "integer", "labels?": "list<string>" },
  OverviewEntry: { count: "integer", rate: "integer", last_seen: "string", rates: "list<integer>", kind: "ViewKind" },
  TableState: {
    seq: "integer",
    key: "string",
    keys: "list<string>",
    columns: "list<string>",
    rows: "list<object>",
    errors: "integer",
    last_error: "string|null",
    "truncated?": "integer",
    "window?": "integer",
  },
  Threshold: { "above?": "number", "below?": "number" },
} as const;

const CONNECTION_TRAITS = {
  attempt: "integer",
  error: "string|null",
  latency_ms: "number|null",
  next_retry_in: "number|null",
  queued: "integer",
  stats: "object",
  status: "string",
  url: "string",
} as const;

const CONNECTION_COMMANDS = {
  reconnect: {},
  disconnect: {},
  connect: {},
  send: { type: "string", payload: "any" },
  browser: { event: "BrowserEvent" },
} as const;

const DATA_REQUESTS = { snapshot_request: {}, pause: {}, resume: {} } as const;
/** What every rendered view sends its own model: count me for `lease` more seconds (0: gone). */
const PRESENCE = { presence: { view: "string", lease: "number", "page?": "string" } } as const;
/** The kernel's answer to a view's first presence: a kernel holds this model. */
const LIVE = { live: { view: "string" } } as const;
/** What every data view is sent while paused, instead of deltas. */
const WAITING = { count: "integer" } as const;
/** Several views' messages in one, on the comm of one of them (bus.ts hands them out). */
const BUNDLE = { bundle: { items: "list<BundleItem>" } } as const;

export const INTERFACES = {
  connection: { view: null, traits: CONNECTION_TRAITS, to_view: {}, to_kernel: CONNECTION_COMMANDS },
  realtime: {
    view: "realtime",
    traits: {
      ...CONNECTION_TRAITS,
      _view: "string",
      as_of: "string",
      charts: "map<model>",
      children: "map<model>",
      overview: "map<OverviewEntry>",
    },
    to_view: LIVE,
    to_kernel: { ...CONNECTION_COMMANDS, ...PRESENCE },
  },
  status: {
    view: "status",
    traits: { _view: "string", details: "boolean", position: "Position", source: "model|null" },
    to_view: LIVE,
    to_kernel: PRESENCE,
  },
  table: {
    view: "table",
    traits: { _snapshot: "TableState", _route: "string", _view: "string", as_of: "string", message_type: "string", paused: "boolean" },
    to_view: {
      delta: {
        seq: "integer",
        "clear?": "boolean",
        "delete?": "list<any>",
        "upsert?": "list<object>",
        "columns?": "list<string>",
        "add_columns?": "list<string>",
        "errors?": "integer",
        "last_error?": "string|null",
      },
      /** A delta packed for the wire (sync.ts unpacks it): `upsert` as `rows` in columns. */
      packed: {
        seq: "integer",
        "clear?": "boolean",
        "delete?": "list<any>",
        "rows?": "list<PackedRows>",
        "order?": "PackedColumn",
        "columns?": "list<string>",
        "add_columns?": "list<string>",
        "errors?": "integer",
        "last_error?": "string|null",
      },
      snapshot: SHAPES.TableState,
      /** One view's rows of a windowed table (window.ts). */
      window: {
        view: "string",
        start: "integer",
        total: "integer",
        size: "integer",
        "reset?": "boolean",
        "order?": "list<any>",
        "rows?": "list<PackedRows>",
        "groups?": "PackedColumn",
        "columns?": "list<string>",
        "errors?": "integer",
        "last_error?": "string|null",
        "grouped?": "GroupedWindow",
      },
      waiting: WAITING,
      ...BUNDLE,
      ...LIVE,
    },
    to_kernel: {
      ...DATA_REQUESTS,
      window: {
        view: "string",
        start: "integer",
        count: "integer",
        sort: "string|null",
        desc: "boolean",
        filter: "string",
        "group?": "string|null",
      },
      ...PRESENCE,
    },
  },
  metrics: {
    view: "metrics",
    traits: { _snapshot: "MetricsState", _route: "string", _view: "string", as_of: "string", message_type: "string", paused: "boolean" },
    to_view: {
      delta: {
        seq: "integer",
        "latest?": "map<number>",
        "append?": "map<list<list<number>>>",
        "series?": "list<string>|null",
        "thresholds?": "map<Threshold>",
      },
      packed: {
        seq: "integer",
        "latest?": "map<number>",
        "points?": "list<PackedPoints>",
        "series?": "list<string>|null",
        "thresholds?": "map<Threshold>",
      },
      snapshot: SHAPES.MetricsState,
      waiting: WAITING,
      ...BUNDLE,
      ...LIVE,
    },
    to_kernel: { ...DATA_REQUESTS, ...PRESENCE },
  },
  notifications: {
    view: "notifications",
    traits: { _snapshot: "NotificationsState", _route: "string", _view: "string", as_of: "string", message_type: "string", paused: "boolean" },
    to_view: {
      delta: { seq: "integer", add: "list<Notification>" },
      snapshot: SHAPES.NotificationsState,
      waiting: WAITING,
      ...BUNDLE,
      ...LIVE,
    },
    to_kernel: { ...DATA_REQUESTS, ...PRESENCE },
  },
  chart: {
    view: "chart",
    traits: { _snapshot: "ChartState", _route: "string", _view: "string", as_of: "string", message_type: "string", paused: "boolean", window: "number|null" },
    to_view: {
      delta: {
        seq: "integer",
        "series?": "list<string>",
        "append?": "list<ChartColumn>",
        "dropped_series?": "integer",
        "dropped_points?": "integer",
        "ignored?": "integer",
      },
      packed: {
        seq: "integer",
        "series?": "list<string>",
        "points?": "list<PackedPoints>",
        "dropped_series?": "integer",
        "dropped_points?": "integer",
        "ignored?": "integer",
      },
      snapshot: SHAPES.ChartState,
      waiting: WAITING,
      ...BUNDLE,
      ...LIVE,
    },
    to_kernel: { ...DATA_REQUESTS, ...PRESENCE },
  },
  log: {
    view: "log",
    traits: { _snapshot: "LogState", _route: "string", _view: "string", as_of: "string", message_type: "string", paused: "boolean" },
    to_view: {
      delta: { seq: "integer", add: "list<LogEntry>", total: "integer" },
      snapshot: SHAPES.LogState,
      entry: { id: "integer", text: "string|null" },
      waiting: WAITING,
      ...BUNDLE,
      ...LIVE,
    },
    to_kernel: { ...DATA_REQUESTS, entry_request: { id: "integer" }, ...PRESENCE },
  },
} as const;

/** What tests/widgets/test_contract.py compares with `python -m rt_widgets.widgets._contract`. */
export const CONTRACT = { enums: ENUMS, shapes: SHAPES, interfaces: INTERFACES } as const;

// -- the types, derived from the descriptors ----------------------------------------------------------

type Enums = typeof ENUMS;
type Shapes = typeof SHAPES;
type Interfaces = typeof INTERFACES;
export type InterfaceName = keyof Interfaces;

interface Primitives {
  string: string;
  integer: number;
  number: number;
  boolean: boolean;
  any: unknown;
  model: string;
  object: Record<string, unknown>;
}

/** The TypeScript type of a descriptor (`never` for one the grammar does not know). */
export type Decode<D> = D extends `${infer Base}|null`
  ? Decode<Base> | null
  : D extends keyof Primitives
    ? Primitives[D]
    : D extends `list<${infer Item}>`
      ? Decode<Item>[]
      : D extends `map<${infer Value}>`
        ? Record<string, Decode<Value>>
        : D extends keyof Enums
          ? Enums[D][number]
          : D extends keyof Shapes
            ? Fields<Shapes[D]>
            : never;

type RequiredFields<F> = { [K in keyof F as K extends `${string}?` ? never : K]: Decode<F[K]> };
type OptionalFields<F> = { [K in keyof F as K extends `${infer Name}?` ? Name : never]?: Decode<F[K]> };
type Flatten<T> = { [K in keyof T]: T[K] };
/** An object type from a record of descriptors ("name?" keys are optional). */
export type Fields<F> = Flatten<RequiredFields<F> & OptionalFields<F>>;

export type TraitsOf<I extends InterfaceName> = Fields<Interfaces[I]["traits"]>;
type MessagesOf<M> = { [K in keyof M & string]: Flatten<{ kind: K } & Fields<M[K]>> }[keyof M & string];
/** The custom messages the kernel sends to a model of interface I. */
export type ToView<I extends InterfaceName> = MessagesOf<Interfaces[I]["to_view"]>;
/** The custom messages a view sends to a model of interface I. */
export type ToKernel<I extends InterfaceName> = MessagesOf<Interfaces[I]["to_kernel"]>;

export type Status = Decode<"Status">;
export type Position = Decode<"Position">;
export type ViewKind = Decode<"ViewKind">;
export type Level = Decode<"Level">;
export type BrowserEventName = Decode<"BrowserEvent">;
export type OverviewEntry = Decode<"OverviewEntry">;
export type TableState = Decode<"TableState">;
export type MetricsState = Decode<"MetricsState">;
export type NotificationsState = Decode<"NotificationsState">;
export type Notification = Decode<"Notification">;
export type Threshold = Decode<"Threshold">;
export type ChartState = Decode<"ChartState">;
export type LogEntry = Decode<"LogEntry">;
export type LogState = Decode<"LogState">;
export type ChartColumn = Decode<"ChartColumn">;
export type PackedColumn = Decode<"PackedColumn">;

export type ConnectionTraits = TraitsOf<"connection">;
export type RealtimeTraits = TraitsOf<"realtime">;
export type StatusTraits = TraitsOf<"status">;
export type TableTraits = TraitsOf<"table">;
export type MetricsTraits = TraitsOf<"metrics">;
export type NotificationsTraits = TraitsOf<"notifications">;
export type ChartTraits = TraitsOf<"chart">;
export type LogTraits = TraitsOf<"log">;

export type ConnectionCommand = ToKernel<"connection">;
export type DataRequest = ToKernel<"table">;
export type SnapshotRequest = Extract<DataRequest, { kind: "snapshot_request" }>;
export type TableDelta = Extract<ToView<"table">, { kind: "delta" }>;
export type MetricsDelta = Extract<ToView<"metrics">, { kind: "delta" }>;
export type NotificationsDelta = Extract<ToView<"notifications">, { kind: "delta" }>;
export type ChartDelta = Extract<ToView<"chart">, { kind: "delta" }>;
export type LogDelta = Extract<ToView<"log">, { kind: "delta" }>;
export type LogEntryText = Extract<ToView<"log">, { kind: "entry" }>;
export type LogRequest = ToKernel<"log">;

/** A model of one interface: what each view is given. */
export type ModelOf<I extends InterfaceName> = AnyModel<TraitsOf<I>>;

/** Statuses a view knows how to show; the `status` trait is a plain string so that a kernel newer
 * than the view can never make it fail, only show an unknown status. */
export function isStatus(value: unknown): value is Status {
  return typeof value === "string" && (ENUMS.Status as readonly string[]).includes(value);
}

/** Send a command to a connection's model (AnyModel.send takes anything: this checks the shape). */
export function sendCommand(model: Pick<ModelOf<"connection">, "send">, command: ConnectionCommand): void {
  model.send(command);
}

/** Send a request to a data view's model (a snapshot, pause or resume). */
export function sendDataRequest(model: Pick<ModelOf<"table">, "send">, request: DataRequest): void {
  model.send(request);
}

/** Ask a data view's model for its whole state. */
export function requestSnapshot(model: Pick<ModelOf<"table">, "send">): void {
  const request: SnapshotRequest = { kind: "snapshot_request" };
  model.send(request);
}
