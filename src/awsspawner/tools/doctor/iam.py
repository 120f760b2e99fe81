"""Checks of IAM: the task and execution roles, and the hub role's permissions."""

from __future__ import annotations

from collections.abc import Sequence
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

    def _simulated_calls(
        self, targets: Sequence[tuple[str, SpawnSettings]]
    ) -> list[tuple[str, str]]:
        """(action, resource ARN) for each call the hub makes, on the resources it makes them
        on: docs/iam.md's policy limits RunTask, StopTask and iam:PassRole by resource, and a
        simulation against "*" would find them denied."""
        calls: set[tuple[str, str]] = {("ecs:DescribeTaskDefinition", "*")}
        for arn in self._cluster_arns:
            if not arn:
                continue
            prefix, _, name = arn.partition(":cluster/")
            task = f"{prefix}:task/{name}/0123456789abcdef0123456789abcdef"
            calls |= {
                ("ecs:DescribeTasks", task),
                ("ecs:StopTask", task),
                ("ecs:TagResource", task),
                ("ecs:ListTasks", f"{prefix}:container-instance/{name}/*"),
            }
        for arn in self._revision_tags:  # every revision the profiles run
            calls.add(("ecs:RunTask", arn))
        for _, settings in targets:
            for role in (settings.task_role_arn, settings.execution_role_arn):
                if isinstance(role, str) and role and "{" not in role:
                    calls.add(("iam:PassRole", role))
        return sorted(calls)

    async def _hub_role(self, region: str, targets: Sequence[tuple[str, SpawnSettings]]) -> None:
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
        denied, unsure = [], []
        for action, resource in self._simulated_calls(targets):
            try:
                answer = await self.call(
                    "iam",
                    region,
                    "SimulatePrincipalPolicy",
                    PolicySourceArn=self.hub_role_arn,
                    ActionNames=[action],
                    ResourceArns=[resource],
                    ContextEntries=self._context,
                )
            except Exception as exc:
                self.add(
                    Check(
                        WARN,
                        "hub permissions",
                        f"simulation not possible ({code_of(exc)})",
                        "allow iam:SimulatePrincipalPolicy, or check docs/iam.md by hand",
                    )
                )
                return
            for result in answer.get("EvaluationResults") or []:
                if result.get("EvalDecision") != "allowed":
                    denied.append(f"{action} on {resource}")
                elif result.get("MissingContextValues"):
                    unsure.append(f"{action} ({', '.join(result['MissingContextValues'])})")
        if denied:
            self.add(
                Check(
                    FAIL,
                    "hub permissions",
                    f"{self.hub_role_arn} may not {'; '.join(denied)}",
                    "see the IAM page of the docs",
                )
            )
        elif unsure:
            self.add(
                Check(WARN, "hub permissions", "allowed, but the simulation lacked context "
                      f"values for {'; '.join(unsure)}", "compare with docs/iam.md")
            )  # fmt: skip
        else:
            self.add(Check(OK, "hub permissions", f"{self.hub_role_arn} may make every call"))
