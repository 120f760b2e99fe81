"""Authentication classes: how the hub gets AWS credentials.

Each class turns configuration into an aiobotocore :class:`~aiobotocore.session.AioSession`.
``c.AWSSpawner.authentication_class`` picks one:

* :class:`AWSSpawnerAuthentication`: botocore's default chain (environment variables, shared
  config and credentials files / ``profile_name``, web identity, ECS container role, EC2
  instance profile through IMDSv2). The right choice on AWS: no static keys anywhere.
* :class:`AWSSpawnerSecretAccessKeyAuthentication`: a fixed access key pair (and optional
  session token) from the configuration.
* :class:`AWSSpawnerAssumeRoleAuthentication`: assumes an IAM role through STS, starting from
  the default chain (or another class), and refreshes the role's credentials before they
  expire.

A class may be subclassed: override :meth:`AWSSpawnerAuthentication.create_session` (async)
and :meth:`AWSSpawnerAuthentication.cache_key`. The pre-1.0 hook ``get_session(region)``, which
returned a blocking boto3 session, is refused when the spawner is built (see
:func:`check_not_legacy`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from aiobotocore.credentials import (
    AioAssumeRoleCredentialFetcher,
    AioCredentialResolver,
    AioDeferredRefreshableCredentials,
)
from aiobotocore.session import AioSession
from botocore.credentials import CredentialProvider
from traitlets import Integer, Type, Unicode
from traitlets.config import LoggingConfigurable

from ..errors import ConfigurationError

__all__ = [
    "AWSSpawnerAssumeRoleAuthentication",
    "AWSSpawnerAuthentication",
    "AWSSpawnerSecretAccessKeyAuthentication",
    "check_not_legacy",
]


class AWSSpawnerAuthentication(LoggingConfigurable):
    """Credentials from botocore's default chain (no keys in the hub's configuration)."""

    profile_name = Unicode(
        "",
        config=True,
        help="""Named profile of the AWS shared config/credentials files to use.

        Empty (the default) lets botocore decide: the AWS_PROFILE variable, else the default
        profile, else environment variables, the ECS container role or the EC2 instance
        profile (IMDSv2). Applies to every AWS client awsspawner makes (ECS, EC2, SSM).
        """,
    )

    def cache_key(self) -> tuple[Any, ...]:
        """Identifies the credentials; spawners whose keys are equal share AWS clients."""
        return ("default-chain", self.profile_name)

    async def create_session(self, region: str) -> AioSession:
        """Return a new aiobotocore session carrying these credentials."""
        return AioSession(profile=self.profile_name or None)


class AWSSpawnerSecretAccessKeyAuthentication(AWSSpawnerAuthentication):
    """A fixed access key pair from the configuration.

    Prefer an instance profile, container role or ``AWSSpawnerAssumeRoleAuthentication``:
    static keys do not expire and end up in configuration files and backups.
    """

    aws_access_key_id = Unicode(
        "",
        config=True,
        help="""Access key id used for every AWS call. Required with this class, together with
        aws_secret_access_key.""",
    )
    aws_secret_access_key = Unicode(
        "",
        config=True,
        help="""Secret access key paired with aws_access_key_id. Never logged.""",
    )
    aws_session_token = Unicode(
        "",
        config=True,
        help="""Session token, only for temporary credentials (keys starting with ASIA).
        Such credentials expire and are not refreshed: use the assume-role class instead.""",
    )

    def cache_key(self) -> tuple[Any, ...]:
        # A digest, not the secret itself: cache keys may show up in debugging output.
        secret = hashlib.sha256(
            f"{self.aws_secret_access_key}\0{self.aws_session_token}".encode()
        ).hexdigest()
        return ("static-keys", self.aws_access_key_id, secret)

    def check(self) -> None:
        owner = type(self).__name__
        if not self.aws_access_key_id:
            raise ConfigurationError("aws_access_key_id", "is required", owner=owner)
        if not self.aws_secret_access_key:
            raise ConfigurationError("aws_secret_access_key", "is required", owner=owner)

    async def create_session(self, region: str) -> AioSession:
        self.check()
        session = AioSession()
        session.set_credentials(
            self.aws_access_key_id,
            self.aws_secret_access_key,
            self.aws_session_token or None,
        )
        return session


class _AssumedRoleProvider(CredentialProvider):
    """A credential provider that hands out refreshable assumed-role credentials."""

    METHOD = "awsspawner-assume-role"
    CANONICAL_NAME = "awsspawner-assume-role"

    def __init__(self, fetcher: AioAssumeRoleCredentialFetcher) -> None:
        super().__init__()
        self._fetcher = fetcher

    async def load(self) -> AioDeferredRefreshableCredentials:
        # Deferred: the first STS call happens at the first AWS call, on the running loop;
        # refreshed 15 minutes before expiry by botocore's refresh logic (async in aiobotocore).
        return AioDeferredRefreshableCredentials(
            refresh_using=self._fetcher.fetch_credentials, method=self.METHOD
        )


class AWSSpawnerAssumeRoleAuthentication(AWSSpawnerAuthentication):
    """Assume an IAM role through STS; its credentials are refreshed before they expire."""

    role_arn = Unicode(
        "",
        config=True,
        help="""ARN of the role to assume for every AWS call. Required with this class.""",
    )
    external_id = Unicode(
        "",
        config=True,
        help="""ExternalId to pass to sts:AssumeRole, when the role's trust policy asks for
        one (typical for cross-account roles).""",
    )
    role_session_name = Unicode(
        "jupyterhub-awsspawner",
        config=True,
        help="""RoleSessionName of the assumed session; shows up in CloudTrail.""",
    )
    duration_seconds = Integer(
        3600,
        min=1800,
        max=43200,
        config=True,
        help="""Lifetime of each set of role credentials, in seconds: from 1800 to the role's
        maximum session duration. botocore refreshes assumed-role credentials when fewer than
        15 minutes remain, so a shorter session would be refreshed at every AWS call (one
        sts:AssumeRole per call). When the hub's own credentials are themselves a role's (an
        instance profile or an ECS task role: the usual case) this is role chaining, and AWS
        caps the session at 3600 whatever the role allows.""",
    )
    source_authentication_class = Type(
        AWSSpawnerAuthentication,
        klass=AWSSpawnerAuthentication,
        config=True,
        help="""Where the credentials that call sts:AssumeRole come from. Default: botocore's
        default chain (instance profile, container role, environment).""",
    )

    def cache_key(self) -> tuple[Any, ...]:
        source = self.source_authentication_class(parent=self).cache_key()
        return (
            "assume-role",
            self.role_arn,
            self.external_id,
            self.role_session_name,
            self.duration_seconds,
            source,
        )

    async def create_session(self, region: str) -> AioSession:
        if not self.role_arn:
            raise ConfigurationError("role_arn", "is required", owner=type(self).__name__)
        source = await self.source_authentication_class(parent=self).create_session(region)
        source_credentials = await source.get_credentials()
        if source_credentials is None:
            raise ConfigurationError(
                "source_authentication_class",
                "found no credentials to call sts:AssumeRole with",
                owner=type(self).__name__,
            )
        extra_args: dict[str, Any] = {
            "RoleSessionName": self.role_session_name,
            "DurationSeconds": self.duration_seconds,
        }
        if self.external_id:
            extra_args["ExternalId"] = self.external_id

        def client_creator(service_name: str, **kwargs: Any) -> Any:
            create: Any = source.create_client  # typed per service literal; ours is a str
            return create(service_name, region_name=region, **kwargs)

        fetcher = AioAssumeRoleCredentialFetcher(
            client_creator, source_credentials, self.role_arn, extra_args=extra_args
        )
        session = AioSession()
        session.register_component(
            "credential_provider", AioCredentialResolver([_AssumedRoleProvider(fetcher)])
        )
        return session


def check_not_legacy(auth: AWSSpawnerAuthentication) -> None:
    """Refuse the pre-1.0 ``get_session(region)`` hook with a message that says what to do.

    That hook returned a boto3 Session, whose every call blocks the hub's event loop; it
    cannot be wrapped safely, so a subclass that still defines it fails when built.
    """
    for klass in type(auth).__mro__:
        if "get_session" in vars(klass):
            raise ConfigurationError(
                "authentication_class",
                f"{klass.__module__}.{klass.__qualname__} overrides get_session(region), which "
                "returned a blocking boto3 Session and is no longer called. Rename it to "
                "`async def create_session(self, region)` returning an "
                "aiobotocore.session.AioSession (for fixed keys: session = AioSession(); "
                "session.set_credentials(key_id, secret)), or use one of "
                "awsspawner.AWSSpawnerAuthentication, "
                "awsspawner.AWSSpawnerSecretAccessKeyAuthentication, "
                "awsspawner.AWSSpawnerAssumeRoleAuthentication.",
            )
