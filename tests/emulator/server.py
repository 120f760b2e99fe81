"""The emulator server: moto with the ECS, SSM and EFS extensions, in a process of its own.

Same command line as ``moto_server``, plus ``--lenient`` and ``--no-extensions``::

    python -m tests.emulator.server -H 127.0.0.1 -p 5000

Strict mode (:mod:`tests.emulator.strict`) is on: requests real AWS refuses are refused here
too. ``--lenient`` turns it off, for a test that shows what plain moto would let through.
``--no-extensions`` serves plain moto's ECS and SSM behind strict mode (the unit tests' "moto"
layer: moto's own lifecycle, AWS's request rules); EFS keeps its request rules and ClientToken
idempotency either way (see efs_ext).

It checks first that the moto internals it patches are where it expects them
(:func:`selftest`) and refuses to start otherwise. Besides the AWS APIs it answers a small
control API for tests and agents, under ``/_emulator/``:

* ``GET  /_emulator/health``: ``{"ok": true, "moto": "<version>", "strict": <bool>}``
* ``POST /_emulator/managed-instances``: declare an ``mi-`` node's SSM view (see ssm_ext)
* ``POST /_emulator/fargate-agents``: ``{"agent": id, "present": bool}``; while any agent is
  present, Fargate tasks start at PROVISIONING and wait for it
* ``POST /_emulator/efs``: ``{"accessPointLimit": N}`` (see efs_ext)
* ``POST /_emulator/capacity``: ``{"FARGATE_SPOT": "reason", "EC2": "RESOURCE:MEMORY"}``:
  RunTask on that launch type or provider answers ``failures[]`` with the reason ({} clears)
* ``POST /_emulator/interrupt``: ``{"cluster": c, "task": arn, "stopCode": "SpotInterruption"}``:
  AWS reclaims the task's Spot capacity (see ecs_ext.interrupt)
* ``POST /moto-api/reset``: moto's reset, which also clears the extensions' state
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

import moto
from moto import server as moto_server

PINNED_MOTO = "5.2.5"


def selftest() -> None:
    """Fail loudly when a moto internal that the extensions rely on has moved."""
    from moto.core.responses import ActionResult, BaseResponse
    from moto.ecs import models as ecs_models
    from moto.ecs import responses as ecs_responses
    from moto.ssm import responses as ssm_responses

    problems = []
    if moto.__version__ != PINNED_MOTO:
        problems.append(f"moto is {moto.__version__}, the extensions are written for {PINNED_MOTO}")
    backend = ecs_models.EC2ContainerServiceBackend
    for name in (
        "_get_cluster",
        "_calculate_task_resource_requirements",
        "update_container_instance_resources",
        "register_container_instance",
        "describe_task_definition",
        "register_task_definition",
        "run_task",
    ):
        if not callable(getattr(backend, name, None)):
            problems.append(f"EC2ContainerServiceBackend.{name} is gone")
    params = list(inspect.signature(backend.register_task_definition).parameters)
    if params[:5] != ["self", "family", "container_definitions", "volumes", "network_mode"]:
        problems.append(f"register_task_definition's parameters moved: {params[:5]}")
    list_params = list(inspect.signature(backend.list_tasks).parameters)
    if list_params[:3] != ["self", "cluster_str", "container_instance"]:
        problems.append(f"list_tasks' parameters moved: {list_params[:3]}")
    task_params = set(inspect.signature(ecs_models.Task.__init__).parameters)
    for name in (
        "cluster",
        "task_definition",
        "container_instance_arn",
        "networking_configuration",
    ):
        if name not in task_params:
            problems.append(f"ecs Task() lost its {name!r} parameter")
    for name in ("run_task", "describe_tasks", "stop_task", "register_container_instance"):
        if not callable(getattr(ecs_responses.EC2ContainerServiceResponse, name, None)):
            problems.append(f"EC2ContainerServiceResponse.{name} is gone")
    if not hasattr(ecs_responses, "DESCRIBE_TASKS_TAGS"):
        problems.append("moto.ecs.responses.DESCRIBE_TASKS_TAGS is gone")
    if not callable(getattr(ssm_responses.SimpleSystemManagerResponse, "send_command", None)):
        problems.append("SimpleSystemManagerResponse.send_command is gone")
    for name in ("_get_param", "_include_in_response", "_exclude_from_response"):
        if not callable(getattr(BaseResponse, name, None)):
            problems.append(f"BaseResponse.{name} is gone")
    if not hasattr(ActionResult(None), "result"):
        problems.append("ActionResult.result is gone")
    ci_source = inspect.getsource(ecs_models.ContainerInstance.__init__)
    for needle in ("remaining_resources", "attributes", "registered_at", "get_instance"):
        if needle not in ci_source:
            problems.append(f"ContainerInstance no longer sets up {needle!r}")
    if problems:
        raise RuntimeError("moto internals moved:\n- " + "\n- ".join(problems))


class ControlAPI:
    """WSGI middleware: the /_emulator/ control API in front of moto's app."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        from .ecs_ext import STATE
        from .efs_ext import EFS_STATE
        from .ssm_ext import SSM_STATE
        from .strict import SWITCH

        path = environ.get("PATH_INFO", "")
        if path == "/moto-api/reset":
            STATE.reset()
            SSM_STATE.reset()
            EFS_STATE.reset()
            return self.app(environ, start_response)
        if not path.startswith("/_emulator/"):
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        try:
            if path == "/_emulator/health":
                answer: Any = {"ok": True, "moto": moto.__version__, "strict": SWITCH.enabled}
            elif path == "/_emulator/capacity":
                STATE.no_capacity = {str(k): str(v) for k, v in body.items()}
                answer = STATE.no_capacity
            elif path == "/_emulator/interrupt":
                from moto.ecs.models import ecs_backends

                from .ecs_ext import interrupt

                backend = ecs_backends[body.get("account", "123456789012")][
                    body.get("region", "us-east-1")
                ]
                task = interrupt(
                    backend,
                    str(body.get("cluster", "default")),
                    str(body["task"]),
                    str(body.get("stopCode", "SpotInterruption")),
                )
                answer = {"taskArn": task.task_arn, "lastStatus": task.last_status}
            elif path == "/_emulator/efs":
                answer = EFS_STATE.configure(body)
            elif path == "/_emulator/managed-instances":
                answer = SSM_STATE.declare(body)
            elif path == "/_emulator/fargate-agents":
                agent = str(body["agent"])
                if body.get("present", True):
                    STATE.fargate_agents.add(agent)
                else:
                    STATE.fargate_agents.discard(agent)
                answer = {"agents": sorted(STATE.fargate_agents)}
            else:
                start_response("404 Not Found", [("Content-Type", "application/json")])
                return [b'{"error": "no such control endpoint"}']
        except (KeyError, ValueError) as exc:
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [json.dumps({"error": str(exc)}).encode()]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(answer).encode()]


def main(argv: list[str] | None = None) -> None:
    selftest()
    from . import cfn_ext, ecs_ext, efs_ext, ssm_ext, strict

    args = list(argv if argv is not None else sys.argv[1:])
    if "--lenient" in args:
        args.remove("--lenient")
        strict.SWITCH.enabled = False
    if "--no-extensions" in args:
        args.remove("--no-extensions")
    else:
        ecs_ext.install()
        ssm_ext.install()
    # EFS's request rules and ClientToken idempotency, with or without the extensions: they
    # are how EFS answers a request, like strict mode's rules (the path rules are strict's).
    efs_ext.install()
    # CloudFormation builds every property of the reference stack's resources (see cfn_ext).
    cfn_ext.install()
    strict.install()
    plain = moto_server.DomainDispatcherApplication

    class WithControlAPI(plain):  # type: ignore[misc, valid-type]
        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            return ControlAPI(super().__call__)(environ, start_response)

    moto_server.DomainDispatcherApplication = WithControlAPI
    moto_server.main(args)


if __name__ == "__main__":
    main()
