"""Paginators for Discord's cursor styles.

Discord pages by snowflake (`after`/`before`), by the last user id (members), or by
ISO 8601 `archive_timestamp` with `has_more` (archived threads). Each paginator reads
the page body once through `response_json`, which caches the parsed body on the
response so the stream's `parse_response` does not parse it again.
"""

from __future__ import annotations

import typing as t

from singer_sdk.pagination import BaseAPIPaginator

from tap_discord.responses import response_json

if t.TYPE_CHECKING:
    import requests


class SnowflakeAfterPaginator(BaseAPIPaginator["int | None"]):
    """Forward paging with `after=<largest id seen>` over pages of `limit` items.

    Discord returns message pages newest-first even with `after`, so the next cursor
    is the largest id in the page, compared as an integer. A page shorter than the
    limit is the last one (this saves the request for an empty page).
    """

    def __init__(
        self,
        start_value: int | None,
        *,
        page_size: int,
        id_of: IdGetter,
        items_of: ItemsGetter | None = None,
    ) -> None:
        """Start after `start_value` (None: from the beginning).

        `items_of` finds the page's items in the body (default: the body is the list).
        """
        super().__init__(start_value)
        self.page_size = page_size
        self.id_of = id_of
        self.items_of = items_of

    def get_next(self, response: requests.Response) -> int | None:
        """Return the largest id of the page, or None for an empty page."""
        items = self._items(response)
        if not items:
            return None
        return max(int(self.id_of(item)) for item in items)

    def has_more(self, response: requests.Response) -> bool:
        """Only a full page can have a successor."""
        return len(self._items(response)) >= self.page_size

    def _items(self, response: requests.Response) -> list[t.Any]:
        """The page's items (the body, or the part `items_of` picks)."""
        body = response_json(response)
        return list(self.items_of(body) if self.items_of else body)


class HasMoreTimestampPaginator(BaseAPIPaginator["str | None"]):
    """Archived-thread paging: `before=<archive_timestamp of the last thread>` while `has_more`.

    The active-threads route answers with the same body shape and no `has_more`, so this
    paginator also ends it after one page.
    """

    def get_next(self, response: requests.Response) -> str | None:
        """Return the oldest `archive_timestamp` of the page."""
        threads = response_json(response).get("threads") or []
        if not threads:
            return None
        return str(threads[-1]["thread_metadata"]["archive_timestamp"])

    def has_more(self, response: requests.Response) -> bool:
        """Follow Discord's own `has_more` flag."""
        return bool(response_json(response).get("has_more"))


IdGetter = t.Callable[[dict], "str | int"]
ItemsGetter = t.Callable[[t.Any], "list[t.Any]"]
