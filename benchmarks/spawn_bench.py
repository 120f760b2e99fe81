"""``nox -s bench``: N users spawn, are polled and stopped, against the emulator.

Spawner objects are driven as the hub drives them (a stand-in for JupyterHub's User and Hub
objects: a name, a URL prefix, an API token; no hub process), against the emulator through
its counting proxy. Tasks are Fargate tasks that the emulator starts RUNNING at once with
loopback ENI addresses; the resulting URLs are never dialled. Phases: spawn all (``--
concurrency`` at a time, JupyterHub's concurrent_spawn_limit), ``--rounds`` poll rounds (every
server at once, as at hub start), stop all.

Two modes run side by side in one process, on the same emulator:

* ``awsspawner``: the product as shipped (shared clients, the batched task watcher);
* ``baseline``: the same spawns, but each poll makes its own aiobotocore client and asks
  DescribeTasks for its one task, as earlier ECS spawners did (still async, so this measures
  batching and client reuse, not blocking calls). Benchmark code only.

Prints a table and writes JSON (``--json``). Figures: AWS calls per spawn by operation,
DescribeTasks calls per poll round, wall time per phase, this process's CPU per spawn (the
emulator runs in other processes), event-loop lag (max and p99 of a 5 ms ticker), peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aiobotocore.session import AioSession
from jupyterhub.objects import Hub
from tests.emulator.launcher import Emulator, http

from awsspawner import AWSSpawner, close_shared_clients
from awsspawner.tools.homes import prepare_home

from .loop_probes import CallbackTimes, GCPauses, LagTicker, StallSampler

CLUSTER = "bench"
FAMILY = "bench-notebook"


class BaselineSpawner(AWSSpawner):
    """Benchmark only: polls the way earlier ECS spawners did (one client, one task)."""

    async def poll(self) -> int | None:
        session = AioSession()
        async with session.create_client("ecs", region_name=self.aws_region) as ecs:
            answer = await ecs.describe_tasks(cluster=self.task_cluster, tasks=[self.task_arn])
        tasks = answer.get("tasks") or []
        if tasks and tasks[0].get("lastStatus") == "STOPPED":
            return 1
        return None


def stand_in_user(n: int) -> SimpleNamespace:
    name = f"user{n:05d}"
    return SimpleNamespace(name=name, url=f"/user/{name}/", escaped_name=name, id=n, settings={})


ENV_FILE_BUCKET = "bench-tokens"


def make_spawners(
    kind: type[AWSSpawner],
    users: int,
    subnet: str,
    delivery: str = "environment",
    file_system: str = "",
) -> list[AWSSpawner]:
    token = (
        {"api_token_source": "s3", "api_token_bucket": ENV_FILE_BUCKET,
         "execution_role_arn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"}
        if delivery == "s3"
        else {}
    )  # fmt: skip
    # Homes: every user's first spawn creates an access point and registers a revision
    # (1 per second after a burst of 20): a storm waits, so the spawn timeout is raised.
    homes = {"efs_file_system_id": file_system, "start_timeout": 3600} if file_system else {}
    return [
        kind(
            user=stand_in_user(n),
            hub=Hub(),
            api_token=f"bench-token-{n}",
            task_cluster_name=CLUSTER,
            task_definition_family=FAMILY,
            task_container_name="notebook",
            task_subnets=[subnet],
            launch_type="FARGATE",
            startup_poll_interval=0.5,
            poll_interval=1,
            **token,
            **homes,
        )
        for n in range(users)
    ]


def calls(emulator: Emulator) -> dict[str, int]:
    return dict(emulator.stats()["calls"])


def diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


async def concurrently(
    action: Callable[[AWSSpawner], Awaitable[None]], spawners: list[AWSSpawner], workers: int
) -> None:
    """``action`` on every spawner, ``workers`` at a time: as requests reach a hub, each
    started when a slot frees up (not a thousand tasks created in one loop iteration, which
    would stall the loop being measured by itself)."""
    queue = iter(spawners)

    async def worker() -> None:
        for spawner in queue:
            await action(spawner)

    await asyncio.gather(*(worker() for _ in range(workers)))


async def run_mode(
    mode: str,
    emulator: Emulator,
    subnet: str,
    users: int,
    concurrency: int,
    rounds: int,
    gc_freeze: bool = True,
    delivery: str = "environment",
    stall_stacks: bool = False,
    file_system: str = "",
    prepare: bool = False,
) -> dict[str, Any]:
    kind = BaselineSpawner if mode == "baseline" else AWSSpawner
    spawners = make_spawners(kind, users, subnet, delivery, file_system)
    for spawner in spawners:
        spawner.gc_freeze_after_setup = gc_freeze
    ticker = LagTicker()
    collections = GCPauses()
    callbacks = CallbackTimes()
    stalls = StallSampler() if stall_stacks else None
    result: dict[str, Any] = {
        "mode": mode,
        "users": users,
        "api_token_source": delivery,
        "efs_homes": bool(file_system),
        "homes_prepared": prepare,
        "gc_freeze": gc_freeze,
    }
    durations: list[float] = []

    async def spawn(spawner: AWSSpawner) -> None:
        began = time.monotonic()
        await spawner.start()
        durations.append(time.monotonic() - began)

    if prepare:
        # `awsspawner homes prepare` before the class logs in: the same code, 8 at a time.
        wall = time.monotonic()

        async def prepare_one(spawner: AWSSpawner) -> None:
            await prepare_home(spawner, spawner.spawn_settings())

        await concurrently(prepare_one, spawners, 8)
        result["prepare_wall_s"] = round(time.monotonic() - wall, 2)
        result["prepare_calls"] = dict(sorted(calls(emulator).items()))
        # The command ran in another process: the hub knows none of what it made.
        await close_shared_clients()
    http("POST", f"{emulator.proxy_url}/_proxy/reset")
    ticker.start()
    collections.start()
    callbacks.start()
    if stalls is not None:
        stalls.start()
    cpu, wall = time.process_time(), time.monotonic()
    await concurrently(spawn, spawners, concurrency)
    spawn_cpu, spawn_wall = time.process_time() - cpu, time.monotonic() - wall
    result["spawn_callbacks"] = callbacks.stop()
    if stalls is not None:
        result["spawn_stall_stacks"] = await stalls.stop()
    result["spawn_lag"] = await ticker.stop(collections)
    result["spawn_gc"] = collections.stop()
    spawn_calls = calls(emulator)
    result["spawn_wall_s"] = round(spawn_wall, 2)
    ordered = sorted(durations)
    result["spawn_s"] = {
        "p50": round(ordered[len(ordered) // 2], 2),
        "p95": round(ordered[int(len(ordered) * 0.95)], 2),
        "max": round(ordered[-1], 2),
    }
    result["cpu_per_spawn_ms"] = round(spawn_cpu / users * 1000, 2)
    result["calls_per_spawn"] = {k: round(v / users, 2) for k, v in sorted(spawn_calls.items())}

    ticker.start()
    collections.start()
    round_calls, round_walls = [], []
    for _ in range(rounds):
        await asyncio.sleep(1.0)  # older than poll_interval: each round asks ECS again
        before = await asyncio.to_thread(calls, emulator)  # not on the loop being measured
        wall = time.monotonic()
        results = await asyncio.gather(*(s.poll() for s in spawners))
        round_walls.append(time.monotonic() - wall)
        after = await asyncio.to_thread(calls, emulator)
        round_calls.append(diff(after, before).get("ecs:DescribeTasks", 0))
        assert all(r is None for r in results), "a running server was reported stopped"
    result["poll_lag"] = await ticker.stop(collections)
    result["poll_gc"] = collections.stop()
    result["describe_calls_per_round"] = round_calls
    result["poll_round_wall_s"] = [round(w, 2) for w in round_walls]

    before = calls(emulator)
    wall = time.monotonic()

    async def stop(spawner: AWSSpawner) -> None:
        await spawner.stop(now=True)

    await concurrently(stop, spawners, concurrency)
    result["stop_wall_s"] = round(time.monotonic() - wall, 2)
    result["calls_per_stop"] = {
        k: round(v / users, 2) for k, v in sorted(diff(calls(emulator), before).items())
    }
    if file_system:
        # Every user starts again: their access point and revision exist now.
        for spawner in spawners:
            spawner.clear_state()
        before = calls(emulator)
        await concurrently(lambda s: s.start(), spawners, concurrency)
        result["calls_per_second_spawn"] = {
            k: round(v / users, 2) for k, v in sorted(diff(calls(emulator), before).items())
        }
        await concurrently(stop, spawners, concurrency)
    await close_shared_clients()
    return result


def setup(emulator: Emulator, homes: bool = False) -> tuple[str, str]:
    emulator.reset()
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    emulator.client("s3").create_bucket(Bucket=ENV_FILE_BUCKET)
    ecs.register_task_definition(
        family=FAMILY,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "notebook", "image": "bench:1", "memory": 512}],
    )
    subnet = emulator.loopback_subnet()
    return subnet, emulator.efs_file_system([subnet]) if homes else ""


def table(results: list[dict[str, Any]]) -> str:
    lines = []
    rows = [
        ("users", lambda r: r["users"]),
        ("spawn phase wall (s)", lambda r: r["spawn_wall_s"]),
        ("one spawn (s): p50 / p95 / max", lambda r: " / ".join(map(str, r["spawn_s"].values()))),
        ("spawner CPU per spawn (ms)", lambda r: r["cpu_per_spawn_ms"]),
        ("AWS calls per spawn", lambda r: r["calls_per_spawn"]),
        (
            "loop lag in spawns max/p99 (ms)",
            lambda r: (
                f"{r['spawn_lag']['max_ms']}/{r['spawn_lag']['p99_ms']}, "
                f"max at {r['spawn_lag']['max_at_s']} s"
            ),
        ),
        (
            "loop lag in spawns without GC, max (ms)",
            lambda r: (
                f"{r['spawn_lag']['max_without_gc_ms']}, "
                f"at {r['spawn_lag']['max_without_gc_at_s']} s "
                f"(loop thread CPU in it {r['spawn_lag']['max_without_gc_cpu_ms']})"
            ),
        ),
        (
            "loop busy between ticks, no GC, max (ms)",
            lambda r: r["spawn_lag"]["max_busy_without_gc_ms"],
        ),
        (
            "longest GC pause in spawns (ms, full GCs)",
            lambda r: (
                f"{r['spawn_gc']['max_ms']} ({r['spawn_gc']['full_collections']}), "
                f"at {r['spawn_gc']['longest_at_s']} s"
            ),
        ),
        ("DescribeTasks per poll round", lambda r: r["describe_calls_per_round"]),
        ("poll round wall (s)", lambda r: r["poll_round_wall_s"]),
        (
            "loop lag in polls max/p99 (ms)",
            lambda r: (
                f"{r['poll_lag']['max_ms']}/{r['poll_lag']['p99_ms']}, "
                f"max at {r['poll_lag']['max_at_s']} s"
            ),
        ),
        (
            "loop lag in polls without GC, max (ms)",
            lambda r: (
                f"{r['poll_lag']['max_without_gc_ms']}, "
                f"at {r['poll_lag']['max_without_gc_at_s']} s "
                f"(loop thread CPU in it {r['poll_lag']['max_without_gc_cpu_ms']})"
            ),
        ),
        (
            "loop busy between ticks in polls, no GC, max (ms)",
            lambda r: r["poll_lag"]["max_busy_without_gc_ms"],
        ),
        (
            "longest GC pause in polls (ms, full GCs)",
            lambda r: (
                f"{r['poll_gc']['max_ms']} ({r['poll_gc']['full_collections']}), "
                f"at {r['poll_gc']['longest_at_s']} s"
            ),
        ),
        ("stop phase wall (s)", lambda r: r["stop_wall_s"]),
        ("AWS calls per stop", lambda r: r["calls_per_stop"]),
        ("peak RSS (MiB)", lambda r: r["peak_rss_mib"]),
    ]
    if any(r.get("efs_homes") for r in results):
        rows += [
            ("homes prepared ahead: wall (s)", lambda r: r.get("prepare_wall_s", "-")),
            ("AWS calls of the prepare", lambda r: r.get("prepare_calls", "-")),
            ("AWS calls per second spawn", lambda r: r.get("calls_per_second_spawn", "-")),
        ]
    for label, get in rows:
        lines.append(f"{label:42} " + " | ".join(f"{r['mode']}: {get(r)}" for r in results))
    for r in results:
        for count, stack in r.get("spawn_stall_stacks", []):
            lines.append(f"stalled-loop stack seen {count} times ({r['mode']}):")
            lines.extend(f"    {frame}" for frame in stack)
        lines.append(f"top loop callbacks in spawns ({r['mode']}): calls, total ms, longest ms")
        for row in r["spawn_callbacks"]:
            lines.append(
                f"  {row['callback'][:60]:60} {row['calls']:7} {row['total_ms']:9} "
                f"{row['longest_ms']:7}"
            )
    return "\n".join(lines)


async def amain(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.slow_callbacks:
        # Diagnosis: asyncio names every callback that held the loop longer than this.
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = args.slow_callbacks / 1000
    results = []
    with Emulator() as emulator:
        os.environ["AWS_ENDPOINT_URL"] = emulator.proxy_url
        for mode in args.modes:
            subnet, file_system = setup(emulator, args.efs_homes and mode != "baseline")
            result = await run_mode(
                mode,
                emulator,
                subnet,
                args.users,
                args.concurrency,
                args.rounds,
                not args.no_gc_freeze,
                args.api_token_source,
                args.stall_stacks,
                file_system,
                args.prepare_homes and bool(file_system),
            )
            result["peak_rss_mib"] = round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
            )
            results.append(result)
            print(f"{mode}: done", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="awsspawner spawn/poll/stop benchmark")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=["awsspawner", "baseline"])
    parser.add_argument("--json", default="bench-results/bench.json")
    parser.add_argument(
        "--api-token-source",
        choices=["environment", "s3"],
        default="environment",
        help="c.AWSSpawner.api_token_source: 's3' writes and deletes a token file per server",
    )
    parser.add_argument(
        "--efs-homes",
        action="store_true",
        help="every user has a persistent home on EFS (an access point and a revision of "
        "their own, made at the first spawn); not for the baseline mode",
    )
    parser.add_argument(
        "--prepare-homes",
        action="store_true",
        help="with --efs-homes: prepare every user's home first (awsspawner homes prepare), "
        "then the login storm",
    )
    parser.add_argument(
        "--stall-stacks",
        action="store_true",
        help="sample the loop's stack whenever it stalls over 30 ms during spawns (diagnosis)",
    )
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the clients' warm-up (awsspawner.aws.warmup), to measure what it saves",
    )
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="c.AWSSpawner.gc_freeze_after_setup = False, the collector's default behaviour "
        "(the setting is True by default: see docs/scale.md)",
    )
    parser.add_argument(
        "--slow-callbacks",
        type=float,
        default=0,
        metavar="MS",
        help="log each event-loop callback slower than MS (asyncio debug mode; slows the run)",
    )
    args = parser.parse_args()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
    }.items():  # fmt: skip
        os.environ.setdefault(name, value)
    if args.no_warmup:
        from awsspawner.aws import clients

        clients.warm_client = lambda client, service: 0  # type: ignore[assignment]
    results = asyncio.run(amain(args))
    print(table(results))
    if len(results) == 2:
        ours, base = results
        ratio = statistics.mean(base["describe_calls_per_round"]) / max(
            1, statistics.mean(ours["describe_calls_per_round"])
        )
        print(f"DescribeTasks per poll round, baseline / awsspawner: {ratio:.0f}x")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(f"written: {path}")
    sys.exit(0)


if __name__ == "__main__":
    main()
