"""MongoDB repositories, one module per collection: the only code that calls MongoDB.

Every driver error surfaces as a :class:`~smartpapers.common.errors.StorageUnavailableError`
(``StorageTimeoutError`` when the server was too slow); documents never leave this package —
callers get the typed models of ``smartpapers.common.job`` and ``smartpapers.common.models``.
"""

from smartpapers.common.repositories.jobs import Finish, Finished, JobRepository
from smartpapers.common.repositories.locks import LockRepository
from smartpapers.common.repositories.papers import PaperRepository
from smartpapers.common.repositories.submissions import SubmissionRepository
from smartpapers.common.repositories.sweeps import ExpiredLease, SweepRepository

__all__ = [
    "ExpiredLease",
    "Finish",
    "Finished",
    "JobRepository",
    "LockRepository",
    "PaperRepository",
    "SubmissionRepository",
    "SweepRepository",
]
