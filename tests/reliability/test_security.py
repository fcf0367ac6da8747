"""TLS with a certificate made at test time, and credentials that never leak into repr, display_url,
stats or log records."""

from __future__ import annotations

import base64
import logging
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rt_widgets import Backoff, Connection
from tests._servers import ServerLoop, WsServer
from tests.conftest import wait_until

MakeServer = Callable[..., WsServer]
MakeConn = Callable[..., Connection]


def make_self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1, made with the openssl command line tool."""
    openssl = shutil.which("openssl")
    assert openssl is not None, "the openssl command is needed to make a test certificate"
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def tls_server(tmp_path: Path, server_loop: ServerLoop) -> Iterator[tuple[WsServer, Path]]:
    cert, key = make_self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = WsServer(server_loop, ssl_context=context).start()
    yield server, cert
    server.kill()


def test_wss_works_with_a_context_that_trusts_the_certificate(
    tls_server: tuple[WsServer, Path], make_conn: MakeConn
) -> None:
    server, cert = tls_server
    assert server.url.startswith("wss://")
    conn = make_conn(server.url, ssl=ssl.create_default_context(cafile=str(cert)))
    got: list[Any] = []
    conn.on("secure", got.append)
    conn.start()
    conn.wait_for_state("connected", timeout=10)
    assert conn.send("hello", 1).wait(5) == "sent"
    wait_until(lambda: server.messages("hello"), 5)
    server.send({"type": "secure", "payload": "ok"})
    wait_until(lambda: got == ["ok"], 5)
    print(f"\nwss:// with a self-signed certificate trusted by the context: {conn.stats()['messages_in']} in")


def test_wss_with_an_untrusted_certificate_fails_with_a_clear_error(
    tls_server: tuple[WsServer, Path], make_conn: MakeConn, caplog: pytest.LogCaptureFixture
) -> None:
    server, _ = tls_server
    conn = make_conn(server.url, backoff=Backoff(initial=0.05, maximum=0.1))
    conn.start()
    wait_until(lambda: "certificate" in (conn.last_error or "").lower(), 10,
               message=lambda: f"last_error={conn.last_error!r}")
    # Retrying cannot make an untrusted certificate trusted: the error is final.
    wait_until(lambda: conn.state == "disconnected", 5, message=lambda: str(conn.state))
    print(f"\nuntrusted certificate: state {conn.state}, last_error {conn.last_error!r}")
    assert server.connection_count == 0
    assert "ssl" in (conn.last_error or "").lower(), "the error says what to change"


SECRETS = ("pw-S3CRET-userinfo", "tok-S3CRET-query", "hdr-S3CRET-header", "cb-S3CRET-callable")
# URL userinfo travels as HTTP Basic auth: its base64 form is a credential too.
BASIC = base64.b64encode(f"alice:{SECRETS[0]}".encode()).decode()


def leaks(text: str) -> list[str]:
    return [s for s in (*SECRETS, BASIC) if s in text]


def client_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [
        formatter.format(r)
        for r in caplog.records
        # What the test server logs is the server's business: it is meant to see the credentials.
        if r.threadName != "test-servers" and not r.name.startswith("tests.server")
    ]


@pytest.mark.parametrize("callable_headers", [False, True], ids=["dict-headers", "callable-headers"])
def test_credentials_never_appear_in_repr_display_url_stats_or_logs(
    ws_server: MakeServer, make_conn: MakeConn, caplog: pytest.LogCaptureFixture,
    callable_headers: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = ws_server()
    url = f"ws://alice:{SECRETS[0]}@127.0.0.1:{server.port}/ws?token={SECRETS[1]}&room=7"
    headers: Any = (
        (lambda: {"Authorization": f"Bearer {SECRETS[3]}"}) if callable_headers
        else {"Authorization": f"Bearer {SECRETS[2]}"}
    )
    # The strict envelope, so that a frame that is not JSON is a decode error (and is logged).
    conn = make_conn(url, headers=headers, messages="envelope", heartbeat_interval=0.1,
                     heartbeat_timeout=0.5, backoff=Backoff(initial=0.01, maximum=0.05))
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    seen = server.handshakes()[0]
    # The credentials do reach the server ...
    assert SECRETS[1] in seen.path
    assert any(s in seen.headers.get("Authorization", "") for s in SECRETS[2:])
    # ... and a refusal, a bad frame, a reconnect and a heartbeat all get logged on the way.
    conn.send("data", {"x": 1}).wait(5)
    server.send("{bad json")
    wait_until(lambda: conn.stats()["decode_errors"] == 1, 5)
    wait_until(lambda: conn.latency_ms is not None, 5)
    server.refuse(401)
    server.kill()
    server.restart()
    wait_until(lambda: conn.state == "disconnected", 5, message=lambda: str(conn.stats()))
    assert "401" in (conn.last_error or "")

    texts = {
        "repr": repr(conn),
        "str": str(conn),
        "display_url": conn.display_url,
        "stats": repr(conn.stats()),
        "last_error": str(conn.last_error),
    }
    for where, text in texts.items():
        assert not leaks(text), f"credential in {where}: {text}"
    assert "127.0.0.1" in conn.display_url and "room=7" in conn.display_url
    records = client_records(caplog)
    assert records, "the client logged nothing at DEBUG"
    leaked = [r for r in records if leaks(r)]
    print(f"\n{len(records)} client log records at DEBUG, {len(leaked)} with a credential")
    assert not leaked, "credentials in log records:\n" + "\n".join(leaked[:5])


# --------------------------------------------------------------------------- URLs websockets refuses
# websockets refuses a URL with a fragment or a user name without a password, and its error quotes the
# URL as given: that text must reach last_error, stats() and the log with every credential masked.

URL_SECRETS = ("usr-S3CRET-name", "pw-S3CRET-word", "tok-S3CRET-query", "key-S3CRET-apikey",
               "frag-S3CRET-fragment")


def url_leaks(text: str) -> list[str]:
    return [s for s in URL_SECRETS if s in text]


@pytest.mark.parametrize("form", ["fragment", "user-only"])
def test_a_refused_url_never_leaks_its_credentials(
    ws_server: MakeServer, make_conn: MakeConn, caplog: pytest.LogCaptureFixture, form: str
) -> None:
    caplog.set_level(logging.DEBUG)
    server = ws_server()
    user, password, token, key, fragment = URL_SECRETS
    query = f"/ws?token={token}&api_key={key}&room=7"
    url = (
        f"ws://{user}:{password}@127.0.0.1:{server.port}{query}#{fragment}" if form == "fragment"
        else f"ws://{user}@127.0.0.1:{server.port}{query}"
    )
    conn = make_conn(url, backoff=Backoff(initial=0.01, maximum=0.05))
    conn.start()
    # A URL that cannot be used is a terminal error.
    wait_until(lambda: conn.state == "disconnected" and conn.last_error, 5,
               message=lambda: f"{conn.state}: {conn.last_error!r}")
    error = conn.last_error or ""
    print(f"\n{form}: last_error {error!r}")
    assert error.startswith("invalid WebSocket URL ws://***@127.0.0.1:")
    assert ("fragment" if form == "fragment" else "username") in error, "it says what is wrong"
    texts = {"last_error": error, "stats": repr(conn.stats()), "repr": repr(conn),
             "display_url": conn.display_url}
    for where, text in texts.items():
        assert not url_leaks(text), f"credential in {where}: {text}"
    assert "room=7" in conn.display_url
    records = client_records(caplog)
    assert any("invalid WebSocket URL" in r and " INFO " in r for r in records), records
    leaked = [r for r in records if url_leaks(r)]
    assert not leaked, "credentials in log records:\n" + "\n".join(leaked[:5])
    assert server.connection_count == 0


def test_each_attempts_refreshed_token_stays_out_of_logs_and_errors(
    ws_server: MakeServer, make_conn: MakeConn, caplog: pytest.LogCaptureFixture
) -> None:
    """A callable's headers are resolved on every attempt; each token it hands out is masked, in
    websockets' own DEBUG lines too, and in a close reason that quotes it."""
    caplog.set_level(logging.DEBUG)
    # Whatever an earlier test (or a library it loaded) did to websockets' loggers, this test reads
    # their DEBUG lines.
    for name in ("websockets", "websockets.client"):
        caplog.set_level(logging.DEBUG, logger=name)
        logging.getLogger(name).disabled = False
    server = ws_server()
    issued: list[str] = []

    def headers() -> dict[str, str]:
        issued.append(f"refresh-{len(issued):03d}-S3CRET")
        return {"Authorization": f"Bearer {issued[-1]}", "X-Session": f"sess-{issued[-1]}"}

    server.refuse(503)
    conn = make_conn(server.url, headers=headers, backoff=Backoff(initial=0.01, maximum=0.02))
    conn.start()
    wait_until(lambda: len(server.handshakes()) >= 3, 5, message=lambda: str(conn.stats()))
    # The server quotes the token it was sent in its close reason: a terminal 4xxx code.
    server.behave()
    wait_until(lambda: conn.state == "connected", 5, message=lambda: str(conn.stats()))
    sent = server.handshakes()[-1].headers.get("Authorization", "")
    server.close_all(4001, f"token {sent.split()[-1]} expired")
    wait_until(lambda: conn.state == "disconnected", 5, message=lambda: str(conn.stats()))
    assert len(issued) >= 4
    print(f"\n{len(issued)} tokens issued; last_error {conn.last_error!r}")
    assert conn.last_error == "connection closed: code 4001 (token *** expired)"

    def token_leaks(text: str) -> list[str]:
        return [t for t in issued if t in text]

    for where, text in {"last_error": str(conn.last_error), "stats": repr(conn.stats()),
                        "repr": repr(conn), "display_url": conn.display_url}.items():
        assert not token_leaks(text), f"token in {where}: {text}"
    assert all(conn.secrets.scrub(t) == "***" for t in issued), "the connection knows every token"
    records = client_records(caplog)
    assert any("Authorization: ***" in r for r in records), "websockets logs its request headers"
    leaked = [r for r in records if token_leaks(r)]
    assert not leaked, "tokens in log records:\n" + "\n".join(leaked[:5])


# --------------------------------------------------------------------------- TLS / plain mismatches


def test_tls_to_a_plain_port_has_a_readable_error(ws_server: MakeServer, make_conn: MakeConn) -> None:
    """A wss:// client to a plain ws:// server: asyncio reports a bare ConnectionResetError()."""
    server = ws_server()
    url = server.url.replace("ws://", "wss://", 1)
    conn = make_conn(url, ssl=ssl.create_default_context(), backoff=Backoff(initial=0.05, maximum=0.1))
    conn.start()
    wait_until(lambda: conn.last_error, 10, message=lambda: str(conn.stats()))
    error = conn.last_error or ""
    print(f"\nwss:// to a plain port: {error!r}")
    assert error.startswith("TLS handshake failed: "), error
    assert "ws:// rather than wss://" in error, "it says what to check"
    assert conn.stats()["last_error"] == error
    # A network error: retried, as design.md says.
    wait_until(lambda: conn.attempt >= 2, 10, message=lambda: str(conn.stats()))
    assert conn.state in ("connecting", "reconnecting")


def test_plain_to_a_tls_port_has_a_readable_error(
    tls_server: tuple[WsServer, Path], make_conn: MakeConn
) -> None:
    server, _ = tls_server
    url = server.url.replace("wss://", "ws://", 1)
    conn = make_conn(url, backoff=Backoff(initial=0.05, maximum=0.1))
    conn.start()
    wait_until(lambda: conn.last_error, 10, message=lambda: str(conn.stats()))
    error = conn.last_error or ""
    print(f"\nws:// to a TLS port: {error!r}")
    assert error.startswith("handshake failed: "), error
    assert "wss:// rather than ws://" in error
    assert conn.state in ("connecting", "reconnecting")
