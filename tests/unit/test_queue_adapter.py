"""The SQS adapter against moto's server (unit level: no emulator needed)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator

import pytest
from moto.server import ThreadedMotoServer

from smartpapers.common.errors import InvalidMessageError, QueueUnavailableError
from smartpapers.common.metrics import SQS_REQUESTS
from smartpapers.common.queue import (
    ReceivedMessage,
    SqsQueue,
    decode_job_message,
    encode_job_message,
    open_sqs_client,
)
from smartpapers.devstack.servers import free_port


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
async def queue(moto_endpoint: str, request: pytest.FixtureRequest) -> AsyncIterator[SqsQueue]:
    async with open_sqs_client(region="us-east-1", endpoint_url=moto_endpoint) as sqs:
        name = re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)[:60]
        url = (await sqs.create_queue(QueueName=f"q-{name}"))["QueueUrl"]
        yield SqsQueue(client=sqs, url=url)
        await sqs.delete_queue(QueueUrl=url)


def count(op: str) -> float:
    return float(SQS_REQUESTS.labels(operation=op)._value.get())


def test_message_codec_round_trip_and_rejects_garbage() -> None:
    assert json.loads(encode_job_message("j1")) == {"jobId": "j1", "v": 1}
    assert decode_job_message(encode_job_message("j1")) == "j1"
    for bad in ("not json", "{}", '{"jobId": ""}', "[1]"):
        with pytest.raises(InvalidMessageError):
            decode_job_message(bad)


async def test_send_splits_into_batches_of_ten_and_counts_requests(queue: SqsQueue) -> None:
    before = count("SendMessageBatch")
    assert await queue.send_job_ids([f"j{i}" for i in range(23)]) == []
    assert count("SendMessageBatch") - before == 3
    depth = await queue.depth()
    assert depth["visible"] == 23


async def test_unbatched_mode_sends_and_deletes_one_message_per_request(
    queue: SqsQueue,
) -> None:
    # the benchmark's naive baseline (SMARTPAPERS_SQS_BATCHING=false)
    naive = SqsQueue(client=queue.client, url=queue.url, batching=False)
    assert naive.max_batch == 1 and queue.max_batch == 10
    ops = ("SendMessage", "SendMessageBatch", "DeleteMessage", "DeleteMessageBatch")
    before = {op: count(op) for op in ops}
    assert await naive.send_job_ids(["a", "b", "c"]) == []
    got = await naive.receive(max_messages=10, wait_seconds=1)
    assert await naive.delete([m.receipt_handle for m in got]) == 0
    delta = {op: count(op) - before[op] for op in ops}
    assert delta == {
        "SendMessage": 3,
        "SendMessageBatch": 0,
        "DeleteMessage": len(got),
        "DeleteMessageBatch": 0,
    }
    assert len(got) >= 1


async def test_unbatched_send_reports_the_job_it_could_not_send(moto_endpoint: str) -> None:
    async with open_sqs_client(region="us-east-1", endpoint_url=moto_endpoint) as sqs:
        missing = SqsQueue(
            client=sqs, url=f"{moto_endpoint}/123456789012/missing-naive", batching=False
        )
        assert await missing.send_job_ids(["x", "y"]) == ["x", "y"]


async def test_receive_delete_and_change_visibility(queue: SqsQueue) -> None:
    await queue.send_job_ids(["a", "b", "c"])
    got = await queue.receive(max_messages=10, wait_seconds=1)
    assert sorted(decode_job_message(m.body) for m in got) == ["a", "b", "c"]
    assert all(m.receive_count == 1 for m in got)
    assert await queue.change_visibility([(got[0].receipt_handle, 0)]) == 0
    assert await queue.delete([m.receipt_handle for m in got[1:]]) == 0
    again = await queue.receive(max_messages=10, wait_seconds=1)
    assert [decode_job_message(m.body) for m in again] == [decode_job_message(got[0].body)]
    assert again[0].receive_count == 2


async def test_errors_become_queue_unavailable(moto_endpoint: str) -> None:
    async with open_sqs_client(region="us-east-1", endpoint_url=moto_endpoint) as sqs:
        missing = SqsQueue(client=sqs, url=f"{moto_endpoint}/123456789012/does-not-exist")
        with pytest.raises(QueueUnavailableError):
            await missing.depth()
        # a send to a missing queue is reported per job, not raised
        assert await missing.send_job_ids(["x"]) == ["x"]


@pytest.mark.parametrize("batching", [True, False])
async def test_the_trace_context_travels_as_a_message_attribute(
    queue: SqsQueue, batching: bool
) -> None:
    sender = SqsQueue(client=queue.client, url=queue.url, batching=batching)
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert await sender.send_job_ids(["traced", "plain"], traceparents={"traced": tp}) == []
    got: dict[str, ReceivedMessage] = {}
    for _ in range(5):
        for m in await queue.receive(max_messages=10, wait_seconds=1):
            got[decode_job_message(m.body)] = m
        if len(got) == 2:
            break
    assert got["traced"].traceparent == tp
    assert got["plain"].traceparent is None
    assert all(m.received_at_ns > 0 for m in got.values())
