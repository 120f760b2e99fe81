"""Profiles: the menu of server kinds a hub offers, and the user's choice from it.

Two configuration shapes, one model (:class:`Profile`):

* ``c.AWSSpawner.profiles``: the original ``(display_name, key, {setting: value})`` tuples;
* ``c.AWSSpawner.profile_list``: KubeSpawner's shape, dicts with ``display_name``, ``slug``,
  ``description``, ``default``, ``spawner_override`` and ``profile_options`` (``choices``,
  ``unlisted_choice``), or a function of the spawner (sync or async) returning that list.

A user's choice arrives as ``user_options`` (from the form, from the REST API, or reloaded by
JupyterHub from its database) and is checked by :func:`choose` before any AWS call: unknown
profile, choice or key, a value that is not a string, a free-form value failing its
``validation_regex``: each is a :class:`ChoiceError` listing what is allowed.

Overrides merge like JupyterHub's ``group_overrides``: dicts recursively, ``None`` deletes a
key, anything else replaces. Settings that say where the hub works cannot be overridden.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError

__all__ = [
    "FIXED_SETTINGS",
    "UNLISTED_SUFFIX",
    "Choice",
    "ChoiceError",
    "Option",
    "Profile",
    "choose",
    "merge_overrides",
    "parse_profiles",
    "shown",
]

#: Settings no profile may change: they say which hub, account and cluster this is.
FIXED_SETTINGS = frozenset({"aws_region", "task_cluster_name", "authentication_class", "hub_id"})
#: ``c.AWSSpawner.unlisted_choice_max_length``'s default.
DEFAULT_MAX_FREE_LENGTH = 1024
#: ``user_options`` key suffix of a free-form value: ``{"image--unlisted-choice": "..."}``.
UNLISTED_SUFFIX = "--unlisted-choice"


class ChoiceError(ValueError):
    """The user's options do not fit the profiles on offer; the message says what does."""


@dataclass(frozen=True)
class Choice:
    slug: str
    display_name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    default: bool = False


@dataclass(frozen=True)
class Option:
    name: str
    display_name: str
    choices: tuple[Choice, ...] = ()
    unlisted: bool = False
    unlisted_display_name: str = ""
    validation_regex: str = ""
    validation_message: str = ""
    unlisted_overrides: Mapping[str, Any] = field(default_factory=dict)

    @property
    def default_choice(self) -> Choice | None:
        for choice in self.choices:
            if choice.default:
                return choice
        return self.choices[0] if self.choices else None


@dataclass(frozen=True)
class Profile:
    slug: str
    display_name: str
    description: str = ""
    default: bool = False
    overrides: Mapping[str, Any] = field(default_factory=dict)
    options: tuple[Option, ...] = ()


# --------------------------------------------------------------------------------- merging


def merge_overrides(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` applied: dicts merged recursively, None deletes a key."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_overrides(merged[key], value)
        else:
            merged[key] = value
    return merged


# --------------------------------------------------------------------------------- parsing


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "profile"


def _check_overrides(
    where: str, overrides: Any, allowed: frozenset[str], key: str
) -> dict[str, Any]:
    if not isinstance(overrides, Mapping):
        raise ConfigurationError(key, f"{where}: the overrides must be a dict of settings")
    for name in overrides:
        if name in FIXED_SETTINGS:
            raise ConfigurationError(
                key,
                f"{where} overrides {name!r}, which a profile cannot change "
                f"(fixed: {', '.join(sorted(FIXED_SETTINGS))})",
            )
        if name not in allowed:
            raise ConfigurationError(
                key,
                f"{where} overrides unknown setting {name!r}; a profile may set: "
                f"{', '.join(sorted(allowed))}",
            )
    return dict(overrides)


def _parse_option(where: str, name: str, spec: Any, allowed: frozenset[str], key: str) -> Option:
    if not isinstance(spec, Mapping):
        raise ConfigurationError(key, f"{where} option {name!r} must be a dict")
    choices = []
    for slug, choice in (spec.get("choices") or {}).items():
        if not isinstance(choice, Mapping):
            raise ConfigurationError(key, f"{where} option {name!r} choice {slug!r}: not a dict")
        choices.append(
            Choice(
                slug=str(slug),
                display_name=str(choice.get("display_name", slug)),
                overrides=_check_overrides(
                    f"{where} option {name!r} choice {slug!r}",
                    choice.get("spawner_override", {}),
                    allowed,
                    key,
                ),
                default=bool(choice.get("default", False)),
            )
        )
    unlisted = spec.get("unlisted_choice") or {}
    regex = str(unlisted.get("validation_regex") or "")
    if regex:
        try:
            re.compile(regex)
        except re.error as exc:
            raise ConfigurationError(
                key, f"{where} option {name!r}: validation_regex is not valid ({exc})"
            ) from None
    enabled = bool(unlisted.get("enabled", False))
    if not choices and not enabled:
        raise ConfigurationError(key, f"{where} option {name!r} has no choices")
    return Option(
        name=str(name),
        display_name=str(spec.get("display_name", name)),
        choices=tuple(choices),
        unlisted=enabled,
        unlisted_display_name=str(unlisted.get("display_name", "Other")),
        validation_regex=regex,
        validation_message=str(unlisted.get("validation_message", "")),
        unlisted_overrides=_check_overrides(
            f"{where} option {name!r} unlisted_choice",
            unlisted.get("spawner_override", {}),
            allowed,
            key,
        ),
    )


def parse_profiles(value: Any, *, key: str, allowed: frozenset[str]) -> list[Profile]:
    """Either configuration shape -> Profiles. ConfigurationError names ``c.AWSSpawner.<key>``."""
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise ConfigurationError(key, "must be a list")
    profiles: list[Profile] = []
    for index, item in enumerate(value):
        if isinstance(item, (tuple, list)):
            if len(item) != 3:
                raise ConfigurationError(
                    key, f"item {index} must be (display_name, key, {{setting: value}})"
                )
            display, slug, overrides = item
            profiles.append(
                Profile(
                    slug=str(slug),
                    display_name=str(display),
                    overrides=_check_overrides(f"profile {slug!r}", overrides, allowed, key),
                )
            )
            continue
        if not isinstance(item, Mapping):
            raise ConfigurationError(key, f"item {index} must be a dict or a 3-tuple")
        if "kubespawner_override" in item:
            raise ConfigurationError(
                key,
                f"item {index} uses 'kubespawner_override'; awsspawner reads "
                "'spawner_override' (the same meaning, with awsspawner's settings)",
            )
        display = str(item.get("display_name") or "")
        if not display:
            raise ConfigurationError(key, f"item {index} needs a display_name")
        slug = str(item.get("slug") or _slugify(display))
        where = f"profile {slug!r}"
        options = tuple(
            _parse_option(where, name, spec, allowed, key)
            for name, spec in (item.get("profile_options") or {}).items()
        )
        profiles.append(
            Profile(
                slug=slug,
                display_name=display,
                description=str(item.get("description") or ""),
                default=bool(item.get("default", False)),
                overrides=_check_overrides(where, item.get("spawner_override", {}), allowed, key),
                options=options,
            )
        )
    slugs = [p.slug for p in profiles]
    duplicates = sorted({s for s in slugs if slugs.count(s) > 1})
    if duplicates:
        raise ConfigurationError(key, f"profile slugs must differ; repeated: {duplicates}")
    return profiles


# -------------------------------------------------------------------------------- choosing


def default_profile(profiles: Sequence[Profile]) -> Profile:
    for profile in profiles:
        if profile.default:
            return profile
    return profiles[0]


def shown(value: Any, limit: int = 60) -> str:
    """A user-supplied value as error messages show it: repr, cut to ``limit`` characters
    (a hostile 100 kB value must not come back whole in the answer or the log)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _choose_option(
    option: Option, user_options: Mapping[str, Any], max_free_length: int
) -> tuple[dict[str, Any], str]:
    listed = user_options.get(option.name)
    free = user_options.get(option.name + UNLISTED_SUFFIX)
    if listed is not None and free is not None:
        raise ChoiceError(f"give either {option.name!r} or {option.name + UNLISTED_SUFFIX!r}")
    if free is not None:
        if not option.unlisted:
            raise ChoiceError(f"option {option.name!r} takes only its listed choices")
        if len(free) > max_free_length:
            raise ChoiceError(
                f"the value for {option.name!r} is {len(free)} characters long; at most "
                f"{max_free_length} are allowed"
            )
        if option.validation_regex and not re.fullmatch(option.validation_regex, free):
            hint = option.validation_message or f"it must match {option.validation_regex}"
            raise ChoiceError(f"{shown(free)} is not allowed for {option.name!r}: {hint}")
        overrides = _fill(option.unlisted_overrides, free)
        return overrides, free
    if listed is None:
        choice = option.default_choice
        if choice is None:
            raise ChoiceError(f"option {option.name!r} needs a value")
        return dict(choice.overrides), choice.slug
    for choice in option.choices:
        if choice.slug == listed:
            return dict(choice.overrides), choice.slug
    allowed = ", ".join(repr(c.slug) for c in option.choices)
    raise ChoiceError(
        f"{shown(listed)} is not a choice of {option.name!r}; choose one of {allowed}"
    )


def _fill(overrides: Mapping[str, Any], value: str) -> dict[str, Any]:
    """Put a free-form value into the unlisted choice's overrides where they say {value}."""
    filled: dict[str, Any] = {}
    for key, item in overrides.items():
        if isinstance(item, str):
            filled[key] = item.replace("{value}", value)
        elif isinstance(item, Mapping):
            filled[key] = _fill(item, value)
        else:
            filled[key] = item
    return filled


def choose(
    profiles: Sequence[Profile],
    user_options: Mapping[str, Any] | None,
    *,
    max_free_length: int = DEFAULT_MAX_FREE_LENGTH,
) -> tuple[Profile, dict[str, Any], dict[str, str]]:
    """(the profile, its merged overrides, the choices made) for ``user_options``.

    ChoiceError for anything that does not fit, naming what would; free-form values longer
    than ``max_free_length`` characters never fit (before the regex is even tried)."""
    options = dict(user_options or {})
    for name, value in options.items():
        if not isinstance(value, str):
            raise ChoiceError(f"option {shown(name)} must be a string, not {type(value).__name__}")
    slug = options.pop("profile", None)
    if slug is None:
        profile = default_profile(profiles)
    else:
        matching = [p for p in profiles if p.slug == slug]
        if not matching:
            allowed = ", ".join(repr(p.slug) for p in profiles)
            raise ChoiceError(f"there is no profile {shown(slug)}; choose one of {allowed}")
        profile = matching[0]
    known = {o.name for o in profile.options} | {
        o.name + UNLISTED_SUFFIX for o in profile.options if o.unlisted
    }
    unknown = sorted(set(options) - known)
    if unknown:
        allowed = ", ".join(sorted({"profile", *known}))
        raise ChoiceError(
            f"unknown options {shown(unknown, 200)} for profile {profile.slug!r}; "
            f"allowed: {allowed}"
        )
    overrides = dict(profile.overrides)
    chosen: dict[str, str] = {}
    for option in profile.options:
        option_overrides, picked = _choose_option(option, options, max_free_length)
        overrides = merge_overrides(overrides, option_overrides)
        chosen[option.name] = picked
    return profile, overrides, chosen
