"""A real controller in its own process, stopped once mid-tick until told to go on (fencing tests).

``python -m tests.lifecycle.gated_controller`` with ``SHIPYARD_HOME`` (and maybe
``SHIPYARD_DATABASE_URL``) set. The first rollout tick prints ``MID-TICK`` and waits for a line on
stdin before it decides: the test freezes the process there (SIGSTOP), lets another controller take
over, resumes it and checks that what it then writes is refused.
"""

from __future__ import annotations

import logging
import sys
import threading

from shipyard.app import build
from shipyard.core.config import Settings
from shipyard.lifecycle.controller import Controller
from shipyard.lifecycle.service import RolloutService
from shipyard.registry.deployments import RolloutRecord

TICK_S = 0.1
LEASE_TTL_S = 1.0


class GatedRollouts(RolloutService):
    gate_open = False

    def tick(
        self, record: RolloutRecord, now: float | None = None, *, actor: str = "controller"
    ) -> RolloutRecord:
        if not self.gate_open:
            self.gate_open = True
            print("MID-TICK", record.id, record.status, flush=True)
            sys.stdin.readline()
        return super().tick(record, now, actor=actor)


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    s = build(Settings())
    rollouts = GatedRollouts(
        s.registry, s.deployments, s.rollouts.store, s.logs, governance=s.governance
    )
    controller = Controller(rollouts, s.leases, tick=TICK_S, lease_ttl=LEASE_TTL_S)
    print("HOLDER", controller.holder, flush=True)
    controller.start()
    threading.Event().wait()  # until killed


if __name__ == "__main__":
    main()
