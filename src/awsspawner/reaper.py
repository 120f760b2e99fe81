"""``python -m awsspawner.reaper``: the orphan reaper, at the path its users run it by.

The code is in :mod:`awsspawner.tools.reaper`; this module keeps the documented command and
the old import path working.
"""

import sys

from .tools.reaper import (  # noqa: F401 - re-exported
    REQUIRED_SCOPES,
    Decision,
    HubServers,
    HubViewError,
    ScopeError,
    decide,
    main,
    reap_once,
)

if __name__ == "__main__":
    sys.exit(main())
