"""A local ECS agent: runs the tasks ECS places on "its" node as local processes.

Run as its own process (the launcher does it)::

    python -m tests.emulator.agent --endpoint http://127.0.0.1:PORT --cluster C \
        --instance-id mi-0123456789abcdef0 --address 127.0.0.3 --attribute gpu=true

It registers a container instance (an ``mi-`` ECS Anywhere node, or an EC2 ``i-`` instance
that must exist in the emulator with ``--address`` as its private IP), or with ``--fargate``
serves the cluster's Fargate tasks. Then, like the real agent, it reports each task's
progress through SubmitTaskStateChange / SubmitContainerStateChange: PENDING with
pullStartedAt, the pull, RUNNING with networkBindings, STOPPED with the exit code.

What a task runs: its essential container (the first one not marked ``essential: false``),
with ``entryPoint`` + ``command`` (the override's command wins) and the definition's
environment merged with the override's, on top of a base environment an image would provide
(PATH of this Python environment, HOME in a fresh per-task folder, LANG), then the
container's ``secrets``, fetched as the real agent does (SSM GetParameters with decryption,
Secrets Manager GetSecretValue; a task whose secret cannot be read stops with ECS's text), and
``EMULATOR_TASK_ROLE_ARN``: the task role (the override's or the definition's), which a real
server would learn from its credentials endpoint. The image itself is
not run: it only selects knobs (``--fail-image``). The containers it ``dependsOn`` with
condition SUCCESS or COMPLETE run first, each to its end, with their own mounts, environment
and working directory; one that fails a SUCCESS condition stops the task (our text).

Ports, playing Docker's part. A task's process sees ``0.0.0.0`` rewritten, in its arguments and
environment, to the address its network mode gives it:

* ``awsvpc`` (Fargate): the task ENI's loopback address; the server's own port.
* ``host``: the node's ``--address``; the server's own port.
* ``bridge``: a private loopback address of the task's own (its "container IP"), and the agent
  listens on the node's ``--address`` at a host port (ECS's choice, or the mapping's fixed
  ``hostPort``) and forwards each connection to the container IP and port, as Docker's port
  mapping does. networkBindings report that host port.

EFS volumes, playing the EFS mount helper's part. A container's mount point whose volume has an
``efsVolumeConfiguration`` is resolved to a directory under one emulator-wide EFS folder
(``--efs-root``, the same for every agent of an emulator, as one file system is the same from
every node): ``<efs-root>/<file system id>/<path>``, where the path is the access point's root
directory (``authorizationConfig.accessPointId``, looked up with DescribeAccessPoints) or the
volume's ``rootDirectory``. As EFS does on an access point's first use, a missing root
directory is created with the access point's ``CreationInfo`` mode (and owner, when this
process may chown). A mount at the image's home (``/home/jovyan``, the Jupyter Docker Stacks'
``jovyan``) or at the container's ``workingDirectory`` becomes the process's ``HOME`` and working
directory, as the real mount would be the server's home; ``EMULATOR_MOUNTS`` (JSON,
containerPath -> folder) tells a test where every mount went. ``host`` volumes (bind mounts of a
node directory) map ``sourcePath`` under the node's own folder (``--node-root``, one per agent:
nodes never see each other's directories); as Docker does, a missing source directory is
created, owned by this process's user (root, as the Docker daemon, where the agent runs as
root). A volume that cannot be mounted
(no such access point, another file system's access point) stops the task with a
ResourceInitializationError (the texts are ours, not ECS's verbatim). Files are not isolated by
POSIX user: the uid is enforced only where this process runs as root.

Stopping: when ECS says desiredStatus STOPPED, SIGTERM to the task's process group, SIGKILL
after ``--stop-timeout``; the exit code is reported as Docker does (128 + signal). When the
agent itself is told to stop, it stops every task the same way and reports them, so no
process outlives it.

RUNNING is reported once the process has been up ``--running-after`` seconds (0.2); one that
exits sooner goes from PENDING straight to STOPPED, as a container that dies at once does.

Knobs for tests: ``--hold-pending SECONDS`` (stay PENDING that long), ``--pull-delay SECONDS``
(pullStartedAt to pullStoppedAt), ``--fail-image SUBSTRING=REASON`` (tasks whose image contains
SUBSTRING stop with REASON before their process starts).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

UNSPECIFIED = "0.0.0.0"  # noqa: S104 - rewritten, never bound


@dataclass
class Knobs:
    hold_pending: float = 0.0
    pull_delay: float = 0.0
    stop_timeout: float = 2.0
    running_after: float = 0.2
    fail_images: dict[str, str] = field(default_factory=dict)


@dataclass
class RunningTask:
    arn: str
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    worker: asyncio.Task[None] | None = None


def _free_private_address(port: int) -> str:
    """A loopback address of the task's own (127.200-254.x.y) where ``port`` is free."""
    for _ in range(100):
        octets = (random.randint(200, 254), random.randint(0, 255), random.randint(1, 254))
        address = "127.{}.{}.{}".format(*octets)
        with socket.socket() as probe:
            try:
                probe.bind((address, port))
            except OSError:
                continue
            return address
    raise RuntimeError("no free private loopback address")


def _rewrite(value: str, address: str) -> str:
    return value.replace(UNSPECIFIED, address)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _forward_port(node: str, host_port: int, target: str, target_port: int) -> asyncio.Server:
    """Docker's port mapping: node:host_port -> target:target_port."""

    async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(target, target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    return await asyncio.start_server(connect, node, host_port)


class EnvironmentFileError(Exception):
    """An environment file the task needs could not be read: ECS's reason as the message."""


class SecretError(Exception):
    """A secret the container needs could not be fetched: ECS's reason as the message."""


def _create_root(folder: Path, creation: dict[str, Any]) -> None:
    """EFS creates an access point's missing root directory with its CreationInfo."""
    if folder.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    if creation:
        folder.chmod(int(str(creation.get("Permissions", "0755")), 8))
        with contextlib.suppress(PermissionError):  # only root may give it away
            os.chown(folder, creation["OwnerUid"], creation["OwnerGid"])


class VolumeError(Exception):
    """A volume the task needs could not be mounted: ECS's reason as the message."""


#: The home directory of the image the emulator pretends to run (Jupyter Docker Stacks).
IMAGE_HOME = "/home/jovyan"


class Agent:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.knobs = Knobs(
            hold_pending=args.hold_pending,
            pull_delay=args.pull_delay,
            stop_timeout=args.stop_timeout,
            running_after=args.running_after,
            fail_images=dict(item.split("=", 1) for item in args.fail_image),
        )
        self.tasks: dict[str, RunningTask] = {}
        self.instance_arn = ""
        self.workdir = Path(tempfile.mkdtemp(prefix="ecs-agent-"))
        self.taskdefs: dict[str, dict[str, Any]] = {}
        self.ecs: Any = None
        self.s3: Any = None
        self.efs: Any = None
        self.ssm: Any = None
        self.secretsmanager: Any = None
        self.stopping = asyncio.Event()

    # ---------------------------------------------------------------------- registration

    def _control(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(  # noqa: S310 - the emulator on loopback
            self.args.endpoint + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    async def register(self) -> None:
        args = self.args
        if args.fargate:
            self._control("/_emulator/fargate-agents", {"agent": self.agent_id, "present": True})
            return
        attributes = [{"name": k, "value": v} for k, v in (a.split("=", 1) for a in args.attribute)]
        answer = await self.ecs.register_container_instance(
            cluster=args.cluster,
            instanceIdentityDocument=json.dumps(
                {"instanceId": args.instance_id, "region": args.region}
            ),
            attributes=attributes,
            totalResources=[
                {"name": "CPU", "type": "INTEGER", "integerValue": args.cpu},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": args.memory},
            ],
        )
        self.instance_arn = answer["containerInstance"]["containerInstanceArn"]
        if args.instance_id.startswith("mi-"):
            interfaces = (
                json.loads(args.interfaces)
                if args.interfaces
                else [{"Name": "eth0", "IPV4": args.address}]
            )
            self._control(
                "/_emulator/managed-instances",
                {
                    "instanceId": args.instance_id,
                    "ipAddress": args.ssm_ip or args.address,
                    "interfaces": interfaces,
                    "commandOutput": (
                        args.command_output if args.command_output is not None else args.address
                    ),
                },
            )

    @property
    def agent_id(self) -> str:
        return self.args.instance_id or f"fargate-{os.getpid()}"

    # ------------------------------------------------------------------------- main loop

    async def poll_once(self) -> None:
        args = self.args
        listing: dict[str, Any] = {"cluster": args.cluster}
        if self.instance_arn:
            listing["containerInstance"] = self.instance_arn
        page = await self.ecs.list_tasks(desiredStatus="RUNNING", **listing)
        wanted = set(page.get("taskArns", []))
        # Tasks this agent runs that ECS no longer wants running: stop them.
        for arn, running in self.tasks.items():
            if arn not in wanted:
                running.stop_requested.set()
        new = sorted(wanted - set(self.tasks))
        for start in range(0, len(new), 100):
            answer = await self.ecs.describe_tasks(
                cluster=args.cluster, tasks=new[start : start + 100]
            )
            for task in answer.get("tasks", []):
                self._consider(task)

    def _mine(self, task: dict[str, Any]) -> bool:
        if self.args.fargate:
            fargate = task.get("launchType") == "FARGATE" or task.get("capacityProviderName") in (
                "FARGATE",
                "FARGATE_SPOT",
            )
            return fargate
        return task.get("containerInstanceArn") == self.instance_arn

    def _consider(self, task: dict[str, Any]) -> None:
        """A task ECS wants running that this agent has not seen: start it if it is ours."""
        if self._mine(task) and task.get("lastStatus") == "PROVISIONING":
            running = self.tasks[task["taskArn"]] = RunningTask(task["taskArn"])
            running.worker = asyncio.ensure_future(self._run(task, running))

    async def serve(self) -> None:
        await self.register()
        if self.args.ready_file:
            ready = Path(self.args.ready_file)  # one tiny local write at startup:
            ready.write_text(self.instance_arn or self.agent_id)  # noqa: ASYNC240
        while not self.stopping.is_set():
            try:
                await self.poll_once()
            except Exception as exc:  # keep serving; the emulator may be restarting
                print(f"agent poll failed: {exc!r}", file=sys.stderr, flush=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.args.poll)
        await self.shutdown()

    async def shutdown(self) -> None:
        for running in self.tasks.values():
            running.stop_requested.set()
        workers = [r.worker for r in self.tasks.values() if r.worker is not None]
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        if self.args.fargate:
            with contextlib.suppress(Exception):
                self._control(
                    "/_emulator/fargate-agents", {"agent": self.agent_id, "present": False}
                )

    # --------------------------------------------------------------------- one task

    async def _report_task(self, arn: str, status: str, **extra: Any) -> None:
        await self.ecs.submit_task_state_change(
            cluster=self.args.cluster, task=arn, status=status, **extra
        )

    async def _report_container(self, arn: str, name: str, status: str, **extra: Any) -> None:
        await self.ecs.submit_container_state_change(
            cluster=self.args.cluster, task=arn, containerName=name, status=status, **extra
        )

    async def _wait_or_stop(self, running: RunningTask, seconds: float) -> bool:
        """Sleep ``seconds``; True when a stop was requested meanwhile."""
        if seconds <= 0:
            return running.stop_requested.is_set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(running.stop_requested.wait(), seconds)
        return running.stop_requested.is_set()

    async def _taskdef(self, arn: str) -> dict[str, Any]:
        if arn not in self.taskdefs:
            answer = await self.ecs.describe_task_definition(taskDefinition=arn)
            self.taskdefs[arn] = answer["taskDefinition"]
        return self.taskdefs[arn]

    async def _environment_files(
        self, files: list[dict[str, Any]], execution_role: str | None
    ) -> dict[str, str]:
        """Download and read environment files as the real agent does: with the task
        execution role, top down (a later file's variable wins), NAME=VALUE lines, ``#``
        comments ignored."""
        # The texts of ECS: Fargate's, and the container agent's (EC2, ECS Anywhere), which
        # carries no ResourceInitializationError prefix (amazon-ecs-agent, envFiles/envfile.go).
        fargate = bool(self.args.fargate)
        if not execution_role:
            raise EnvironmentFileError(
                "ResourceInitializationError: failed to download env files: unable to find "
                "execution role credentials"
                if fargate
                else "Environment file resource: unable to find execution role credentials"
            )
        found: dict[str, str] = {}
        for item in files:
            bucket, _, key = str(item.get("value", "")).split(":::", 1)[-1].partition("/")
            try:
                answer = await self.s3.get_object(Bucket=bucket, Key=key)
                text = (await answer["Body"].read()).decode()
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
                raise EnvironmentFileError(
                    "ResourceInitializationError: failed to download env files: file download "
                    f"command: non empty error stream: failed to download file {key}: {code}"
                    if fargate
                    else f"Unable to download env file with key {key} from bucket {bucket}, "
                    f"error: {code}"
                ) from None
            for line in text.splitlines():
                if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
                    continue
                variable, _, value = line.partition("=")
                found[variable.strip()] = value
        return found

    async def _secrets(
        self, secrets: list[dict[str, Any]], execution_role: str | None
    ) -> dict[str, str]:
        """Fetch a container's ``secrets`` as the real agent does: with the task execution
        role, SSM parameters with decryption, Secrets Manager secrets (with ECS's
        ``:json-key:version-stage:version-id`` suffix). The failure texts follow ECS's
        (Fargate's ResourceInitializationError, the EC2 agent's "Fetching secret data")."""
        fargate = bool(self.args.fargate)
        if not execution_role:
            raise SecretError(
                "ResourceInitializationError: unable to pull secrets or registry auth: "
                "unable to find execution role credentials"
                if fargate
                else "Secrets: unable to find execution role credentials"
            )
        found: dict[str, str] = {}
        for item in secrets:
            name, source = str(item["name"]), str(item["valueFrom"])
            if ":secretsmanager:" in source:
                parts = source.split(":")
                secret_id, json_key = ":".join(parts[:7]), parts[7] if len(parts) > 7 else ""
                try:
                    answer = await self.secretsmanager.get_secret_value(SecretId=secret_id)
                except Exception as exc:
                    error = getattr(exc, "response", {}).get("Error", {})
                    code, text = error.get("Code", type(exc).__name__), error.get("Message", "")
                    raise SecretError(
                        "ResourceInitializationError: unable to pull secrets or registry auth: "
                        "execution resource retrieval failed: unable to retrieve secret from "
                        "asm: service call has been retried 1 time(s): failed to fetch secret "
                        f"{source} from secrets manager: {code}: {text}"
                        if fargate
                        else f"Fetching secret data from AWS Secrets Manager in region "
                        f"{self.args.region}: secret {source}: {code}: {text}"
                    ) from None
                value = str(answer.get("SecretString", ""))
                found[name] = str(json.loads(value)[json_key]) if json_key else value
            else:
                # The ARN's name: "parameter/a/b" is "/a/b", "parameter/x" is "x" (SSM's rule).
                rest = source.split(":parameter/", 1)[-1] if ":parameter/" in source else source
                parameter = "/" + rest if "/" in rest and not rest.startswith("/") else rest
                answer = await self.ssm.get_parameters(Names=[parameter], WithDecryption=True)
                if answer.get("InvalidParameters") or not answer.get("Parameters"):
                    raise SecretError(
                        "ResourceInitializationError: unable to pull secrets or registry auth: "
                        "execution resource retrieval failed: unable to retrieve secrets from "
                        "ssm: service call has been retried 1 time(s): invalid ssm parameters: "
                        f"{parameter}"
                        if fargate
                        else f"Fetching secret data from SSM Parameter Store in "
                        f"{self.args.region}: invalid parameters: {parameter}"
                    )
                found[name] = str(answer["Parameters"][0]["Value"])
        return found

    async def _mounts(
        self, definition: dict[str, Any], container: dict[str, Any]
    ) -> dict[str, Path]:
        """containerPath -> the local folder each EFS or host mount point of ``container``
        maps to."""
        volumes = {v.get("name"): v for v in definition.get("volumes") or []}
        found: dict[str, Path] = {}
        for mount in container.get("mountPoints") or []:
            volume = volumes.get(mount.get("sourceVolume")) or {}
            source = (volume.get("host") or {}).get("sourcePath")
            if source:
                found[str(mount["containerPath"])] = self._host_folder(str(source))
                continue
            efs = volume.get("efsVolumeConfiguration")
            if not efs:
                continue
            file_system = str(efs["fileSystemId"])
            path = str(efs.get("rootDirectory") or "/")
            creation: dict[str, Any] = {}
            access_point = (efs.get("authorizationConfig") or {}).get("accessPointId")
            if access_point:
                try:
                    answer = await self.efs.describe_access_points(AccessPointId=access_point)
                    described = answer["AccessPoints"][0]
                except Exception:
                    raise VolumeError(
                        "ResourceInitializationError: failed to invoke EFS utils commands to "
                        f"set up EFS volumes: access point {access_point} not found"
                    ) from None
                if described.get("FileSystemId") != file_system:
                    raise VolumeError(
                        "ResourceInitializationError: failed to invoke EFS utils commands to "
                        f"set up EFS volumes: access point {access_point} does not belong to "
                        f"file system {file_system}"
                    )
                root = described.get("RootDirectory") or {}
                path = str(root.get("Path") or "/")
                creation = dict(root.get("CreationInfo") or {})
            folder = Path(self.args.efs_root, file_system, *Path(path).parts[1:])
            _create_root(folder, creation)
            found[str(mount["containerPath"])] = folder
        return found

    def _host_folder(self, source: str) -> Path:
        folder = Path(self.args.node_root, *Path(source).parts[1:])
        folder.mkdir(parents=True, exist_ok=True)  # Docker creates a missing bind source
        return folder

    async def _run_dependencies(
        self, definition: dict[str, Any], container: dict[str, Any], running: RunningTask
    ) -> str:
        """Run the containers ``container`` depends on, in order, each to its end; the reason
        to stop the task when one fails its condition, else ""."""
        containers = {c.get("name"): c for c in definition.get("containerDefinitions") or []}
        for needed in container.get("dependsOn") or []:
            helper = containers.get(needed.get("containerName"))
            condition = needed.get("condition", "START")
            if helper is None or condition not in ("SUCCESS", "COMPLETE"):
                continue
            command = list(helper.get("entryPoint") or []) + list(helper.get("command") or [])
            mounts = await self._mounts(definition, helper)
            cwd = mounts.get(helper.get("workingDirectory") or "") or self.workdir
            environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
            environment.update({e["name"]: e["value"] for e in helper.get("environment") or []})
            process = await asyncio.create_subprocess_exec(
                *command, env=environment, cwd=cwd, start_new_session=True
            )
            exited = asyncio.ensure_future(process.wait())
            stop = asyncio.ensure_future(running.stop_requested.wait())
            await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            code = exited.result() if exited.done() else await self._terminate(process)
            if running.stop_requested.is_set():
                return "Task stopped while a dependency ran"
            if code != 0 and condition == "SUCCESS":
                return (
                    f"CannotStartContainerError: container {helper['name']} exited with code "
                    f"{code}; container {container['name']} needs its SUCCESS (emulator text)"
                )
        return ""

    async def _run(self, task: dict[str, Any], running: RunningTask) -> None:
        arn = task["taskArn"]
        try:
            await self._run_inner(task, running)
        except Exception as exc:
            print(f"agent: task {arn} failed: {exc!r}", file=sys.stderr, flush=True)
            with contextlib.suppress(Exception):
                await self._report_task(arn, "STOPPED", reason=f"agent error: {exc}"[:255])

    async def _run_inner(self, task: dict[str, Any], running: RunningTask) -> None:
        arn = task["taskArn"]
        definition = await self._taskdef(task["taskDefinitionArn"])
        container = next(
            c for c in definition["containerDefinitions"] if c.get("essential", True) is not False
        )
        name = container["name"]
        image = container.get("image", "")
        await self._report_task(arn, "PENDING", pullStartedAt=time.time())
        if await self._wait_or_stop(running, self.knobs.hold_pending):
            await self._report_task(arn, "STOPPED", reason="Task stopped before it started")
            return
        if await self._wait_or_stop(running, self.knobs.pull_delay):
            await self._report_task(arn, "STOPPED", reason="Task stopped while pulling")
            return
        for pattern, reason in self.knobs.fail_images.items():
            if pattern in image:
                await self._report_container(arn, name, "STOPPED", reason=reason)
                await self._report_task(arn, "STOPPED", reason=reason, pullStoppedAt=time.time())
                return
        override = next(
            (
                o
                for o in task.get("overrides", {}).get("containerOverrides", [])
                if o.get("name") == name
            ),
            {},
        )
        command = list(container.get("entryPoint") or []) + list(
            override.get("command") or container.get("command") or []
        )
        if not command:
            reason = "CannotStartContainerError: the emulator needs a command to run"
            await self._report_container(arn, name, "STOPPED", reason=reason)
            await self._report_task(arn, "STOPPED", reason=reason)
            return
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "EMULATOR_RUN_ID": os.environ.get("EMULATOR_RUN_ID", ""),
        }
        # Environment files first: ECS gives `environment` precedence over them.
        files = override.get("environmentFiles") or container.get("environmentFiles") or []
        if files:
            execution_role = task.get("overrides", {}).get("executionRoleArn") or definition.get(
                "executionRoleArn"
            )
            try:
                environment.update(await self._environment_files(files, execution_role))
            except EnvironmentFileError as exc:
                await self._report_container(arn, name, "STOPPED", reason=str(exc))
                await self._report_task(arn, "STOPPED", reason=str(exc), pullStoppedAt=time.time())
                return
        for item in container.get("environment") or []:
            environment[item["name"]] = item["value"]
        for item in override.get("environment") or []:
            environment[item["name"]] = item["value"]
        if container.get("secrets"):
            execution_role = task.get("overrides", {}).get("executionRoleArn") or definition.get(
                "executionRoleArn"
            )
            try:
                environment.update(await self._secrets(container["secrets"], execution_role))
            except SecretError as exc:
                await self._report_container(arn, name, "STOPPED", reason=str(exc))
                await self._report_task(arn, "STOPPED", reason=str(exc), pullStoppedAt=time.time())
                return
        # What the task metadata endpoint would tell the server: its task role.
        environment["EMULATOR_TASK_ROLE_ARN"] = str(
            task.get("overrides", {}).get("taskRoleArn") or definition.get("taskRoleArn") or ""
        )
        try:
            mounts = await self._mounts(definition, container)
            failed = await self._run_dependencies(definition, container, running)
            if failed:
                raise VolumeError(failed)
        except VolumeError as exc:
            await self._report_container(arn, name, "STOPPED", reason=str(exc))
            await self._report_task(arn, "STOPPED", reason=str(exc), pullStoppedAt=time.time())
            return
        # The container's working directory is what a notebook server shows as the user's
        # home: the agent's own files (the output log) live beside it, never inside it.
        task_id = arn.rsplit("/", 1)[-1]
        home = mounts.get(container.get("workingDirectory") or IMAGE_HOME)
        if home is None:
            home = self.workdir / "homes" / task_id
            home.mkdir(parents=True, exist_ok=True)
        if mounts:
            environment["EMULATOR_MOUNTS"] = json.dumps({k: str(v) for k, v in mounts.items()})
        # Which task a process belongs to, for tests (its working directory may be a home
        # shared by the user's tasks): inherited by everything the server starts.
        environment["EMULATOR_TASK_ID"] = task_id
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        environment["HOME"] = str(home)

        network_mode = definition.get("networkMode") or "bridge"
        ports = [int(p["containerPort"]) for p in container.get("portMappings") or []]
        forwarders: list[asyncio.Server] = []
        bindings: list[dict[str, Any]] = []
        if network_mode == "awsvpc":
            address = next(
                d["value"]
                for a in task.get("attachments", [])
                for d in a.get("details", [])
                if d["name"] == "privateIPv4Address"
            )
        elif network_mode == "host":
            address = self.args.address
            bindings = [
                {"bindIP": UNSPECIFIED, "containerPort": p, "hostPort": p, "protocol": "tcp"}
                for p in ports
            ]
        else:  # bridge
            address = _free_private_address(ports[0] if ports else 1)
            for mapping in container.get("portMappings") or []:
                container_port = int(mapping["containerPort"])
                server = await _forward_port(
                    self.args.address, int(mapping.get("hostPort") or 0), address, container_port
                )
                forwarders.append(server)
                host_port = server.sockets[0].getsockname()[1]
                bindings.append(
                    {
                        "bindIP": UNSPECIFIED,
                        "containerPort": container_port,
                        "hostPort": host_port,
                        "protocol": "tcp",
                    }
                )
        command = [_rewrite(part, address) for part in command]
        environment = {k: _rewrite(v, address) for k, v in environment.items()}
        await self._report_task(arn, "PENDING", pullStoppedAt=time.time())

        log = open(logs / f"{task_id}.log", "wb")  # noqa: SIM115, ASYNC230 - local, closed below
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                env=environment,
                cwd=home,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            log.close()
            reason = f"CannotStartContainerError: {exc.strerror}"
            await self._report_container(arn, name, "STOPPED", reason=reason)
            await self._report_task(arn, "STOPPED", reason=reason)
            return
        try:
            exited = asyncio.ensure_future(process.wait())
            # Like the real agent, RUNNING only for a container that is still up a moment
            # after it started: one that dies at once goes straight to STOPPED.
            await asyncio.wait({exited}, timeout=self.knobs.running_after)
            if not exited.done():
                await self._report_container(
                    arn, name, "RUNNING", networkBindings=bindings, runtimeId=str(process.pid)
                )
                await self._report_task(arn, "RUNNING")
            stop = asyncio.ensure_future(running.stop_requested.wait())
            await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not exited.done():
                code = await self._terminate(process)
            else:
                code = exited.result()
        finally:
            for server in forwarders:
                server.close()
            log.close()
        exit_code = 128 - code if code < 0 else code  # Docker: killed by signal N -> 128 + N
        await self._report_container(arn, name, "STOPPED", exitCode=exit_code)
        await self._report_task(arn, "STOPPED", executionStoppedAt=time.time())

    async def _terminate(self, process: asyncio.subprocess.Process) -> int:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            return await asyncio.wait_for(process.wait(), self.knobs.stop_timeout)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            return await process.wait()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--instance-id", default="")
    parser.add_argument("--address", default="127.0.0.1", help="the node's loopback address")
    parser.add_argument("--attribute", action="append", default=[], help="NAME=VALUE")
    parser.add_argument("--fargate", action="store_true", help="serve Fargate tasks")
    parser.add_argument("--cpu", type=int, default=4096)
    parser.add_argument("--memory", type=int, default=8192)
    parser.add_argument("--ssm-ip", default="", help="the IPAddress SSM reports (mi- nodes)")
    parser.add_argument("--interfaces", default="", help="JSON list of AWS:Network rows")
    parser.add_argument("--command-output", default=None, help="what SendCommand prints")
    parser.add_argument("--hold-pending", type=float, default=0.0)
    parser.add_argument("--pull-delay", type=float, default=0.0)
    parser.add_argument("--stop-timeout", type=float, default=2.0)
    parser.add_argument(
        "--running-after", type=float, default=0.2, help="seconds up before RUNNING"
    )
    parser.add_argument("--fail-image", action="append", default=[], help="SUBSTRING=REASON")
    parser.add_argument("--poll", type=float, default=0.1)
    parser.add_argument(
        "--efs-root", default="", help="the emulator-wide folder EFS volumes map to"
    )
    parser.add_argument(
        "--node-root", default="", help="this node's own disk, where host volumes map"
    )
    parser.add_argument("--ready-file", default="")
    args = parser.parse_args(argv)
    if not args.efs_root:
        args.efs_root = tempfile.mkdtemp(prefix="efs-")
    if not args.node_root:
        args.node_root = tempfile.mkdtemp(prefix="node-")
    if not args.fargate and not args.instance_id:
        parser.error("--instance-id is required unless --fargate")
    return args


async def amain(argv: list[str]) -> None:
    args = parse(argv)
    agent = Agent(args)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.stopping.set)
    session = AioSession()
    config = AioConfig(retries={"mode": "standard", "total_max_attempts": 5})
    where = {
        "region_name": args.region,
        "endpoint_url": args.endpoint,
        "aws_access_key_id": "agent",
        "aws_secret_access_key": "agent",
        "config": config,
    }
    async with (
        session.create_client("ecs", **where) as ecs,
        session.create_client("s3", **where) as s3,
        session.create_client("efs", **where) as efs,
        session.create_client("ssm", **where) as ssm,
        session.create_client("secretsmanager", **where) as secretsmanager,
    ):
        agent.ecs, agent.s3, agent.efs = ecs, s3, efs
        agent.ssm, agent.secretsmanager = ssm, secretsmanager
        await agent.serve()


def main() -> None:
    asyncio.run(amain(sys.argv[1:]))


if __name__ == "__main__":
    main()
