"""Serving: the HTTP API (`create_app`), API users (`UserRegistry`) and the audit log (`AuditLog`).

Nothing else in ragft imports this package; the CLI wires it to `ragft serve`, `ragft users`
and `ragft audit`.
"""

from typing import Any

from ragft.serve.audit import AuditEntry, AuditLog, VerifyResult
from ragft.serve.guard import (
    RestrictedTrainingError,
    check_restricted_training,
    restricted_training_docs,
)
from ragft.serve.users import UserError, UserRecord, UserRegistry

__all__ = [
    "AuditEntry",
    "AuditLog",
    "RestrictedTrainingError",
    "UserError",
    "UserRecord",
    "UserRegistry",
    "VerifyResult",
    "check_restricted_training",
    "create_app",
    "restricted_training_docs",
]


def __getattr__(name: str) -> Any:  # create_app imports FastAPI: pay for it only when serving
    if name == "create_app":
        from ragft.serve.app import create_app

        return create_app
    raise AttributeError(name)
