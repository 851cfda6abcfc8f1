"""Domain errors of smartpapers. Every error raised by the shared package derives from
:class:`SmartpapersError`; the API maps them to HTTP answers in one place."""

from __future__ import annotations


class SmartpapersError(Exception):
    """Base class of every smartpapers domain error."""


class PaperNotFoundError(SmartpapersError):
    def __init__(self, paper_id: str) -> None:
        super().__init__(f"paper {paper_id!r} not found")
        self.paper_id = paper_id


class PaperExistsError(SmartpapersError):
    def __init__(self, paper_id: str) -> None:
        super().__init__(f"paper {paper_id!r} already exists")
        self.paper_id = paper_id


class JobNotFoundError(SmartpapersError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} not found")
        self.job_id = job_id


class IdempotencyConflictError(SmartpapersError):
    """The Idempotency-Key was used before with a different request body."""

    def __init__(self, key: str) -> None:
        super().__init__("Idempotency-Key was already used with a different request body")
        self.key = key


class StorageUnavailableError(SmartpapersError):
    """MongoDB could not be reached or did not acknowledge the write."""


class QueueUnavailableError(SmartpapersError):
    """SQS could not be reached or refused the request."""


class InvalidMessageError(SmartpapersError):
    """A queue message body is not a valid ``{"jobId": str, "v": 1}`` document."""
