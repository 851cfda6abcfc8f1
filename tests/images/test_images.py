"""The two images, built here (``scripts/build-images.sh``: Debian's Docker engine, base images
made with debootstrap where none can be pulled) and run against the session's ElasticMQ and
database: the runtime contract of the Dockerfiles' header — uid/gid 10001, a read-only root
filesystem with only ``/tmp`` writable, the API ready on ``/readyz``, a worker that drains a
job — and the image sizes (``reports/images.json``)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from smartpapers.devstack.demo import DEMO_PAPER_ID, demo_answers, demo_paper
from smartpapers.devstack.servers import free_port
from tests.conftest import REPO, Stack

pytestmark = pytest.mark.integration

#: well above today's sizes (API ~215 MiB, worker ~170 MiB on the local bases): a dependency
#: that drags in a toolchain or the build stage leaking into the runtime shows up here
MAX_MIB = 350


@dataclass(frozen=True)
class Images:
    docker: str
    sizes: dict[str, int]

    def run(self, image: str, env: dict[str, str], *args: str) -> str:
        """Start ``image`` detached with the chart's pod constraints: the image's own user,
        a read-only root filesystem, a tmpfs ``/tmp``, no capabilities, no new privileges;
        on the host network (the servers listen on 127.0.0.1)."""
        name = f"smartpapers-test-{uuid.uuid4().hex[:8]}"
        env_args = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        subprocess.run(
            [self.docker, "run", "-d", "--name", name, "--network", "host", "--read-only",
             "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
             *env_args, image, *args],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return name

    def exec(self, name: str, *cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.docker, "exec", name, *cmd], capture_output=True, text=True)

    def logs(self, name: str) -> str:
        out = subprocess.run([self.docker, "logs", "--tail", "40", name], capture_output=True,
                             text=True)  # fmt: skip
        return out.stdout + out.stderr

    def remove(self, name: str) -> None:
        subprocess.run([self.docker, "rm", "-f", name], capture_output=True, check=False)


def engine_answers() -> bool:
    script = REPO / "scripts/docker-engine.sh"
    return subprocess.run(["bash", str(script), "check"], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def images() -> Iterator[Images]:
    """Both images, built once per session (layers cached by the engine); an engine this
    session started is stopped at its end."""
    running_before = engine_answers()
    built = subprocess.run(
        ["bash", str(REPO / "scripts/build-images.sh")], capture_output=True, text=True
    )
    if built.returncode != 0:
        pytest.fail(f"make images failed:\n{built.stderr[-3000:]}", pytrace=False)
    sizes = {line.split()[0]: int(line.split()[1]) for line in built.stdout.splitlines()}
    docker = subprocess.run(
        ["bash", str(REPO / "scripts/docker-engine.sh")], capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    (REPO / "reports").mkdir(exist_ok=True)
    (REPO / "reports/images.json").write_text(json.dumps({"sizesMiB": sizes}, indent=1) + "\n")
    yield Images(docker=docker, sizes=sizes)
    if not running_before:
        subprocess.run(["bash", str(REPO / "scripts/docker-engine.sh"), "stop"], check=False)


@pytest.fixture
def api(images: Images, stack: Stack) -> Iterator[tuple[str, str]]:
    """The API image on a free port: (container name, base URL), ready."""
    port = free_port()
    # host network: bind loopback only (the image's default, 0.0.0.0, is for a pod)
    env = {**stack.env(), "SMARTPAPERS_API_PORT": str(port), "SMARTPAPERS_AUTH_MODE": "none",
           "SMARTPAPERS_API_HOST": "127.0.0.1"}  # fmt: skip
    name = images.run("smartpapers-api:dev", env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, 60,
                 lambda: images.logs(name))  # fmt: skip
        yield name, url
    finally:
        images.remove(name)


def wait_for(ok: Callable[[], bool], timeout: float, why: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ok():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"not ready within {timeout:.0f} s:\n{why()}", pytrace=False)


def test_images_are_built_within_their_size_budget(images: Images) -> None:
    assert set(images.sizes) == {"smartpapers-api:dev", "smartpapers-worker:dev"}
    for image, mib in images.sizes.items():
        assert 0 < mib <= MAX_MIB, f"{image}: {mib} MiB"


def test_api_image_runs_as_10001_on_a_read_only_root(images: Images, api: tuple[str, str]) -> None:
    name, url = api
    assert images.exec(name, "id", "-u").stdout.strip() == "10001"
    assert images.exec(name, "id", "-g").stdout.strip() == "10001"
    assert images.exec(name, "sh", "-c", "echo x > /app/probe").returncode != 0  # read-only
    assert images.exec(name, "sh", "-c", "echo x > /tmp/probe").returncode == 0  # tmpfs
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200


def test_both_images_carry_the_oci_labels_of_this_commit(images: Images) -> None:
    revision = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for service in ("api", "worker"):
        out = subprocess.run(
            [images.docker, "image", "inspect", "-f", "{{json .Config.Labels}}",
             f"smartpapers-{service}:dev"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        labels = json.loads(out.stdout)
        oci = {k.removeprefix("org.opencontainers.image."): v for k, v in labels.items()}
        assert oci["title"] == f"smartpapers-{service}"
        assert oci["source"] == "https://github.com/smartpapers/smartpapers"
        assert oci["licenses"] == "Apache-2.0" == license_id()
        assert oci["version"] == (REPO / "VERSION").read_text().strip()
        assert oci["revision"] == revision


def license_id() -> str:
    """The SPDX id of the repository's LICENSE (its first line names it)."""
    first = (REPO / "LICENSE").read_text().split("\n", 1)[0].strip()
    assert first == "Apache License", first
    return "Apache-2.0"


def test_worker_image_drains_a_job(images: Images, stack: Stack, api: tuple[str, str]) -> None:
    _, url = api
    assert httpx.post(f"{url}/api/papers", json=demo_paper(), timeout=10).status_code == 201
    body = {"studentId": "s-image", "paperId": DEMO_PAPER_ID, "instituteId": "demo-institute",
            "answers": demo_answers(4)}  # fmt: skip
    accepted = httpx.post(f"{url}/api/submissions", json=body, timeout=10)
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()["jobId"]
    env = {**stack.env(), "SMARTPAPERS_WORKER_METRICS_PORT": str(free_port()),
           "SMARTPAPERS_WORKER_METRICS_HOST": "127.0.0.1",
           "SMARTPAPERS_SQS_WAIT_TIME_SECONDS": "1"}  # fmt: skip
    worker = images.run("smartpapers-worker:dev", env)
    try:
        assert images.exec(worker, "id", "-u").stdout.strip() == "10001"

        def completed() -> bool:
            r = httpx.get(f"{url}/api/submissions/status/{job}", timeout=5).json()
            return bool(r["status"] == "completed")

        wait_for(completed, 60, lambda: images.logs(worker))
        status = httpx.get(f"{url}/api/submissions/status/{job}", timeout=5).json()
        assert (status["result"]["score"], status["result"]["total"]) == (4, 20)
        stopped = subprocess.run([images.docker, "stop", "-t", "30", worker],
                                 capture_output=True, text=True)  # fmt: skip
        assert stopped.returncode == 0
        code = subprocess.run([images.docker, "inspect", "-f", "{{.State.ExitCode}}", worker],
                              capture_output=True, text=True).stdout.strip()  # fmt: skip
        assert code == "0", images.logs(worker)  # SIGTERM drains and exits cleanly
    finally:
        images.remove(worker)
