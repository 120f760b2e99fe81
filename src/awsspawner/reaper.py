"""``python -m awsspawner.reaper``: the orphan reaper, at the path its users run it by.

The code is in :mod:`awsspawner.tools.reaper` (and its rules in
:mod:`awsspawner.tools.orphans`); this module keeps the documented command and the old import
path working.
"""

import sys

from .tools.orphans import Decision, HubServers, decide
from .tools.reaper import (
    REQUIRED_SCOPES,
    HubAPI,
    HubViewError,
    ScopeError,
    confirm_stop,
    main,
    reap_once,
)

__all__ = [
    "REQUIRED_SCOPES",
    "Decision",
    "HubAPI",
    "HubServers",
    "HubViewError",
    "ScopeError",
    "confirm_stop",
    "decide",
    "main",
    "reap_once",
]

if __name__ == "__main__":
    sys.exit(main())
