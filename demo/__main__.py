"""``python -m demo`` (what ``nox -s demo`` runs): a JupyterHub on this machine, spawning
notebook servers as "ECS tasks" through awsspawner, with no AWS account.

Ctrl-C stops the hub (which stops every server's task), then the agents and the emulator,
and says whether any task was still running or any process outlived the demo.
"""

from __future__ import annotations

import signal
import sys
import threading

from .stack import CPU_NODE, EC2_ADDRESS, GPU_NODE, HubStack


def _banner(stack: HubStack) -> str:
    return f"""
awsspawner demo: JupyterHub is running at

    {stack.url}

Log in with any user name and the password  {stack.password}
Pick a profile on the spawn page; each starts an ECS task through awsspawner:

    Fargate / Fargate Spot   task ENIs on 127.0.0.x (awsvpc)
    EC2 container instance   {EC2_ADDRESS} (bridge network, port mapped by the agent)
    ECS Anywhere GPU node    {GPU_NODE[0]} at {GPU_NODE[1]} (attribute gpu=true)
    ECS Anywhere CPU node    {CPU_NODE[0]} at {CPU_NODE[1]} (host network, dynamic port)

The emulated AWS API is at {stack.emulator.proxy_url} (AWS_ENDPOINT_URL), e.g.
    AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x aws --region us-east-1 \\
        --endpoint-url {stack.emulator.proxy_url} ecs list-tasks --cluster notebooks

Hub log: {stack.log_path}
Press Ctrl-C to stop everything.
"""


def main() -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("Starting the AWS emulator, four ECS agents and JupyterHub ...", flush=True)
    stack = HubStack()
    try:
        stack.start()
        print(_banner(stack), flush=True)
        while not stop.wait(1):
            if stack.hub is not None and stack.hub.poll() is not None:
                print("JupyterHub exited:\n" + stack.hub_log_tail(), file=sys.stderr)
                break
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C (nox forwards one too) must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("\nStopping: JupyterHub (and its servers' tasks), agents, emulator ...", flush=True)
        still_running, left = stack.stop()
        if still_running:
            print(f"tasks still RUNNING when the hub stopped: {still_running}", file=sys.stderr)
        if left:
            print(f"processes left behind: {left}", file=sys.stderr)
        if not still_running and not left:
            print("Stopped. No task left running, no process left behind.")
    return 1 if still_running or left else 0


if __name__ == "__main__":
    sys.exit(main())
