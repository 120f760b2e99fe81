"""``python -m tests.emulator.measure``: how long the emulator takes to start, and how long an
agent-placed task takes from RunTask to RUNNING (agent polling every 0.1 s, no pull delay)."""

from __future__ import annotations

import statistics
import sys
import time

from .launcher import Emulator


def main(runs: int = 10) -> None:
    started = time.monotonic()
    emulator = Emulator().start()
    startup = time.monotonic() - started
    try:
        emulator.reset()
        ecs = emulator.client("ecs")
        ecs.create_cluster(clusterName="m")
        started = time.monotonic()
        emulator.add_agent("m", address="127.0.0.30")
        agent_start = time.monotonic() - started
        ecs.register_task_definition(
            family="web",
            networkMode="bridge",
            containerDefinitions=[
                {
                    "name": "notebook",
                    "image": "local/http:1",
                    "memory": 128,
                    "command": [sys.executable, "-m", "http.server", "8888"],
                    "portMappings": [{"containerPort": 8888}],
                }
            ],
        )
        timings = []
        for _ in range(runs):
            started = time.monotonic()
            arn = ecs.run_task(cluster="m", taskDefinition="web", launchType="EC2")["tasks"][0][
                "taskArn"
            ]
            while (
                ecs.describe_tasks(cluster="m", tasks=[arn])["tasks"][0]["lastStatus"] != "RUNNING"
            ):
                time.sleep(0.01)
            timings.append(time.monotonic() - started)
            ecs.stop_task(cluster="m", task=arn)
        print(f"emulator start (server + proxy, healthy): {startup:.2f} s")
        print(f"agent start (registered):                {agent_start:.2f} s")
        print(
            f"RunTask -> RUNNING, {runs} runs: median {statistics.median(timings) * 1000:.0f} ms, "
            f"max {max(timings) * 1000:.0f} ms"
        )
    finally:
        left = emulator.stop()
        if left:
            print(f"left behind: {left}", file=sys.stderr)


if __name__ == "__main__":
    main()
