"""Hub names -> ECS tag values and startedBy: valid, reversible, collision-free."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from awsspawner.launch.tags import (
    MAX_STARTED_BY,
    MAX_TAG_VALUE,
    escape_tag_value,
    is_valid_tag_key,
    is_valid_tag_value,
    started_by_for_hub,
    unescape_tag_value,
)

# ECS's documented tag value pattern, written with Unicode categories.
STARTED_BY = re.compile(r"^[A-Za-z0-9/_-]{1,128}$")


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("alice", "alice"),
        ("alice@example.org", "alice@example.org"),
        ("a=b", "a=3Db"),
        ("o'brien", "o=27brien"),
        ("#1!", "=231=21"),
        ("zoë", "zoë"),
        ("张伟", "张伟"),
        ("🙂", "=F0=9F=99=82"),
        ("tab\there", "tab=09here"),
    ],
)
def test_escape_known_values(name: str, escaped: str) -> None:
    assert escape_tag_value(name) == escaped
    assert is_valid_tag_value(escaped)
    assert unescape_tag_value(escaped) == name


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_escape_round_trips_and_is_valid(name: str) -> None:
    value = escape_tag_value(name)
    assert is_valid_tag_value(value)
    if len(value) < MAX_TAG_VALUE - 20:
        assert unescape_tag_value(value) == name


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_distinct_names_never_share_a_tag_value(a: str, b: str) -> None:
    if a != b:
        assert escape_tag_value(a) != escape_tag_value(b)


def test_long_names_are_cut_with_a_digest_and_stay_distinct() -> None:
    first = "x" * 300
    second = "x" * 299 + "y"
    assert len(escape_tag_value(first)) == MAX_TAG_VALUE
    assert escape_tag_value(first) != escape_tag_value(second)
    assert is_valid_tag_value(escape_tag_value("🙂" * 200))
    with pytest.raises(ValueError, match="cannot be reversed"):
        unescape_tag_value(escape_tag_value(first))


def test_a_cut_value_never_equals_an_uncut_one() -> None:
    long_name = "n" * 400
    cut = escape_tag_value(long_name)
    # Whatever short name someone picks, its escaped form has no '=_'.
    assert "=_" in cut
    assert escape_tag_value(cut) != cut


def test_tag_keys() -> None:
    assert is_valid_tag_key("Jupyter-User")
    assert is_valid_tag_key("awsspawner:user")
    assert not is_valid_tag_key("aws:reserved")
    assert not is_valid_tag_key("")
    assert not is_valid_tag_key("k" * 129)
    assert not is_valid_tag_key("bad#key")


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=300))
def test_started_by_is_always_valid(hub_id: str) -> None:
    value = started_by_for_hub(hub_id)
    assert STARTED_BY.match(value)
    assert len(value) <= MAX_STARTED_BY


def test_started_by_keeps_simple_ids_and_separates_similar_ones() -> None:
    assert started_by_for_hub("jupyterhub") == "jupyterhub-jupyterhub"
    assert started_by_for_hub("team a") != started_by_for_hub("team-a")
    assert started_by_for_hub("team a") != started_by_for_hub("team!a")


def test_a_hub_id_that_looks_digested_cannot_take_another_hubs_started_by() -> None:
    # "team.a" is digested; an id spelled like its digested form used to get the same value,
    # and one hub's reaper would have stopped the other's tasks.
    digested = started_by_for_hub("team.a")
    assert digested == "jupyterhub-team-a--dc627329"
    lookalike = started_by_for_hub("team-a--dc627329")
    assert lookalike != digested
    assert lookalike.startswith("jupyterhub-team-a--dc627329--")
    # Ordinary ids, dates included, are used as they are.
    assert started_by_for_hub("prod-20240601") == "jupyterhub-prod-20240601"
    assert started_by_for_hub("hub-12345678") == "jupyterhub-hub-12345678"


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_two_hub_ids_never_share_a_started_by(first: str, second: str) -> None:
    if first != second:
        assert started_by_for_hub(first) != started_by_for_hub(second)
    # The other hub id: what a plain id would have to be to collide with a digested one.
    twin = started_by_for_hub(first).removeprefix("jupyterhub-")
    if twin != first:
        assert started_by_for_hub(twin) != started_by_for_hub(first)
