"""Failpoints: named places in the code where a fault can be injected at run time, for the
fault-injection suite (in the spirit of etcd's gofail and TiKV's fail-rs).

Off unless the ``failpoints`` setting (``SMARTPAPERS_FAILPOINTS``) is set, e.g.
``after_claim=crash`` or ``before_grade=sleep(3),after_store=crash``; the worker calls
:func:`configure` with it at start-up. Actions: ``crash`` (SIGKILL this process, as ``kill -9``
would), ``sleep(N)`` (seconds), ``error`` (raise FailpointError). A disabled failpoint costs
one dict lookup.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal

from smartpapers.common.errors import StorageUnavailableError

logger = logging.getLogger(__name__)

_ACTION = re.compile(r"^(crash|error|sleep\((\d+(?:\.\d+)?)\))$")


class FailpointError(StorageUnavailableError):
    """Behaves like a transient storage error, so the normal retry path handles it."""


def parse(spec: str) -> dict[str, str]:
    points: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        name, _, action = item.partition("=")
        if not name or not _ACTION.match(action):
            raise ValueError(f"bad failpoint {item!r}: use name=crash|error|sleep(N)")
        points[name] = action
    return points


_points: dict[str, str] = {}


def configure(spec: str) -> None:
    """Replace the active failpoints (start-up; tests)."""
    global _points
    _points = parse(spec)


async def hit(name: str) -> None:
    action = _points.get(name)
    if action is None:
        return
    logger.warning("failpoint %s: %s", name, action)
    if action == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "error":
        raise FailpointError(f"failpoint {name}")
    else:
        match = _ACTION.match(action)
        assert match is not None
        await asyncio.sleep(float(match.group(2)))
