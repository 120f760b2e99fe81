"""What a spawner keeps in the hub database, and writing it there at once.

:class:`TaskState` is the part of :class:`~awsspawner.AWSSpawner` that JupyterHub persists:
which task runs the server, and how to find it again. The hub saves a spawner's state only
after ``start()`` returns; a spawner that has started a task must not depend on that, so
:meth:`TaskState.commit_state` writes it right away (before RunTask, with the spawn's
clientToken, and again with the task ARN).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from jupyterhub.spawner import Spawner
from sqlalchemy import inspect as orm_inspect
from traitlets import Unicode

__all__ = ["STATE_KEYS", "TaskState"]

STATE_KEYS = (
    "task_arn",
    "task_cluster",
    "task_container",
    "task_definition",
    "client_token",
    "endpoint_url",
    "task_port",
    "token_file",
    "interruption",
    "home_nodes",
    "home_revisions",
)
#: Kept when a task is forgotten or the state cleared: they outlive the task.
_OUTLIVE_THE_TASK = ("token_file", "interruption", "home_nodes", "home_revisions")


class TaskState(Spawner):
    """A JupyterHub spawner whose server is one ECS task, and what it records of that task."""

    # Kept in the hub's database; not configuration.
    task_arn = Unicode("")
    task_cluster = Unicode("")
    task_container = Unicode("")
    task_definition = Unicode("")
    client_token = Unicode("")
    endpoint_url = Unicode("")
    task_port = Unicode("")  # set when use_dynamic_port picked the server's port
    token_file = Unicode("")  # bucket/key of the server's token file (api_token_source s3)
    #: "<stopCode> <epoch seconds>" when AWS reclaimed the Spot capacity of the last task;
    #: told to the user at their next spawn, then cleared.
    interruption = Unicode("")
    #: JSON {node home path: instance id (i-..., mi-...)}: the node that holds each node home
    #: this server has used (node_home_directory); later spawns are pinned to it.
    home_nodes = Unicode("")
    #: JSON {profile slug: ARN} of the home revision each profile last ran: a newer one for
    #: the same profile supersedes it, and it is deregistered (see AWSSpawner).
    home_revisions = Unicode("")

    #: time.monotonic() of this process's last RunTask (or of finding a lost spawn's task):
    #: right after it, DescribeTasks may not know the task yet (ECS is eventually consistent).
    run_task_at = 0.0
    #: True while this process's RunTask for this server has not been answered: the task
    #: may already exist, though nothing names it yet.
    run_task_in_flight = False
    #: What poll() answers once stop() has returned (until clear_state() or the next spawn):
    #: the stopped server's exit status, without asking AWS again.
    stopped_status: int | None = None

    # JupyterHub refuses a Spawner subclass that does not define these three; this class is
    # a layer of AWSSpawner, which defines them (start in spawner.py, poll and stop through
    # running.ServerTask).
    async def start(self) -> Any:
        raise NotImplementedError("AWSSpawner.start")

    async def stop(self, now: bool = False) -> None:
        raise NotImplementedError("AWSSpawner.stop")

    async def poll(self) -> int | None:
        raise NotImplementedError("AWSSpawner.poll")

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        for key in STATE_KEYS:
            if getattr(self, key):
                state[key] = getattr(self, key)
        return state

    def load_state(self, state: Mapping[str, Any]) -> None:
        super().load_state(state)
        for key in STATE_KEYS:
            setattr(self, key, str(state.get(key) or ""))
        if self.task_port:
            self.port = int(self.task_port)  # the server's port was picked for it

    def clear_state(self) -> None:
        super().clear_state()
        self.forget_task()
        self.token_file = ""  # stop() deleted it (or the reaper will)
        # interruption stays: the next spawn tells the user why the server went away.

    def forget_task(self) -> None:
        """Forget the task of an earlier attempt. Not clear_state(): that is JupyterHub's
        "server stopped" hook and also drops the API token this spawn was given. The token
        file is kept: its key is the server's, and the next attempt overwrites it."""
        for key in STATE_KEYS:
            if key not in _OUTLIVE_THE_TASK:
                setattr(self, key, "")
        self.stopped_status = None

    def commit_state(self) -> None:
        """Write the state to the hub database now: the hub itself saves it only after start()
        returns, and a hub that dies before that must still find the task."""
        if self.orm_spawner is None:
            return
        self.orm_spawner.state = self.get_state()
        mapped = orm_inspect(self.orm_spawner, raiseerr=False)
        if mapped is not None and mapped.session is not None:
            mapped.session.commit()

    def note_interruption(self, code: str, when: float) -> None:
        """Remember (once per task) that AWS reclaimed this server's Spot capacity."""
        value = f"{code} {when:.0f}"
        if self.interruption != value:
            self.interruption = value
            self.commit_state()

    def missing_too_long(self, grace: float) -> bool:
        """Has the task been unknown to DescribeTasks for longer than ECS's eventual
        consistency explains (``grace`` seconds after RunTask)?"""
        return time.monotonic() - self.run_task_at > grace
