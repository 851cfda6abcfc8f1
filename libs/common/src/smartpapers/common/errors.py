"""Domain errors of smartpapers, in a small hierarchy by category.

Call sites catch a category, never a tuple of concrete classes; the API maps each category
to an HTTP status in one place (``smartpapers.api.errors``) and answers the concrete class's
``code`` (the ``error`` field of the JSON body, stable for clients). Every concrete error
raised from a driver error keeps it as ``__cause__`` (``raise ... from e``).

* SmartpapersError
    * UnavailableError — a dependency could not do it now; retrying later may succeed (503)
        + StorageUnavailableError — MongoDB unreachable or refused the command
            + StorageTimeoutError — reachable but too slow: the write's outcome is unknown
        + QueueUnavailableError — SQS unreachable or refused the request
        + OverloadedError — the API's bounded admission queue is full
    * NotFoundError — the named object does not exist, or the caller may not see it (404)
        + PaperNotFoundError
        + JobNotFoundError
        + QueueNotFoundError — no SQS queue of that name (the queue tools)
    * ConflictError — the request contradicts the stored state (409)
        + PaperExistsError
        + IdempotencyConflictError
    * InvalidError — the input can never succeed as given; retrying does not help (422)
        + InvalidMessageError — an SQS message body is not a job message
        + UnstorableDocumentError — a value BSON cannot encode (one document of a bulk)
        + TooManyAnswersError — more answers than the paper has questions
"""

from __future__ import annotations


class SmartpapersError(Exception):
    """Base class of every smartpapers domain error."""

    code = "internal_error"


# -- unavailable ----------------------------------------------------------------------------


class UnavailableError(SmartpapersError):
    """A dependency could not serve the request now; the same request may succeed later."""

    code = "unavailable"


class StorageUnavailableError(UnavailableError):
    """MongoDB could not be reached, refused the command, or did not acknowledge the write."""

    code = "storage_unavailable"


class StorageTimeoutError(StorageUnavailableError):
    """MongoDB is reachable but did not answer in time; a write may or may not have been
    applied, so only an idempotent write may be retried."""


class QueueUnavailableError(UnavailableError):
    """SQS could not be reached or refused the request."""

    code = "queue_unavailable"


class OverloadedError(UnavailableError):
    """The API holds as many submissions waiting for the database as its bound allows."""

    code = "overloaded"


# -- not found ------------------------------------------------------------------------------


class NotFoundError(SmartpapersError):
    """The object does not exist, or the caller may not see it (the same answer)."""

    code = "not_found"


class PaperNotFoundError(NotFoundError):
    code = "paper_not_found"

    def __init__(self, paper_id: str) -> None:
        super().__init__(f"paper {paper_id!r} not found")
        self.paper_id = paper_id


class JobNotFoundError(NotFoundError):
    code = "job_not_found"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} not found")
        self.job_id = job_id


class QueueNotFoundError(NotFoundError):
    code = "queue_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"SQS queue {name!r} does not exist (smartpapers-queues create)")
        self.name = name


# -- conflict -------------------------------------------------------------------------------


class ConflictError(SmartpapersError):
    """The request contradicts what is stored."""

    code = "conflict"


class PaperExistsError(ConflictError):
    code = "paper_exists"

    def __init__(self, paper_id: str) -> None:
        super().__init__(f"paper {paper_id!r} already exists")
        self.paper_id = paper_id


class IdempotencyConflictError(ConflictError):
    """The Idempotency-Key was used before with a different request body."""

    code = "idempotency_conflict"

    def __init__(self, key: str) -> None:
        super().__init__("Idempotency-Key was already used with a different request body")
        self.key = key


# -- invalid --------------------------------------------------------------------------------


class InvalidError(SmartpapersError):
    """The input can never succeed as given."""

    code = "invalid_request"


class InvalidMessageError(InvalidError):
    """A queue message body is not a valid ``{"jobId": str, "v": 1}`` document."""

    code = "invalid_message"


class UnstorableDocumentError(InvalidError):
    """A document holds a value BSON cannot encode (e.g. an integer beyond 64 bits); the
    other documents of the same bulk write are stored without it."""

    code = "unstorable_document"


class TooManyAnswersError(InvalidError):
    code = "too_many_answers"

    def __init__(self, *, answers: int, questions: int) -> None:
        super().__init__(f"{answers} answers for a paper of {questions} questions")
