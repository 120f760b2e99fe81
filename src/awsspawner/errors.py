"""The exceptions awsspawner raises.

Every error that leaves awsspawner is one of these, so callers (and the hub log) can tell a
configuration mistake from a capacity problem from AWS being unreachable::

    AWSSpawnerError
    ├── ConfigurationError          a c.AWSSpawner.<key> is wrong; names the key
    ├── EndpointNotFoundError       no resolver could tell where a running task listens
    └── AWSError                    an AWS call failed (ECS, EC2, SSM, STS); carries operation,
        │                           cluster, task. ``ECSError`` is its old name, kept.
        ├── AWSUnreachableError         no answer (connection refused, timeout)
        ├── AWSThrottledError           ThrottlingException / 429 after botocore's retries
        ├── AWSServerError              5xx / ServerException after botocore's retries
        ├── AWSAccessDeniedError        AccessDeniedException: an IAM policy is missing
        ├── ClusterNotFoundError        ClusterNotFoundException
        ├── InvalidParameterError       InvalidParameterException / ClientException
        ├── ClientTokenConflictError    ConflictException: same clientToken, other request
        ├── TaskNotFoundError           the task is unknown to ECS
        ├── TaskDefinitionError         the task definition cannot be found or derived
        └── RunTaskFailedError          RunTask answered with failures[] and no task

The four ``AWS...Error`` classes were called ``ECS...Error`` before SSM and EC2 calls shared
them; those names remain as aliases.

``AWSError.retryable`` says whether trying the same request again can help; the retry layer
(see the docs' retry plan) looks at nothing else.

Error messages never contain request parameters: RunTask's parameters carry the hub's API
token in the environment overrides.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from jupyterhub.spawner import SpawnException

__all__ = [
    "AWS_CALL_ERRORS",
    "AWSAccessDeniedError",
    "AWSError",
    "AWSServerError",
    "AWSSpawnerError",
    "AWSThrottledError",
    "AWSUnreachableError",
    "ClientTokenConflictError",
    "ClusterNotFoundError",
    "ConfigurationError",
    "ECSAccessDeniedError",
    "ECSError",
    "ECSServerError",
    "ECSThrottledError",
    "ECSUnreachableError",
    "EndpointNotFoundError",
    "InvalidParameterError",
    "RunTaskFailedError",
    "TaskDefinitionError",
    "TaskNotFoundError",
    "aws_call",
    "is_capacity_reason",
    "spawn_failure",
    "translate_aws_error",
    "user_message",
]


#: An AWS error code worth showing a user: a word, not an answer body.
_PLAIN_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9.:_-]{0,63}$")


class AWSSpawnerError(Exception):
    """Base class of every exception awsspawner raises on purpose."""


class ConfigurationError(AWSSpawnerError, ValueError):
    """A configuration value is wrong. ``key`` is the ``c.AWSSpawner.<key>`` to fix."""

    def __init__(self, key: str, problem: str, *, owner: str = "AWSSpawner") -> None:
        self.key = key
        self.owner = owner
        self.problem = problem
        super().__init__(f"c.{owner}.{key}: {problem}")


class EndpointNotFoundError(AWSSpawnerError):
    """Every endpoint resolver passed; ``seen`` maps each resolver's name to what it saw."""

    def __init__(self, task: str, seen: dict[str, str]) -> None:
        self.task = task
        self.seen = dict(seen)
        tried = "; ".join(f"{name}: {what}" for name, what in seen.items()) or "no resolvers"
        super().__init__(f"the address of task {task} could not be found ({tried})")


class AWSError(AWSSpawnerError):
    """An AWS call failed.

    ``operation`` is the API action (``RunTask``), ``code`` the AWS error code when AWS
    answered, ``cluster`` and ``task`` what the call was about when known.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        cluster: str | None = None,
        task: str | None = None,
        code: str | None = None,
        sends: int = 1,
    ) -> None:
        self.message = message
        self.operation = operation
        self.cluster = cluster
        self.task = task
        self.code = code
        #: How many times the request went out, as far as known (botocore's retries and
        #: ours). Only a refusal of the one and only send proves the call did nothing.
        self.sends = sends
        super().__init__(self._render())

    def _render(self) -> str:
        where = [f"operation={self.operation}"]
        if self.cluster:
            where.append(f"cluster={self.cluster}")
        if self.task:
            where.append(f"task={self.task}")
        code = f"{self.code}: " if self.code else ""
        return f"{code}{self.message} ({', '.join(where)})"


#: The name of :class:`AWSError` before SSM and EC2 calls shared it; kept for old code.
ECSError = AWSError


class AWSUnreachableError(AWSError):
    """No answer from AWS: connection refused or reset, or a timeout."""

    retryable = True


class AWSThrottledError(AWSError):
    """AWS kept answering ThrottlingException after botocore's own retries."""

    retryable = True


class AWSServerError(AWSError):
    """AWS answered with a server error (5xx) after botocore's own retries."""

    retryable = True


class AWSAccessDeniedError(AWSError):
    """The hub's IAM identity may not make this call; the docs' IAM page lists what it needs."""


class ClusterNotFoundError(AWSError):
    """The cluster named by ``c.AWSSpawner.task_cluster_name`` does not exist in the region."""


class InvalidParameterError(AWSError):
    """ECS rejected the request's parameters."""


class ClientTokenConflictError(AWSError):
    """RunTask's clientToken was used before with different parameters."""


class TaskNotFoundError(AWSError):
    """ECS does not know the task (never existed, or stopped long ago and was forgotten)."""


class TaskDefinitionError(AWSError):
    """The task definition family or revision cannot be found, or a derived one not made."""


class RunTaskFailedError(AWSError):
    """RunTask succeeded as a call but started no task; ``failures`` says why.

    Typical reasons: ``RESOURCE:MEMORY`` / ``RESOURCE:CPU`` (no container instance has room),
    ``AGENT`` (the ECS agent is disconnected), ``ATTRIBUTE`` (no instance matches the placement
    constraints), ``LOCATION``.
    """

    def __init__(
        self,
        failures: Sequence[Mapping[str, Any]],
        *,
        operation: str = "RunTask",
        cluster: str | None = None,
    ) -> None:
        self.failures = [dict(f) for f in failures]
        super().__init__(
            describe_failures(self.failures), operation=operation, cluster=cluster, code=None
        )

    @property
    def reasons(self) -> list[str]:
        return [str(f.get("reason", "")) for f in self.failures]

    @property
    def for_capacity(self) -> bool:
        """True when every reason is a lack of capacity (``RESOURCE:*``, "Capacity is
        unavailable at this time", Spot capacity): another launch type may have room."""
        return bool(self.reasons) and all(is_capacity_reason(r) for r in self.reasons)


def is_capacity_reason(reason: str) -> bool:
    """ECS's ``failures[].reason`` for "no room for this task here" (not a configuration
    mistake, not an agent or placement-constraint problem)."""
    lowered = reason.lower()
    return (
        reason.startswith("RESOURCE:")
        or "capacity is unavailable" in lowered
        or ("spot" in lowered and "capacity" in lowered)
    )


def describe_failures(failures: Sequence[Mapping[str, Any]]) -> str:
    """One readable sentence from ECS ``failures[]`` entries."""
    if not failures:
        return "ECS started no task and gave no reason"
    parts = []
    for failure in failures:
        reason = failure.get("reason") or "unknown reason"
        detail = failure.get("detail")
        arn = failure.get("arn")
        text = str(reason)
        if detail:
            text += f" ({detail})"
        if arn:
            text += f" for {arn}"
        parts.append(text)
    return "ECS started no task: " + "; ".join(parts)


def user_message(error: AWSError) -> str:
    """What the spawn page says about a failed AWS call: one plain sentence.

    AWS's own message stays in the hub log (the caller logs ``error``): it can be an HTML page
    from a load balancer, a long ARN list, or text meant for an administrator."""
    call = f"{error.operation} call"
    if isinstance(error, RunTaskFailedError):
        return error.message  # ECS's reasons (RESOURCE:MEMORY, ...) are what the user needs
    if isinstance(error, AWSAccessDeniedError):
        plain = f"the hub is not allowed to make the {call} (an IAM permission is missing)"
    elif isinstance(error, ClusterNotFoundError):
        plain = f"the cluster {error.cluster!r} does not exist in this region"
    elif isinstance(error, TaskDefinitionError):
        plain = "the task definition could not be found or prepared"
    elif isinstance(error, (AWSThrottledError, AWSServerError, AWSUnreachableError)):
        plain = f"AWS did not complete the {call} ({_kind(error)}); please try again shortly"
    elif isinstance(error, InvalidParameterError):
        plain = f"ECS rejected the {call} as invalid"
    else:
        plain = f"the {call} failed"
    code = f" [{error.code}]" if error.code and _PLAIN_CODE.match(error.code) else ""
    return f"{plain}{code}. The hub's log has the details."


def _kind(error: AWSError) -> str:
    if isinstance(error, AWSThrottledError):
        return "too many requests"
    if isinstance(error, AWSServerError):
        return "an error inside AWS"
    return "no answer"


def spawn_failure(message: str, reason: str, status: int = 500) -> SpawnException:
    """The exception start() raises for a failed spawn; ``message`` is what the spawn page and
    the progress stream show (not SpawnException's "500 SpawnException(reason=...)" form)."""
    error = SpawnException(message, reason=reason, status_code=status)
    error.jupyterhub_message = message
    return error


# ------------------------------------------------------------------- the one translator

#: Every exception an aiobotocore call can raise for a failure of AWS or of the way to it.
AWS_CALL_ERRORS = (BotoCoreError, ClientError, aiohttp.ClientError, TimeoutError, OSError)
_T = TypeVar("_T")


async def aws_call(
    operation: str, call: Awaitable[_T], *, cluster: str | None = None, task: str | None = None
) -> _T:
    """Await one AWS call; any failure becomes an :class:`AWSError` (see
    :func:`translate_aws_error`). Every AWS call of awsspawner goes through here."""
    try:
        return await call
    except AWS_CALL_ERRORS as exc:
        # from None: the botocore exception's context would carry the request's parameters.
        raise translate_aws_error(exc, operation=operation, cluster=cluster, task=task) from None


_MAX_MESSAGE = 300
_THROTTLING_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
}
_ACCESS_CODES = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}


def translate_aws_error(
    exc: BaseException, *, operation: str, cluster: str | None = None, task: str | None = None
) -> AWSError:
    """The :mod:`awsspawner.errors` exception for a botocore/aiohttp failure."""
    where: dict[str, Any] = {"operation": operation, "cluster": cluster, "task": task}
    if isinstance(exc, ClientError):
        metadata = exc.response.get("ResponseMetadata", {})
        where["sends"] = 1 + int(metadata.get("RetryAttempts") or 0)
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "")
        # AWS messages describe the problem; keep them short (moto can answer with HTML).
        message = " ".join(str(error.get("Message") or code or "no message").split())
        message = message[:_MAX_MESSAGE]
        status = int(metadata.get("HTTPStatusCode") or 0)
        lowered = message.lower()
        if code in _THROTTLING_CODES or status == 429:
            return AWSThrottledError(message, code=code, **where)
        if code in _ACCESS_CODES:
            return AWSAccessDeniedError(message, code=code, **where)
        if code == "ClusterNotFoundException":
            return ClusterNotFoundError(message, code=code, **where)
        if code == "ConflictException":
            return ClientTokenConflictError(message, code=code, **where)
        if code == "InvalidParameterException" and "not found" in lowered and task:
            return TaskNotFoundError(message, code=code, **where)
        if operation.endswith("TaskDefinition") and code == "ClientException":
            return TaskDefinitionError(message, code=code, **where)
        if code in ("InvalidParameterException", "ClientException", "ValidationException"):
            return InvalidParameterError(message, code=code, **where)
        if code == "ServerException" or status >= 500:
            return AWSServerError(message, code=code, **where)
        return AWSError(message, code=code, **where)
    unreachable = (BotoConnectionError, HTTPClientError, aiohttp.ClientError, TimeoutError, OSError)
    if isinstance(exc, unreachable):
        return AWSUnreachableError(f"no answer from AWS ({type(exc).__name__})", **where)
    if isinstance(exc, BotoCoreError):  # NoCredentialsError, ParamValidationError, ...
        return AWSError(f"{type(exc).__name__}: {exc}"[:_MAX_MESSAGE], **where)
    raise TypeError(f"not an AWS error: {exc!r}")


# The names of these classes before SSM and EC2 calls shared them; kept for old code.
ECSUnreachableError = AWSUnreachableError
ECSThrottledError = AWSThrottledError
ECSServerError = AWSServerError
ECSAccessDeniedError = AWSAccessDeniedError
