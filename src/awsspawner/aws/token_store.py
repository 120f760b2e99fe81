"""Writing and deleting servers' token files in S3 (``api_token_source = 's3'``).

Every call goes through :func:`awsspawner.errors.aws_call`, so a failure is an
:class:`~awsspawner.errors.AWSError` whose message names the operation and the bucket, never
the file's text. botocore logs the PutObject body at DEBUG: the redacting filter
(:mod:`awsspawner.aws.redaction`) hides the token variables' values there.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import AWSError, aws_call
from ..launch.token_file import TokenFile

__all__ = ["TokenStore"]

log = logging.getLogger(__name__)


class TokenStore:
    """Puts and deletes token files with the hub's shared S3 client."""

    def __init__(self, client: Callable[[], Awaitable[Any]], kms_key_id: str = "") -> None:
        self._client = client
        self.kms_key_id = kms_key_id

    async def put(self, file: TokenFile, text: str) -> None:
        """Write (or overwrite) ``file`` with ``text``, encrypted with SSE-KMS."""
        client = await aws_call("PutObject", self._client())
        params: dict[str, Any] = {
            "Bucket": file.bucket,
            "Key": file.key,
            "Body": text.encode(),
            "ContentType": "text/plain",
            "ServerSideEncryption": "aws:kms",
        }
        if self.kms_key_id:
            params["SSEKMSKeyId"] = self.kms_key_id
        await aws_call("PutObject", client.put_object(**params))

    async def delete(self, file: TokenFile) -> bool:
        """Delete ``file`` (deleting a missing object is no error in S3). False, logged,
        when AWS refused or did not answer: the reaper deletes what is left behind."""
        try:
            client = await aws_call("DeleteObject", self._client())
            await aws_call("DeleteObject", client.delete_object(Bucket=file.bucket, Key=file.key))
        except AWSError as exc:
            log.warning("Could not delete the token file s3://%s: %s", file.ref, exc)
            return False
        return True
