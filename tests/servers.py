"""The real andon API app served in-process by uvicorn, on whatever clock its services were built with."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import uvicorn

from andon.api.app import create_app
from andon.api.deps import Services
from tests.conftest import free_port, wait_for_port


class RealServer:
    """The andon API app served by uvicorn in a thread on a free loopback port; can stop and start again.

    Each start builds a fresh app on the same services (as a restarted `andon run` would on the same
    database), so its lifespan starts a new live hub that ticks every ``tick_seconds``.
    """

    def __init__(self, services: Services, tick_seconds: float = 1.0) -> None:
        self.services = services
        self.tick_seconds = tick_seconds
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Serve and wait until start-up is done and the port accepts connections."""
        app = create_app(self.services, tick_seconds=self.tick_seconds)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"uvicorn :{self.port}", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive():
                self._server = self._thread = None
                raise AssertionError(f"the API did not start on 127.0.0.1:{self.port} (see the log above)")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the API did not start on 127.0.0.1:{self.port} within {timeout} s")
            time.sleep(0.01)
        wait_for_port(self.port)

    def stop(self) -> None:
        """Stop serving (open WebSockets are closed) and wait for the thread."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            assert not self._thread.is_alive(), "uvicorn did not stop within 10 s"
        self._server = self._thread = None

    def close(self) -> None:
        """Stop serving and close the services (the plant's writer, the database's connections)."""
        self.stop()
        self.services.plant.close()
        self.services.store.engine.dispose()

    def client(self, token: str | None = None) -> httpx.Client:
        """Return an HTTP client for the API, with a bearer token if given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=5)

    def get(self, path: str) -> Any:
        """GET a JSON document and fail on an error status."""
        with self.client() as c:
            reply = c.get(path)
            reply.raise_for_status()
            return reply.json()
