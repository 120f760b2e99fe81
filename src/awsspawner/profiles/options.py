"""The spawn page's options: which profiles a spawner offers, its form, and the user's choice.

:class:`ProfileChoice` is a base class of :class:`~awsspawner.AWSSpawner`; the rules of profiles
are in :mod:`awsspawner.profiles.menu`, the form's HTML in :mod:`awsspawner.profiles.form`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from tornado import web

from ..config import AWSSpawnerConfig
from ..errors import ConfigurationError, spawn_failure
from ..launch.spawn_settings import SpawnSettings
from ..state import TaskState
from .form import options_from_form, render_form
from .menu import (
    ChoiceError,
    Profile,
    choose,
    default_profile,
    merge_overrides,
    parse_profiles,
    shown,
)

__all__ = ["OVERRIDABLE", "ProfileChoice", "check_user_options"]

#: (subject, message) pairs already logged by this process (see _warn_once).
_WARNED: set[tuple[str, str]] = set()

#: What a profile may override: every per-spawn setting, plus cmd and environment.
OVERRIDABLE = frozenset(SpawnSettings.trait_names()) | {"environment"}


class ProfileChoice(AWSSpawnerConfig, TaskState):
    """A spawner with profiles: the menu, the form, and validating ``user_options``.

    The layer of :class:`~awsspawner.AWSSpawner` between its settings and its lifecycle."""

    def _check_static_profiles(self) -> None:
        """Every profile (and each listed choice) of a static list makes valid settings."""
        if self.profiles and self.profile_list:
            raise ConfigurationError(
                "profile_list", "and c.AWSSpawner.profiles are both set; keep one of them"
            )
        if callable(self.profile_list):
            return  # evaluated per spawn, checked then
        key = "profiles" if self.profiles else "profile_list"
        for profile in parse_profiles(
            self.profiles or self.profile_list or [], key=key, allowed=OVERRIDABLE
        ):
            variants = [dict(profile.overrides)] + [
                merge_overrides(profile.overrides, choice.overrides)
                for option in profile.options
                for choice in option.choices
            ]
            for overrides in variants:
                try:
                    settings = self.spawn_settings(overrides)
                except ConfigurationError as exc:
                    raise ConfigurationError(key, f"profile {profile.slug!r}: {exc}") from None
                self._warn_adjustments(settings, profile.slug)

    def _warn_adjustments(self, settings: SpawnSettings, profile: str = "") -> None:
        """Log each of the settings' adjustments once per hub process and profile (every
        user's spawner is built from the same configuration: one warning says it)."""
        for note in settings.adjustments():
            where = f"profile {profile!r}: " if profile else ""
            self._warn_once(profile, where + note)

    def _warn_once(self, subject: str, message: str) -> None:
        """Log ``message`` about ``subject`` (a profile, a revision) once per hub process."""
        if (subject, message) not in _WARNED:
            _WARNED.add((subject, message))
            self.log.warning("%s", message)

    async def profile_menu(self) -> list[Profile]:
        """The profiles on offer now (``profile_list`` may be a function of the spawner)."""
        if self.profiles and self.profile_list:
            raise ConfigurationError(
                "profile_list", "and c.AWSSpawner.profiles are both set; keep one of them"
            )
        if self.profiles:
            return parse_profiles(self.profiles, key="profiles", allowed=OVERRIDABLE)
        value = self.profile_list
        if callable(value):
            value = value(self)
            if inspect.isawaitable(value):
                value = await value
        return parse_profiles(value or [], key="profile_list", allowed=OVERRIDABLE)

    async def get_options_form(self) -> str:
        profiles = await self.profile_menu()
        if not profiles or (len(profiles) == 1 and not profiles[0].options):
            return ""  # nothing to choose: no form
        previous = (self.user_options or {}).get("profile")
        slugs = [p.slug for p in profiles]
        selected = previous if previous in slugs else default_profile(profiles).slug
        return render_form(profiles, selected, self.profile_form_template)

    def run_options_from_form(self, form_data: Mapping[str, Any]) -> Any:
        if self.profiles or self.profile_list:
            return options_from_form(form_data)
        return super().run_options_from_form(form_data)

    async def _check_user_options(self, user_options: Mapping[str, Any] | None) -> None:
        """Raise HTTP 400 when ``user_options`` fit none of the profiles on offer."""
        try:
            profiles = await self.profile_menu()
        except ConfigurationError:
            return  # start() reports configuration errors with the spawn's context
        if profiles:
            try:
                limit = self.unlisted_choice_max_length
                choose(profiles, user_options or {}, max_free_length=limit)
            except ChoiceError as exc:
                raise web.HTTPError(400, f"Invalid server options: {exc}") from None

    async def _chosen_profile(self) -> tuple[str, dict[str, Any]]:
        """(profile slug, its overrides) for this spawn's user_options; "" when none offered.

        Bad options: SpawnException 400, before any AWS call (a REST caller sees it)."""
        try:
            profiles = await self.profile_menu()
        except ConfigurationError as exc:
            raise spawn_failure(str(exc), "configuration") from None
        if not profiles:
            return "", {}
        # getattr: mypy cannot type JupyterHub's user_options trait through this hierarchy.
        options: dict[str, Any] = dict(getattr(self, "user_options", None) or {})
        try:
            profile, overrides, chosen = choose(
                profiles, options, max_free_length=self.unlisted_choice_max_length
            )
        except ChoiceError as exc:
            raise spawn_failure(f"Invalid server options: {exc}", "user_options", 400) from None
        if options.get("profile") != profile.slug:
            self.user_options = {**options, "profile": profile.slug}
            if self.orm_spawner is not None:
                self.orm_spawner.user_options = self.user_options
        choices = ", ".join(f"{name}={shown(value)}" for name, value in chosen.items())
        self.log.info("%s spawns profile %s %s", self._log_name, profile.slug, choices)
        return profile.slug, overrides


async def check_user_options(spawner: Any, user_options: Mapping[str, Any] | None) -> None:
    """AWSSpawner's default ``c.Spawner.apply_user_options``.

    JupyterHub calls it before ``start()``; a choice that fits no profile is a 400 there,
    before the spawn begins. The options themselves are applied by ``start()``, which checks
    them again (JupyterHub also reuses saved options without calling this hook).
    """
    await spawner._check_user_options(user_options)
