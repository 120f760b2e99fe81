"""No secret in any log record, exception or progress event, with botocore at DEBUG.

The spawns run against the emulator (real HTTP, real botocore logging); the recognisable
API token and AWS keys below must never appear anywhere the hub could write them.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest
from jupyterhub.spawner import SpawnException

from awsspawner import redaction

from .conftest import CLUSTER, make_spawner
from .emulator.launcher import Emulator
from .test_lifecycle import SERVER, task_definitions

API_TOKEN = "tok3n-RECOGNISABLE-0123456789abcdef"
SECRET_KEY = "aws-secret-RECOGNISABLE-0123456789"
SESSION_TOKEN = "aws-session-RECOGNISABLE-0123456789"
SECRETS = (API_TOKEN, SECRET_KEY, SESSION_TOKEN)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    caplog.set_level(logging.DEBUG)
    return caplog


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    return "\n".join(handler.format(record) for record in caplog.records)


def spawner(emulator: Emulator, **config: Any) -> Any:
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    task_definitions(ecs)
    emulator.add_agent(CLUSTER, fargate=True)
    config.setdefault("cmd", SERVER)
    built = make_spawner(
        task_subnets=[emulator.loopback_subnet()],
        environment={"DB_PASSWORD": "db-pass-RECOGNISABLE", "GREETING": "hello"},
        **config,
    )
    built.api_token = API_TOKEN
    return built


async def test_debug_logs_of_a_spawn_hold_no_secret(
    emulator: Emulator, debug_logs: pytest.LogCaptureFixture
) -> None:
    server = spawner(emulator)
    await server.start()
    events = [e async for e in server.progress()]
    assert await server.poll() is None
    await server.stop()

    logged = everything_logged(debug_logs)
    assert "RunTask" in logged  # botocore did log the request at DEBUG
    assert "[secret]" in logged  # ... and the filter rewrote it
    assert "GREETING" in logged  # harmless entries stay readable
    for secret in (*SECRETS, "db-pass-RECOGNISABLE"):
        assert secret not in logged, f"{secret} leaked into the logs"
        assert secret not in str(events)


async def test_a_failed_spawn_says_nothing_secret(
    emulator: Emulator, debug_logs: pytest.LogCaptureFixture
) -> None:
    server = spawner(emulator, cmd=[sys.executable, "-c", "raise SystemExit(4)"])
    with pytest.raises(SpawnException) as failure:
        await server.start()
    logged = everything_logged(debug_logs)
    for secret in SECRETS:
        assert secret not in logged
        assert secret not in str(failure.value)
        assert secret not in repr(failure.value)


def test_the_filter_is_what_keeps_them_out() -> None:
    """The control: a botocore-style record holds the token until the filter sees it."""
    message = (
        "Making request for OperationModel(name=RunTask) with params: {'body': "
        f'b\'{{"environment": [{{"name": "JUPYTERHUB_API_TOKEN", "value": "{API_TOKEN}"}}]}}\'}}'
    )
    record = logging.LogRecord("botocore.endpoint", logging.DEBUG, __file__, 1, message, None, None)
    assert API_TOKEN in record.getMessage()
    redaction.RedactingFilter().filter(record)
    assert API_TOKEN not in record.getMessage()
    assert '"JUPYTERHUB_API_TOKEN", "value": "[secret]"' in record.getMessage()


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ('{"value": "s3cr3t-value", "name": "MY_SERVICE_TOKEN"}', '"name": "MY_SERVICE_TOKEN"'),
        ("{'name': 'JPY_API_TOKEN', 'value': 's3cr3t-value'}", "'JPY_API_TOKEN'"),
        ('{\\"name\\": \\"api_key\\", \\"value\\": \\"s3cr3t-value\\"}', "api_key"),
        ("'X-Amz-Security-Token': b's3cr3t-value'", "X-Amz-Security-Token"),
        ("x-amz-security-token:s3cr3t-value\nhost:ecs", "host:ecs"),
        ('"SecretAccessKey": "s3cr3t-value", "AccessKeyId": "AKIA"', '"AccessKeyId": "AKIA"'),
        ("aws_secret_access_key=s3cr3t-value", "aws_secret_access_key="),
        ("Credential=AKIA/x, Signature=0123456789abcdef0123456789abcdef", "Credential=AKIA"),
    ],
)
def test_redaction_patterns(text: str, kept: str) -> None:
    cleaned = redaction.redact(text)
    assert "s3cr3t-value" not in cleaned
    assert "0123456789abcdef0123456789abcdef" not in cleaned
    assert kept in cleaned


def test_harmless_entries_are_left_alone() -> None:
    text = '[{"name": "GREETING", "value": "hello"}, {"name": "JUPYTERHUB_USER", "value": "ann"}]'
    assert redaction.redact(text) == text
