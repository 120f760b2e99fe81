"""A user in a real browser: log in, pick a profile, watch the progress, land in JupyterLab.

Playwright (from PyPI) drives Debian's Chromium through ``executable_path``: Playwright's own
browser download cannot work on machines without internet access, and CI installs the
``chromium`` package. Screenshots go to ``test-artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import shutil
import time
import urllib.request

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


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium is not installed: `apt-get install chromium` (.ci/run does it)")
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


def test_log_in_pick_a_profile_and_land_in_jupyterlab(stack: HubStack) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "failure.png").unlink(missing_ok=True)
    user = "browser"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium(), headless=True, args=CHROMIUM_ARGS
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
