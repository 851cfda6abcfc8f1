"""A TCP proxy on 127.0.0.1 in front of the database that makes its QUERIES slow on demand:
the answer to every data command (insert, update, find, …) is held ``delay`` seconds, while
handshakes and the driver's monitoring (hello, ping) pass at once — a database that accepts
connections but queues work, as one under load does. It runs in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator

OP_MSG = 2013
#: commands answered at once: connection handshakes and server monitoring
CONTROL = {b"hello", b"isMaster", b"ismaster", b"ping", b"buildInfo", b"endSessions"}


def command_name(message: bytes) -> bytes | None:
    """The command of an OP_MSG (the first key of its body section), if ``message`` starts
    with one."""
    if len(message) < 26 or struct.unpack_from("<i", message, 12)[0] != OP_MSG:
        return None
    start = 16 + 4 + 1 + 4 + 1  # header, flags, section kind 0, document length, type byte
    end = message.find(b"\x00", start)
    return message[start:end] if end > start else None


class SlowProxy:
    def __init__(self, *, target_port: int) -> None:
        self.target_port = target_port
        self.delay = 0.0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> SlowProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        slow = asyncio.Event()  # set while the pending answer is one to a data command
        for task in (
            asyncio.create_task(self._requests(client_r, server_w, slow)),
            asyncio.create_task(self._answers(server_r, client_w, slow)),
        ):
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slow: asyncio.Event
    ) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                name = command_name(data)
                if name is not None and name not in CONTROL:
                    slow.set()
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()

    async def _answers(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slow: asyncio.Event
    ) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if slow.is_set() and self.delay:
                    await asyncio.sleep(self.delay)
                slow.clear()
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()


@contextlib.asynccontextmanager
async def slow_proxy(target_port: int) -> AsyncIterator[SlowProxy]:
    proxy = await SlowProxy(target_port=target_port).start()
    try:
        yield proxy
    finally:
        await proxy.stop()
