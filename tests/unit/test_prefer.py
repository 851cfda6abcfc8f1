"""``Prefer: wait=N`` parsing (RFC 7240 §4.3), capped at 10 s."""

from __future__ import annotations

import pytest

from smartpapers.api.inline import preferred_wait


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("wait=5", 5.0),
        ("respond-async, wait=3", 3.0),
        ("WAIT = 2.5", 2.5),
        ('wait="4"', 4.0),
        ("wait=5; foo=bar", 5.0),
        ("wait=60", 10.0),  # capped
        ("wait=0", 0.0),
        ("wait=-1", None),
        ("wait=soon", None),
        ("wait=nan", None),
        ("return=minimal", None),
    ],
)
def test_preferred_wait(header: str | None, expected: float | None) -> None:
    assert preferred_wait(header) == expected
