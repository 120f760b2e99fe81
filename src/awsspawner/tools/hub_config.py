"""The hub's configuration, outside the hub: for the ``awsspawner`` command.

Loads ``jupyterhub_config.py`` as JupyterHub does (traitlets' Python config loader, with
``get_config()``), and builds an :class:`~awsspawner.AWSSpawner` for a user name from it, so a
tool computes exactly what a spawn would: settings, profiles, homes, revisions.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from ..errors import ConfigurationError
from ..launch.spawn_settings import SpawnSettings
from ..profiles.menu import ChoiceError, Profile, choose

__all__ = ["BASE", "STAND_IN", "CommandError", "HubConfig"]

#: How the tools name the configuration without a profile.
BASE = ""
#: The user name of the spawner the tools build when no user is concerned.
STAND_IN = "awsspawner-command"


class CommandError(Exception):
    """A mistake on the command line or in the configuration: printed, exit status 2."""


class HubConfig:
    """One ``jupyterhub_config.py``, and spawners built from it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CommandError(
                f"no configuration file {str(self.path)!r}; pass -f path/to/jupyterhub_config.py"
            )
        loader = PyFileConfigLoader(self.path.name, path=str(self.path.parent.resolve()))
        try:
            self.config: Config = loader.load_config()
        except Exception as exc:  # the file is the admin's Python: say where it failed
            raise CommandError(f"{self.path} failed to load: {exc}") from exc

    def spawner(self, username: str, server: str = "") -> Any:
        """An AWSSpawner for ``username``'s server ``server``, as the hub would build it (no
        hub, no database: state is empty)."""
        from ..spawner import AWSSpawner  # the spawner imports JupyterHub: only when needed

        user = SimpleNamespace(name=username, id=None, orm_spawners={}, url=f"/user/{username}/")
        try:
            return AWSSpawner(config=self.config, user=user, name=server)
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None

    async def settings(self, spawner: Any, profile: str = BASE) -> SpawnSettings:
        """``spawner``'s settings for ``profile`` (a slug; BASE for none), with each of the
        profile's options at its default choice."""
        try:
            if profile == BASE:
                return spawner.spawn_settings()
            profiles = await spawner.profile_menu()
            slugs = [p.slug for p in profiles]
            if profile not in slugs:
                raise CommandError(
                    f"no profile {profile!r} in {self.path}; its profiles: "
                    + (", ".join(slugs) or "none")
                )
            _, overrides, _ = choose(profiles, {"profile": profile})
            return spawner.spawn_settings(overrides)
        except (ConfigurationError, ChoiceError) as exc:
            where = f"profile {profile!r}: " if profile else ""
            raise CommandError(where + str(exc)) from None
        except CommandError:
            raise
        except Exception as exc:  # a profile_list function that needs a real hub user
            raise CommandError(_menu_failed(exc)) from exc

    async def profile_menu(self) -> list[Profile]:
        """The profiles on offer (a profile_list function is called with a stand-in user)."""
        try:
            return list(await self.spawner(STAND_IN).profile_menu())
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None
        except Exception as exc:
            raise CommandError(_menu_failed(exc)) from exc

    async def profile_slugs(self) -> list[str]:
        """Every profile's slug."""
        return [p.slug for p in await self.profile_menu()]


def _menu_failed(exc: Exception) -> str:
    return (
        f"c.AWSSpawner.profile_list failed outside the hub ({type(exc).__name__}: {exc}): a "
        "profile_list function sees a stand-in user with only a name; make it cope with that"
    )
