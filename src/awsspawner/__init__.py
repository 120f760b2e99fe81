"""awsspawner: a JupyterHub spawner that runs each user's notebook server as an ECS task."""

from .aws import redaction
from .aws.auth import (
    AWSSpawnerAssumeRoleAuthentication,
    AWSSpawnerAuthentication,
    AWSSpawnerSecretAccessKeyAuthentication,
)
from .aws.clients import close_shared_clients
from .errors import AWSError, AWSSpawnerError, ConfigurationError, ECSError, RunTaskFailedError
from .spawner import AWSSpawner

__version__ = "1.0.0.dev0"

# Before any client exists: botocore logs request parameters (the server's API token among
# them) at DEBUG. See awsspawner.aws.redaction.
redaction.install()

__all__ = [
    "AWSError",
    "AWSSpawner",
    "AWSSpawnerAssumeRoleAuthentication",
    "AWSSpawnerAuthentication",
    "AWSSpawnerError",
    "AWSSpawnerSecretAccessKeyAuthentication",
    "ConfigurationError",
    "ECSError",
    "RunTaskFailedError",
    "__version__",
    "close_shared_clients",
]
