"""Old import path of :mod:`awsspawner.aws.auth`, for authentication subclasses written
against ``awsspawner.auth`` (configuration names them as ``awsspawner.<ClassName>``)."""

from .aws.auth import (
    AWSSpawnerAssumeRoleAuthentication,
    AWSSpawnerAuthentication,
    AWSSpawnerSecretAccessKeyAuthentication,
)

__all__ = [
    "AWSSpawnerAssumeRoleAuthentication",
    "AWSSpawnerAuthentication",
    "AWSSpawnerSecretAccessKeyAuthentication",
]
