"""EFS access points as EFS makes them, where moto does not.

moto's CreateAccessPoint makes a new access point for every call, for any file system id, with
any path and tags. Real EFS (the API reference's CreateAccessPoint and its errors):

* ``ClientToken`` makes creation idempotent: a second request with a token already used
  answers HTTP 409 ``AccessPointAlreadyExists`` whose body carries the ``AccessPointId``;
* the file system must exist (404 ``FileSystemNotFound``);
* ``RootDirectory.Path``: at most 100 characters and 4 components, none starting with ``.``,
  none holding any of ``$#<>;`|&?{}^*`` (botocore's ``Path`` pattern, which its validator does
  not check); otherwise 400 ``BadRequest``;
* at most 10,000 access points per file system (403 ``AccessPointLimitExceeded``; the limit is
  a knob, ``POST /_emulator/efs {"accessPointLimit": N}``, so a test need not make 10,000);
* tag keys never start with ``aws:``; keys and values use EFS's characters;
* a new access point is ``creating`` in CreateAccessPoint's answer and ``available`` after.

Requests are also checked against botocore's input shape (strict mode's first rule).
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.efs import models as efs_models
from moto.efs import responses as efs_responses

from .strict import SWITCH, StrictError, validate_shape

__all__ = ["EFS_STATE", "install"]

MAX_ACCESS_POINTS = 10_000
_PATH = re.compile(r"^(\/|(\/(?!\.)+[^$#<>;`|&?{}^*/\n]+){1,4})$")
_TAG_KEY = re.compile(r"^(?![aA][wW][sS]:)([\w\s.:/=+\-@]+)$")
_TAG_VALUE = re.compile(r"^([\w\s.:/=+\-@]*)$")


class EFSState:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.access_point_limit = MAX_ACCESS_POINTS

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        if "accessPointLimit" in body:
            self.access_point_limit = int(body["accessPointLimit"])
        return {"accessPointLimit": self.access_point_limit}


EFS_STATE = EFSState()


class EFSAnswer(JsonRESTError):
    """An EFS error answer; EFS's modeled errors carry ``ErrorCode`` and their own fields."""

    def __init__(self, status: int, code: str, message: str, **fields: Any) -> None:
        self.code = status
        super().__init__(code, message)
        self.description = json.dumps(
            {"__type": code, "ErrorCode": code, "Message": message, **fields}
        )


def _check_request(backend: Any, params: dict[str, Any]) -> None:
    if SWITCH.enabled:
        try:
            validate_shape("efs", "CreateAccessPoint", params)
        except StrictError as exc:
            raise EFSAnswer(400, "BadRequest", exc.message) from None
    file_system_id = str(params.get("FileSystemId", "")).rsplit("/", 1)[-1]
    if file_system_id not in backend.file_systems_by_id:
        raise EFSAnswer(
            404, "FileSystemNotFound", f"File system '{file_system_id}' does not exist."
        )
    path = (params.get("RootDirectory") or {}).get("Path", "/")
    if len(path) > 100 or not _PATH.match(path):
        raise EFSAnswer(
            400,
            "BadRequest",
            f"1 validation error detected: Value '{path}' at 'rootDirectory.path' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern",
        )
    for tag in params.get("Tags") or []:
        key, value = str(tag.get("Key", "")), str(tag.get("Value", ""))
        if not 1 <= len(key) <= 128 or not _TAG_KEY.match(key):
            raise EFSAnswer(400, "ValidationException", f"Invalid tag key {key!r}")
        if len(value) > 256 or not _TAG_VALUE.match(value):
            raise EFSAnswer(400, "ValidationException", f"Invalid tag value for key {key!r}")


def create_access_point(self: Any) -> Any:
    params = json.loads(self.body or "{}")
    backend = self.efs_backend
    # Raised, not returned: moto answers an HTTPException with its own status code.
    _check_request(backend, params)
    token = str(params.get("ClientToken", ""))
    for existing in backend.access_points.values():
        if existing.client_token == token:
            raise EFSAnswer(
                409,
                "AccessPointAlreadyExists",
                f"Access point with token {token} already exists.",
                AccessPointId=existing.access_point_id,
            )
    file_system_id = str(params["FileSystemId"]).rsplit("/", 1)[-1]
    count = sum(1 for a in backend.access_points.values() if a.file_system_id == file_system_id)
    if count >= EFS_STATE.access_point_limit:
        raise EFSAnswer(
            403,
            "AccessPointLimitExceeded",
            f"You have reached the maximum number of access points "
            f"({EFS_STATE.access_point_limit}) for file system {file_system_id}.",
        )
    access_point = backend.create_access_point(
        token,
        tags=params.get("Tags") or [],
        file_system_id=file_system_id,
        posix_user=params.get("PosixUser"),
        root_directory=params.get("RootDirectory"),
    )
    answer = access_point.info_json()
    answer["LifeCycleState"] = "creating"  # available by the next DescribeAccessPoints
    return 200, {"Content-Type": "application/json"}, json.dumps(answer)


def install() -> None:
    """Patch moto's EFS CreateAccessPoint (idempotent)."""
    response = efs_responses.EFSResponse
    if getattr(response, "_emulator_installed", False):
        return
    if not callable(getattr(efs_models.EFSBackend, "create_access_point", None)):
        raise RuntimeError("moto's EFSBackend.create_access_point is gone")
    response.create_access_point = create_access_point
    response._emulator_installed = True
