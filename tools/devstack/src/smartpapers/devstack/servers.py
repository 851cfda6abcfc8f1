"""Start and stop the local third-party servers (ElasticMQ, the database) and our own processes.

Binaries come from the cache that ``scripts/install-tools.sh`` fills
(``$SMARTPAPERS_CACHE``, default ``~/.cache/smartpapers``). Every server binds 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ELASTICMQ_VERSION = "1.7.1"
REGION = "us-east-1"
ACCOUNT_ID = "000000000000"


class ServerStartError(RuntimeError):
    """A required server could not start; the message says why and how to fix it."""


def cache_dir() -> Path:
    return Path(os.environ.get("SMARTPAPERS_CACHE", Path.home() / ".cache" / "smartpapers"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


@dataclass
class ManagedProcess:
    """A child process whose output is copied, line by line and prefixed, to ``sink``."""

    name: str
    popen: subprocess.Popen[bytes]
    log_lines: list[str] = field(default_factory=list)
    terminating: bool = False

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log_lines[-n:])

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.running:
            self.popen.send_signal(sig)
            if sig == signal.SIGTERM:
                self.terminating = True

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM (once) and wait; SIGKILL after ``timeout``."""
        if self.running:
            if not self.terminating:
                self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def kill(self) -> None:
        if self.running:
            self.popen.kill()
            self.popen.wait()


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    sink: IO[str] | None = None,
    keep_lines: int = 500,
) -> ManagedProcess:
    popen = subprocess.Popen(
        list(argv),
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops children in order
    )
    proc = ManagedProcess(name=name, popen=popen)

    def pump() -> None:
        assert popen.stdout is not None
        with popen.stdout:
            _copy(popen.stdout)

    def _copy(stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            proc.log_lines.append(line)
            if len(proc.log_lines) > keep_lines:
                del proc.log_lines[: keep_lines // 2]
            if sink is not None:
                sink.write(f"[{name:<9}] {line}\n")
                sink.flush()

    threading.Thread(target=pump, name=f"log-{name}", daemon=True).start()
    return proc


def wait_for_port(proc: ManagedProcess, port: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if not proc.running:
            raise ServerStartError(
                f"{proc.name} exited with code {proc.popen.returncode} before listening on "
                f"127.0.0.1:{port}. Last output:\n{proc.tail()}"
            )
        time.sleep(0.1)
    proc.kill()
    raise ServerStartError(
        f"{proc.name} did not listen on 127.0.0.1:{port} within {timeout:.0f}s. "
        f"Last output:\n{proc.tail()}"
    )


def _require(path: Path, tool: str) -> Path:
    if not path.exists():
        raise ServerStartError(
            f"{tool} is not installed at {path}. Run `scripts/install-tools.sh {tool}` "
            "(make dev / make test do it for you)."
        )
    return path


def elasticmq_config(*, port: int, data_dir: Path | None) -> str:
    persist = ""
    if data_dir is not None:
        persist = f"""
queues-storage {{
  enabled = true
  path = "{data_dir / "queues.conf"}"
}}
messages-storage {{
  enabled = true
  uri = "jdbc:h2:{data_dir / "messages"}"
}}
"""
    return f"""include classpath("application.conf")
node-address {{
  protocol = "http"
  host = "127.0.0.1"
  port = {port}
  context-path = ""
}}
rest-sqs {{
  enabled = true
  bind-port = {port}
  bind-hostname = "127.0.0.1"
  sqs-limits = strict
}}
generate-node-address = false
aws {{
  region = "{REGION}"
  accountId = "{ACCOUNT_ID}"
}}
{persist}"""


LOGBACK = """<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d{HH:mm:ss.SSS} %-5level %logger{20} - %msg%n</pattern></encoder>
  </appender>
  <logger name="org.elasticmq" level="{level}"/>
  <root level="WARN"><appender-ref ref="STDOUT"/></root>
</configuration>
"""


def start_elasticmq(
    *,
    port: int,
    work_dir: Path,
    persist: bool,
    sink: IO[str] | None = None,
    log_level: str = "WARN",
    timeout: float = 60,
) -> ManagedProcess:
    lib = _require(cache_dir() / f"elasticmq-{ELASTICMQ_VERSION}" / "lib", "elasticmq")
    java = shutil.which("java")
    if java is None:
        raise ServerStartError("java is not on PATH (ElasticMQ needs a JRE >= 11)")
    work_dir.mkdir(parents=True, exist_ok=True)
    conf = work_dir / "elasticmq.conf"
    conf.write_text(elasticmq_config(port=port, data_dir=work_dir if persist else None))
    logback = work_dir / "logback.xml"
    logback.write_text(LOGBACK.replace("{level}", log_level))
    proc = spawn(
        "elasticmq",
        [
            java,
            "-Xms64m",
            "-Xmx512m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            f"-Dconfig.file={conf}",
            f"-Dlogback.configurationFile={logback}",
            "-cp",
            f"{lib}/*",
            "org.elasticmq.server.Main",
        ],
        sink=sink,
    )
    wait_for_port(proc, port, timeout=timeout)
    return proc


SECANTUSDB_VERSION = "0.7.0b3"


def mongo_uri(port: int) -> str:
    """The local database's URI. ``directConnection``: it presents itself as a one-member
    replica set (so change streams work); the driver must not go looking for other members."""
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


def start_database(
    *, port: int, data_dir: Path, sink: IO[str] | None = None, timeout: float = 60
) -> ManagedProcess:
    """The local MongoDB-compatible server: SecantusDB's Python server on WiredTiger
    (docs/performance.md explains the choice), data kept in ``data_dir``."""
    binary = _require(
        cache_dir() / f"secantusdb-{SECANTUSDB_VERSION}" / "bin" / "secantusd-py", "secantusdb"
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    # an explicit (empty) config file: no secantusd.toml found in the working directory or
    # the home directory changes the server's behaviour
    config = data_dir.parent / "secantusd.toml"
    config.touch()
    proc = spawn(
        "database",
        [
            str(binary),
            "--host=127.0.0.1",
            f"--port={port}",
            f"--storage-path={data_dir}",
            "--log-level=WARNING",
            f"--config={config}",
        ],
        sink=sink,
    )
    wait_for_port(proc, port, timeout=timeout)
    return proc


def queue_url(endpoint: str, name: str) -> str:
    return f"{endpoint}/{ACCOUNT_ID}/{name}"


def python_module(module: str) -> list[str]:
    return [sys.executable, "-m", module]


EMULATOR_AWS_ENV = {
    # ElasticMQ ignores credentials, but botocore refuses to sign without some
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_EC2_METADATA_DISABLED": "true",
}
