"""No secret in any log record, exception or progress event, with botocore at DEBUG.

The spawns run against the emulator (real HTTP, real botocore logging); the recognisable
API token and AWS keys below must never appear anywhere the hub could write them. The unit
tests feed ``redact()`` the shapes botocore logs, built the way botocore builds them, and the
stub tests let botocore itself talk to a fake STS/ECS on 127.0.0.1 and log the exchange.
"""

from __future__ import annotations

import ast
import contextlib
import http.server
import io
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jupyterhub.spawner import SpawnException

from awsspawner.aws import redaction
from awsspawner.aws.redaction import REDACTED

from .conftest import CLUSTER, REGION, make_spawner
from .emulator.launcher import Emulator
from .test_lifecycle import SERVER, task_definitions

API_TOKEN = "tok3n-RECOGNISABLE-0123456789abcdef"
SECRET_KEY = "aws-secret-RECOGNISABLE-0123456789"
SESSION_TOKEN = "aws-session-RECOGNISABLE-0123456789"
SECRETS = (API_TOKEN, SECRET_KEY, SESSION_TOKEN)
# Environment values that used to escape the redaction: a quote inside, and a long one.
QUOTED_VALUE = '{"quote"} it\'s quoted-RECOGNISABLE'
LONG_VALUE = "long-RECOGNISABLE-" + "Zq9" * 1660 + "-END-OF-LONG"
ENVIRONMENT_SECRETS = (
    "db-pass-RECOGNISABLE",
    "quoted-RECOGNISABLE",
    "long-RECOGNISABLE",
    "Zq9Zq9Zq9Zq9",
    "-END-OF-LONG",
)

# Temporary credentials as STS hands them out, and a web identity token (EKS-style).
STS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYsts-RECOGNISABLE-keyTail"
STS_TOKEN = "FwoGZXIvYXdzEJr//////////wEaDsts+session=" + "Q" * 300 + "RECOGNISABLE-tokTail"
WEB_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnLVJFQ09HTklTQUJMRQ-webTail"
STS_SECRETS = (STS_SECRET, STS_TOKEN, WEB_TOKEN, "keyTail", "tokTail", "webTail")
ROLE = "arn:aws:iam::123456789012:role/hub"


def sts_answer(action: str) -> bytes:
    """An STS answer, laid out (newlines, indentation) as STS lays it out."""
    subject = "system:serviceaccount:jhub:hub" if action.endswith("WebIdentity") else ""
    return f"""<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <{action}Result>
    <SubjectFromWebIdentityToken>{subject}</SubjectFromWebIdentityToken>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/hub/hub-session</Arn>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:hub-session</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIAEXAMPLEKEY000001</AccessKeyId>
      <SecretAccessKey>{STS_SECRET}</SecretAccessKey>
      <SessionToken>{STS_TOKEN}</SessionToken>
      <Expiration>2030-01-01T00:00:00Z</Expiration>
    </Credentials>
  </{action}Result>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</{action}Response>
""".encode()


def assert_no_sts_secret(text: str) -> None:
    for secret in STS_SECRETS:
        assert secret not in text, f"{secret[-20:]} leaked"


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
        environment={
            "DB_PASSWORD": "db-pass-RECOGNISABLE",
            "GREETING": "hello",
            "QUOTED_SECRET": QUOTED_VALUE,
            "LONG_SETTING": LONG_VALUE,
        },
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
    assert "GREETING" in logged  # names stay readable
    assert "LONG_SETTING" in logged
    for secret in (*SECRETS, *ENVIRONMENT_SECRETS):
        assert secret not in logged, f"{secret} leaked into the logs"
        assert secret not in str(events)


async def test_a_failed_spawn_says_nothing_secret(
    emulator: Emulator, debug_logs: pytest.LogCaptureFixture
) -> None:
    server = spawner(emulator, cmd=[sys.executable, "-c", "raise SystemExit(4)"])
    with pytest.raises(SpawnException) as failure:
        await server.start()
    logged = everything_logged(debug_logs)
    for secret in (*SECRETS, *ENVIRONMENT_SECRETS):
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


# --- Environment values: every one, however it is quoted ---------------------------------------

Environment = list[dict[str, str]]
Tags = list[dict[str, str]]

# botocore's own templates (botocore/endpoint.py, botocore/parsers.py).
ENDPOINT_TEMPLATE = "Making request for %s with params: %s"
PARSERS_TEMPLATE = "Response body:\n%r"


def logged(template: str, *args: Any) -> str:
    """A message as logging renders it from a template and its arguments."""
    record = logging.LogRecord("botocore", logging.DEBUG, __file__, 1, template, args, None)
    return record.getMessage()


def run_task_params(environment: Environment, tags: Tags) -> dict[str, Any]:
    return {
        "cluster": "notebooks",
        "taskDefinition": "jupyter-notebook",
        "overrides": {"containerOverrides": [{"name": "notebook", "environment": environment}]},
        "tags": tags,
    }


def endpoint_message(environment: Environment, tags: Tags) -> str:
    """What botocore.endpoint logs for RunTask: the JSON body is bytes inside a dict repr."""
    request_dict = {
        "url_path": "/",
        "query_string": "",
        "method": "POST",
        "headers": {
            "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.RunTask",
            "Content-Type": "application/x-amz-json-1.1",
        },
        # botocore's JSON serializer: json.dumps(body).encode("utf-8")
        "body": json.dumps(run_task_params(environment, tags)).encode("utf-8"),
        "url": "https://ecs.us-east-1.amazonaws.com/",
        "context": {"client_region": "us-east-1", "has_streaming_input": False},
    }
    return logged(ENDPOINT_TEMPLATE, "OperationModel(name=RunTask)", request_dict)


def read_endpoint_message(message: str) -> Any:
    prefix = "Making request for OperationModel(name=RunTask) with params: "
    assert message.startswith(prefix)
    return json.loads(ast.literal_eval(message[len(prefix) :])["body"])


def describe_tasks(environment: Environment, tags: Tags) -> dict[str, Any]:
    task = {
        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/notebooks/0123456789abcdef",
        "overrides": run_task_params(environment, tags)["overrides"],
        "tags": tags,
    }
    return {"tasks": [task], "failures": []}


def parsers_message(environment: Environment, tags: Tags) -> str:
    """What botocore.parsers logs for DescribeTasks: 'Response body:\\n%r' of the bytes."""
    return logged(PARSERS_TEMPLATE, json.dumps(describe_tasks(environment, tags)).encode())


def pretty_parsers_message(environment: Environment, tags: Tags) -> str:
    """The same answer pretty-printed in raw UTF-8: newlines and \\xNN escapes in the repr."""
    body = json.dumps(describe_tasks(environment, tags), indent=2, ensure_ascii=False)
    return logged(PARSERS_TEMPLATE, body.encode())


def read_parsers_message(message: str) -> Any:
    prefix = "Response body:\n"
    assert message.startswith(prefix)
    return json.loads(ast.literal_eval(message[len(prefix) :]).decode())["tasks"][0]


SHAPES: dict[str, tuple[Callable[[Environment, Tags], str], Callable[[str], Any]]] = {
    "json": (lambda env, tags: json.dumps(run_task_params(env, tags)), json.loads),
    "dict-repr": (lambda env, tags: repr(run_task_params(env, tags)), ast.literal_eval),
    "json-in-a-json-string": (
        lambda env, tags: json.dumps(json.dumps(run_task_params(env, tags))),
        lambda text: json.loads(json.loads(text)),
    ),
    "endpoint": (endpoint_message, read_endpoint_message),
    "parsers": (parsers_message, read_parsers_message),
    "parsers-pretty": (pretty_parsers_message, read_parsers_message),
}

TRICKY_VALUES = {
    "braces": "{}}{{}",
    "double-quote": 'say "hi"}',
    "apostrophe": "it's",
    "both-quotes": "'\"'\"",
    "backslashes": "C:\\dir\\",
    "escaped-quote": '\\"}\\\\"',
    "fake-entry": '"}, {"name": "FAKE", "value": "',
    "unicode": "é€ 😀 \u2028",
    "newlines": "line1\nline2\r\n\tend",
    "long": "y" * 10_000,
    "everything": "{\"'\\\n é}" * 700,
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("tricky", TRICKY_VALUES.values(), ids=TRICKY_VALUES)
def test_every_environment_value_is_redacted_up_to_its_real_end(shape: str, tricky: str) -> None:
    value = f"pre-RECOGNISABLE{tricky}post-RECOGNISABLE"
    environment = [
        {"name": "MY_SETTING", "value": value},  # not a secret-looking name: redacted all the same
        {"value": value, "name": "VALUE_FIRST"},
        {"name": "DB_PASSWORD", "value": value},
        {"name": "GREETING", "value": "hello"},
    ]
    tags = [{"key": "team", "value": "research"}]
    write, read = SHAPES[shape]

    cleaned = redaction.redact(write(environment, tags))

    assert "pre-RECOGNISABLE" not in cleaned
    assert "post-RECOGNISABLE" not in cleaned
    if len(tricky) > 4096:  # no part of a long value either (the old limit on an entry)
        assert tricky[-12:] not in cleaned
    # It still parses, and only the values changed: each literal ended where it really ends.
    params = read(cleaned)
    entries = params["overrides"]["containerOverrides"][0]["environment"]
    assert [entry["name"] for entry in entries] == [entry["name"] for entry in environment]
    assert [entry["value"] for entry in entries] == [REDACTED] * len(environment)
    assert params["tags"] == tags
    assert params["overrides"]["containerOverrides"][0]["name"] == "notebook"


def test_names_and_tags_stay_readable() -> None:
    text = (
        '{"environment": [{"name": "GREETING", "value": "hello"}, {"name": "JUPYTERHUB_USER", '
        '"value": "ann"}], "tags": [{"key": "team", "value": "research"}]}'
    )
    assert json.loads(redaction.redact(text)) == {
        "environment": [
            {"name": "GREETING", "value": REDACTED},
            {"name": "JUPYTERHUB_USER", "value": REDACTED},
        ],
        "tags": [{"key": "team", "value": "research"}],
    }


def test_an_apostrophe_in_prose_opens_no_string() -> None:
    """Read as a string literal, "didn't" would make the JSON after it look one quoting layer
    deeper than it is, and its escaped quotes end a value too early."""
    environment = [{"name": "DB_PASSWORD", "value": 'a"b-RECOGNISABLE'}]
    tags = [{"key": "owner", "value": "ann's"}]
    text = "Task didn't start: " + json.dumps({"environment": environment, "tags": tags})
    cleaned = redaction.redact(text)
    assert "RECOGNISABLE" not in cleaned
    assert cleaned.startswith("Task didn't start: ")
    assert json.loads(cleaned.split(": ", 1)[1])["tags"] == tags


# Any character, with the ones that matter to quoting often.
characters = st.one_of(st.sampled_from("{}[]:,\"'\\\n b"), st.characters())
values = st.text(characters, max_size=40)
# Names and tags that read like an entry themselves would be (over-)redacted: not those.
names = values.filter(lambda s: "name" not in s and "value" not in s)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    environment=st.lists(st.fixed_dictionaries({"name": names, "value": values}), max_size=4),
    tag=names,
    shape=st.sampled_from(sorted(SHAPES)),
)
def test_any_environment_round_trips_with_only_its_values_redacted(
    environment: Environment, tag: str, shape: str
) -> None:
    write, read = SHAPES[shape]
    params = read(redaction.redact(write(environment, [{"key": "k", "value": tag}])))
    entries = params["overrides"]["containerOverrides"][0]["environment"]
    assert entries == [{"name": entry["name"], "value": REDACTED} for entry in environment]
    assert params["tags"] == [{"key": "k", "value": tag}]


# --- STS credentials, web identity tokens, signatures -----------------------------------------


@pytest.mark.parametrize("action", ["AssumeRole", "AssumeRoleWithWebIdentity"])
@pytest.mark.parametrize(
    "render",
    [
        lambda body: body.decode(),
        lambda body: logged(PARSERS_TEMPLATE, body),
        lambda body: logged("Response body:\n%s", body),  # aiobotocore's parser, same logger
        lambda body: logged(PARSERS_TEMPLATE, body.replace(b"\n", b"").replace(b"  ", b"")),
    ],
    ids=["text", "botocore", "aiobotocore", "one-line"],
)
def test_sts_credentials_in_xml_answers_are_redacted(
    action: str, render: Callable[[bytes], str]
) -> None:
    cleaned = redaction.redact(render(sts_answer(action)))
    assert_no_sts_secret(cleaned)
    assert f"<SecretAccessKey>{REDACTED}</SecretAccessKey>" in cleaned
    assert f"<SessionToken>{REDACTED}</SessionToken>" in cleaned
    assert f"{action}Response" in cleaned
    assert "<AccessKeyId>ASIAEXAMPLEKEY000001</AccessKeyId>" in cleaned
    assert "<Expiration>2030-01-01T00:00:00Z</Expiration>" in cleaned


WEB_IDENTITY_BODY = {
    "Action": "AssumeRoleWithWebIdentity",
    "Version": "2011-06-15",
    "RoleArn": ROLE,
    "RoleSessionName": "hub-session",
    "WebIdentityToken": WEB_TOKEN,
}
URL_ENCODED = (
    "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A"
    f"123456789012%3Arole%2Fhub&WebIdentityToken={WEB_TOKEN}&RoleSessionName=hub-session"
)


@pytest.mark.parametrize(
    "text",
    [
        # botocore.endpoint, query protocol: the body is still a dict when it is logged
        logged(
            ENDPOINT_TEMPLATE,
            "OperationModel(name=AssumeRoleWithWebIdentity)",
            {"url_path": "/", "method": "POST", "body": WEB_IDENTITY_BODY},
        ),
        json.dumps(WEB_IDENTITY_BODY),
        URL_ENCODED,
        repr(URL_ENCODED.encode()),
        repr({"body": URL_ENCODED.encode(), "url": "https://sts.amazonaws.com/"}),
    ],
    ids=["endpoint-dict", "json", "url-encoded", "url-encoded-bytes", "url-encoded-in-dict"],
)
def test_web_identity_tokens_are_redacted(text: str) -> None:
    cleaned = redaction.redact(text)
    assert_no_sts_secret(cleaned)
    assert "AssumeRoleWithWebIdentity" in cleaned
    assert "hub-session" in cleaned
    assert "2011-06-15" in cleaned


def test_botocore_auth_signature_lines_are_redacted() -> None:
    signature = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    canonical = (
        "POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:ecs.us-east-1.amazonaws.com\n"
        f"x-amz-date:20300101T000000Z\nx-amz-security-token:{STS_TOKEN}\n\n"
        "content-type;host;x-amz-date;x-amz-security-token\n" + "e3b0c442" * 8
    )
    # botocore.auth: logger.debug('Signature:\n%s', signature), and the canonical request
    assert redaction.redact(logged("Signature:\n%s", signature)) == f"Signature:\n{REDACTED}"
    cleaned = redaction.redact(logged("CanonicalRequest:\n%s", canonical))
    assert_no_sts_secret(cleaned)
    assert "host:ecs.us-east-1.amazonaws.com" in cleaned


# --- Keys under any number of escaping layers ---------------------------------------------------


def escaped(text: str, layers: int) -> str:
    """``text`` (JSON) as the body of a JSON string, ``layers`` times over."""
    for _ in range(layers):
        text = json.dumps(text)
    return text


def unescaped(text: str, layers: int) -> Any:
    for _ in range(layers):
        text = json.loads(text)
    return json.loads(text)


def in_a_bytes_repr(text: str) -> str:
    """The JSON as botocore.endpoint logs a body: bytes inside a dict repr (one layer more)."""
    return repr({"body": text.encode(), "url": "https://sts.amazonaws.com/"})


def from_a_bytes_repr(text: str) -> str:
    body: bytes = ast.literal_eval(text)["body"]
    return body.decode()


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("in_repr", [False, True], ids=["json", "in-a-repr"])
@pytest.mark.parametrize("key", ["SessionToken", "WebIdentityToken"])
def test_secret_keys_are_found_under_any_number_of_escaping_layers(
    key: str, in_repr: bool, layers: int
) -> None:
    """JSON inside a JSON string (inside a repr): each layer adds backslashes before the
    quotes, \\" then \\\\\\" then \\\\\\\\\\\\\\" ..."""
    secret = {"SessionToken": STS_TOKEN, "WebIdentityToken": WEB_TOKEN}[key]
    document = {"RoleArn": ROLE, key: secret, "RoleSessionName": "hub-session"}
    text = escaped(json.dumps(document), layers)
    if in_repr:
        text = in_a_bytes_repr(text)

    cleaned = redaction.redact(text)

    assert_no_sts_secret(cleaned)
    # Only the value changed: every layer still decodes, and the rest reads as it was.
    if in_repr:
        cleaned = from_a_bytes_repr(cleaned)
    assert unescaped(cleaned, layers) == {**document, key: REDACTED}


# --- AWS SSO (IAM Identity Center) and bearer tokens --------------------------------------------

SSO_ACCESS_TOKEN = "aoaAAAAAGZ0sso-RECOGNISABLE:MGUCMQD+access/tail0accessTail"
SSO_REFRESH_TOKEN = "aorAAAAAGZ0sso-RECOGNISABLE:MGUCMQD+refresh/tail0refreshTail"
SSO_CLIENT_SECRET = "eyJraWQiOiJrZXktMTU2NDAyODA5OSJ9.c2VjcmV0LVJFQ09HTklTQUJMRQ.clientTail"
SSO_SECRET_KEY = "sso-secret-RECOGNISABLE/K7MDENG+ssoKeyTail"
SSO_SESSION_TOKEN = "IQoJb3JpZ2luX2VjEsso-RECOGNISABLE//////////ssoSessionTail"
SSO_SECRETS = (
    SSO_ACCESS_TOKEN,
    SSO_REFRESH_TOKEN,
    SSO_CLIENT_SECRET,
    SSO_SECRET_KEY,
    SSO_SESSION_TOKEN,
    "sso-RECOGNISABLE",
    "accessTail",
    "refreshTail",
    "clientTail",
    "ssoKeyTail",
    "ssoSessionTail",
)


def assert_no_sso_secret(text: str) -> None:
    for secret in SSO_SECRETS:
        assert secret not in text, f"{secret[-20:]} leaked"


def sso_answers() -> dict[str, dict[str, Any]]:
    """What SSO and SSO-OIDC answer (their JSON), by operation."""
    return {
        "GetRoleCredentials": {
            "roleCredentials": {
                "accessKeyId": "ASIAEXAMPLEKEY000002",
                "secretAccessKey": SSO_SECRET_KEY,
                "sessionToken": SSO_SESSION_TOKEN,
                "expiration": 1893456000000,
            }
        },
        "RegisterClient": {
            "clientId": "client-id-readable",
            "clientSecret": SSO_CLIENT_SECRET,
            "clientIdIssuedAt": 1700000000,
            "clientSecretExpiresAt": 1893456000,
        },
        "CreateToken": {
            "accessToken": SSO_ACCESS_TOKEN,
            "tokenType": "Bearer",
            "expiresIn": 3600,
            "refreshToken": SSO_REFRESH_TOKEN,
        },
    }


def prepared_request(headers: dict[str, str]) -> str:
    """botocore.endpoint's "Sending http request: <AWSPreparedRequest ...>" (header values
    are bytes by then)."""
    request = AWSPreparedRequest(
        "GET",
        "https://portal.sso.us-east-1.amazonaws.com/federation/credentials?role_name=hub",
        {name: value.encode() for name, value in headers.items()},
        b"",
        False,
    )
    return logged("Sending http request: %s", request)


CREATE_TOKEN_REQUEST = {
    "clientId": "client-id-readable",
    "clientSecret": SSO_CLIENT_SECRET,
    "grantType": "refresh_token",
    "refreshToken": SSO_REFRESH_TOKEN,
}


@pytest.mark.parametrize(
    "text",
    [
        # GetRoleCredentials' request: the token is a header
        logged(
            ENDPOINT_TEMPLATE,
            "OperationModel(name=GetRoleCredentials)",
            {
                "url_path": "/federation/credentials",
                "method": "GET",
                "headers": {"x-amz-sso_bearer_token": SSO_ACCESS_TOKEN},
                "body": b"",
            },
        ),
        prepared_request({"x-amz-sso_bearer_token": SSO_ACCESS_TOKEN}),
        f"x-amz-sso_bearer_token: {SSO_ACCESS_TOKEN}\r\nhost: portal.sso.us-east-1.amazonaws.com",
        # CreateToken's request: client secret and refresh token in the JSON body
        logged(
            ENDPOINT_TEMPLATE,
            "OperationModel(name=CreateToken)",
            {"url_path": "/token", "body": json.dumps(CREATE_TOKEN_REQUEST).encode()},
        ),
        # the answers, as botocore.parsers logs them
        *(
            logged(PARSERS_TEMPLATE, json.dumps(answer).encode())
            for answer in sso_answers().values()
        ),
        json.dumps(sso_answers()["CreateToken"], indent=2),
        # bearer auth's Authorization header, however it is logged
        repr({"headers": {"Authorization": f"Bearer {SSO_ACCESS_TOKEN}"}}),
        prepared_request({"Authorization": f"Bearer {SSO_ACCESS_TOKEN}"}),
        f"Authorization: Bearer {SSO_ACCESS_TOKEN}\r\nHost: codecatalyst.global.api.aws",
        json.dumps(json.dumps({"Authorization": f"Bearer {SSO_ACCESS_TOKEN}"})),
    ],
    ids=[
        "get-role-credentials-request",
        "get-role-credentials-http-request",
        "header-line",
        "create-token-request",
        "get-role-credentials-answer",
        "register-client-answer",
        "create-token-answer",
        "create-token-answer-pretty",
        "bearer-dict",
        "bearer-http-request",
        "bearer-header-line",
        "bearer-escaped-json",
    ],
)
def test_sso_tokens_and_bearer_tokens_are_redacted(text: str) -> None:
    cleaned = redaction.redact(text)
    assert_no_sso_secret(cleaned)
    assert REDACTED in cleaned
    for readable in ("ASIAEXAMPLEKEY000002", "client-id-readable", "Bearer", "/federation"):
        assert (readable in text) <= (readable in cleaned), f"{readable} was redacted"


def test_the_word_bearer_does_not_hide_the_token_type() -> None:
    answer = logged(PARSERS_TEMPLATE, json.dumps(sso_answers()["CreateToken"]).encode())
    cleaned = redaction.redact(answer)
    assert '"tokenType": "Bearer"' in cleaned
    assert '"expiresIn": 3600' in cleaned


# --- The filter itself: never raises, and withholds what it cannot redact -----------------------


class Emitted:
    """What a real handler wrote for a logger with the filter installed."""

    def __init__(self, logger: logging.Logger, stream: io.StringIO) -> None:
        self.logger, self.stream = logger, stream

    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def emitted() -> Iterator[Emitted]:
    logger = logging.getLogger("botocore.test_redaction")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    redaction.install()
    assert logger.filters  # install() found it
    try:
        yield Emitted(logger, stream)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


def refuse(text: str) -> str:
    raise RuntimeError("redaction broke")


def endpoint_request_with_a_token(log: logging.Logger) -> str:
    """Logs what botocore.endpoint logs for a request with a session token; returns the
    message as it would have read."""
    request_dict = {"url_path": "/", "headers": {"X-Amz-Security-Token": SESSION_TOKEN}}
    log.debug(ENDPOINT_TEMPLATE, "OperationModel(name=RunTask)", request_dict)
    return ENDPOINT_TEMPLATE % ("OperationModel(name=RunTask)", request_dict)


def test_a_message_that_cannot_be_redacted_is_withheld(
    emitted: Emitted, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redaction, "redact", refuse)

    message = endpoint_request_with_a_token(emitted.logger)  # and nothing raised

    assert emitted.text() == (
        f"botocore.test_redaction [redaction failed; {len(message)} characters withheld]\n"
    )


def test_a_traceback_that_cannot_be_redacted_is_withheld(
    emitted: Emitted, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse_tracebacks(text: str) -> str:
        if "Traceback" in text:
            raise RuntimeError("redaction broke")
        return text

    monkeypatch.setattr(redaction, "redact", refuse_tracebacks)
    try:
        raise RuntimeError(f"the request with {SESSION_TOKEN} failed")
    except RuntimeError:
        emitted.logger.exception("Exception received when sending HTTP request.")

    text = emitted.text()
    assert "Exception received when sending HTTP request." in text
    assert "[redaction failed;" in text
    assert SESSION_TOKEN not in text
    assert "the request with" not in text


def test_a_traceback_that_cannot_be_formatted_is_withheld(
    emitted: Emitted, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging.Formatter, "formatException", lambda self, info: refuse(""))
    try:
        raise RuntimeError(f"the request with {SESSION_TOKEN} failed")
    except RuntimeError:
        emitted.logger.exception("Exception received when sending HTTP request.")

    text = emitted.text()
    assert "[redaction failed; traceback withheld]" in text
    assert SESSION_TOKEN not in text


def test_a_message_that_cannot_be_formatted_is_redacted_not_printed_raw(
    emitted: Emitted, capsys: pytest.CaptureFixture[str]
) -> None:
    """Left alone, the handler would fail the same way, and logging would print the
    message's arguments to stderr as they are."""
    emitted.logger.debug("params: %d", {"SessionToken": SESSION_TOKEN})

    text = emitted.text() + capsys.readouterr().err
    assert SESSION_TOKEN not in text
    assert "message not formatted" in text
    assert f"'SessionToken': '{REDACTED}'" in text


def test_a_message_that_cannot_even_be_shown_is_withheld(
    emitted: Emitted, capsys: pytest.CaptureFixture[str]
) -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError(SESSION_TOKEN)

        __repr__ = __str__

    emitted.logger.debug(Unprintable())

    assert emitted.text() == "botocore.test_redaction [redaction failed; message withheld]\n"
    assert SESSION_TOKEN not in capsys.readouterr().err


# --- Cost: linear in the message's length -------------------------------------------------------


def big_describe_tasks() -> tuple[str, int]:
    environment = [{"name": f"SETTING_{i}", "value": f"v'\"{{}}\\-{i}" * 4} for i in range(40)]
    answer = describe_tasks(environment, [{"key": "team", "value": "research"}])
    answer["tasks"] *= 250
    message = logged(PARSERS_TEMPLATE, json.dumps(answer).encode())
    return message, 40 * 250


def unterminated_value() -> tuple[str, int]:
    # An entry cut off in the middle of a value full of escaped quotes: no closing quote to
    # find, which is what makes a backtracking matcher quadratic.
    return '[{"name": "X", "value": "' + 'v-1\\"' * 200_000, 1


@pytest.mark.parametrize("build", [big_describe_tasks, unterminated_value])
def test_a_megabyte_message_is_redacted_quickly(build: Callable[[], tuple[str, int]]) -> None:
    message, entries = build()
    assert len(message) >= 1_000_000
    started = time.perf_counter()
    cleaned = redaction.redact(message)
    elapsed = time.perf_counter() - started
    assert cleaned.count(REDACTED) == entries
    assert "v-1" not in cleaned
    # A guard against quadratic blow-ups (minutes for a megabyte), not a speed test: linear
    # redaction takes well under a second, and a loaded CI machine may be many times slower.
    assert elapsed < 20, f"{elapsed:.2f} s for {len(message)} characters"


# --- The real loggers: botocore talking to a stub STS and ECS on 127.0.0.1 ---------------------


class StubAWS(http.server.BaseHTTPRequestHandler):
    """Answers AssumeRole and AssumeRoleWithWebIdentity like STS, and RunTask like ECS (the
    task echoes the request's overrides and tags back, environment included)."""

    authorizations: list[str]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.authorizations.append(self.headers.get("Authorization", ""))
        if self.headers.get("X-Amz-Target", "").endswith(".RunTask"):
            params = json.loads(body)
            environment = params["overrides"]["containerOverrides"][0]["environment"]
            answer = json.dumps(describe_tasks(environment, params["tags"])).encode()
            content_type = "application/x-amz-json-1.1"
        else:
            action = re.search(rb"Action=(\w+)", body)
            assert action is not None
            answer, content_type = sts_answer(action.group(1).decode()), "text/xml"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:  # not to stderr
        pass


@contextlib.contextmanager
def serve(base: type[StubAWS]) -> Iterator[tuple[str, list[str]]]:
    """A stub endpoint on 127.0.0.1 (and nowhere else), and the Authorization headers it
    received."""
    authorizations: list[str] = []
    handler = type("Handler", (base,), {"authorizations": authorizations})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", authorizations
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def stub_aws() -> Iterator[tuple[str, list[str]]]:
    with serve(StubAWS) as stub:
        yield stub


def botocore_client(service: str, endpoint: str) -> Any:
    return botocore.session.get_session().create_client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="AKIAFAKEFORTESTS0000",
        aws_secret_access_key=SECRET_KEY,
        aws_session_token=SESSION_TOKEN,
        config=Config(retries={"max_attempts": 1}),
    )


def test_real_botocore_records_of_sts_and_ecs_hold_no_secret(
    stub_aws: tuple[str, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    endpoint, authorizations = stub_aws
    caplog.set_level(logging.DEBUG)
    sts, ecs = botocore_client("sts", endpoint), botocore_client("ecs", endpoint)
    redaction.install()
    try:
        sts.assume_role(RoleArn=ROLE, RoleSessionName="hub-session")
        sts.assume_role_with_web_identity(
            RoleArn=ROLE, RoleSessionName="hub-session", WebIdentityToken=WEB_TOKEN
        )
        environment = [
            {"name": "JUPYTERHUB_API_TOKEN", "value": API_TOKEN},
            {"name": "MY_SETTING", "value": QUOTED_VALUE},
            {"value": LONG_VALUE, "name": "LONG_SETTING"},
        ]
        tags = [{"key": "team", "value": "research"}]
        answer = ecs.run_task(**run_task_params(environment, tags))
    finally:
        sts.close()
        ecs.close()
    # The answers themselves are untouched: only what was logged.
    assert answer["tasks"][0]["overrides"]["containerOverrides"][0]["environment"] == environment

    text = everything_logged(caplog)
    loggers = {record.name for record in caplog.records}
    assert {"botocore.endpoint", "botocore.parsers", "botocore.auth"} <= loggers
    assert_no_sts_secret(text)
    for secret in (*SECRETS, *ENVIRONMENT_SECRETS):
        assert secret not in text, f"{secret[-20:]} leaked"
    signed = [re.search(r"Signature=(\w+)", header) for header in authorizations]
    signatures = [match.group(1) for match in signed if match]
    assert len(signatures) == 2  # AssumeRole and RunTask; AssumeRoleWithWebIdentity is unsigned
    for signature in signatures:
        assert signature not in text
    assert f"Signature:\n{REDACTED}" in text
    # ... and what helps debugging stays.
    for kept in ("AssumeRoleResponse", "<AccessKeyId>ASIAEXAMPLEKEY000001", "RoleSessionName"):
        assert kept in text
    for kept in ("JUPYTERHUB_API_TOKEN", "LONG_SETTING", '"value": "research"'):
        assert kept in text


class StubSSO(StubAWS):
    """Answers SSO's GetRoleCredentials and SSO-OIDC's RegisterClient and CreateToken; records
    the bearer token each request carried."""

    def do_GET(self) -> None:
        assert self.path.startswith("/federation/credentials?")
        self.authorizations.append(self.headers.get("x-amz-sso_bearer_token", ""))
        self.answer("GetRoleCredentials")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.answer({"/client/register": "RegisterClient", "/token": "CreateToken"}[self.path])

    def answer(self, operation: str) -> None:
        body = json.dumps(sso_answers()[operation]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_real_botocore_records_of_sso_hold_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with serve(StubSSO) as (endpoint, bearer_tokens):
        oidc, sso = botocore_client("sso-oidc", endpoint), botocore_client("sso", endpoint)
        redaction.install()
        try:
            oidc.register_client(clientName="hub", clientType="public")
            oidc.create_token(**CREATE_TOKEN_REQUEST)
            answer = sso.get_role_credentials(
                roleName="hub", accountId="123456789012", accessToken=SSO_ACCESS_TOKEN
            )
        finally:
            oidc.close()
            sso.close()
    assert bearer_tokens == [SSO_ACCESS_TOKEN]  # the token did go out, in its header
    assert answer["roleCredentials"]["sessionToken"] == SSO_SESSION_TOKEN

    text = everything_logged(caplog)
    assert {"botocore.endpoint", "botocore.parsers"} <= {record.name for record in caplog.records}
    assert "x-amz-sso_bearer_token" in text  # botocore did log the header ...
    assert_no_sso_secret(text)  # ... and nothing secret
    for kept in ("client-id-readable", "ASIAEXAMPLEKEY000002", '"tokenType":"Bearer"'):
        assert kept in text.replace(" ", "")
