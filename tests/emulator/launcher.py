"""Start and stop the emulator's processes on free loopback ports; find leftovers.

Every process started here (and every process those start: agents pass it on to tasks)
carries ``EMULATOR_RUN_ID`` in its environment. :func:`leftover_processes` finds any still
alive by that mark, so a test run can fail when something outlived it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, body: Any = None, timeout: float = 10) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - loopback only
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
        raw = answer.read()
    return json.loads(raw) if raw else None


def leftover_processes(run_id: str) -> list[tuple[int, str]]:
    """(pid, command line) of live processes marked with ``run_id``."""
    mark = f"EMULATOR_RUN_ID={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            status = (entry / "status").read_text()
            if "\nState:\tZ" in status:
                continue  # a zombie has already exited
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        found.append((int(entry.name), command.strip()))
    return found


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Agent:
    process: Process
    instance_id: str
    address: str
    container_instance_arn: str


@dataclass
class Emulator:
    """The server, the proxy in front of it, and any agents; all on 127.0.0.1."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="emulator-")))
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    server_url: str = ""
    proxy_url: str = ""
    processes: list[Process] = field(default_factory=list)
    agents: list[Agent] = field(default_factory=list)
    #: Strict mode (tests/emulator/strict.py): on for every test layer, the demo and the
    #: benchmark. Off only where a test shows what plain moto would accept.
    strict: bool = True
    _vpc_subnet: str | None = None

    # ------------------------------------------------------------------------ processes

    def _spawn(self, name: str, args: list[str]) -> Process:
        log = self.workdir / f"{name}.log"
        env = {**os.environ, "EMULATOR_RUN_ID": self.run_id}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        # Tasks run with the agent's PATH: this environment's scripts (jupyterhub-singleuser)
        # first, as an image with them installed would have.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                [sys.executable, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
                # Its own session: a Ctrl-C in the demo's terminal must not kill the emulator
                # before the hub has stopped its servers through it.
                start_new_session=True,
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def _wait(self, process: Process, ready: Any, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if ready():
                    return
            except OSError:
                pass
            if process.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start:\n{process.tail()}")
            time.sleep(0.05)

    def start(self, with_proxy: bool = True) -> Emulator:
        port = free_port()
        args = ["-m", "tests.emulator.server", "-H", "127.0.0.1", "-p", str(port)]
        server = self._spawn("server", args if self.strict else [*args, "--lenient"])
        self.server_url = f"http://127.0.0.1:{port}"
        self._wait(
            server, lambda: http("GET", f"{self.server_url}/_emulator/health")["ok"], "emulator"
        )
        health = http("GET", f"{self.server_url}/_emulator/health")
        if health.get("strict") is not self.strict:
            raise RuntimeError(
                f"the emulator's strict mode is {health.get('strict')}, not {self.strict}"
            )
        if with_proxy:
            port = free_port()
            ready = self.workdir / "proxy.ready"
            proxy = self._spawn(
                "proxy",
                [
                    "-m", "tests.emulator.proxy", "--upstream", self.server_url,
                    "-H", "127.0.0.1", "-p", str(port), "--ready-file", str(ready),
                ],
            )  # fmt: skip
            self.proxy_url = f"http://127.0.0.1:{port}"
            self._wait(
                proxy, lambda: http("GET", f"{self.proxy_url}/_proxy/stats") is not None, "proxy"
            )
        return self

    def stop_agents(self) -> list[tuple[int, str]]:
        """Stop every agent; return marked processes still alive other than server and proxy."""
        for agent in self.agents:
            agent.process.stop()
            self.processes.remove(agent.process)
        self.agents.clear()
        keep = {p.popen.pid for p in self.processes}
        deadline = time.monotonic() + 5
        while True:
            left = [(pid, cmd) for pid, cmd in leftover_processes(self.run_id) if pid not in keep]
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.1)

    def stop(self) -> list[tuple[int, str]]:
        """Stop everything (agents first); return processes that outlived it."""
        for agent in self.agents:
            agent.process.stop()
        for process in reversed(self.processes):
            process.stop()
        self.agents.clear()
        self.processes.clear()
        deadline = time.monotonic() + 5
        while (left := leftover_processes(self.run_id)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------------------- state

    def reset(self) -> None:
        """Forget all AWS state; tasks no longer age by themselves; proxy counters zeroed."""
        self.stop_agents()
        http("POST", f"{self.server_url}/moto-api/reset")
        shutil.rmtree(self.efs_root, ignore_errors=True)  # the file system's files went too
        shutil.rmtree(self.workdir / "nodes", ignore_errors=True)  # and the nodes' disks
        frozen = {
            "model_name": "ecs::task",
            "transition": {"progression": "manual", "times": 10**9},
        }
        http("POST", f"{self.server_url}/moto-api/state-manager/set-transition", frozen)
        if self.proxy_url:
            http("POST", f"{self.proxy_url}/_proxy/reset")
        self._vpc_subnet = None

    @property
    def efs_root(self) -> Path:
        """The folder every agent maps EFS volumes into: one file system, seen from every
        node (``<efs_root>/<file system id>/<access point path>``)."""
        return self.workdir / "efs"

    def node_root(self, instance_id: str) -> Path:
        """The disk of node ``instance_id``, where its agent maps host volumes (a node
        started again with the same instance id finds its files)."""
        return self.workdir / "nodes" / instance_id

    def efs_file_system(self, subnets: list[str] | None = None) -> str:
        """A new EFS file system (with a mount target in each of ``subnets``)."""
        efs = self.client("efs")
        created = efs.create_file_system(CreationToken=uuid.uuid4().hex, Encrypted=True)
        for subnet in subnets or []:
            efs.create_mount_target(FileSystemId=created["FileSystemId"], SubnetId=subnet)
        return str(created["FileSystemId"])

    def client(self, service: str, *, through_proxy: bool = False, validate: bool = True) -> Any:
        """A plain boto3 client for test setup and inspection.

        ``validate=False`` turns botocore's own parameter validation off, so a request that
        botocore would refuse reaches the emulator (whose strict mode must refuse it too)."""
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.proxy_url if through_proxy else self.server_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=BotoConfig(parameter_validation=validate),
        )

    def stats(self) -> dict[str, Any]:
        return http("GET", f"{self.proxy_url}/_proxy/stats")  # type: ignore[no-any-return]

    def request_bodies(self, operation: str) -> list[str]:
        """The request bodies of ``operation`` (ecs:RunTask, ecs:RegisterTaskDefinition) the
        proxy forwarded since the last reset, as sent."""
        bodies = http("GET", f"{self.proxy_url}/_proxy/bodies")
        return list(bodies.get(operation, []))

    def no_capacity(self, reasons: dict[str, str]) -> None:
        """RunTask on these launch types or capacity providers answers ``failures[]`` with
        the reason (ECS's "no capacity" answers); ``{}`` gives the capacity back."""
        http("POST", f"{self.server_url}/_emulator/capacity", reasons)

    def interrupt(self, cluster: str, task: str, stop_code: str = "SpotInterruption") -> None:
        """AWS reclaims ``task``'s Spot capacity (stop code set, SIGTERM from its agent)."""
        http(
            "POST",
            f"{self.server_url}/_emulator/interrupt",
            {"cluster": cluster, "task": task, "stopCode": stop_code},
        )

    def faults(self, rules: list[dict[str, Any]], seed: int = 0) -> None:
        http("POST", f"{self.proxy_url}/_proxy/faults", {"seed": seed, "rules": rules})

    def loopback_subnet(self) -> str:
        """A VPC subnet whose EC2 instances get 127.0.0.x addresses (created once)."""
        if self._vpc_subnet is None:
            ec2 = self.client("ec2")
            vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
            ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="127.0.0.0/24")["Subnet"]["SubnetId"]
            self._vpc_subnet = subnet
        return self._vpc_subnet

    def ec2_instance(self, address: str) -> str:
        """An EC2 instance in the emulator whose private IP is ``address`` (127.0.0.x)."""
        ec2 = self.client("ec2")
        image = ec2.describe_images()["Images"][0]["ImageId"]
        answer = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            SubnetId=self.loopback_subnet(),
            PrivateIpAddress=address,
            InstanceType="t3.medium",
        )
        return str(answer["Instances"][0]["InstanceId"])

    # ---------------------------------------------------------------------------- agents

    def add_agent(
        self,
        cluster: str,
        *,
        instance_id: str = "",
        address: str = "127.0.0.1",
        fargate: bool = False,
        attributes: dict[str, str] | None = None,
        options: list[str] | None = None,
    ) -> Agent:
        """Start a local ECS agent; returns once its container instance is registered."""
        if not fargate and not instance_id:
            instance_id = self.ec2_instance(address)
        name = f"agent-{uuid.uuid4().hex[:8]}"
        ready = self.workdir / f"{name}.ready"
        args = [
            "-m", "tests.emulator.agent", "--endpoint", self.server_url, "--cluster", cluster,
            "--address", address, "--ready-file", str(ready), "--efs-root", str(self.efs_root),
        ]  # fmt: skip
        if fargate:
            args.append("--fargate")
        else:
            args += ["--instance-id", instance_id, "--node-root", str(self.node_root(instance_id))]
        for attribute, value in (attributes or {}).items():
            args += ["--attribute", f"{attribute}={value}"]
        args += options or []
        process = self._spawn(name, args)
        self._wait(process, ready.exists, "agent")
        agent = Agent(process, instance_id, address, ready.read_text())
        self.agents.append(agent)
        return agent


def main() -> None:
    """``python -m tests.emulator.launcher``: run the server and proxy until Ctrl-C."""
    emulator = Emulator().start()
    print(f"emulator: {emulator.server_url}\nproxy:    {emulator.proxy_url}", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        left = emulator.stop()
        if left:
            print(f"processes left behind: {left}", file=sys.stderr)


if __name__ == "__main__":
    main()
