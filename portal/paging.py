"""Page numbers from users: bounded, so no page number reaches SQL or git as a huge integer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

MAX_PAGE = 10_000


def page_number(raw: str | None) -> int:
    """The page asked for, between 1 and MAX_PAGE; anything that is not a number is page 1."""
    try:
        return min(max(1, int(raw or "1")), MAX_PAGE)
    except ValueError:
        return 1


@dataclass
class Window:
    """One page of a long list, read without counting the list: one row past the page says
    whether another page follows (a count scans every matching row, on every page)."""

    items: list[Any]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)


def window(rows: QuerySet[Any], *, page: int, per_page: int) -> Window:
    """Page `page` of an ordered queryset, per_page + 1 rows read (no count)."""
    if page == 1:
        found = list(rows[: per_page + 1])
        return Window(items=found[:per_page], number=1, has_next=len(found) > per_page)
    ids = page_ids(rows, page=page, per_page=per_page)
    return Window(items=list(rows.filter(pk__in=ids[:per_page])), number=page, has_next=len(ids) > per_page)


def page_ids(rows: QuerySet[Any], *, page: int, per_page: int) -> list[Any]:
    """The keys of page `page` (and of one row past it). Skipping rows costs as many index
    entries, not whole rows: the database can skip within the index alone (an index-only scan
    on PostgreSQL), then reads only the rows shown."""
    start = (page - 1) * per_page
    return list(rows.values_list("pk", flat=True)[start : start + per_page + 1])
