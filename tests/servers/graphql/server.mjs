// A GraphQL server speaking graphql-transport-ws, built on the npm packages graphql-ws, ws and
// graphql, for the GraphQLWS adapter's tests and benchmark. It knows nothing of rt_widgets.
//
//   node tests/servers/graphql/server.mjs [--port N] [--token T] [--keepalive MS]
//
// Schema: Subscription.events (every Mutation.publish, to every subscriber), Subscription.counter
// (an Int every `every` ms), Subscription.burst (`count` events as fast as the socket takes them),
// Subscription.fails (a resolver that throws: a `next` carrying errors). connection_init must carry
// {"token": T} (default "secret"): onConnect returns false otherwise and graphql-ws closes the
// socket with 4403 Forbidden.
//
// HTTP on the same port: GET /log returns every graphql-transport-ws message the server received,
// in order, as {conn, type, id, query, variables} (conn numbers connections from 1); GET
// /subscribers how many `events` subscriptions are live; POST /publish
// with a JSON body {n, text} publishes to `events` like the mutation does.
//
// Prints `LISTENING <port>` once bound to 127.0.0.1; exits when its stdin closes, so it never
// outlives the test process that started it.
import http from "node:http";
import { parseArgs } from "node:util";
import { buildSchema } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { WebSocketServer } from "ws";

const { values: opts } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    token: { type: "string", default: "secret" },
    keepalive: { type: "string", default: "12000" },
  },
});

const schema = buildSchema(`
  type Event { n: Int!, text: String, pad: String }
  type Query { hello: String! }
  type Mutation { publish(n: Int!, text: String): Event! }
  type Subscription {
    events: Event!
    counter(from: Int = 0, every: Int = 50): Int!
    burst(count: Int!, size: Int = 0): Event!
    fails: Int!
  }
`);

// A minimal pub/sub: each subscriber is an async iterator fed by publish().
const subscribers = new Set();
function publish(event) {
  for (const push of subscribers) push(event);
}
function listen() {
  const queue = [];
  let wake = null;
  const push = (event) => {
    queue.push(event);
    if (wake) { wake(); wake = null; }
  };
  subscribers.add(push);
  return {
    [Symbol.asyncIterator]() { return this; },
    async next() {
      while (queue.length === 0) await new Promise((resolve) => { wake = resolve; });
      return { value: { events: queue.shift() }, done: false };
    },
    async return() {
      subscribers.delete(push);
      return { value: undefined, done: true };
    },
  };
}

const isAsyncIterable = (value) => value != null && typeof value[Symbol.asyncIterator] === "function";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const roots = {
  hello: () => "world",
  publish: ({ n, text }) => {
    const event = { n, text: text ?? null, pad: null };
    publish(event);
    return event;
  },
  events: () => listen(),
  counter: async function* ({ from, every }) {
    for (let n = from; ; n++) {
      yield { counter: n };
      await sleep(every);
    }
  },
  burst: async function* ({ count, size }) {
    const pad = size > 0 ? "x".repeat(size) : null;
    for (let n = 0; n < count; n++) yield { burst: { n, text: null, pad } };
  },
  fails: () => {
    throw new Error("this subscription always fails");
  },
};

const log = [];
let connections = 0;

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/log") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(log));
    return;
  }
  if (req.method === "GET" && req.url === "/subscribers") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(subscribers.size));
    return;
  }
  if (req.method === "POST" && req.url === "/publish") {
    let body = "";
    req.on("data", (chunk) => { body += chunk; });
    req.on("end", () => {
      const { n, text } = JSON.parse(body);
      publish({ n, text: text ?? null, pad: null });
      res.writeHead(204);
      res.end();
    });
    return;
  }
  res.writeHead(404);
  res.end();
});

const wss = new WebSocketServer({ server });
wss.on("connection", (socket) => {
  const conn = ++connections;
  socket.on("message", (data) => {
    try {
      const m = JSON.parse(String(data));
      log.push({ conn, type: m.type, id: m.id ?? null, query: m.payload?.query ?? null,
                 variables: m.payload?.variables ?? null });
    } catch {
      log.push({ conn, type: null, id: null, query: null, variables: null });
    }
  });
});

useServer(
  {
    schema,
    roots: { query: roots, mutation: roots, subscription: roots },
    onConnect: (ctx) => ctx.connectionParams?.token === opts.token,
    // A burst's results are built here rather than by executing the selection set per event, so
    // that the server outpaces the client being measured; they still go through graphql-ws.
    onOperation: (_ctx, _id, _payload, args, result) => {
      const field = args.document.definitions[0]?.selectionSet?.selections?.[0];
      if (field?.name?.value !== "burst" || !isAsyncIterable(result)) return undefined;
      result.return?.();
      const vars = args.variableValues ?? {};
      const arg = (name, fallback) => {
        const node = field.arguments.find((a) => a.name.value === name)?.value;
        if (!node) return fallback;
        return node.kind === "Variable" ? vars[node.name.value] : Number(node.value);
      };
      const count = arg("count", 0);
      const size = arg("size", 0);
      const pad = size > 0 ? "x".repeat(size) : null;
      return (async function* () {
        for (let n = 0; n < count; n++) yield { data: { burst: { n, text: null, pad } } };
      })();
    },
  },
  wss,
  Number(opts.keepalive),
);

server.listen(Number(opts.port), "127.0.0.1", () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

function shutdown() {
  for (const client of wss.clients) client.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
process.stdin.on("end", shutdown);
process.stdin.resume();
