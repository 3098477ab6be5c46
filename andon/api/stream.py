"""The live WebSocket stream: line state and andon events as they happen."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from andon.auth import TokenBook
from andon.live import LiveHub

router = APIRouter()


@router.websocket("/ws")
async def stream(websocket: WebSocket) -> None:
    """Send every line's state, then each change and andon event, until the client leaves."""
    tokens: TokenBook = websocket.app.state.tokens
    if not tokens.public_read:
        token = websocket.query_params.get("token") or ""
        header = websocket.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            token = header[7:]
        if not token or tokens.lookup(token) is None:
            await websocket.close(code=4401, reason="reads need a token here: /ws?token=...")
            return
    hub: LiveHub = websocket.app.state.services.extras["hub"]
    await websocket.accept()
    queue = hub.connect()

    async def watch_close() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()  # clients send nothing we need; this sees them leave

    watcher = asyncio.create_task(watch_close())
    try:
        while not watcher.done():
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, watcher}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                await websocket.send_json(getter.result())
            else:
                getter.cancel()
                if not done:
                    await websocket.send_json({"type": "ping"})
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.disconnect(queue)
        watcher.cancel()
