"""The bundled demo feed: a local WebSocket server that speaks the rt_widgets wire protocol.

Run it from a shell (``python -m rt_widgets.demo``) or from Python::

    from rt_widgets.demo import DemoServer

    with DemoServer(port=0, rate=50) as feed:
        print(feed.url)  # ws://127.0.0.1:<port>/ws

It streams ``mission_update``, ``metrics_update`` and ``notification`` messages, answers
application pings, honours ``subscribe``/``unsubscribe`` and can misbehave on purpose (dropped
links, a silent half-open link, refused handshakes, raw frames) to show how a client copes.
"""

from rt_widgets.demo.server import CHANNELS, Chaos, DemoServer

__all__ = ["CHANNELS", "Chaos", "DemoServer"]
