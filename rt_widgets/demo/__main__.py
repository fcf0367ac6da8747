"""Command line for the demo feed: ``python -m rt_widgets.demo --help``.

``--format NAME`` serves a local replica of a public feed instead (``binance``, ``coinbase``,
``kraken``, ``kraken1``, ``bitmex``, ``finnhub``, ``polygon``; see ``rt_widgets.demo.formats``),
under the same ``--host``/``--port``/``--allow-remote`` rules.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from rt_widgets.demo.formats import FORMATS, FormatServer
from rt_widgets.demo.server import DemoServer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rt_widgets.demo",
        description="Serve the rt_widgets demo feed (missions, metrics, notifications) over "
        "WebSocket until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free)")
    parser.add_argument("--path", default=None, help="WebSocket path (default /ws)")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="messages per second per client (default 20; with --format, updates per second, default 10)",
    )
    parser.add_argument(
        "--batch", type=int, default=1, help="messages per frame; > 1 sends JSON-array batches"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible stream")
    parser.add_argument(
        "--missions",
        type=int,
        default=25,
        metavar="N",
        help="distinct missions (ids 1..N) in the feed's table (default 25)",
    )
    chaos = parser.add_argument_group("chaos")
    chaos.add_argument(
        "--drop-every", type=float, default=None, metavar="S", help="close every client every S s"
    )
    chaos.add_argument(
        "--mute-heartbeat",
        action="store_true",
        help="go silent as a half-open link: answer no ping of either kind, send nothing",
    )
    chaos.add_argument(
        "--refuse-status",
        type=int,
        default=None,
        metavar="N",
        help="reject every handshake with HTTP status N (e.g. 401, 503)",
    )
    chaos.add_argument("--retry-after", type=int, default=None, metavar="S", help="Retry-After on refusals")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other than loopback (the feed has no authentication)",
    )
    parser.add_argument("--quiet", action="store_true", help="log warnings only")
    replicas = parser.add_argument_group("replicas of public feeds")
    replicas.add_argument(
        "--format",
        choices=sorted(FORMATS),
        default=None,
        metavar="NAME",
        help="serve a local replica of a public feed in its documented shapes instead of the demo "
        f"feed: {', '.join(FORMATS)}",
    )
    replicas.add_argument(
        "--ping-interval",
        type=float,
        default=None,
        metavar="S",
        help="with --format: seconds between the server's WebSocket pings (default: the service's)",
    )
    replicas.add_argument(
        "--heartbeat",
        type=float,
        default=None,
        metavar="S",
        help="with --format: period of the service's own heartbeat, where it has one",
    )
    return parser


# Demo-feed options that a replica does not take, with their defaults.
_DEMO_ONLY = {"path": None, "batch": 1, "missions": 25, "drop_every": None, "mute_heartbeat": False,
              "refuse_status": None, "retry_after": None}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo feed until interrupted; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # websockets logs every connection at INFO; the feed's own lines say the same more briefly.
    logging.getLogger("websockets").setLevel(logging.WARNING)
    if args.format is not None:
        return _serve_format(parser, args)
    if args.ping_interval is not None or args.heartbeat is not None:
        parser.error("--ping-interval and --heartbeat go with --format")
    try:
        feed = DemoServer(
            args.host,
            args.port,
            path="/ws" if args.path is None else args.path,
            rate=20.0 if args.rate is None else args.rate,
            batch=args.batch,
            seed=args.seed,
            missions=args.missions,
            drop_every=args.drop_every,
            mute_heartbeat=args.mute_heartbeat,
            refuse_status=args.refuse_status,
            retry_after=args.retry_after,
            allow_remote=args.allow_remote,
        )
    except ValueError as exc:
        parser.error(str(exc))
    try:
        feed.start()
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        print("choose another port with --port (0 picks a free one)", file=sys.stderr)
        return 1
    print(f"demo feed: {feed.url}  (Ctrl-C to stop)", flush=True)
    return _run_until_interrupted(feed)


def _serve_format(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    given = [name for name, default in _DEMO_ONLY.items() if getattr(args, name) != default]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        parser.error(f"{flags}: only for the demo feed, not with --format")
    rate = 10.0 if args.rate is None else args.rate
    try:
        feed = FormatServer(
            args.format,
            args.host,
            args.port,
            seed=args.seed,
            rate=rate,
            ping_interval=... if args.ping_interval is None else args.ping_interval,
            heartbeat=... if args.heartbeat is None else args.heartbeat,
            allow_remote=args.allow_remote,
        )
    except ValueError as exc:
        parser.error(str(exc))
    try:
        feed.start()
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        print("choose another port with --port (0 picks a free one)", file=sys.stderr)
        return 1
    fmt = FORMATS[args.format]
    print(f"{fmt.title}: {feed.url}  (Ctrl-C to stop)", flush=True)
    print(f"  the real service: {fmt.real_url}", flush=True)
    print(f"  Connection(url, {fmt.config})", flush=True)
    for message in fmt.subscription:
        print(f"  conn.subscribe({message!r})", flush=True)
    return _run_until_interrupted(feed)


def _run_until_interrupted(feed: DemoServer | FormatServer) -> int:
    # Explicit for SIGINT too: a shell starts background jobs with SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while not feed.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        feed.stop()
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (a service manager, a test tearing down) stops as cleanly as Ctrl-C. Only the first
    # signal counts: Ctrl-C in `make demo` reaches the feed twice (the terminal's SIGINT and the
    # launcher's SIGTERM), and a second KeyboardInterrupt would break off the clean stop.
    # (A Python no-op, not SIG_IGN: a signal already pending would be reported as a race.)
    signal.signal(signal.SIGINT, _stopping)
    signal.signal(signal.SIGTERM, _stopping)
    raise KeyboardInterrupt


def _stopping(signum: int, frame: FrameType | None) -> None:
    """A signal while the feed is already stopping: nothing more to do."""


if __name__ == "__main__":
    sys.exit(main())
