"""Page numbers from users: bounded, so no page number reaches SQL or git as a huge integer."""

MAX_PAGE = 10_000


def page_number(raw: str | None) -> int:
    """The page asked for, between 1 and MAX_PAGE; anything that is not a number is page 1."""
    try:
        return min(max(1, int(raw or "1")), MAX_PAGE)
    except ValueError:
        return 1
