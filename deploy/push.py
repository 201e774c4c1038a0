"""`make deploy`: publish the repository to the bucket, then point the environment at the new object versions.

Order matters: the S3 sync runs first (MWAA never sees a requirements.txt whose constraint file is not there yet), and
`update-environment` is called only when the environment does not run the current versions yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.environment import environment_changes, get_environment, update_environment
from deploy.sync import Log, Plan, publish


@dataclass
class Summary:
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    bytes_sent: int = 0
    environment_update: dict[str, str] | None = None  # the UpdateEnvironment fields sent, None if no update
    dry_run: bool = False

    @classmethod
    def of(cls, plan: Plan, *, dry_run: bool) -> Summary:
        uploads = plan.uploads()
        return cls(
            uploaded=[key for key, _ in uploads],
            deleted=list(plan.dag_deletes),
            bytes_sent=sum(size for _, size in uploads),
            dry_run=dry_run,
        )

    def render(self) -> str:
        update = "no"
        if self.environment_update:
            fields = sorted(k for k in self.environment_update if k.endswith("ObjectVersion"))
            changed = ", ".join(f"{k}={self.environment_update[k]}" for k in fields)
            update = f"yes ({changed})" if changed else "yes"
        return "\n".join(
            [
                f"Summary{' (dry run: nothing was changed)' if self.dry_run else ''}:",
                f"  files uploaded: {len(self.uploaded)}" + (f" ({', '.join(self.uploaded)})" if self.uploaded else ""),
                f"  files deleted:  {len(self.deleted)}" + (f" ({', '.join(self.deleted)})" if self.deleted else ""),
                f"  bytes sent:     {self.bytes_sent}",
                f"  environment update: {update}",
            ]
        )


def push(
    *,
    repo: Path,
    bucket: str,
    environment: str,
    s3: Any,
    mwaa: Any,
    dry_run: bool = False,
    wait: bool = False,
    timeout: float = 3600,
    poll: float = 30,
    log: Log = print,
    sleep: Callable[[float], None] = time.sleep,
) -> Summary:
    """Run one deploy and return its summary; raises DeployError on anything the user must fix."""
    plan = publish(s3, bucket, repo, log, dry_run=dry_run)
    summary = Summary.of(plan, dry_run=dry_run)
    current = get_environment(mwaa, environment)
    changes = environment_changes(current, plan.artifacts, dry_run=dry_run)
    if not changes:
        return summary
    if dry_run:
        summary.environment_update = {"Name": environment, **changes}
    else:
        summary.environment_update = update_environment(
            mwaa,
            environment,
            current.get("Status"),
            changes,
            wait=wait,
            timeout=timeout,
            poll=poll,
            log=log,
            sleep=sleep,
        )
    return summary
