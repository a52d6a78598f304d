"""For tests that grade in the sandbox: import `sandbox_here` into the test module (an autouse
fixture). They skip only where bubblewrap cannot exist here (not root, so nothing can install
it); as root (CI) a missing sandbox fails them, because .ci/run installs bubblewrap."""
import os

import pytest

from helpers.teaching.sandbox import sandbox_problem

PROBLEM = sandbox_problem()


@pytest.fixture(autouse=True)
def sandbox_here():
    if PROBLEM and os.geteuid() == 0:
        pytest.fail(f"{PROBLEM}; .ci/run installs bubblewrap on a fresh machine")
    if PROBLEM:
        pytest.skip(f"{PROBLEM} (not root here, so it cannot be installed by the tests)")
