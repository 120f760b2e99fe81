"""``api_token_source = 's3'`` with a real hub: the notebook server authenticates with the
token it read from its S3 environment file, and nothing ECS keeps or was sent holds it."""

from __future__ import annotations

import json

from demo.stack import CLUSTER, HubStack

from ..helpers import task_environment
from .conftest import own_stack
from .hubclient import HubClient, tasks_of, wait_task_status
from .test_hub import assert_stopped_cleanly, only_task, server_path, spawn_ready

BUCKET = "hub-tokens"
TOKEN_CONFIG = f"""
c.JupyterHub.cleanup_servers = False
c.AWSSpawner.api_token_source = "s3"
c.AWSSpawner.api_token_bucket = {BUCKET!r}
c.AWSSpawner.execution_role_arn = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
"""


async def test_servers_get_their_token_from_s3_and_ecs_never_sees_it() -> None:
    async with own_stack(TOKEN_CONFIG) as (stack, hub):
        s3 = stack.emulator.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        for user, profile in (("s3-fargate", "fargate"), ("s3-anywhere", "cpu-server")):
            await spawn_ready(hub, user, profile=profile)
            task = await only_task(stack, user)
            token = task_environment(task["taskArn"]).get("JUPYTERHUB_API_TOKEN", "")
            assert len(token) >= 32, "the server got no token from its environment file"
            # ECS's view of the task, and every RunTask the hub sent, hold no token.
            described = stack.emulator.client("ecs").describe_tasks(
                cluster=CLUSTER, tasks=[task["taskArn"]]
            )
            assert token not in json.dumps(described, default=str)
            run_tasks = stack.emulator.request_bodies("ecs:RunTask")
            assert run_tasks
            assert not [body for body in run_tasks if token in body]
            assert token not in stack.log_path.read_text(errors="replace")
            # Read by the agent before the container started, the file is gone already.
            assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)
            # The server reached the hub with it (activity), and a user logs in through
            # OAuth, which the server completes with the same token.
            status, url = await hub.log_in_and_open(user, server_path(user) + "lab")
            assert status == 200, (status, url)
            assert url.endswith(server_path(user) + "lab"), url
            assert f"403 POST /hub/api/users/{user}/activity" not in stack.log_path.read_text()

        # A hub restart keeps the servers working (their files stay until they stop).
        stack.stop_hub()
        stack.start_hub()
        for user in ("s3-fargate", "s3-anywhere"):
            await hub.wait_ready(user)
            assert (
                await hub.through_proxy(
                    server_path(user) + "api/status", await hub.user_token(user)
                )
                == 200
            )

        for user in ("s3-fargate", "s3-anywhere"):
            task = await only_task(stack, user)
            await hub.stop(user)
            await assert_stopped_cleanly(stack, task["taskArn"])
            await wait_task_status(stack, task["taskArn"], "STOPPED")
            assert len(tasks_of(stack, user)) == 1
        assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET), "token files left behind"


async def test_the_reaper_service_sweeps_token_files_no_server_owns(
    hub: HubClient, stack: HubStack
) -> None:
    """`awsspawner-reaper --token-bucket`: a file of a user the hub does not have goes; the
    file of a running server, and another hub's, stay."""
    s3 = stack.emulator.client("s3")
    s3.create_bucket(Bucket="sweep-tokens")
    await spawn_ready(hub, "sweep-live", profile="fargate")
    planted = [
        "jupyterhub-tokens/jupyterhub/sweep-live.env",  # a running server's
        "jupyterhub-tokens/jupyterhub/sweep-ghost.env",  # no such user
        "jupyterhub-tokens/jupyterhub/sweep-live/old.env",  # a named server that does not run
        "jupyterhub-tokens/another-hub/sweep-ghost.env",  # another hub's folder
    ]
    for key in planted:
        s3.put_object(Bucket="sweep-tokens", Key=key, Body=b"JUPYTERHUB_API_TOKEN=x\n")
    young = stack.run_reaper("--grace", "600", "--token-bucket", "sweep-tokens")
    assert young.returncode == 0, young.stderr
    assert "token files: 3 of this hub; 0 deleted" in young.stderr
    swept = stack.run_reaper("--grace", "0", "--token-bucket", "sweep-tokens")
    assert swept.returncode == 0, swept.stderr
    assert "token files: 3 of this hub; 2 deleted" in swept.stderr
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="sweep-tokens")["Contents"])
    assert left == [planted[3], planted[0]]
    await hub.stop("sweep-live")
