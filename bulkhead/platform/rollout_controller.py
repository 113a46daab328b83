"""The unattended rollout controller `up` keeps running: `bulkhead rollout watch --forever`,
the operator's process with the operator's registry credentials, never inside a zone
(bulkhead/delivery/controller.py drives the rollouts)."""

from __future__ import annotations

import os

from bulkhead.platform.procs import spawn
from bulkhead.platform.service import Context, Service
from bulkhead.platform.services import venv_bin
from bulkhead.platform.state import ROLLOUT_CONTROLLER


class RolloutControllerService(Service):
    name = "rollout controller"
    key = ROLLOUT_CONTROLLER

    def title(self, ctx: Context) -> str:
        return "rollout controller (`bulkhead rollout watch --forever`, as the operator)"

    def start(self, ctx: Context) -> None:
        record = spawn(
            [str(venv_bin() / "bulkhead"), "rollout", "watch", "--forever"],
            # The operator's environment (its BULKHEAD_* settings) with the home made
            # absolute: the process runs from inside it.
            env={
                **os.environ,
                "BULKHEAD_HOME": str(ctx.paths.home.resolve()),
                "PYTHONUNBUFFERED": "1",
            },
            log=ctx.paths.log_file("rollout-controller"),
            cwd=ctx.paths.home,
        )
        self.keep(ctx, record)
