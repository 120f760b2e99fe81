"""What a spawner keeps in the hub database, and writing it there at once.

The hub saves a spawner's state only after ``start()`` returns; a spawner that has started
a task must not depend on that, so :meth:`SpawnerState._commit_state` writes it right away
(before RunTask, with the spawn's clientToken, and again with the task ARN).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect as orm_inspect
from traitlets import HasTraits, Unicode

__all__ = ["STATE_KEYS", "SpawnerState"]

STATE_KEYS = (
    "task_arn",
    "task_cluster",
    "task_container",
    "task_definition",
    "client_token",
    "endpoint_url",
    "task_port",
)


class SpawnerState(HasTraits):
    """The state part of :class:`~awsspawner.AWSSpawner`."""

    if TYPE_CHECKING:
        orm_spawner: Any
        port: int

    # Kept in the hub's database; not configuration.
    task_arn = Unicode("")
    task_cluster = Unicode("")
    task_container = Unicode("")
    task_definition = Unicode("")
    client_token = Unicode("")
    endpoint_url = Unicode("")
    task_port = Unicode("")  # set when use_dynamic_port picked the server's port

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()  # type: ignore[misc]
        for key in STATE_KEYS:
            if getattr(self, key):
                state[key] = getattr(self, key)
        return state

    def load_state(self, state: Mapping[str, Any]) -> None:
        super().load_state(state)  # type: ignore[misc]
        for key in STATE_KEYS:
            setattr(self, key, str(state.get(key) or ""))
        if self.task_port:
            self.port = int(self.task_port)  # the server's port was picked for it

    def clear_state(self) -> None:
        super().clear_state()  # type: ignore[misc]
        self._forget_task()

    def _forget_task(self) -> None:
        """Forget the task of an earlier attempt. Not clear_state(): that is JupyterHub's
        "server stopped" hook and also drops the API token this spawn was given."""
        for key in STATE_KEYS:
            setattr(self, key, "")

    def _commit_state(self) -> None:
        """Write the state to the hub database now: the hub itself saves it only after start()
        returns, and a hub that dies before that must still find the task."""
        if self.orm_spawner is None:
            return
        self.orm_spawner.state = self.get_state()
        mapped = orm_inspect(self.orm_spawner, raiseerr=False)
        if mapped is not None and mapped.session is not None:
            mapped.session.commit()
