"""Every setting of AWSSpawner (``c.AWSSpawner.<name>``), with its help text.

The settings live here, in groups of their own (:mod:`.task`: what a task is;
:mod:`.secrets`: how secrets reach it; :mod:`.storage`: users' persistent homes;
:mod:`.running`: how servers are run),
so that ``spawner.py`` holds only behaviour. Checks
that involve one value are here; checks across values are in
:meth:`awsspawner.launch.spawn_settings.SpawnSettings.check`, run when the spawner is built
and again for each spawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..launch.spawn_settings import SpawnSettings
from ..profiles.menu import merge_overrides
from .running import RunningConfig
from .secrets import SecretsConfig
from .storage import StorageConfig
from .task import TaskConfig

__all__ = ["AWSSpawnerConfig", "RunningConfig", "SecretsConfig", "StorageConfig", "TaskConfig"]


class AWSSpawnerConfig(TaskConfig, SecretsConfig, StorageConfig, RunningConfig):
    """The settings of :class:`~awsspawner.AWSSpawner`, set as ``c.AWSSpawner.<name>``."""

    def spawn_settings(self, overrides: Mapping[str, Any] | None = None) -> SpawnSettings:
        """One spawn's settings: these traits, with ``overrides`` (a profile) applied, checked
        as a whole (ConfigurationError names the setting to fix)."""
        values = {name: getattr(self, name) for name in SpawnSettings.trait_names()}
        return SpawnSettings.from_values(merge_overrides(values, overrides or {}))
