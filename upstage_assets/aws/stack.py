"""Create, update or delete the deployment's CloudFormation stack through change sets.

A change set is what makes a changed setting visible: CloudFormation compares the new template
and parameters with the stack's and says, per resource, Add / Modify (with replacement) /
Remove; an unchanged deployment yields no change set at all. ``plan_only`` shows the changes
and deletes the change set without executing it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from upstage_assets.aws.stack_template import CAPABILITIES, render

NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


@dataclass(frozen=True)
class ResourceChange:
    """One line of a change set."""

    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    replacement: str = ""

    def __str__(self) -> str:
        replaced = " (replaced)" if self.replacement == "True" else ""
        return f"{self.action:<7} {self.resource_type:<34} {self.logical_id}{replaced}"


@dataclass(frozen=True)
class StackResult:
    stack_name: str
    kind: str  # CREATE | UPDATE | NONE
    changes: tuple[ResourceChange, ...]
    executed: bool


class StackError(RuntimeError):
    """CloudFormation refused the template or a deployment ended in a failed state."""


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def stack_status(cloudformation: Any, name: str) -> str | None:
    """The stack's status, or None when there is no such stack (or only a deleted one)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as err:
        if _code(err) == "ValidationError" and "does not exist" in str(err):
            return None
        raise
    status = str(stacks[0]["StackStatus"]) if stacks else None
    return None if status in (None, "DELETE_COMPLETE") else status


def _wait(cloudformation: Any, waiter: str, **kwargs: Any) -> None:
    try:
        cloudformation.get_waiter(waiter).wait(WaiterConfig={"Delay": 2, "MaxAttempts": 900}, **kwargs)
    except WaiterError as err:
        raise StackError(f"{waiter}: {err.last_response.get('StatusReason') or err}") from None


def _changes(description: dict[str, Any]) -> tuple[ResourceChange, ...]:
    found = []
    for change in description.get("Changes", []):
        resource = change.get("ResourceChange", {})
        found.append(ResourceChange(str(resource.get("Action", "")), str(resource.get("LogicalResourceId", "")),
                                    str(resource.get("ResourceType", "")), str(resource.get("Replacement", ""))))
    return tuple(sorted(found, key=lambda c: (c.action, c.logical_id)))


def deploy(cloudformation: Any, name: str, template: dict[str, Any], parameters: dict[str, str],
           tags: list[dict[str, str]], *, plan_only: bool = False) -> StackResult:
    """Bring the stack to ``template``: a CREATE or UPDATE change set, shown, then executed."""
    status = stack_status(cloudformation, name)
    if status == "REVIEW_IN_PROGRESS":  # a change set was created but never executed: start over
        cloudformation.delete_stack(StackName=name)
        status = None
    if status is not None and status.endswith("_IN_PROGRESS"):
        raise StackError(f"stack {name} is busy ({status}); wait for it to settle and run again")
    if status == "ROLLBACK_COMPLETE":
        raise StackError(f"stack {name} failed to create (ROLLBACK_COMPLETE): run `upstage-assets aws teardown` "
                         "and bootstrap again")
    kind = "CREATE" if status is None else "UPDATE"
    change_set_name = f"upstage-assets-{int(time.time())}"
    try:
        created = cloudformation.create_change_set(
            StackName=name, ChangeSetName=change_set_name, ChangeSetType=kind, TemplateBody=render(template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())],
            Capabilities=CAPABILITIES, Tags=tags)
    except ClientError as err:
        raise StackError(f"CloudFormation refused the change set: {err}") from None
    change_set_id = created["Id"]
    description = cloudformation.describe_change_set(ChangeSetName=change_set_id, StackName=name)
    if description.get("Status") != "CREATE_COMPLETE":
        try:
            _wait(cloudformation, "change_set_create_complete", ChangeSetName=change_set_id, StackName=name)
        except StackError:
            description = cloudformation.describe_change_set(ChangeSetName=change_set_id, StackName=name)
            reason = str(description.get("StatusReason", ""))
            if any(marker in reason for marker in NO_CHANGES):
                cloudformation.delete_change_set(ChangeSetName=change_set_id, StackName=name)
                return StackResult(name, "NONE", (), False)
            raise StackError(f"change set failed: {reason}") from None
        description = cloudformation.describe_change_set(ChangeSetName=change_set_id, StackName=name)
    changes = _changes(description)
    if kind == "UPDATE" and not changes:
        cloudformation.delete_change_set(ChangeSetName=change_set_id, StackName=name)
        return StackResult(name, "NONE", (), False)
    if plan_only:
        cloudformation.delete_change_set(ChangeSetName=change_set_id, StackName=name)
        if kind == "CREATE":  # the empty stack a CREATE change set leaves behind (REVIEW_IN_PROGRESS)
            cloudformation.delete_stack(StackName=name)
        return StackResult(name, kind, changes, False)
    cloudformation.execute_change_set(ChangeSetName=change_set_id, StackName=name)
    _wait(cloudformation, "stack_create_complete" if kind == "CREATE" else "stack_update_complete",
          StackName=name)
    return StackResult(name, kind, changes, True)


def teardown(cloudformation: Any, name: str) -> bool:
    """Delete the stack (retained resources stay); False when there was none."""
    if stack_status(cloudformation, name) is None:
        return False
    cloudformation.delete_stack(StackName=name)
    _wait(cloudformation, "stack_delete_complete", StackName=name)
    return True
