"""Checks of what spawns read: EFS homes, the token bucket, the administrators' secrets."""

from __future__ import annotations

from ...errors import AWSError
from ...launch.secrets import ssm_parameter_name
from ...launch.spawn_settings import SpawnSettings
from ...launch.token_file import FROM_S3
from .report import FAIL, OK, Check, Findings, code_of

__all__ = ["StorageChecks"]


class StorageChecks(Findings):
    """Checks of what spawns read: EFS homes, the token bucket, the administrators' secrets."""

    # ------------------------------------------------------------------------ storage

    async def _storage(self, profile: str, settings: SpawnSettings) -> None:
        region = settings.aws_region
        if settings.efs_file_system_id:
            fs = settings.efs_file_system_id.rsplit("/", 1)[-1]
            try:
                await self.call("efs", region, "DescribeFileSystems", FileSystemId=fs)
                targets = await self.call("efs", region, "DescribeMountTargets", FileSystemId=fs)
            except AWSError as exc:
                self.add(
                    Check(
                        FAIL,
                        "EFS homes",
                        f"{fs}: {code_of(exc)}",
                        "name an existing file system",
                        "efs_file_system_id",
                        profile,
                    )
                )
            else:
                # A mount target serves its zone, in its VPC.
                zones = {
                    f"{t.get('AvailabilityZoneName')} of {t.get('VpcId')}"
                    for t in targets.get("MountTargets") or []
                }
                subnet_zones = set()
                if settings.task_subnets:
                    answer = await self.call(
                        "ec2", region, "DescribeSubnets", SubnetIds=list(settings.task_subnets)
                    )
                    subnet_zones = {
                        f"{s['AvailabilityZone']} of {s['VpcId']}"
                        for s in answer.get("Subnets") or []
                    }
                missing = sorted(subnet_zones - zones)
                if missing:
                    self.add(
                        Check(
                            FAIL,
                            "EFS mount targets",
                            f"{fs} has none in {', '.join(missing)}, where task_subnets are",
                            "create a mount target in each subnet's zone",
                            "efs_file_system_id",
                            profile,
                        )
                    )
                else:
                    self.add(
                        Check(
                            OK,
                            "EFS homes",
                            f"{fs} reachable from every subnet's zone",
                            profile=profile,
                        )
                    )
        if settings.api_token_source == FROM_S3:
            try:
                await self.call("s3", region, "HeadBucket", Bucket=settings.api_token_bucket)
            except AWSError as exc:
                self.add(
                    Check(
                        FAIL,
                        "token bucket",
                        f"{settings.api_token_bucket}: {code_of(exc)}",
                        "create it, or name yours",
                        "api_token_bucket",
                        profile,
                    )
                )
            else:
                self.add(Check(OK, "token bucket", settings.api_token_bucket, profile=profile))
        for name, arn in sorted(settings.secrets.items()):
            await self._secret(profile, name, arn)

    async def _secret(self, profile: str, name: str, arn: str) -> None:
        """One secret exists and is not scheduled for deletion: its metadata only, in the
        ARN's own region (ECS takes ARNs of other regions)."""
        region = arn.split(":")[3]
        try:
            if ":secretsmanager:" in arn:
                answer = await self.call(
                    "secretsmanager",
                    region,
                    "DescribeSecret",
                    SecretId=":".join(arn.split(":")[:7]),
                )
                if answer.get("DeletedDate"):
                    raise AWSError("scheduled for deletion", operation="DescribeSecret",
                                   code="ScheduledForDeletion")  # fmt: skip
            else:
                found = await self.pages(
                    "ssm", region, "DescribeParameters", "Parameters", "NextToken",
                    ParameterFilters=[{"Key": "Name", "Values": [ssm_parameter_name(arn)]}],
                )  # fmt: skip
                if not found:
                    raise AWSError("no such parameter", operation="DescribeParameters",
                                   code="ParameterNotFound")  # fmt: skip
        except AWSError as exc:
            self.add(Check(FAIL, "secret", f"{name}: {arn}: {code_of(exc)}",
                           "create it, or fix the ARN", "secrets", profile))  # fmt: skip
        else:
            self.add(Check(OK, "secret", f"{name} exists", profile=profile))
