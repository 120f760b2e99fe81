"""The spawn page's profile form: rendering it, and reading what it submits.

The form is a Jinja2 template shipped in the package (``templates/profiles.html``), rendered
with autoescaping, or the admin's own (``c.AWSSpawner.profile_form_template``). It submits
``profile`` and, per option of the chosen profile, ``profile-option-<slug>--<option>`` (a
choice's slug, or ``--unlisted-choice`` to use the text field
``profile-option-<slug>--<option>--unlisted-choice``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from .menu import UNLISTED_SUFFIX, Profile

__all__ = ["options_from_form", "render_form"]

_environment = Environment(
    loader=PackageLoader("awsspawner.profiles", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    keep_trailing_newline=True,
)


def render_form(profiles: Sequence[Profile], selected: str, template: str = "") -> str:
    """The form's HTML; ``template`` (Jinja2 source) replaces the built-in one when given."""
    compiled = (
        _environment.from_string(template)
        if template
        else _environment.get_template("profiles.html")
    )
    return compiled.render(profiles=profiles, selected=selected, unlisted_suffix=UNLISTED_SUFFIX)


def _first(form: Mapping[str, Any], key: str) -> str | None:
    value = form.get(key)
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return None if value is None else str(value)


def options_from_form(form: Mapping[str, Any]) -> dict[str, str]:
    """``user_options`` from the submitted form: ``{"profile": slug, option: value, ...}``.

    No side effects, no validation: ``start()`` validates user_options from every source."""
    slug = _first(form, "profile")
    if not slug:
        return {}
    options = {"profile": slug}
    prefix = f"profile-option-{slug}--"
    for key in form:
        if not key.startswith(prefix) or key.endswith(UNLISTED_SUFFIX):
            continue
        name = key[len(prefix) :]
        value = _first(form, key) or ""
        if value == UNLISTED_SUFFIX:
            free = (_first(form, key + UNLISTED_SUFFIX) or "").strip()
            options[name + UNLISTED_SUFFIX] = free
        elif value:
            options[name] = value
    for key in form:  # a text field without a select: an option with no listed choices
        if key.startswith(prefix) and key.endswith(UNLISTED_SUFFIX):
            name = key[len(prefix) : -len(UNLISTED_SUFFIX)]
            if name not in options and name + UNLISTED_SUFFIX not in options:
                free = (_first(form, key) or "").strip()
                if free:
                    options[name + UNLISTED_SUFFIX] = free
    return options
