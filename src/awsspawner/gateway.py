"""Old import path of :class:`awsspawner.aws.gateway.ECSGateway` (kept for hooks and tests
written against ``awsspawner.gateway``)."""

from .aws.gateway import ECSGateway, translate_aws_error  # noqa: F401 - re-exported
