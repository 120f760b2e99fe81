"""Every setting of AWSSpawner (``c.AWSSpawner.<name>``), with its help text.

The settings live here, in two groups of their own (:mod:`.task`: what a task is;
:mod:`.running`: how servers are run), so that ``spawner.py`` holds only behaviour. Checks
that involve one value are here; checks across values are in
:meth:`awsspawner.launch.spawn_settings.SpawnSettings.check`, run when the spawner is built
and again for each spawn.
"""

from __future__ import annotations

from .running import RunningConfig
from .task import TaskConfig

__all__ = ["AWSSpawnerConfig", "RunningConfig", "TaskConfig"]


class AWSSpawnerConfig(TaskConfig, RunningConfig):
    """The settings of :class:`~awsspawner.AWSSpawner`, set as ``c.AWSSpawner.<name>``."""
