from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from smartpapers.common.batching import SendBatcher


class FakeQueue:
    def __init__(
        self, *, fail: set[str] | None = None, broken: bool = False, max_batch: int = 10
    ) -> None:
        self.max_batch = max_batch
        self.calls: list[list[str]] = []
        self.fail = fail or set()
        self.broken = broken
        self.traceparents: dict[str, str] = {}

    async def send_job_ids(
        self, job_ids: Sequence[str], *, traceparents: Mapping[str, str] | None = None
    ) -> list[str]:
        self.calls.append(list(job_ids))
        self.traceparents.update(traceparents or {})
        if self.broken:
            raise RuntimeError("boom")
        await asyncio.sleep(0.001)
        return [j for j in job_ids if j in self.fail]


async def test_concurrent_sends_are_coalesced_into_batches_of_ten() -> None:
    queue, unsent = FakeQueue(), list[str]()

    async def on_failed(ids: Sequence[str]) -> None:
        unsent.extend(ids)

    batcher = SendBatcher(queue=queue, on_failed=on_failed, linger_seconds=0.01)  # type: ignore[arg-type]
    results = await asyncio.gather(*(batcher.send(f"j{i}") for i in range(25)))
    assert all(results)
    assert sorted(len(c) for c in queue.calls) == [5, 10, 10]
    assert unsent == []


async def test_an_unbatched_queue_gets_one_send_per_job() -> None:
    async def on_failed(ids: Sequence[str]) -> None:
        raise AssertionError(ids)

    queue = FakeQueue(max_batch=1)
    batcher = SendBatcher(queue=queue, on_failed=on_failed, linger_seconds=0.05)  # type: ignore[arg-type]
    assert all(await asyncio.gather(*(batcher.send(f"j{i}") for i in range(4))))
    assert queue.calls == [["j0"], ["j1"], ["j2"], ["j3"]]


async def test_failed_entries_report_false_and_are_marked_unsent() -> None:
    queue, unsent = FakeQueue(fail={"j1"}), list[str]()

    async def on_failed(ids: Sequence[str]) -> None:
        unsent.extend(ids)

    batcher = SendBatcher(queue=queue, on_failed=on_failed)  # type: ignore[arg-type]
    assert list(await asyncio.gather(batcher.send("j0"), batcher.send("j1"))) == [True, False]
    assert unsent == ["j1"]

    unsent.clear()
    broken = SendBatcher(queue=FakeQueue(broken=True), on_failed=on_failed)  # type: ignore[arg-type]
    assert await broken.send("j2") is False
    assert unsent == ["j2"]


async def test_a_broken_queue_and_marker_never_raise_into_the_request() -> None:
    async def on_failed(ids: Sequence[str]) -> None:
        raise RuntimeError("mongo down")

    assert await SendBatcher(queue=FakeQueue(broken=True), on_failed=on_failed).send("j") is False  # type: ignore[arg-type]
    assert await SendBatcher(queue=FakeQueue(), on_failed=on_failed).send("j") is True  # type: ignore[arg-type]


async def test_close_flushes_pending_sends() -> None:
    queue = FakeQueue()

    async def on_failed(ids: Sequence[str]) -> None:
        pass

    batcher = SendBatcher(queue=queue, on_failed=on_failed, linger_seconds=10)  # type: ignore[arg-type]
    pending = asyncio.ensure_future(batcher.send("j"))
    await asyncio.sleep(0)
    await batcher.close()
    assert await pending is True
    assert queue.calls == [["j"]]


async def test_a_send_carries_its_trace_context_to_its_batch_entry() -> None:
    queue = FakeQueue()

    async def on_failed(ids: Sequence[str]) -> None:
        raise AssertionError(ids)

    batcher = SendBatcher(queue=queue, on_failed=on_failed)  # type: ignore[arg-type]
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert all(await asyncio.gather(batcher.send("a", traceparent=tp), batcher.send("b")))
    assert queue.traceparents == {"a": tp}
    assert batcher._traceparents == {}  # nothing kept after the send
