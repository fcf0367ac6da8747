"""The bundled demo feed: a local WebSocket server that speaks the rt_widgets wire protocol.

Run it from a shell (``python -m rt_widgets.demo``) or from Python::

    from rt_widgets.demo import DemoServer

    with DemoServer(port=0, rate=50) as feed:
        print(feed.url)  # ws://127.0.0.1:<port>/ws

It streams ``mission_update``, ``metrics_update`` and ``notification`` messages, answers
application pings, honours ``subscribe``/``unsubscribe`` and can misbehave on purpose (dropped
links, a silent half-open link, refused handshakes, raw frames) to show how a client copes.

Three parts: ``world`` (the simulated missions, metrics and notifications: pure, seeded, on an
injected clock), ``server`` (the WebSocket endpoint and the envelope it speaks) and ``chaos`` (the
misbehaviours and the fault-injection hooks).
"""

from rt_widgets.demo.chaos import Chaos
from rt_widgets.demo.server import DemoServer
from rt_widgets.demo.world import CHANNELS

__all__ = ["CHANNELS", "Chaos", "DemoServer"]
