"""Strict mode: the emulator refuses the requests real ECS refuses (tests/emulator/strict.py).

Each rule is shown refusing a request sent with a plain boto3 client; where botocore itself
would refuse first, the client's own validation is turned off so the request reaches the
emulator. A lenient server (plain moto's judgement) accepts the same requests: what refuses
them is strict mode, not moto.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import CLUSTER, CONTAINER, FAMILY
from .emulator import strict
from .emulator.launcher import Emulator, http

EC2_PROVIDER = "my-asg-provider"


def refused(call: Any, code: str, words: str, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    assert error["Code"] == code, error
    assert words in error["Message"], error["Message"]


def raw_json(emulator: Emulator, operation: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST an ECS request as JSON, unsigned and unchecked by any SDK."""
    request = urllib.request.Request(  # noqa: S310 - the emulator on loopback
        emulator.server_url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"AmazonEC2ContainerServiceV20141113.{operation}",
            "Authorization": "AWS4-HMAC-SHA256 "
            "Credential=testing/20260101/us-east-1/ecs/aws4_request",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def tags(count: int, prefix: str = "k") -> list[dict[str, str]]:
    return [{"key": f"{prefix}{i}", "value": "v"} for i in range(count)]


@pytest.fixture
def ecs(emulator: Emulator, fargate: str) -> Any:
    return emulator.client("ecs")


def fargate_run(subnet: str, **changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "cluster": CLUSTER,
        "taskDefinition": FAMILY,
        "launchType": "FARGATE",
        "networkConfiguration": {
            # moto needs securityGroups (ECS would take the VPC's default group).
            "awsvpcConfiguration": {
                "subnets": [subnet],
                "securityGroups": [],
                "assignPublicIp": "ENABLED",
            }
        },
    }
    request.update(changes)
    return {k: v for k, v in request.items() if v is not None}


def test_every_layer_runs_strict(emulator: Emulator, moto: str) -> None:
    assert http("GET", f"{emulator.server_url}/_emulator/health")["strict"] is True
    assert http("GET", f"{moto}/_emulator/health")["strict"] is True


# -------------------------------------------------------------------- botocore's own rules


def test_requests_botocore_would_refuse_are_refused(emulator: Emulator, fargate: str) -> None:
    raw = emulator.client("ecs", validate=False)
    run = raw.run_task
    base = fargate_run(fargate)
    refused(
        run,
        "InvalidParameterException",
        "Invalid type for parameter overrides.cpu",
        **base,
        overrides={"cpu": 1024},
    )
    # botocore cannot even serialize an unknown parameter: send the JSON by hand.
    status, answer = raw_json(emulator, "RunTask", {**base, "assignPublicIP": "ENABLED"})
    assert status == 400
    assert answer["__type"] == "InvalidParameterException"
    assert 'Unknown parameter in input: "assignPublicIP"' in answer["message"]
    refused(
        run,
        "InvalidParameterException",
        'Missing required parameter in input: "taskDefinition"',
        **{k: v for k, v in base.items() if k != "taskDefinition"},
    )
    refused(run, "InvalidParameterException", "Invalid type for parameter count", **base, count="1")
    ssm = emulator.client("ssm", validate=False)
    refused(
        ssm.send_command,
        "ValidationException",
        "Missing required parameter",
        InstanceIds=["mi-0123456789abcdef0"],
    )


# ---------------------------------------------------------------------------- RunTask rules


def test_public_ip_only_where_the_launch_is_certainly_fargate(
    emulator: Emulator, ecs: Any, fargate: str
) -> None:
    words = "Assign public IP is not supported for this launch type"
    refused(
        ecs.run_task, "InvalidParameterException", words, **fargate_run(fargate, launchType="EC2")
    )
    ecs.create_capacity_provider(
        name=EC2_PROVIDER,
        autoScalingGroupProvider={
            "autoScalingGroupArn": "arn:aws:autoscaling:us-east-1:123456789012:"
            "autoScalingGroup:x:autoScalingGroupName/asg"
        },
    )
    strategy = [{"capacityProvider": EC2_PROVIDER, "weight": 1}]
    refused(
        ecs.run_task,
        "InvalidParameterException",
        words,
        **fargate_run(fargate, launchType=None, capacityProviderStrategy=strategy),
    )
    # No launch type, no strategy, a cluster without a default strategy: ECS's EC2 launch type.
    refused(
        ecs.run_task, "InvalidParameterException", words, **fargate_run(fargate, launchType=None)
    )
    # Fargate for certain: accepted.
    assert ecs.run_task(**fargate_run(fargate))["tasks"]
    spot = [
        {"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 1},
        {"capacityProvider": "FARGATE", "weight": 1},
    ]
    assert ecs.run_task(**fargate_run(fargate, launchType=None, capacityProviderStrategy=spot))[
        "tasks"
    ]
    # The cluster's default strategy decides when the request names neither.
    ecs.put_cluster_capacity_providers(
        cluster=CLUSTER,
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
    )
    assert ecs.run_task(**fargate_run(fargate, launchType=None))["tasks"]


def test_no_placement_constraints_on_fargate(ecs: Any, fargate: str) -> None:
    constraint = [{"type": "memberOf", "expression": "attribute:gpu == true"}]
    words = "placement constraints are not supported for the Fargate launch type"
    refused(
        ecs.run_task,
        "InvalidParameterException",
        words,
        **fargate_run(fargate, placementConstraints=constraint),
    )
    spot = [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    refused(
        ecs.run_task,
        "InvalidParameterException",
        words,
        **fargate_run(
            fargate, launchType=None, capacityProviderStrategy=spot, placementConstraints=constraint
        ),
    )


def test_never_a_launch_type_and_a_strategy(ecs: Any, fargate: str) -> None:
    spot = [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    refused(
        ecs.run_task,
        "InvalidParameterException",
        "Specifying both a launch type and capacity provider strategy is not supported",
        **fargate_run(fargate, capacityProviderStrategy=spot),
    )


def test_at_most_50_tags_counting_the_revisions_propagated_ones(ecs: Any, fargate: str) -> None:
    refused(
        ecs.run_task,
        "InvalidParameterException",
        "at most 50 tags",
        **fargate_run(fargate, tags=tags(51)),
    )
    assert ecs.run_task(**fargate_run(fargate, tags=tags(50)))["tasks"]
    ecs.register_task_definition(
        family=FAMILY,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": CONTAINER, "image": "img:1", "memory": 512}],
        tags=tags(25, prefix="rev"),
    )
    # 30 + 25 propagated = 55: refused; without propagation 30 is fine.
    refused(
        ecs.run_task,
        "InvalidParameterException",
        "would have 55",
        **fargate_run(fargate, tags=tags(30), propagateTags="TASK_DEFINITION"),
    )
    assert ecs.run_task(**fargate_run(fargate, tags=tags(30), propagateTags="NONE"))["tasks"]
    # A key on both sides is one tag: 30 + 25 - 10 shared = 45.
    shared = tags(20) + tags(10, prefix="rev")
    assert ecs.run_task(**fargate_run(fargate, tags=shared, propagateTags="TASK_DEFINITION"))[
        "tasks"
    ]


def test_aws_prefixed_tags_do_not_count_but_cannot_be_sent() -> None:
    """The counting rule on its own (a revision carrying ``aws:`` tags, as CloudFormation's
    do, cannot be registered through strict mode itself)."""
    revision = SimpleNamespace(
        tags=tags(40, "rev")
        + [{"key": f"aws:cloudformation:x{i}", "value": "v"} for i in range(5)],
        placement_constraints=[],
    )
    request = {"tags": tags(10), "propagateTags": "TASK_DEFINITION"}
    strict.check_run_task(request, revision, [])  # 50 counted, 5 aws: ones not
    with pytest.raises(strict.StrictError, match="would have 51"):
        strict.check_run_task({**request, "tags": tags(11)}, revision, [])


def test_callers_never_send_aws_prefixed_tag_keys(ecs: Any, fargate: str) -> None:
    reserved = [{"key": "aws:cloudformation:stack-name", "value": "x"}]
    refused(
        ecs.run_task,
        "InvalidParameterException",
        "'aws:' prefix are reserved",
        **fargate_run(fargate, tags=reserved),
    )
    definition = {
        "family": "other",
        "containerDefinitions": [{"name": "c", "image": "i", "memory": 64}],
    }
    refused(
        ecs.register_task_definition,
        "InvalidParameterException",
        "'aws:' prefix are reserved",
        **definition,
        tags=reserved,
    )
    refused(
        ecs.register_task_definition,
        "InvalidParameterException",
        "at most 50 tags",
        **definition,
        tags=tags(51),
    )
    arn = ecs.register_task_definition(**definition, tags=tags(50))["taskDefinition"][
        "taskDefinitionArn"
    ]
    refused(
        ecs.tag_resource,
        "InvalidParameterException",
        "'aws:' prefix are reserved",
        resourceArn=arn,
        tags=reserved,
    )


def test_at_most_10_placement_constraints_counting_the_revisions(ecs: Any) -> None:
    rule = {"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}
    ecs.register_task_definition(
        family="placed",
        networkMode="bridge",
        containerDefinitions=[{"name": CONTAINER, "image": "img:1", "memory": 64}],
        placementConstraints=[rule] * 6,
    )
    refused(
        ecs.run_task,
        "InvalidParameterException",
        "at most 10 placement constraints",
        cluster=CLUSTER,
        taskDefinition="placed",
        launchType="EC2",
        placementConstraints=[rule] * 5,
    )


# --------------------------------------------------------------- capacity provider strategies


def test_strategy_limits(ecs: Any, fargate: str) -> None:
    def run(strategy: list[dict[str, Any]]) -> dict[str, Any]:
        return fargate_run(fargate, launchType=None, capacityProviderStrategy=strategy)

    many = [{"capacityProvider": f"p{i}", "weight": 1} for i in range(21)]
    refused(ecs.run_task, "InvalidParameterException", "at most 20 capacity providers", **run(many))
    two_bases = [
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 2},
    ]
    refused(
        ecs.run_task, "InvalidParameterException", "Only one capacity provider", **run(two_bases)
    )
    no_weight = [
        {"capacityProvider": "FARGATE", "base": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 0},
    ]
    refused(ecs.run_task, "InvalidParameterException", "weight greater than zero", **run(no_weight))
    # One provider alone may have weight 0 (the reference: the rule is for several).
    assert ecs.run_task(**run([{"capacityProvider": "FARGATE", "base": 1}]))["tasks"]
    refused(
        ecs.put_cluster_capacity_providers,
        "InvalidParameterException",
        "Only one capacity provider",
        cluster=CLUSTER,
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=two_bases,
    )
    refused(
        ecs.create_cluster,
        "InvalidParameterException",
        "weight greater than zero",
        clusterName="other",
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=no_weight,
    )


# ------------------------------------------------------------------ what plain moto accepts


@pytest.fixture(scope="module")
def lenient() -> Iterator[Emulator]:
    emulator = Emulator(strict=False).start(with_proxy=False)
    try:
        yield emulator
    finally:
        emulator.stop()


def test_plain_moto_accepts_what_strict_mode_refuses(lenient: Emulator) -> None:
    ecs = lenient.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(
        family=FAMILY,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": CONTAINER, "image": "img:1", "memory": 512}],
        tags=[{"key": "aws:cloudformation:stack-name", "value": "x"}],
    )
    subnet = lenient.loopback_subnet()
    spot = [
        {"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 1},
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
    ]
    answer = ecs.run_task(
        **fargate_run(
            subnet,
            launchType=None,
            capacityProviderStrategy=spot,
            tags=tags(60),
            placementConstraints=[{"type": "distinctInstance"}],
        )
    )
    assert answer["tasks"]
