"""A W&B server as a benchmark sees it: a loopback proxy in front of it that counts the
bytes each way and can make the link slow, the server's own process, and a check that it
answers and accepts the key before any run is spent on it."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

SERVER_CHECK_TIMEOUT_S = 5.0


class Link:
    """One direction of a slow link: a bandwidth every connection shares (each chunk waits
    its turn on the wire) plus a fixed one-way delay."""

    def __init__(self, bandwidth_kbps: float, delay_s: float) -> None:
        self.bytes_per_s = bandwidth_kbps * 1000 / 8 if bandwidth_kbps > 0 else 0.0
        self.delay_s = delay_s
        self._free_at = 0.0
        self._lock = threading.Lock()

    def wait(self, size: int) -> None:
        if self.bytes_per_s:
            with self._lock:
                start = max(time.monotonic(), self._free_at)
                self._free_at = start + size / self.bytes_per_s
                done = self._free_at
            time.sleep(max(0.0, done - time.monotonic()))
        if self.delay_s:
            time.sleep(self.delay_s)


class CountingProxy:
    """A loopback TCP proxy in front of an http server that counts the bytes each way;
    with latency_ms / bandwidth_kbps it is also a slow link: half the round-trip latency
    each way, and each direction capped to the bandwidth."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        latency_ms: float = 0.0,
        bandwidth_kbps: float = 0.0,
    ) -> None:
        self.target = (target_host, target_port)
        self.sent = 0  # client -> server
        self.received = 0  # server -> client
        self.shaped = latency_ms > 0 or bandwidth_kbps > 0
        self._links = {
            outgoing: Link(bandwidth_kbps, latency_ms / 2000) for outgoing in (True, False)
        }
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.5)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True).start()

    def reset(self) -> tuple[int, int]:
        with self._lock:
            counts = (self.sent, self.received)
            self.sent = self.received = 0
        return counts

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for src, dst, outgoing in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(src, dst, outgoing), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, outgoing: bool) -> None:
        link = self._links[outgoing]
        # Small chunks on a slow link, so the delay and the cap apply as the bytes flow.
        chunk = 4096 if self.shaped else 65536
        try:
            while True:
                data = src.recv(chunk)
                if not data:
                    break
                if self.shaped:
                    link.wait(len(data))
                dst.sendall(data)
                with self._lock:
                    if outgoing:
                        self.sent += len(data)
                    else:
                        self.received += len(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


def local_server_process(host: str, port: int) -> Any:
    """The process listening on a loopback server's port (to read its CPU time), or None."""
    import psutil

    if host not in ("127.0.0.1", "localhost", "::1"):
        return None
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return psutil.Process(conn.pid) if conn.pid else None
    except (psutil.Error, OSError):
        return None
    return None


def check_online(base_url: str, api_key: str) -> str | None:
    """None if a W&B-protocol server answers and accepts the key, else why not.
    Bounded: two requests of at most SERVER_CHECK_TIMEOUT_S each."""
    if not base_url:
        return "no server configured (set WANDB_BASE_URL and WANDB_API_KEY, or --server-url)"
    if not api_key:
        return f"no API key for {base_url} (set WANDB_API_KEY or pass --api-key)"
    try:
        urllib.request.urlopen(base_url, timeout=SERVER_CHECK_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        pass  # it answered
    except (urllib.error.URLError, OSError) as exc:
        return f"server {base_url} not reachable ({getattr(exc, 'reason', exc)})"
    token = base64.b64encode(f"api:{api_key}".encode()).decode()
    request = urllib.request.Request(
        base_url.rstrip("/") + "/graphql",
        data=json.dumps({"query": "query { viewer { id } }"}).encode(),
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=SERVER_CHECK_TIMEOUT_S) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return f"server {base_url} rejected the API key (HTTP {exc.code})"
        return f"server {base_url} answered /graphql with HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"server {base_url} did not answer a W&B query ({getattr(exc, 'reason', exc)})"
    if not (body.get("data") or {}).get("viewer"):
        return f"server {base_url} did not accept the API key (no viewer)"
    return None


def link_description(latency_ms: float, bandwidth_kbps: float) -> str | None:
    """The slow link the proxy makes, or None for plain loopback."""
    if not latency_ms and not bandwidth_kbps:
        return None
    parts = []
    if latency_ms:
        parts.append(f"{latency_ms:g} ms round-trip latency added")
    if bandwidth_kbps:
        parts.append(f"{bandwidth_kbps:g} kbit/s each way")
    return ", ".join(parts) + " (the benchmark's loopback proxy)"


class OnlineTarget:
    """Where online runs log: the server behind a counting (and shaping) loopback proxy,
    or why there is none."""

    def __init__(
        self,
        server_url: str,
        api_key: str,
        run_env: dict[str, str],
        latency_ms: float = 0.0,
        bandwidth_kbps: float = 0.0,
    ) -> None:
        self.proxy: CountingProxy | None = None
        self.env: dict[str, str] | None = None
        self.server: Any = None
        self.unavailable = check_online(server_url, api_key)
        if self.unavailable is not None:
            return
        url = urllib.parse.urlsplit(server_url)
        self.env = dict(run_env, WANDB_API_KEY=api_key, WANDB_BASE_URL=server_url)
        if url.scheme == "http" and url.hostname:
            port = url.port or 80
            self.proxy = CountingProxy(url.hostname, port, latency_ms, bandwidth_kbps)
            self.server = local_server_process(url.hostname, port)
            self.env["WANDB_BASE_URL"] = f"http://127.0.0.1:{self.proxy.port}"

    def give_up(self, reason: str) -> None:
        """No more runs to this server (its first run failed: spend no others on it)."""
        self.env, self.unavailable = None, reason

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.close()
