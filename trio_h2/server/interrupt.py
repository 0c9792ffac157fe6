"""Ctrl-C and the server's own code: a KeyboardInterrupt only at a checkpoint.

trio raises KeyboardInterrupt from its signal handler at whatever bytecode is
running, unless that code is marked as protected.  Landing between the creation of a
nursery's ``__aexit__`` coroutine and its first step, it leaves the nursery open
under a task that has gone, and trio reports its own state corrupted.  So every task
the server starts begins in a function marked ``protected``: a Ctrl-C that arrives
while such code runs is held back and delivered to the program's main task at its
next checkpoint, where it is an ordinary error that cancels ``serve()``, and
``serve()`` shuts down gracefully as it does on any cancellation.

The application's own code is left as trio leaves any code: ``call_handler`` drops
the protection again, so that Ctrl-C still stops a handler that never checkpoints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVarTuple

import trio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

_Ts = TypeVarTuple("_Ts")

protected = trio.lowlevel.enable_ki_protection


@trio.lowlevel.disable_ki_protection
async def call_handler(handler: Callable[[*_Ts], Awaitable[object]], *args: *_Ts) -> None:
    """``await handler(*args)`` as unprotected code, whatever called it."""
    await handler(*args)
