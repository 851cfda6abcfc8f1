from __future__ import annotations

import pytest
from pydantic import ValidationError

from smartpapers.api.settings import Settings as ApiSettings
from smartpapers.worker.settings import Settings as WorkerSettings


def test_settings_read_prefixed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTPAPERS_SQS_QUEUE_URL", "http://q")
    monkeypatch.setenv("SMARTPAPERS_MONGO_URI", "mongodb://secret@h/")
    monkeypatch.setenv("SMARTPAPERS_WORKER_CONCURRENCY", "7")
    s = WorkerSettings()
    assert s.sqs_queue_url == "http://q"
    assert s.worker_concurrency == 7
    assert "secret" not in repr(s)  # the URI is a secret: never in logs or reprs


def test_queue_url_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMARTPAPERS_SQS_QUEUE_URL", raising=False)
    with pytest.raises(ValidationError, match="sqs_queue_url"):
        ApiSettings()


def test_visibility_timeout_must_cover_the_drain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTPAPERS_SQS_QUEUE_URL", "http://q")
    monkeypatch.setenv("SMARTPAPERS_WORKER_DRAIN_TIMEOUT_SECONDS", "60")
    monkeypatch.setenv("SMARTPAPERS_SQS_VISIBILITY_TIMEOUT_SECONDS", "60")
    with pytest.raises(ValidationError, match="VISIBILITY_TIMEOUT"):
        WorkerSettings()


def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTPAPERS_SQS_QUEUE_URL", "http://q")
    monkeypatch.setenv("SMARTPAPERS_AUTH_MODE", "basic")
    with pytest.raises(ValidationError, match="auth_mode"):
        ApiSettings()


def test_jwt_mode_fails_closed_until_it_is_implemented(monkeypatch: pytest.MonkeyPatch) -> None:
    from smartpapers.api.app import AuthNotAvailableError, create_app

    monkeypatch.setenv("SMARTPAPERS_SQS_QUEUE_URL", "http://q")
    monkeypatch.setenv("SMARTPAPERS_AUTH_MODE", "jwt")
    with pytest.raises(AuthNotAvailableError, match="refusing to start"):
        create_app(ApiSettings())
