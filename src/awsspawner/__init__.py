"""awsspawner: a JupyterHub spawner that runs each user's notebook server as an ECS task."""

from .auth import (
    AWSSpawnerAssumeRoleAuthentication,
    AWSSpawnerAuthentication,
    AWSSpawnerSecretAccessKeyAuthentication,
)
from .clients import close_shared_clients
from .errors import AWSSpawnerError, ConfigurationError, ECSError, RunTaskFailedError
from .spawner import AWSSpawner

__version__ = "1.0.0.dev0"

__all__ = [
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
