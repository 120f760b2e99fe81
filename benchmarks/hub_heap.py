"""``python -m benchmarks.hub_heap``: a real JupyterHub's heap, and what a full GC costs there.

The spawn benchmark runs spawners in a bare process; a hub process also holds JupyterHub,
tornado, SQLAlchemy, its ORM objects and one spawner per user. This initializes a real
``JupyterHub`` application (a SQLite database in a temporary folder, awsspawner as its
spawner class, no proxy or servers started), adds ``--users`` users with their spawners and
awsspawner's shared ECS client, then reports the number of objects Python's collector tracks
and the time of a full collection: as they are, and after ``gc.freeze()`` (what
``c.AWSSpawner.gc_freeze_after_setup`` does once the first client is built).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
from pathlib import Path

from jupyterhub import orm
from jupyterhub.app import JupyterHub

CONFIG = """
c.JupyterHub.spawner_class = "awsspawner.AWSSpawner"
c.JupyterHub.db_url = "sqlite:///{folder}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{folder}/cookie_secret"
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.hub_ip = "127.0.0.1"
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.auth_token = "heap-benchmark-only"
c.AWSSpawner.aws_region = "us-east-1"
c.AWSSpawner.task_cluster_name = "notebooks"
c.AWSSpawner.task_definition_family = "jupyter-notebook"
c.AWSSpawner.task_container_name = "notebook"
c.AWSSpawner.task_subnets = ["subnet-0123456789abcdef0"]
"""


def full_collection_ms(repeat: int = 3) -> float:
    """The shortest of ``repeat`` full collections, in ms."""
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        gc.collect()
        best = min(best, time.perf_counter() - began)
    return round(best * 1000, 1)


async def measure(users: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="hub-heap-"))
    config = folder / "jupyterhub_config.py"
    config.write_text(CONFIG.format(folder=folder))
    app = JupyterHub()
    await app.initialize(["-f", str(config)])
    for n in range(users):
        user = orm.User(name=f"user{n:05d}")
        app.db.add(user)
    app.db.commit()
    for orm_user in app.db.query(orm.User):
        app.users[orm_user].spawner  # noqa: B018 - builds the user's spawner, as a spawn would
    spawner = app.users[app.db.query(orm.User).first()].spawner
    await spawner.aws_client("ecs")  # the shared client: botocore's service models loaded
    figures = {
        "users": users,
        "tracked_objects": len(gc.get_objects()),
        "full_gc_ms": full_collection_ms(),
    }
    gc.freeze()
    figures["frozen_objects"] = gc.get_freeze_count()
    figures["full_gc_after_freeze_ms"] = full_collection_ms()
    gc.unfreeze()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    args = parser.parse_args()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "heap", "AWS_SECRET_ACCESS_KEY": "heap",
        "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
    }.items():  # fmt: skip
        os.environ.setdefault(name, value)
    figures = asyncio.run(measure(args.users))
    for key, value in figures.items():
        print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
