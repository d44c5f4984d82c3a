"""Control endpoints under /_emulator/ (no auth, loopback only, never recorded).

They let a subprocess emulator be driven like the in-process one: post messages,
read request statistics, change settings.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.emulator.messages import dumps
from tests.emulator.removals import remove

if TYPE_CHECKING:
    from tests.emulator.core import Emulator, Response


def control(emu: Emulator, method: str, path: str, body: bytes) -> Response:
    """Answer one control request."""
    from tests.emulator.core import json_response

    try:
        payload = json.loads(body or b"{}")
        if not isinstance(payload, dict):
            raise ValueError("the body must be a JSON object")
        result = _route(emu, method, path.rstrip("/"), payload)
    except (ValueError, KeyError, TypeError) as exc:
        return json_response(400, {"error": str(exc)})
    if result is None:
        return json_response(404, {"error": f"no control endpoint {method} {path}"})
    return json_response(200, result)


def _route(emu: Emulator, method: str, path: str, payload: dict[str, Any]) -> Any:
    """Dispatch by method and path; None when unknown."""
    if (method, path) == ("POST", "/_emulator/messages"):
        return post_messages(emu, payload)
    if (method, path) == ("POST", "/_emulator/messages/edit"):
        msg = emu.edit_message(payload["channel_id"], payload["message_id"], payload["content"])
        return {"id": msg["id"], "edited_timestamp": msg["edited_timestamp"]}
    if (method, path) == ("POST", "/_emulator/messages/delete"):
        emu.delete_message(payload["channel_id"], payload["message_id"])
        return {"deleted": payload["message_id"]}
    if (method, path) == ("POST", "/_emulator/delete"):
        removed = remove(
            emu, payload["kind"], payload["guild_id"], payload["id"], payload.get("parent")
        )
        return {"deleted": payload["id"], "kind": payload["kind"], "name": removed.get("name")}
    if method == "POST" and path in SOCIAL_CHANGES:
        msg = SOCIAL_CHANGES[path](emu, payload)
        return {"id": msg["id"], "pinned": msg["pinned"]}
    if (method, path) == ("GET", "/_emulator/stats"):
        return emu.stats()
    if (method, path) == ("GET", "/_emulator/settings"):
        return emu.settings.as_dict()
    if (method, path) == ("POST", "/_emulator/settings"):
        emu.settings.update(**payload)
        return emu.settings.as_dict()
    if (method, path) == ("POST", "/_emulator/reset"):
        emu.reset_requests()
        return {"reset": True}
    return None


def _react(emu: Emulator, p: dict[str, Any], *, add: bool) -> dict[str, Any]:
    """`{channel_id, message_id, emoji: {id, name}, user_id, burst?}`."""
    return emu.react(
        p["channel_id"],
        p["message_id"],
        p["emoji"],
        p["user_id"],
        add=add,
        burst=bool(p.get("burst")),
    )


def _vote(emu: Emulator, p: dict[str, Any], *, add: bool) -> dict[str, Any]:
    """`{channel_id, message_id, answer_id, user_id}`."""
    return emu.vote(p["channel_id"], p["message_id"], p["answer_id"], p["user_id"], add=add)


#: Changes to pins, reactions and votes: path -> what it does with the JSON body.
SOCIAL_CHANGES: dict[str, Callable[[Emulator, dict[str, Any]], dict[str, Any]]] = {
    "/_emulator/pins/add": lambda e, p: e.pin_message(p["channel_id"], p["message_id"]),
    "/_emulator/pins/remove": lambda e, p: e.unpin_message(p["channel_id"], p["message_id"]),
    "/_emulator/reactions/add": lambda e, p: _react(e, p, add=True),
    "/_emulator/reactions/remove": lambda e, p: _react(e, p, add=False),
    "/_emulator/polls/vote": lambda e, p: _vote(e, p, add=True),
    "/_emulator/polls/unvote": lambda e, p: _vote(e, p, add=False),
    "/_emulator/polls/post": lambda e, p: e.post_poll(
        p["channel_id"], list(p["answers"]), multiselect=bool(p.get("multiselect"))
    ),
    "/_emulator/polls/finalize": lambda e, p: e.finalize_poll(p["channel_id"], p["message_id"]),
}


def post_messages(emu: Emulator, payload: dict[str, Any]) -> dict[str, Any]:
    """New messages in one channel, or spread over readable channels and active threads."""
    count = int(payload.get("count", 1))
    if count < 0:
        raise ValueError("count must be >= 0")
    if "channel_id" in payload:
        targets = [str(payload["channel_id"])] * count
    else:
        choices = writable_channels(emu)
        if not choices:
            raise ValueError("no readable text channel or active thread to post in")
        r = random.Random(emu.spec.seed * 7919 + len(emu.requests) + count)
        targets = [choices[r.randrange(len(choices))] for _ in range(count)]
    created: list[dict[str, str]] = []
    for channel_id in sorted(set(targets), key=int):
        for msg in emu.add_messages(channel_id, targets.count(channel_id)):
            created.append({"channel_id": channel_id, "id": msg["id"]})
    ids = [c["id"] for c in created]
    return {
        "count": len(created),
        "channels": len(set(targets)),
        "first_id": min(ids, key=int) if ids else None,
        "last_id": max(ids, key=int) if ids else None,
        "ids": ids,
        "messages": created,
    }


def writable_channels(emu: Emulator) -> list[str]:
    """Readable text/announcement channels and active threads the bot can read."""
    out = []
    for gid, channels in emu.world.channels.items():
        for channel in channels + emu.world.threads.get(gid, []):
            kind = channel["type"]
            if kind not in (0, 5, 10, 11, 12) or emu.world.log(channel["id"]) is None:
                continue
            if kind in (10, 11, 12) and channel["thread_metadata"]["archived"]:
                continue
            if emu.api.can_view(channel) and emu.api.has_history(channel):
                out.append(channel["id"])
    return sorted(out, key=int)


__all__ = ["control", "dumps", "post_messages", "writable_channels"]
