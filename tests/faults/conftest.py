from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from smartpapers.devstack.servers import ServerStartError
from tests.faults.harness import FaultStack


@pytest.fixture
async def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FaultStack]:
    stack = FaultStack(root=tmp_path_factory.mktemp("fault"))
    try:
        await stack.start()
    except ServerStartError as e:
        stack.stop()
        pytest.fail(f"a required test server could not start: {e}", pytrace=False)
    except BaseException:
        stack.stop()  # whatever went wrong, no server outlives the test
        raise
    try:
        yield stack
    finally:
        stack.stop()
