"""The settings that say how secrets reach a server: where its hub API token travels."""

from __future__ import annotations

from typing import Any

from traitlets import Dict, Enum, Unicode, validate
from traitlets.config import LoggingConfigurable

from ..launch.secrets import check_secrets

__all__ = ["SecretsConfig"]


class SecretsConfig(LoggingConfigurable):
    """How a server gets its secrets: ``c.AWSSpawner.<name>`` settings."""

    secrets = Dict(
        {},
        config=True,
        help="""Secrets of yours the notebook server gets as environment variables: a dict
        of ``NAME: ARN``, each ARN a Secrets Manager secret
        (``arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME``, optionally with ECS's
        ``:json-key:version-stage:version-id`` suffix) or an SSM parameter
        (``arn:aws:ssm:REGION:ACCOUNT:parameter/NAME``, SecureString or not).

        The hub never reads a value. The pairs go into the notebook container's
        ``secrets`` in a task definition revision derived from yours (RunTask overrides
        cannot carry secrets; the revision is shared by every user with the same image,
        home and secrets), and the ECS agent fetches the values with the task execution
        role when the task starts: that role (``execution_role_arn`` or the task
        definition's, required, checked at the first spawn) needs
        secretsmanager:GetSecretValue or ssm:GetParameters (and kms:Decrypt for a customer
        key) on them. A secret that cannot be read fails the spawn with ECS's reason. Names
        and ARNs are checked when the hub starts; names may not start with ``JUPYTERHUB_`` or
        ``JPY_``. May be set per profile: a profile's dict is merged into this one (a name set
        to None there removes it; ``secrets: None`` removes them all).""",
    )

    api_token_source = Enum(
        ["environment", "s3"],
        default_value="environment",
        config=True,
        help="""How the notebook server gets its hub API token (``JUPYTERHUB_API_TOKEN`` and
        ``JPY_API_TOKEN``).

        - ``'environment'`` (the default, as earlier releases did): in RunTask's container
          overrides. ECS keeps overrides with the task: anyone allowed ecs:DescribeTasks on
          the cluster, and CloudTrail's RunTask records, can read every server's token.
        - ``'s3'``: before RunTask the spawner writes both variables as an ``.env`` object
          to ``api_token_bucket`` (SSE-KMS, see ``api_token_kms_key_id``) and names it in the
          container override's ``environmentFiles``; the ECS agent reads it with the task's
          execution role (``execution_role_arn`` or the task definition's). Neither variable
          appears in the RunTask request. The object is rewritten at each spawn, deleted when
          the server stops, and by the reaper for servers the hub no longer has.

        Environment files need Fargate platform version 1.4.0 or later (an older
        ``platform_version`` is refused when the hub starts) and, on EC2 and ECS Anywhere
        nodes, ECS container agent 1.39.0 or later (ECS's documentation covers EC2; for
        external instances the agent's source supports them, unverified on a real node).
        May be set per profile.
        """,
    )

    api_token_bucket = Unicode(
        "",
        config=True,
        help="""S3 bucket of the token files (``api_token_source = 's3'``; required there).
        The hub needs s3:PutObject and s3:DeleteObject on ``api_token_key_prefix``, the
        task execution role s3:GetObject there (and kms:Decrypt for a customer key). Keep
        the bucket private, with versioning off (a deleted token should stay deleted).""",
    )

    api_token_key_prefix = Unicode(
        "jupyterhub-tokens/",
        config=True,
        help="""Key prefix of the token files in ``api_token_bucket``. Each server's file is
        ``<prefix><hub_id>/<user>.env`` (default server) or
        ``<prefix><hub_id>/<user>/<server>.env``, names percent-encoded.""",
    )

    api_token_kms_key_id = Unicode(
        "",
        config=True,
        help="""KMS key (id, alias or ARN) the token files are encrypted with (SSE-KMS).
        Empty: the account's AWS managed key for S3 (``aws/s3``). With a customer key, the
        task execution role needs kms:Decrypt on it and the hub kms:GenerateDataKey.""",
    )

    @validate("secrets")
    def _check_secrets(self, proposal: dict[str, Any]) -> dict[str, str]:
        return check_secrets(proposal["value"])
