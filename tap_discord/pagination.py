"""Paginators for Discord's cursor styles.

Discord pages forward by snowflake (`after`: messages, members by user id, guilds, the
audit log) or by ISO 8601 `archive_timestamp` with `has_more` (archived threads). A
paginator reads the page body once through `response_json`, which caches the parsed
body on the response so the stream's `parse_response` does not parse it again, unless
the stream hands it a cheaper reader of the page's ids (messages).
"""

from __future__ import annotations

import typing as t

from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_discord.responses import response_json

if t.TYPE_CHECKING:
    import requests


def body_items(response: requests.Response) -> list[t.Any]:
    """The items of a page whose body is the list itself."""
    return list(response_json(response))


class SnowflakeAfterPaginator(BaseAPIPaginator["int | None"]):
    """Forward paging with `after=<largest id of the page>` over pages of `page_size` items.

    The next cursor is the largest id in the page, compared as an integer: message
    pages come newest-first even with `after`, other lists oldest-first. A page shorter
    than `page_size` is the last one (this saves the request for an empty page), and so
    is a full page that reaches `until`, the newest id the list had when the run looked
    at it (a channel's `last_message_id`): anything newer is left for the next run.
    """

    def __init__(
        self,
        start_value: int | None,
        *,
        page_size: int,
        id_of: IdGetter,
        items_of: ItemsGetter = body_items,
        until: int | None = None,
    ) -> None:
        """Start after `start_value` (None: the stream's own first cursor).

        `items_of` reads the page's items from the response (default: the body is the
        list), `id_of` the id of one item.
        """
        super().__init__(start_value)
        self.page_size = page_size
        self.id_of = id_of
        self.items_of = items_of
        self.until = until

    @override
    def get_next(self, response: requests.Response) -> int | None:
        """Return the largest id of the page, or None for an empty page."""
        items = self.items_of(response)
        if not items:
            return None
        return self._largest(items)

    @override
    def has_more(self, response: requests.Response) -> bool:
        """Only a full page below `until` can have a successor."""
        items = self.items_of(response)
        if len(items) < self.page_size:
            return False
        return self.until is None or self._largest(items) < self.until

    def _largest(self, items: t.Sequence[t.Any]) -> int:
        """The largest id among the page's items."""
        return max(int(self.id_of(item)) for item in items)


class HasMoreTimestampPaginator(BaseAPIPaginator["str | None"]):
    """Archived-thread paging: `before=<archive_timestamp of the last thread>` while `has_more`.

    The active-threads route answers with the same body shape and no `has_more`, so this
    paginator also ends it after one page.
    """

    @override
    def get_next(self, response: requests.Response) -> str | None:
        """Return the oldest `archive_timestamp` of the page."""
        threads = response_json(response).get("threads") or []
        if not threads:
            return None
        return str(threads[-1]["thread_metadata"]["archive_timestamp"])

    @override
    def has_more(self, response: requests.Response) -> bool:
        """Follow Discord's own `has_more` flag."""
        return bool(response_json(response).get("has_more"))


IdGetter = t.Callable[[t.Any], "str | int"]
ItemsGetter = t.Callable[["requests.Response"], "t.Sequence[t.Any]"]


class PinnedBeforePaginator(BaseAPIPaginator["str | None"]):
    """Pin paging: `before=<pinned_at of the page's last item>` while `has_more`.

    https://discord.com/developers/docs/resources/message#get-channel-pins: items come
    newest pin first, and the next page is asked for with the last item's `pinned_at`.
    """

    @override
    def get_next(self, response: requests.Response) -> str | None:
        """Return the last item's `pinned_at`, or None for an empty page."""
        items = response_json(response).get("items") or []
        return str(items[-1]["pinned_at"]) if items else None

    @override
    def has_more(self, response: requests.Response) -> bool:
        """Follow Discord's own `has_more` flag."""
        return bool(response_json(response).get("has_more"))
