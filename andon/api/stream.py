"""The live WebSocket stream: line state and andon events as they happen.

Where reads need a token (``auth.public_read: false``) a client proves it with an
``Authorization: Bearer`` header on the upgrade (the display, edges) or, since browsers cannot set
headers, with ``{"type": "auth", "token": "..."}`` as its first message within
``AUTH_SECONDS``. A token in the URL (``/ws?token=``) is refused whatever the setting: URLs end
up in access logs and browser history.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from andon.auth import TokenBook
from andon.live import LiveHub

router = APIRouter()

AUTH_SECONDS = 10.0
TOKEN_IN_URL = 4400  # close codes: 4400 token in the URL, 4401 no valid token
NO_TOKEN = 4401


def _bearer(websocket: WebSocket) -> str:
    header = websocket.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


async def _first_message_token(websocket: WebSocket) -> str:
    try:
        text = await asyncio.wait_for(websocket.receive_text(), AUTH_SECONDS)
        message = json.loads(text)
    except (TimeoutError, ValueError, KeyError, RuntimeError):
        return ""
    if isinstance(message, dict) and message.get("type") == "auth" and isinstance(message.get("token"), str):
        return str(message["token"])
    return ""


@router.websocket("/ws")
async def stream(websocket: WebSocket) -> None:
    """Send every line's state, then each change and andon event, until the client leaves."""
    tokens: TokenBook = websocket.app.state.services.tokens
    await websocket.accept()  # accepted first, so a refusal reaches the client with its close reason
    if "token" in websocket.query_params:
        await websocket.close(TOKEN_IN_URL, "token in the URL refused (URLs are logged): send an Authorization "
                              "header or a first message {type: auth}")
        return
    if not tokens.public_read:
        token = _bearer(websocket)
        if not token:
            try:
                token = await _first_message_token(websocket)
            except WebSocketDisconnect:
                return
        if not token or tokens.lookup(token) is None:
            await websocket.close(NO_TOKEN, "reads need a token: an Authorization header or a first message "
                                  "{type: auth, token}")
            return
    hub: LiveHub = websocket.app.state.services.hub
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
