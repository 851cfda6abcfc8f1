"""A real Kubernetes control plane for the chart's checks: etcd and kube-apiserver built from
the Go module proxy (``scripts/install-tools.sh kubernetes``, pinned in
``deploy/local/kubernetes/go.mod``), started on 127.0.0.1 ports in a temporary directory
and stopped at the end of the session. No controllers, no nodes: objects are admitted and
stored (schemas, CRD validation rules, defaulting, PodSecurity admission), nothing runs.

Every process (and every kubectl call) runs in a network namespace of its own that has
only a loopback interface (``unshare --net``; ``nsenter`` joins it), so nothing the test
starts can be reached from outside, even a server that binds every address (KEDA's
webhook server has no flag for its listen address: ``keda_webhook.py``)."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from smartpapers.devstack.servers import ManagedProcess, free_port, spawn

from .conftest import pinned

KUBERNETES_VERSION = pinned("KUBERNETES_VERSION")
TOKEN = "smartpapers-test-admin"


def binaries(cache: Path) -> Path:
    bin_dir = cache / f"kubernetes-{KUBERNETES_VERSION}" / "bin"
    missing = [b for b in ("etcd", "kube-apiserver", "kubectl") if not (bin_dir / b).is_file()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not in {bin_dir}: build them with "
            f"`bash scripts/install-tools.sh kubernetes` (Kubernetes {KUBERNETES_VERSION} "
            "from the Go module proxy)",
            pytrace=False,
        )
    return bin_dir


def network_namespace() -> tuple[ManagedProcess, list[str]]:
    """A process holding a new network namespace with only ``lo`` (up), and the command
    prefix that runs a program in it. Root: ``unshare --net``; otherwise the namespace
    belongs to a new user namespace (``--map-root-user``)."""
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    holder = spawn("netns", ["unshare", *user, "--net", "--", "sh", "-c",
                             "ip link set lo up && echo lo-up && exec sleep infinity"])  # fmt: skip
    deadline = time.monotonic() + 10
    while "lo-up" not in holder.log_lines:
        if not holder.running or time.monotonic() > deadline:
            holder.stop()
            pytest.fail(f"no network namespace (unshare --net):\n{holder.tail()}", pytrace=False)
        time.sleep(0.05)
    enter = ["--user", "--preserve-credentials"] if user else []
    return holder, ["nsenter", f"--target={holder.popen.pid}", *enter, "--net", "--"]


@dataclass
class ControlPlane:
    bin_dir: Path
    server: str
    procs: list[ManagedProcess]
    netns: list[str]  # command prefix: run in the plane's network namespace

    def spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        """Start a process in the plane's network namespace; stopped with the plane."""
        proc = spawn(name, [*self.netns, *argv])
        self.procs.append(proc)
        return proc

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        cmd = [*self.netns, str(self.bin_dir / "kubectl"), f"--server={self.server}",
               f"--token={TOKEN}", "--insecure-skip-tls-verify=true", *args]  # fmt: skip
        out = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120)
        if check and out.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{out.stderr}")
        return out

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()


def start(bin_dir: Path, work: Path) -> ControlPlane:
    work.mkdir(parents=True, exist_ok=True)
    client, peer, secure = free_port(), free_port(), free_port()
    key = work / "sa.key"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(work / "sa.pub")],
                   check=True, capture_output=True)  # fmt: skip
    (work / "tokens.csv").write_text(f"{TOKEN},admin,admin-uid,system:masters\n")
    holder, netns = network_namespace()
    plane = ControlPlane(bin_dir, f"https://127.0.0.1:{secure}", [holder], netns)
    plane.spawn("etcd", [
        str(bin_dir / "etcd"), f"--data-dir={work / 'etcd'}", "--name=default",
        f"--listen-client-urls=http://127.0.0.1:{client}",
        f"--advertise-client-urls=http://127.0.0.1:{client}",
        f"--listen-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-cluster=default=http://127.0.0.1:{peer}", "--log-level=error",
    ])  # fmt: skip
    plane.spawn("kube-apiserver", [
        str(bin_dir / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{client}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
        f"--secure-port={secure}", f"--cert-dir={work / 'certs'}",
        f"--token-auth-file={work / 'tokens.csv'}", "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-account-key-file={work / 'sa.pub'}",
        f"--service-account-signing-key-file={key}",
        "--service-cluster-ip-range=10.96.0.0/24", "--profiling=false", "-v=0",
    ])  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for p in plane.procs:
            if not p.running:
                plane.stop()
                pytest.fail(f"{p.name} exited early:\n{p.tail()}", pytrace=False)
        if plane.kubectl("get", "--raw=/readyz", check=False).returncode == 0:
            return plane
        time.sleep(0.5)
    tails = "\n".join(p.tail() for p in plane.procs)
    plane.stop()
    pytest.fail(f"kube-apiserver not ready within 90 s:\n{tails}", pytrace=False)
