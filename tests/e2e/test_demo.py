"""The README's first command runs ``python -m demo``: it must start, serve the hub, and stop
everything on Ctrl-C (SIGINT, as a terminal sends it) with nothing left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_starts_serves_and_stops_cleanly_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "demo"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # A terminal's Ctrl-C: SIGINT at its default action (raises KeyboardInterrupt).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    banner = []
    deadline = time.monotonic() + 120
    for line in process.stdout:
        banner.append(line)
        if "Press Ctrl-C" in line or time.monotonic() > deadline:
            break
    text = "".join(banner)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+", text)
        assert url, text
        assert re.search(r"password\s+\S+", text), text
        with urllib.request.urlopen(f"{url.group(0)}/hub/login", timeout=10) as page:  # noqa: S310
            assert page.status == 200
            assert b"password" in page.read().lower()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        rest, _ = process.communicate(timeout=120)
    assert process.returncode == 0, rest
    assert "Stopped. No task left running, no process left behind." in rest
