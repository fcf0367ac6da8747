"""Protocols: how a connection's frames become messages and its sends become frames.

``Envelope`` is rt_widgets' own envelope (``messages="envelope"``). Every protocol is pure,
sans-I/O code on the interface of :mod:`rt_widgets.protocols.base`.
"""

from .base import FrameProtocol
from .envelope import Envelope
from .graphql_ws import GraphQLWS
from .mqtt import MQTT
from .nats import NATS
from .socketio import SocketIO

__all__ = ["MQTT", "NATS", "Envelope", "FrameProtocol", "GraphQLWS", "SocketIO"]
