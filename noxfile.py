"""Developer and CI entry points. `nox` runs the default sessions: lint and every test layer.

Dependencies come from pyproject.toml's [dependency-groups]; edit them there, not here.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")


def install(session: nox.Session, *groups: str) -> None:
    packages = [pkg for group in groups for pkg in nox.project.dependency_groups(PYPROJECT, group)]
    session.install(*packages)
    session.install("-e", ".")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and mypy with the aiobotocore type stubs."""
    install(session, "lint")
    paths = ["src", "tests", "benchmarks", "noxfile.py", "docs/conf.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite: pure unit tests and tests against a moto server process."""
    install(session, "test")
    # Not PYTHONDEVMODE: it switches aiohttp to its strict parser, which rejects the duplicate
    # Server header of moto's werkzeug server. pytest's filterwarnings (pyproject) already
    # turns ResourceWarning and unawaited coroutines into errors.
    session.run("pytest", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The spawn/poll/stop benchmark against the emulator; `nox -s bench -- --users 100`."""
    install(session, "test")
    session.run("python", "-m", "benchmarks.spawn_bench", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the Sphinx docs into docs/_build/html; any warning fails the build."""
    install(session, "docs")
    session.run(
        "sphinx-build", "-W", "--keep-going", "-n", "-b", "html", "docs", "docs/_build/html"
    )
