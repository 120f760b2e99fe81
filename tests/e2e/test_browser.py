"""A user in a real browser: log in, pick a profile, watch the progress, land in JupyterLab.

Playwright (from PyPI) drives a browser that is already on the machine: the system's Chromium
or Chrome, else one Playwright downloaded earlier. It never downloads one (``playwright
install`` hangs without internet access). Without a browser the test is skipped with a line
saying how to get one, except where ``CI`` is set: there a missing browser fails, so CI can
never silently lose this test (``.ci/run`` installs Debian's ``chromium``). Screenshots go to
``test-artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from demo.stack import HubStack
from playwright.sync_api import Page, sync_playwright

from .conftest import ARTIFACTS
from .hubclient import tasks_of

SCREENSHOTS = ARTIFACTS / "screenshots"
# What headless Chromium needs here: no sandbox when run as root, no GPU, and none of its
# background connections to Google's hosts (this machine has no internet access).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


#: Executable names of Chromium and Chrome on Linux distributions, in order of preference.
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
NO_BROWSER = (
    "no Chromium or Chrome on this machine: install one to run the browser test "
    "(Debian/Ubuntu: `apt-get install chromium`)"
)


def find_browser() -> str | None:
    """A Chromium-family browser already installed: the system's, else Playwright's own."""
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    with sync_playwright() as playwright:
        downloaded = playwright.chromium.executable_path
    return downloaded if Path(downloaded).exists() else None


@pytest.fixture(scope="session")
def browser_executable() -> str:
    # Requested before ``stack``: without a browser the skip costs no hub start.
    path = find_browser()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{NO_BROWSER}; CI is set, so a missing browser fails the run")
        pytest.skip(NO_BROWSER)
    return path


def progress_messages(page: Page, until_url: str, timeout: float = 60) -> list[str]:
    """The spawn page's progress log, read until the browser leaves for ``until_url``."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while until_url not in page.url:
        assert time.monotonic() < deadline, f"still on {page.url}; progress: {seen}"
        try:
            text = page.inner_text("#progress-log", timeout=500)
        except Exception:
            break
        for line in text.splitlines():
            if line.strip() and line.strip() not in seen:
                seen.append(line.strip())
        page.wait_for_timeout(100)
    return seen


def test_log_in_pick_a_profile_and_land_in_jupyterlab(
    browser_executable: str, stack: HubStack
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "failure.png").unlink(missing_ok=True)
    user = "browser"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=browser_executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{stack.url}/hub/login")
            page.fill("#username_input", user)
            page.fill("#password_input", stack.password)
            page.click("#login_submit")
            page.wait_for_url("**/hub/spawn**")

            # The profile form: every profile of the demo, the default one preselected.
            assert page.is_checked("#profile-item-fargate")
            assert page.is_visible("text=ECS Anywhere: the GPU workstation")
            page.screenshot(path=str(SCREENSHOTS / "1-profile-form.png"), full_page=True)

            page.check("#profile-item-slow-pull")
            page.click("button[type=submit]")
            page.wait_for_url("**/spawn-pending/**")
            page.click("#progress-details summary")  # "Event log": show the ECS stages
            page.wait_for_selector("#progress-log .progress-log-event")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(SCREENSHOTS / "2-progress.png"), full_page=True)
            messages = progress_messages(page, f"/user/{user}/")
            assert any("ECS accepted the request" in m for m in messages), messages
            assert any("Downloading the container image" in m for m in messages), messages

            # JupyterLab from the jupyterhub-singleuser process the "task" runs.
            page.wait_for_url(f"**/user/{user}/lab**", timeout=60_000)
            page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
            page.wait_for_selector(".jp-Launcher", timeout=60_000)
            # The user's home is empty: nothing of the local ECS agent shows in it. Asked of
            # the server's contents API with the browser's own login (the file browser's
            # answer, without waiting for it to render).
            answer = page.request.get(f"{stack.url}/user/{user}/api/contents/")
            assert answer.status == 200, answer.text()
            assert [item["name"] for item in answer.json()["content"]] == []
            page.wait_for_selector(".jp-DirListing-content", timeout=60_000)
            page.screenshot(path=str(SCREENSHOTS / "3-jupyterlab.png"))
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "failure.png"))
            print(f"browser at {page.url}:\n{page.inner_text('body')[:2000]}")
            raise
        finally:
            browser.close()

    tasks = tasks_of(stack, user)
    assert [t["lastStatus"] for t in tasks] == ["RUNNING"]
    request = urllib.request.Request(  # noqa: S310 - loopback only
        f"{stack.url}/hub/api/users/{user}/server",
        method="DELETE",
        headers={"Authorization": f"token {stack.service_token}"},
    )
    with urllib.request.urlopen(request, timeout=60):  # noqa: S310 - loopback only
        pass
    deadline = time.monotonic() + 60
    while any(t["lastStatus"] != "STOPPED" for t in tasks_of(stack, user)):
        assert time.monotonic() < deadline, "the browser user's task did not stop"
        time.sleep(0.1)


def log_in(page: Page, stack: HubStack, user: str) -> None:
    page.goto(f"{stack.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", stack.password)
    page.click("#login_submit")
    page.wait_for_url("**/hub/spawn**")


def start_default_profile_and_open_lab(page: Page, user: str) -> None:
    """On the profile form: start the default profile (Fargate, with a home on EFS)."""
    assert page.is_checked("#profile-item-fargate")
    page.click("button[type=submit]")
    page.wait_for_url(f"**/user/{user}/lab**", timeout=60_000)
    page.wait_for_selector(".jp-Launcher", timeout=60_000)
    page.wait_for_selector(".jp-DirListing-content", timeout=60_000)


def test_a_file_made_in_jupyterlab_is_there_after_a_restart_from_the_home_page(
    browser_executable: str, stack: HubStack
) -> None:
    """The user's view of persistent homes: make a file in JupyterLab, stop and start the
    server from the hub's home page (a new task), and find the file again."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    user = "browser-home"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=browser_executable, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            log_in(page, stack, user)
            start_default_profile_and_open_lab(page, user)
            first = [t["taskArn"] for t in tasks_of(stack, user)]
            # The launcher's "Text File" card: JupyterLab creates untitled.txt on the server.
            page.click(".jp-LauncherCard[title='Create a new text file']")
            page.wait_for_selector(".jp-DirListing-item[title*='untitled.txt']", timeout=30_000)
            page.screenshot(path=str(SCREENSHOTS / "home-1-file-made.png"))

            # The hub's home page: stop the server, then start it again.
            page.goto(f"{stack.url}/hub/home")
            page.click("#stop")
            page.wait_for_selector("#stop", state="hidden", timeout=60_000)
            page.click("#start")
            page.wait_for_url("**/hub/spawn**")
            start_default_profile_and_open_lab(page, user)
            page.wait_for_selector(".jp-DirListing-item[title*='untitled.txt']", timeout=30_000)
            page.screenshot(path=str(SCREENSHOTS / "home-2-after-restart.png"))
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "home-failure.png"))
            print(f"browser at {page.url}:\n{page.inner_text('body')[:2000]}")
            raise
        finally:
            browser.close()
    tasks = tasks_of(stack, user)
    assert len(tasks) == 2
    assert first[0] in [t["taskArn"] for t in tasks]
    request = urllib.request.Request(  # noqa: S310 - loopback only
        f"{stack.url}/hub/api/users/{user}/server",
        method="DELETE",
        headers={"Authorization": f"token {stack.service_token}"},
    )
    with urllib.request.urlopen(request, timeout=60):  # noqa: S310 - loopback only
        pass
    deadline = time.monotonic() + 60
    while any(t["lastStatus"] != "STOPPED" for t in tasks_of(stack, user)):
        assert time.monotonic() < deadline, "the browser user's task did not stop"
        time.sleep(0.1)


# ------------------------------------------------------------------ no browser on the machine


def run_browser_test_without_a_browser(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """This file's browser test in a pytest of its own, on a PATH and a Playwright browser
    folder with no browser in them: what a fresh machine without Chromium sees."""
    empty = tmp_path / "empty"
    empty.mkdir()
    environment = {
        key: value for key, value in os.environ.items() if key not in ("CI", "PYTEST_ADDOPTS")
    }
    environment.update(
        PATH=f"{empty}{os.pathsep}{Path(sys.executable).parent}",
        PLAYWRIGHT_BROWSERS_PATH=str(empty),
        **env,
    )
    return subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
            f"{__file__}::test_log_in_pick_a_profile_and_land_in_jupyterlab",
        ],
        cwd=Path(__file__).parents[2],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip


def test_without_a_browser_the_browser_test_is_skipped_and_says_why(tmp_path: Path) -> None:
    result = run_browser_test_without_a_browser(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout, result.stdout
    assert "apt-get install chromium" in result.stdout, result.stdout


def test_without_a_browser_in_ci_the_browser_test_fails(tmp_path: Path) -> None:
    result = run_browser_test_without_a_browser(tmp_path, CI="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "CI is set, so a missing browser fails the run" in result.stdout, result.stdout
