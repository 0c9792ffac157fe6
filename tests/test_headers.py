"""Header helpers: the date header's format, and what importing the package costs."""

from __future__ import annotations

import subprocess
import sys
from email.utils import formatdate

import pytest

from trio_h2._headers import DateCache, http_date


@pytest.mark.parametrize(
    "seconds", [0, 784_111_777, 951_782_400, 1_700_000_000.75, 2_000_000_000, 4_102_444_799]
)
def test_http_date_is_the_imf_fixdate_email_utils_gives(seconds: float) -> None:
    assert http_date(seconds) == formatdate(seconds, usegmt=True)


def test_date_cache_gives_the_current_second() -> None:
    value = DateCache().now().decode("ascii")
    assert value.endswith(" GMT")
    assert len(value) == len("Sun, 06 Nov 1994 08:49:37 GMT")


def test_importing_the_server_leaves_heavy_modules_unloaded() -> None:
    # Every server process pays for what the package imports: these are needed
    # only for static files and are imported there, when used.
    code = (
        "import sys, trio_h2; "
        "print(sorted(m for m in ('email', 'mimetypes', 'html') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
