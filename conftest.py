"""Root conftest: import the packages under test before any test module.

Test folders mirror the packages (``tests/verinet``, ``tests/intervals``); importing the real
packages first means such a folder on ``sys.path`` can never shadow them as a namespace package.
"""

import intervals  # noqa: F401
import verinet  # noqa: F401
