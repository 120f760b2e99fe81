"""Strict mode: the emulator refuses what real AWS refuses, before moto sees the request.

moto accepts almost any request, so a test that passes against plain moto proves little about
real ECS. Strict mode (on unless the server is started with ``--lenient``) adds two kinds of
checks to every ECS and SSM request:

* **botocore's own validation**: the request body is checked with
  :class:`botocore.validate.ParamValidator` against the operation's input shape from botocore's
  service model, the same rules an SDK client applies before sending (a client that turned
  validation off, or hand-built JSON, gets no further than it would at AWS);
* **ECS's documented rules** that no shape expresses (:func:`ecs_rules`), from the ECS API
  reference: public IPs only for Fargate, no placement constraints on Fargate, never a launch
  type together with a capacity provider strategy, at most 50 tags per task counting the ones
  ``propagateTags`` copies from the revision, no caller-sent ``aws:`` tag keys, at most 10
  placement constraints counting the revision's own, and the capacity provider strategy limits.

Errors are answered in ECS's shape (``__type`` InvalidParameterException or ClientException,
HTTP 400). The message texts follow ECS's where we know them; they are not promised verbatim.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

__all__ = [
    "FARGATE_PROVIDERS",
    "MAX_STRATEGY_ITEMS",
    "MAX_TAGS",
    "StrictError",
    "ecs_rules",
    "validate_shape",
]

MAX_TAGS = 50
MAX_PLACEMENT_CONSTRAINTS = 10
MAX_STRATEGY_ITEMS = 20
FARGATE_PROVIDERS = frozenset({"FARGATE", "FARGATE_SPOT"})

#: The error code botocore validation failures are answered with, per service.
SHAPE_ERROR_CODE = {"ecs": "InvalidParameterException", "ssm": "ValidationException"}


class StrictError(Exception):
    """A request strict mode refuses: ``code`` is the AWS error code to answer with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_MODELS: dict[str, Any] = {}


def _service_model(service: str) -> Any:
    if service not in _MODELS:
        _MODELS[service] = botocore.session.get_session().get_service_model(service)
    return _MODELS[service]


def validate_shape(service: str, operation: str, params: Mapping[str, Any]) -> None:
    """Raise StrictError when ``params`` fail botocore's validation for the operation."""
    model = _service_model(service)
    if operation not in model.operation_names:
        return  # not an AWS operation (moto's own extras): nothing to check against
    shape = model.operation_model(operation).input_shape
    if shape is None:
        return
    report = ParamValidator().validate(dict(params), shape)
    if report.has_errors():
        raise StrictError(
            SHAPE_ERROR_CODE.get(service, "ValidationException"), report.generate_report()
        )


# --------------------------------------------------------------------------------- ECS rules


def _invalid(message: str) -> StrictError:
    return StrictError("InvalidParameterException", message)


def check_strategy(
    strategy: Sequence[Mapping[str, Any]], where: str = "capacityProviderStrategy"
) -> None:
    """The limits of a capacity provider strategy (CapacityProviderStrategyItem reference)."""
    if len(strategy) > MAX_STRATEGY_ITEMS:
        raise _invalid(
            f"{where} can contain at most {MAX_STRATEGY_ITEMS} capacity providers; "
            f"{len(strategy)} were given."
        )
    # Assumption: "have a base defined" means a base above 0 (0 is the default).
    with_base = [item.get("capacityProvider") for item in strategy if item.get("base")]
    if len(with_base) > 1:
        raise _invalid(
            "Only one capacity provider in a capacity provider strategy can have a base "
            f"defined; {', '.join(map(str, with_base))} do."
        )
    providers = {str(item.get("capacityProvider")) for item in strategy}
    if providers & FARGATE_PROVIDERS and providers - FARGATE_PROVIDERS:
        raise _invalid(
            "A capacity provider strategy cannot contain both Fargate and Auto Scaling group "
            "capacity providers."
        )
    # The reference: when several providers are given, at least one needs a weight above 0.
    if len(strategy) > 1 and not any(int(item.get("weight") or 0) > 0 for item in strategy):
        raise _invalid(
            "At least one capacity provider in a capacity provider strategy must have a "
            "weight greater than zero."
        )


def _caller_tag_keys(tags: Sequence[Mapping[str, Any]] | None) -> None:
    for tag in tags or ():
        key = str(tag.get("key", ""))
        if key.lower().startswith("aws:"):
            raise _invalid(f"Tag keys with the 'aws:' prefix are reserved for AWS use: {key!r}.")


def _count(tags: Mapping[str, str]) -> int:
    """Tags that count against the limit: ``aws:`` ones do not (RunTask reference)."""
    return sum(1 for key in tags if not key.lower().startswith("aws:"))


def _tag_map(tags: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(t.get("key")): str(t.get("value", "")) for t in tags or ()}


def _launch_is_fargate(
    params: Mapping[str, Any], cluster_default: Sequence[Mapping[str, Any]]
) -> bool:
    """True only when the task certainly lands on Fargate."""
    if params.get("launchType"):
        return params["launchType"] == "FARGATE"
    strategy = params.get("capacityProviderStrategy") or cluster_default
    providers = {str(item.get("capacityProvider")) for item in strategy or ()}
    return bool(providers) and providers <= FARGATE_PROVIDERS


def check_run_task(
    params: Mapping[str, Any], revision: Any, cluster_default: Sequence[Mapping[str, Any]]
) -> None:
    """RunTask's rules; ``revision`` is moto's TaskDefinition the request names."""
    strategy = params.get("capacityProviderStrategy") or []
    if params.get("launchType") and strategy:
        raise _invalid(
            "Specifying both a launch type and capacity provider strategy is not supported. "
            "Remove one and try again."
        )
    if strategy:
        check_strategy(strategy)
    fargate = _launch_is_fargate(params, cluster_default)
    awsvpc = (params.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    if awsvpc.get("assignPublicIp") == "ENABLED" and not fargate:
        raise _invalid("Assign public IP is not supported for this launch type.")
    constraints = list(params.get("placementConstraints") or [])
    if constraints and fargate:
        raise _invalid("Task placement constraints are not supported for the Fargate launch type.")
    own = [c for c in getattr(revision, "placement_constraints", None) or [] if c]
    if len(constraints) + len(own) > MAX_PLACEMENT_CONSTRAINTS:
        raise _invalid(
            f"A task can have at most {MAX_PLACEMENT_CONSTRAINTS} placement constraints, "
            f"counting the task definition's {len(own)}; the request adds {len(constraints)}."
        )
    _caller_tag_keys(params.get("tags"))
    tags = _tag_map(params.get("tags"))
    if params.get("propagateTags") == "TASK_DEFINITION":
        # Assumption (not documented): a key both in the request and on the revision is one
        # tag on the task, with the request's value.
        tags = {**_tag_map(getattr(revision, "tags", None)), **tags}
    if _count(tags) > MAX_TAGS:
        raise _invalid(
            f"A task can have at most {MAX_TAGS} tags; this one would have {_count(tags)} "
            "(the request's own plus those propagateTags copies from the task definition)."
        )


def check_register_task_definition(params: Mapping[str, Any]) -> None:
    _caller_tag_keys(params.get("tags"))
    if _count(_tag_map(params.get("tags"))) > MAX_TAGS:
        raise _invalid(f"A task definition can have at most {MAX_TAGS} tags.")


def ecs_rules(operation: str, params: Mapping[str, Any], backend: Any) -> None:
    """Raise StrictError when real ECS would refuse this request; ``backend`` is moto's."""
    if operation == "RunTask":
        revision = backend.describe_task_definition(params.get("taskDefinition", ""))
        cluster = backend._get_cluster(params.get("cluster") or "default")
        check_run_task(params, revision, cluster.default_capacity_provider_strategy or [])
    elif operation == "RegisterTaskDefinition":
        check_register_task_definition(params)
    elif operation == "TagResource":
        _caller_tag_keys(params.get("tags"))
    elif operation in ("CreateCluster", "PutClusterCapacityProviders"):
        check_strategy(
            params.get("defaultCapacityProviderStrategy") or [], "defaultCapacityProviderStrategy"
        )
    elif operation in ("CreateService", "UpdateService"):
        check_strategy(params.get("capacityProviderStrategy") or [])


# ------------------------------------------------------------------------------ installing


class _Switch:
    """Whether strict mode is on in this server process (``--lenient`` turns it off)."""

    enabled = True


SWITCH = _Switch()


def _patched_call_action(original: Any, service: str) -> Any:
    from moto.core.exceptions import ServiceException

    def call_action(self: Any) -> Any:
        if SWITCH.enabled:
            try:
                operation = self._get_action()
                params = json.loads(self.body or "{}") if self.body else {}
                if not isinstance(params, dict):
                    raise StrictError(
                        SHAPE_ERROR_CODE[service], "The request body is not a JSON object."
                    )
                validate_shape(service, operation, params)
                if service == "ecs":
                    ecs_rules(operation, params, self.ecs_backend)
            except StrictError as exc:
                return self._strict_refusal(exc)
            except ServiceException as exc:  # moto's own answer to a lookup (no such cluster)
                return self._strict_refusal(StrictError(exc.code, exc.message))
            except json.JSONDecodeError:
                return self._strict_refusal(
                    StrictError(SHAPE_ERROR_CODE[service], "The request body is not valid JSON.")
                )
        return original(self)

    return call_action


def _strict_refusal(self: Any, error: StrictError) -> Any:
    """Answer as moto answers its own ServiceException (the service's JSON error shape)."""
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult

    # Defined here, outside moto's packages, so moto serializes it with the service's own
    # model (it looks the model up by the exception class's module).
    class StrictRefusal(ServiceException):
        pass

    exception = StrictRefusal(error.code, error.message)
    status, headers, body = self.serialized(ActionResult(exception))
    headers, body = self._enrich_response(headers, body)
    return status, headers, body


def install() -> None:
    """Put strict mode in front of moto's ECS and SSM handlers (idempotent)."""
    from moto.ecs import responses as ecs_responses
    from moto.ssm import responses as ssm_responses

    for response, service in (
        (ecs_responses.EC2ContainerServiceResponse, "ecs"),
        (ssm_responses.SimpleSystemManagerResponse, "ssm"),
    ):
        if getattr(response, "_strict_installed", False):
            continue
        response.call_action = _patched_call_action(response.call_action, service)
        response._strict_refusal = _strict_refusal
        response._strict_installed = True
