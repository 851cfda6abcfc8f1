"""schemathesis against the app's own OpenAPI schema, in-process (ASGI) on the real
ElasticMQ + the database, in auth mode none and jwt (with and without a token): no 5xx, status
codes, content types and bodies as documented. Plus cheap rejection of hostile bodies."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, cast

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from smartpapers.api.app import create_app
from smartpapers.api.settings import Settings
from smartpapers.devstack.demo import demo_paper
from tests.conftest import Stack
from tests.integration.conftest import api_settings
from tests.jwt_issuer import Issuer, JwksServer, bearer, jwt_settings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
EXAMPLES = 30  # per operation (positive and negative cases mixed)
AnyOperation = APIOperation[Any, Any, Any, Any]
AnyCase = Case[Any]


def fuzz(
    settings_: Settings,
    *,
    headers: dict[str, str],
    seed: Callable[[asgi.ASGIClient], None] | None = None,
    patch: Callable[[AnyCase], None] | None = None,
) -> dict[str, dict[int, int]]:
    """Run every /api operation through schemathesis; returns status counts per operation.
    The app runs its real lifespan inside schemathesis' ASGI event loop thread."""
    app = create_app(settings_)
    statuses: dict[str, dict[int, int]] = {}
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        with asgi.ASGIClient(cast(asgi.ASGIApp, app)) as client:
            if seed is not None:
                seed(client)
            for result in schema.get_all_operations():
                operation: AnyOperation = result.ok()  # type: ignore[union-attr]
                if not operation.path.startswith("/api/"):
                    continue
                seen = statuses.setdefault(f"{operation.method.upper()} {operation.path}", {})
                _fuzz_operation(operation, client=client, headers=headers, patch=patch, seen=seen)
    finally:
        asgi.shutdown_lifespans()
    return statuses


def _fuzz_operation(
    operation: AnyOperation,
    *,
    client: asgi.ASGIClient,
    headers: dict[str, str],
    patch: Callable[[AnyCase], None] | None,
    seen: dict[int, int],
) -> None:
    strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    def run(case: AnyCase) -> None:
        if patch is not None:
            patch(case)
        response = case.call_and_validate(session=client, headers=headers, checks=CHECKS)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1

    run()


def test_fuzz_auth_mode_none(stack: Stack) -> None:
    def seed(client: asgi.ASGIClient) -> None:
        assert client.post("/api/papers", json=demo_paper()).status_code == 201

    started = time.perf_counter()
    statuses = fuzz(api_settings(stack), headers={}, seed=seed)
    assert set(statuses) == {
        "POST /api/submissions",
        "GET /api/submissions/status/{job_id}",
        "GET /api/submissions/status/{job_id}/events",
        "POST /api/papers",
        "GET /api/papers/{paper_id}",
    }
    assert 201 in statuses["POST /api/papers"]  # the generator reaches the success paths
    assert time.perf_counter() - started < 60


def test_fuzz_auth_mode_jwt_without_a_token_is_always_401(stack: Stack, jwks: JwksServer) -> None:
    statuses = fuzz(api_settings(stack, **jwt_settings(jwks)), headers={})
    for operation, seen in statuses.items():
        assert set(seen) == {401}, (operation, seen)


def test_fuzz_auth_mode_jwt_with_a_staff_token(
    stack: Stack, issuer: Issuer, jwks: JwksServer
) -> None:
    token = issuer.staff_token("fuzz-staff")

    def seed(client: asgi.ASGIClient) -> None:
        r = client.post("/api/papers", json=demo_paper(), headers=bearer(token))
        assert r.status_code == 201, r.text

    def patch(case: AnyCase) -> None:
        # steer valid submissions past the 403 (studentId == sub) and the 404 (a real paper)
        if (
            case.method == "POST"
            and case.path == "/api/submissions"
            and case.meta is not None
            and case.meta.generation.mode == GenerationMode.POSITIVE
            and isinstance(case.body, dict)
        ):
            case.body = {
                **case.body,
                "studentId": "fuzz-staff",
                "paperId": "demo-paper",
                "instituteId": "demo-institute",
            }

    statuses = fuzz(
        api_settings(
            stack,
            **jwt_settings(jwks),
            rate_limit_submissions=100_000,
            rate_limit_status_polls=100_000,
        ),
        headers=bearer(token),
        seed=seed,
        patch=patch,
    )
    assert 202 in statuses["POST /api/submissions"], statuses
    assert 201 in statuses["POST /api/papers"], statuses


# -- hostile bodies -------------------------------------------------------------------------


async def test_deeply_nested_and_oversized_bodies_are_rejected_cheaply(
    client: httpx.AsyncClient, demo: dict[str, Any]
) -> None:
    depth = 50_000  # ~100 KB of nesting: below the 256 KiB cap, so the parser sees it
    bodies = {
        "nested arrays": b"[" * depth + b"]" * depth,
        "nested objects in answers": (
            b'{"studentId":"s","paperId":"demo-paper","instituteId":"i","answers":'
            + b'{"a":' * (depth // 3)
            + b"1"
            + b"}" * (depth // 3)
            + b"}"
        ),
        "nested answer value": json.dumps(
            {
                "studentId": "s",
                "paperId": "demo-paper",
                "instituteId": "i",
                "answers": [{"questionId": "q1", "answer": "X"}],
            }
        )
        .replace('"X"', "[" * depth + "]" * depth)
        .encode(),
    }
    for name, raw in bodies.items():
        assert 90_000 <= len(raw) <= 256 * 1024, (name, len(raw))
        started = time.perf_counter()
        r = await client.post(
            "/api/submissions", content=raw, headers={"Content-Type": "application/json"}
        )
        elapsed = time.perf_counter() - started
        assert r.status_code == 422, (name, r.status_code, r.text[:200])
        assert r.json()["error"] in ("invalid_request", "too_many_answers"), name
        assert elapsed < 1.0, (name, elapsed)
    # past the cap: 413 from Content-Length, before any byte of the body is parsed
    huge = b"[" * 300_000 + b"]" * 300_000
    started = time.perf_counter()
    r = await client.post(
        "/api/submissions", content=huge, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413 and time.perf_counter() - started < 1.0
