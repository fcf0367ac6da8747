// A plain RFC 6455 server built on the Node `ws` package, knowing nothing of rt_widgets.
//
// It answers protocol pings (ws does so itself), never answers the application
// {"type": "ping"} message, sends {"type": "tick"} every 200 ms to each client and echoes any
// other JSON message as {"type": "echo", "payload": <original>}. It prints `LISTENING <port>`
// once bound to 127.0.0.1 on a free port, and exits when its stdin closes so that it never
// outlives the test process that started it.
import { WebSocketServer } from "ws";

const TICK_MS = 200;
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });

wss.on("listening", () => {
  process.stdout.write(`LISTENING ${wss.address().port}\n`);
});

wss.on("connection", (socket) => {
  let n = 0;
  const timer = setInterval(() => {
    const tick = { type: "tick", payload: { n: n++ }, timestamp: new Date().toISOString() };
    socket.send(JSON.stringify(tick));
  }, TICK_MS);
  socket.on("close", () => clearInterval(timer));
  socket.on("error", () => clearInterval(timer));
  socket.on("message", (data, isBinary) => {
    let message;
    try {
      message = JSON.parse(isBinary ? Buffer.from(data).toString("utf8") : data.toString());
    } catch {
      return;
    }
    if (message !== null && typeof message === "object" && message.type === "ping") {
      return;
    }
    socket.send(JSON.stringify({ type: "echo", payload: message }));
  });
});

function shutdown() {
  for (const client of wss.clients) {
    client.terminate();
  }
  wss.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}

process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
process.stdin.on("end", shutdown);
process.stdin.resume();
