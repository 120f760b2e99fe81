"""Old import path of :mod:`awsspawner.aws.gateway` (kept for hooks and tests written against
``awsspawner.gateway``)."""

from .aws.gateway import MAX_IDS_PER_CALL, DescribeResult, ECSGateway
from .errors import translate_aws_error

__all__ = ["MAX_IDS_PER_CALL", "DescribeResult", "ECSGateway", "translate_aws_error"]
