"""Checks of IAM: the task and execution roles, and the hub role's permissions."""

from __future__ import annotations

from typing import Any

from ...errors import AWSError
from ...launch.spawn_settings import SpawnSettings
from ...launch.token_file import FROM_S3
from .report import FAIL, OK, WARN, Check, Findings, code_of

__all__ = ["IamChecks"]


class IamChecks(Findings):
    """Checks of IAM: the task and execution roles, and the hub role's permissions."""

    # --------------------------------------------------------------------------- roles

    async def _roles(
        self, profile: str, settings: SpawnSettings, description: dict[str, Any] | None
    ) -> None:
        roles = []
        task_role = settings.task_role_arn
        if callable(task_role) or (isinstance(task_role, str) and "{" in task_role):
            self.add(
                Check(
                    WARN,
                    "task role",
                    "one per user (a template or a function): each is checked at its user's spawn",
                    profile=profile,
                )
            )
        elif task_role:
            roles.append(("task role", task_role, "task_role_arn"))
        execution = settings.execution_role_arn or (description or {}).get("executionRoleArn")
        if execution:
            roles.append(("execution role", execution, "execution_role_arn"))
        elif settings.secrets or settings.api_token_source == FROM_S3:
            self.add(
                Check(
                    FAIL,
                    "execution role",
                    "none, and secrets or token files need one",
                    "set it",
                    "execution_role_arn",
                    profile,
                )
            )
        for what, arn, key in roles:
            name = arn.rsplit("/", 1)[-1]
            try:
                await self.call("iam", settings.aws_region, "GetRole", RoleName=name)
            except AWSError as exc:
                self.add(
                    Check(
                        FAIL,
                        what,
                        f"{arn}: {code_of(exc)}",
                        "create it, or fix the ARN",
                        key,
                        profile,
                    )
                )
            else:
                self.add(Check(OK, what, f"{arn} exists", profile=profile))

    @property
    def _context(self) -> list[dict[str, Any]]:
        """The condition keys the hub's calls carry (docs/iam.md conditions on them)."""
        entries = []
        if self._cluster_arns:
            entries.append(
                {
                    "ContextKeyName": "ecs:cluster",
                    "ContextKeyValues": sorted(self._cluster_arns),
                    "ContextKeyType": "stringList",
                }
            )
        entries.append(
            {
                "ContextKeyName": "ecs:CreateAction",
                "ContextKeyValues": ["RunTask"],
                "ContextKeyType": "string",
            }
        )
        entries.append(
            {
                "ContextKeyName": "iam:PassedToService",
                "ContextKeyValues": ["ecs-tasks.amazonaws.com"],
                "ContextKeyType": "string",
            }
        )
        return entries

    async def _hub_role(self, region: str) -> None:
        if not self.hub_role_arn:
            self.add(
                Check(
                    WARN,
                    "hub permissions",
                    "not checked",
                    "pass --hub-role-arn ROLE to simulate the hub role's policies",
                )
            )
            return
        actions = [
            "ecs:RunTask",
            "ecs:DescribeTasks",
            "ecs:StopTask",
            "ecs:ListTasks",
            "ecs:DescribeTaskDefinition",
            "ecs:TagResource",
            "iam:PassRole",
        ]
        try:
            answer = await self.call(
                "iam",
                region,
                "SimulatePrincipalPolicy",
                PolicySourceArn=self.hub_role_arn,
                ActionNames=actions,
                ContextEntries=self._context,
            )
        except Exception as exc:  # moto answers 500 here; any failure only means: not checked
            self.add(
                Check(
                    WARN,
                    "hub permissions",
                    f"simulation not possible ({code_of(exc)})",
                    "allow iam:SimulatePrincipalPolicy, or check docs/iam.md by hand",
                )
            )
            return
        denied = [
            r["EvalActionName"]
            for r in answer.get("EvaluationResults") or []
            if r.get("EvalDecision") != "allowed"
        ]
        if denied:
            self.add(
                Check(
                    FAIL,
                    "hub permissions",
                    f"{self.hub_role_arn} may not {', '.join(denied)}",
                    "see the IAM page of the docs",
                )
            )
        else:
            self.add(Check(OK, "hub permissions", f"{self.hub_role_arn} may make every call"))
