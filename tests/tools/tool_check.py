"""What the checks against real Python tools (tests/tools/*_test.py) share: importing the tool
or skipping visibly, and reporting differences.

CTest runs each check with SKIP_RETURN_CODE 77 where the tool may be missing (build/, the system
Python); where the build's Python is the virtual environment of launch/install.sh --torch2, CMake
passes --require and a missing or wrong tool is a failure instead (tests/tools/CMakeLists.txt).
"""

import importlib
import sys

SKIP = 77
INSTALL_HINT = ("install the pinned tools: .venv-torch2/bin/pip install -r "
                "launch/torch2-requirements.txt")


def import_tool(module, version_prefix, required):
    """Returns the imported `module` whose __version__ starts with `version_prefix`, or exits:
    1 when `required`, else SKIP (77), saying why either way."""
    reason = None
    try:
        tool = importlib.import_module(module)
        version = getattr(tool, "__version__", "")
        if not version.startswith(version_prefix):
            reason = f"{module} {version} is installed, the check needs {version_prefix}x"
    except ImportError as error:
        reason = f"cannot import {module} ({error})"
    if reason is None:
        print(f"{module} {tool.__version__} from {tool.__file__} ({sys.executable})")
        return tool
    if required:
        print(f"FAILED: {reason} with {sys.executable}, which this build requires to have it; "
              f"{INSTALL_HINT}", file=sys.stderr)
        sys.exit(1)
    print(f"SKIPPED: {reason} with {sys.executable}; the check runs in build-torch2/ "
          f"(launch/install.sh --torch2), or {INSTALL_HINT} and configure with "
          "-DFATHOM_PYTHON=.venv-torch2/bin/python")
    sys.exit(SKIP)


class Checker:
    """Counts checks and prints each difference; exit_code() is 1 when any differed."""

    def __init__(self):
        self.checked = 0
        self.failed = 0

    def equal(self, what, ours, theirs):
        self.checked += 1
        if ours != theirs:
            self.failed += 1
            print(f"DIFFERENT {what}:\n  fathom: {ours!r}\n  tool:   {theirs!r}")
        return ours == theirs

    def true(self, what, condition, detail=""):
        self.checked += 1
        if not condition:
            self.failed += 1
            print(f"FAILED {what} {detail}")
        return condition

    def exit_code(self):
        print(f"{self.checked} checks, {self.failed} failed")
        return 1 if self.failed or not self.checked else 0
