"""A whole JupyterHub deployment on this machine: AWS emulator, ECS agents, hub and proxy.

Used by the demo (``nox -s demo``) and by the end-to-end tests (``nox -s e2e``). Everything
listens on loopback addresses only:

* the AWS emulator (moto + our ECS/SSM extensions) and its counting proxy; the hub reaches
  AWS through the standard ``AWS_ENDPOINT_URL`` variable, nothing else is special;
* local ECS agents that run each task's command as a process: one serving Fargate tasks (their
  ENIs get 127.0.0.x addresses), one EC2 container instance (127.0.0.40), and two ECS Anywhere
  ``mi-`` nodes with different attributes (127.0.0.41 with ``gpu=true``, 127.0.0.42 with
  ``role=cpu``);
* JupyterHub, started with :file:`demo/jupyterhub_config.py` (the configuration a reader would
  write for AWS, plus the addresses this machine gives it), and configurable-http-proxy
  started by the hub.

The hub gets a service token (scopes for users, servers and tokens) so tests can drive it
through its REST API the way an admin script would.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.emulator.launcher import REGION, Emulator, free_port, leftover_processes

REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = Path(__file__).with_name("jupyterhub_config.py")
CLUSTER = "notebooks"
CONTAINER = "notebook"
IMAGE = "quay.io/jupyter/base-notebook:2026-01-01"
EC2_ADDRESS = "127.0.0.40"
GPU_NODE = ("mi-00000000000000041", "127.0.0.41", {"gpu": "true"})
CPU_NODE = ("mi-00000000000000042", "127.0.0.42", {"role": "cpu"})
#: The values behind the demo's secrets (made up; the hub never reads them).
DEMO_SECRET_VALUES = {"DATABASE_PASSWORD": "correct-horse-battery", "API_KEY": "demo-api-key-42"}
HARNESS_SCOPES = [
    "admin:users",
    "admin:servers",
    "tokens",
    "list:users",
    "read:users",
    "read:servers",
    "access:servers",
]


def find_configurable_http_proxy() -> str:
    """The configurable-http-proxy executable: $CONFIGURABLE_HTTP_PROXY, PATH, or the copy
    the nox sessions install into .nox/node."""
    candidates = [
        os.environ.get("CONFIGURABLE_HTTP_PROXY", ""),
        shutil.which("configurable-http-proxy") or "",
        str(REPO / ".nox" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(
        "configurable-http-proxy not found: run through `nox -s demo` / `nox -s e2e`, which "
        "install it from npm, or set CONFIGURABLE_HTTP_PROXY to its path"
    )


def _container(**extra: Any) -> dict[str, Any]:
    return {
        "name": CONTAINER,
        "image": IMAGE,
        "memory": 1024,
        "essential": True,
        "command": ["start-notebook.py"],
        **extra,
    }


NOTEBOOK_PORT = [{"containerPort": 8888, "protocol": "tcp"}]


def register_task_definitions(ecs: Any) -> None:
    """The four families the demo's profiles use, one per network mode and launch type."""
    ecs.register_task_definition(
        family="notebook-fargate",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="1024",
        memory="2048",
        executionRoleArn="arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        containerDefinitions=[_container(portMappings=NOTEBOOK_PORT)],
    )
    ecs.register_task_definition(
        family="notebook-ec2",
        networkMode="bridge",
        requiresCompatibilities=["EC2"],
        containerDefinitions=[_container(portMappings=NOTEBOOK_PORT)],
    )
    ecs.register_task_definition(
        family="notebook-anywhere-bridge",
        networkMode="bridge",
        requiresCompatibilities=["EXTERNAL"],
        containerDefinitions=[_container(portMappings=NOTEBOOK_PORT)],
    )
    ecs.register_task_definition(  # host network: the spawner picks a free port per server
        family="notebook-anywhere-host",
        networkMode="host",
        requiresCompatibilities=["EXTERNAL"],
        containerDefinitions=[_container()],
    )


def _get(url: str, token: str = "", timeout: float = 10) -> tuple[int, Any]:
    request = urllib.request.Request(url)  # noqa: S310 - loopback only
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            body = answer.read()
            status = int(answer.status)
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    try:
        return status, json.loads(body) if body else None
    except ValueError:
        return status, body.decode(errors="replace")


@dataclass
class HubStack:
    """Emulator, agents and a JupyterHub process; ``start()`` then ``stop()``."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hubstack-")))
    extra_config: str = ""
    agent_options: list[str] = field(default_factory=list)
    #: More ECS Anywhere nodes: (instance id, address, attributes, agent options).
    extra_nodes: list[tuple[str, str, dict[str, str], list[str]]] = field(default_factory=list)
    emulator: Emulator = field(init=False)
    #: The cluster the hub starts tasks in (the reference stack's tests name their own).
    cluster: str = CLUSTER
    password: str = field(default_factory=lambda: secrets.token_urlsafe(9))
    service_token: str = field(default_factory=lambda: secrets.token_hex(24))
    reaper_token: str = field(default_factory=lambda: secrets.token_hex(24))
    port: int = 0
    hub: subprocess.Popen[bytes] | None = None
    subnet: str = ""
    security_group: str = ""
    file_system: str = ""
    #: The administrators' secrets of the demo's "Fargate with secrets" profile (ARNs).
    secret_arn: str = ""
    parameter_arn: str = ""

    def __post_init__(self) -> None:
        self.emulator = Emulator(workdir=self.workdir / "emulator")
        self.emulator.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.hub_api_port = free_port()
        self.proxy_api_port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "jupyterhub.log"

    # ---------------------------------------------------------------------------- AWS

    def start_aws(self) -> None:
        self.emulator.start()
        ecs = self.emulator.client("ecs")
        ec2 = self.emulator.client("ec2")
        ecs.create_cluster(clusterName=self.cluster)
        register_task_definitions(ecs)
        self.subnet = self.emulator.loopback_subnet()
        vpc = ec2.describe_subnets(SubnetIds=[self.subnet])["Subnets"][0]["VpcId"]
        self.security_group = ec2.create_security_group(
            GroupName="notebooks", Description="notebook servers", VpcId=vpc
        )["GroupId"]
        # Users' homes: a file system with a mount target in the notebooks' subnet.
        self.file_system = self.emulator.efs_file_system([self.subnet])
        # An administrator's secrets: a database password and an API key (SecureString).
        self.secret_arn = self.emulator.client("secretsmanager").create_secret(
            Name="demo/database-password", SecretString=DEMO_SECRET_VALUES["DATABASE_PASSWORD"]
        )["ARN"]
        ssm = self.emulator.client("ssm")
        ssm.put_parameter(
            Name="/demo/api-key", Value=DEMO_SECRET_VALUES["API_KEY"], Type="SecureString"
        )
        self.parameter_arn = ssm.get_parameter(Name="/demo/api-key")["Parameter"]["ARN"]
        options = self.agent_options
        self.emulator.add_agent(self.cluster, fargate=True, options=options)
        self.emulator.add_agent(self.cluster, address=EC2_ADDRESS, options=options)
        nodes = [(*node, options) for node in (GPU_NODE, CPU_NODE)] + self.extra_nodes
        for instance_id, address, attributes, node_options in nodes:
            self.emulator.add_agent(
                self.cluster,
                instance_id=instance_id,
                address=address,
                attributes=attributes,
                options=node_options,
            )

    # ---------------------------------------------------------------------------- hub

    def _config(self) -> Path:
        """The hub's config: the demo's file, then what this harness adds."""
        harness = {
            "name": "harness",
            "api_token": self.service_token,
        }
        role = {"name": "harness", "scopes": HARNESS_SCOPES, "services": ["harness"]}
        # The orphan reaper's service: exactly the scopes its documentation asks for.
        reaper = {"name": "awsspawner-reaper", "api_token": self.reaper_token}
        reaper_role = {
            "name": "awsspawner-reaper",
            "scopes": ["list:users", "read:servers"],
            "services": ["awsspawner-reaper"],
        }
        lines = [
            "c = get_config()  # noqa",
            f"load_subconfig({str(DEMO_CONFIG)!r})  # noqa",
            f"c.JupyterHub.services = [{harness!r}, {reaper!r}]",
            f"c.JupyterHub.load_roles = [{role!r}, {reaper_role!r}]",
            self.extra_config,
        ]
        path = self.workdir / "jupyterhub_config.py"
        path.write_text("\n".join(lines) + "\n")
        return path

    def hub_environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        chp = find_configurable_http_proxy()
        env.update(
            EMULATOR_RUN_ID=self.emulator.run_id,
            AWS_ENDPOINT_URL=self.emulator.proxy_url,
            AWS_ACCESS_KEY_ID="AKIADEMOFAKE00000000",
            AWS_SECRET_ACCESS_KEY="demo-fake-secret",  # noqa: S106 - the emulator's
            AWS_REGION=REGION,
            AWS_EC2_METADATA_DISABLED="true",
            AWS_CONFIG_FILE=str(self.workdir / "no-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.workdir / "no-aws-credentials"),
            DEMO_HUB_PORT=str(self.port),
            DEMO_HUB_API_PORT=str(self.hub_api_port),
            DEMO_PROXY_API_PORT=str(self.proxy_api_port),
            DEMO_CHP=chp,
            DEMO_PASSWORD=self.password,
            DEMO_SUBNET=self.subnet,
            DEMO_SECURITY_GROUP=self.security_group,
            DEMO_FILE_SYSTEM=self.file_system,
            DEMO_SECRET_ARN=self.secret_arn,
            DEMO_PARAMETER_ARN=self.parameter_arn,
            DEMO_PYTHON=sys.executable,
        )
        # The hub itself and what it imports (awsspawner, this repository's tests package).
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        return env

    def start_hub(self, timeout: float = 60) -> None:
        config = self._config()
        with open(self.log_path, "ab") as log:
            self.hub = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(config)],
                cwd=self.workdir,
                env=self.hub_environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the demo's terminal reaches us, not it
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, _ = _get(f"{self.url}/hub/health", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            if self.hub.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JupyterHub did not start:\n{self.hub_log_tail()}")
            time.sleep(0.1)

    def stop_hub(self, timeout: float = 60) -> None:
        """SIGTERM, as a service manager would: the hub stops servers unless told not to."""
        if self.hub is None:
            return
        if self.hub.poll() is None:
            self.hub.send_signal(signal.SIGTERM)
            try:
                self.hub.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.hub.kill()
                self.hub.wait()
        self.hub = None

    def kill_hub(self) -> None:
        """SIGKILL: the hub gets no chance to clean up (a crash or an OOM kill)."""
        if self.hub is not None:
            self.hub.kill()
            self.hub.wait()
            self.hub = None

    def run_reaper(self, *args: str) -> subprocess.CompletedProcess[str]:
        """One round of ``python -m awsspawner.reaper``, with the environment JupyterHub gives
        a hub-managed service (its API URL and token) and the hub's AWS settings."""
        env = self.hub_environment()
        env["JUPYTERHUB_API_URL"] = f"http://127.0.0.1:{self.hub_api_port}/hub/api"
        env["JUPYTERHUB_API_TOKEN"] = self.reaper_token
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "awsspawner.reaper",
                "--cluster",
                self.cluster,
                "--once",
                *args,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def hub_log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # ------------------------------------------------------------------------ whole

    def start(self) -> HubStack:
        try:
            self.start_aws()
            self.start_hub()
        except BaseException:
            self.stop()
            raise
        return self

    def running_tasks(self) -> list[str]:
        ecs = self.emulator.client("ecs")
        arns: list[str] = []
        for desired in ("RUNNING", "PENDING"):
            arns += ecs.list_tasks(cluster=self.cluster, desiredStatus=desired)["taskArns"]
        return arns

    def stop(self) -> tuple[list[str], list[tuple[int, str]]]:
        """Hub first (it stops its servers), then agents and the emulator.

        Returns the tasks still RUNNING when the hub was gone and the processes of this
        stack that outlived it; both should be empty.
        """
        self.stop_hub()
        # The proxy the hub started: stopped with the hub, unless the hub was killed.
        self._stop_marked("configurable-http-proxy")
        still_running: list[str] = []
        if self.emulator.server_url:
            try:
                still_running = self.running_tasks()
            except Exception:
                still_running = []
        self.emulator.stop()
        deadline = time.monotonic() + 5
        while (left := leftover_processes(self.emulator.run_id)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return still_running, left

    def _stop_marked(self, name: str) -> None:
        for pid, command in leftover_processes(self.emulator.run_id):
            if name in command:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

    def __enter__(self) -> HubStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
