"""``awsspawner``: the administrator's command (also ``python -m awsspawner``).

Subcommands, each living with its tool:

* ``awsspawner homes prepare|list|forget``: users' persistent homes
  (:mod:`awsspawner.tools.homes`);
* ``awsspawner doctor``: the configuration checked against the AWS account
  (:mod:`awsspawner.tools.doctor`).

Every subcommand reads the hub's ``jupyterhub_config.py`` (``-f``, default
``./jupyterhub_config.py``, as ``jupyterhub`` does) and uses AWS credentials the way the
spawner would with that configuration, from the environment of whoever runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import aiohttp

from .aws.clients import close_shared_clients
from .errors import AWSError
from .tools.doctor import Doctor, render
from .tools.homes import (
    ProgressBar,
    forget_user,
    list_homes,
    prepare_homes,
    running_servers,
    table,
    targets,
)
from .tools.hub_config import BASE, CommandError, HubConfig
from .tools.reaper import HubAPI, HubViewError

__all__ = ["main"]


def _config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--config",
        default="jupyterhub_config.py",
        help="the hub's configuration file (default: ./jupyterhub_config.py)",
    )


def _profile_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="SLUG",
        help=f"a profile to work on (repeatable; default: {default})",
    )
    parser.add_argument("--all-profiles", action="store_true", help="every profile with homes")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="awsspawner", description="Administer a JupyterHub that runs awsspawner."
    )
    top.add_argument("--log-level", default="WARNING")
    commands = top.add_subparsers(dest="command", required=True)

    doctor = commands.add_parser(
        "doctor",
        help="check the configuration against the AWS account (read-only)",
        description="For every profile (or the configuration itself when it has none), ask "
        "AWS, read-only, what a spawn needs; one line per check (OK, WARN, FAIL); exit status "
        "1 on any FAIL.",
    )
    _config_argument(doctor)
    doctor.add_argument("--json", action="store_true", help="JSON instead of lines")
    doctor.add_argument(
        "--hub-role-arn",
        default="",
        metavar="ARN",
        help="the hub's IAM role, whose permissions to simulate (iam:SimulatePrincipalPolicy)",
    )
    doctor.add_argument(
        "--profile", action="append", default=[], metavar="SLUG",
        help="check only these profiles (repeatable; default: every profile, or the "
        "configuration itself when it has none)",
    )  # fmt: skip

    homes = commands.add_parser("homes", help="users' persistent homes")
    actions = homes.add_subparsers(dest="action", required=True)

    prepare = actions.add_parser(
        "prepare",
        help="create access points and revisions ahead of users' first spawns",
        description="Do ahead what each user's first spawn does for their home, so a class "
        "that logs in at once does not queue for ECS's registration rate.",
    )
    _config_argument(prepare)
    who = prepare.add_mutually_exclusive_group(required=True)
    who.add_argument("--users", nargs="+", metavar="USER", help="user names")
    who.add_argument(
        "--from-hub",
        metavar="URL",
        help="every user of the hub at URL (its API token in $JUPYTERHUB_API_TOKEN, with "
        "the list:users scope)",
    )
    _profile_arguments(prepare, "the profile users get without choosing")
    prepare.add_argument("--workers", type=int, default=8, help="concurrent users (default 8)")

    listing = actions.add_parser("list", help="every home this hub made")
    _config_argument(listing)
    _profile_arguments(listing, "every profile")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")

    forget = actions.add_parser(
        "forget",
        help="remove a user's access points and revisions (never their files)",
    )
    _config_argument(forget)
    forget.add_argument("user", help="the user's name")
    _profile_arguments(forget, "every profile")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    return top


def _api_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/hub/api") else url + "/hub/api"


async def _hub_users(url: str) -> list[str]:
    token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    if not token:
        raise CommandError("--from-hub needs the hub's API token in $JUPYTERHUB_API_TOKEN")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        try:
            return await HubAPI(session, _api_url(url), token).user_names()
        except (HubViewError, aiohttp.ClientError) as exc:
            raise CommandError(f"cannot list the hub's users at {_api_url(url)}: {exc}") from None


async def _prepare(args: argparse.Namespace, config: HubConfig) -> int:
    users = list(args.users or []) or await _hub_users(args.from_hub)
    profiles = await targets(config, args.profile, all_profiles=args.all_profiles)
    total = len(dict.fromkeys(users)) * len(profiles)
    print(
        f"Preparing {total} homes ({len(users)} users; "
        f"{', '.join(p or '(no profile)' for p in profiles)})",
        file=sys.stderr,
    )
    progress = ProgressBar(total)
    result = await prepare_homes(config, users, profiles, workers=args.workers, progress=progress)
    for user, profile, why in sorted(result.failed):
        print(f"FAILED {user}{f' ({profile})' if profile else ''}: {why}", file=sys.stderr)
    print(f"{len(result.prepared)} prepared, {len(result.failed)} failed", file=sys.stderr)
    return 1 if result.failed else 0


async def _list(args: argparse.Namespace, config: HubConfig) -> int:
    profiles = await targets(config, args.profile, all_profiles=True)
    homes = await list_homes(config, profiles)
    if args.json:
        print(json.dumps([home.as_dict() for home in homes], indent=2))
    else:
        print(table(homes))
    return 0


async def _forget(args: argparse.Namespace, config: HubConfig) -> int:
    profiles = await targets(config, args.profile, all_profiles=True)
    homes = [home for home in await list_homes(config, profiles) if home.user == args.user]
    if not homes:
        print(f"{args.user!r} has no home this hub made; nothing to forget", file=sys.stderr)
        return 0
    running = await running_servers(config, profiles, args.user)
    if running:
        raise CommandError(
            f"{args.user!r} has {len(running)} server(s) running ({', '.join(running)}): stop "
            "them first (or delete the user from the hub)"
        )
    print(f"Forgetting {args.user!r}:", file=sys.stderr)
    for home in homes:
        where = f", access point {home.access_point} of {home.file_system}"
        count = len(home.revisions)
        print(
            f"  {home.kind} home {home.path}{where if home.access_point else ''}, {count} "
            "revisions",
            file=sys.stderr,
        )
    print(
        "The files stay where they are (on the file system, or on the node): delete them "
        "yourself once you are sure.",
        file=sys.stderr,
    )
    if not args.yes:
        if not sys.stdin.isatty():
            raise CommandError("not a terminal: pass --yes to confirm")
        answer = await asyncio.get_running_loop().run_in_executor(
            None, input, f"Type {args.user} to confirm: "
        )
        if answer.strip() != args.user:
            print("Nothing removed.", file=sys.stderr)
            return 1
    spawner = config.spawner(args.user)
    region = (await config.settings(spawner, profiles[0])).aws_region
    for line in await forget_user(config, homes, region):
        print(line)
    return 0


async def _doctor(args: argparse.Namespace, config: HubConfig) -> int:
    profiles = list(args.profile) or await config.profile_slugs() or [BASE]
    checks = await Doctor(config, hub_role_arn=args.hub_role_arn).run(profiles)
    print(render(checks, args.json))
    return 1 if any(c.status == "FAIL" for c in checks) else 0


async def _run(args: argparse.Namespace) -> int:
    try:
        config = HubConfig(args.config)
        if args.command == "doctor":
            return await _doctor(args, config)
        actions: dict[str, Any] = {"prepare": _prepare, "list": _list, "forget": _forget}
        return int(await actions[args.action](args, config))
    finally:
        await close_shared_clients()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="[%(levelname)1.1s %(asctime)s %(name)s] %(message)s",
        stream=sys.stderr,
    )
    try:
        return asyncio.run(_run(args))
    except CommandError as exc:
        print(f"awsspawner {args.command}: {exc}", file=sys.stderr)
        return 2
    except AWSError as exc:
        print(f"awsspawner {args.command}: AWS: {exc}", file=sys.stderr)
        return 1
