"""The test suite's settings: the app's own, with the development defaults
that `make run` sets (DEBUG=true: unhashed static files, no secure cookies)
unless the environment says otherwise.

Set in the environment rather than here, so every process a test starts
(daphne, qcluster, manage.py) inherits the same defaults. Tests of production
behaviour set DEBUG=false themselves.
"""

import os

os.environ.setdefault("DEBUG", "true")

from interviewer.settings import *  # noqa: E402,F401,F403
