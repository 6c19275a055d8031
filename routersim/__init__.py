"""routersim: a RouterOS API server backed by a simulated hotspot/PPPoE world.

Agents and tests reach it through librouteros over TCP exactly as they reach a MikroTik
router. ``SimRouter`` is one router, ``SimFleet`` many in one process; the CLI
``ispfleet-routersim`` runs a fleet for demos.
"""

from routersim.errors import ControlError, LoginRefused, RouterSimError, Trap
from routersim.fleet import SimFleet
from routersim.router import SimRouter

__all__ = ["ControlError", "LoginRefused", "RouterSimError", "SimFleet", "SimRouter", "Trap"]
