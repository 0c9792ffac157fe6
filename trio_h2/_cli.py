"""The command line: ``python -m trio_h2`` serves a directory or a handler.

One process runs one server unless ``--workers N`` asks for several (see
_workers.py).  Either way a server runs inside a signal receiver: the first SIGINT
or SIGTERM cancels ``serve_listeners()``, which is a graceful shutdown (GOAWAY, then
in-flight requests get the grace period), and a second one exits at once.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import logging
import multiprocessing.connection
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import typing
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial

import trio

from . import _cli_config, _listeners, _logging, _reload, _workers
from ._config import Config
from ._errors import single_exception
from ._files import serve_directory
from .server.listen import serve_listeners
from .server.stream import Handler

DEFAULT_PORT = 8080


class UsageError(Exception):
    """A command line that cannot be served; the message says why."""


class StartupError(Exception):
    """The server could not start (the address is taken, say); the message says why."""


@dataclass(frozen=True)
class Options:
    """What to serve and how: the parsed command line (picklable, for workers)."""

    directory: str
    dotfiles: bool
    handler: str | None
    certfile: str | None
    keyfile: str | None
    ca_path: str | None
    workers: int
    grace: float | None
    log_level: str
    #: Where access lines go: "" stderr, "-" stdout, a file name; None for nowhere.
    access_log: str | None
    #: The protocols served: "auto" (HTTP/1.1 and HTTP/2), "1.1" or "2".
    http: str = "auto"
    #: "default", "common", "combined", "json" or a %-style format.
    access_log_format: str = "default"
    #: A dictConfig file (JSON or TOML) that replaces the logging set-up.
    log_config: str | None = None
    #: Config fields from --config FILE and the per-field flags.
    config_changes: tuple[tuple[str, object], ...] = ()
    #: --reload: directories watched for changes to Python files (empty: no reload).
    reload_dirs: tuple[str, ...] = ()
    #: Serve the target as an ASGI application, even if its signature does not say so.
    asgi: bool = False
    #: Call the target (with no arguments) to get what is served.
    factory: bool = False
    #: An ASGI application's mount point (scope["root_path"]).
    root_path: str = ""
    #: Where to listen: --bind, or --host and --port (empty when only fds are served).
    binds: tuple[_listeners.Bind, ...] = ()
    #: Listening sockets inherited: --fd, and systemd's (LISTEN_FDS).
    fds: tuple[int, ...] = ()
    #: Workers open SO_REUSEPORT sockets of their own (else they share the supervisor's).
    reuse_port: bool = True
    #: The mode of the Unix socket files created for --bind unix:PATH.
    unix_mode: int = 0o666

    def config(self) -> Config:
        """The server's Config for these options."""
        changes: dict[str, object] = dict(self.config_changes)
        if self.grace is not None:
            changes["graceful_shutdown_timeout"] = self.grace
        if self.http != "auto":
            changes["http1"] = self.http == "1.1"
            changes["http2"] = self.http == "2"
        return Config(**changes)  # type: ignore[arg-type]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trio_h2",
        description=(
            "Serve a directory, or an async handler, over HTTP/1.1 and HTTP/2 on one port: "
            "cleartext by default (HTTP/2 by prior knowledge), TLS with ALPN (h2, "
            "http/1.1) with --tls or --certfile."
        ),
        epilog=(
            "Examples:\n"
            "  python -m trio_h2                      serve . on http://127.0.0.1:8080\n"
            "  python -m trio_h2 -d public --tls      serve ./public over TLS\n"
            "  python -m trio_h2 myapp:handler -w 4   serve myapp.handler in 4 processes\n"
            "  python -m trio_h2 --asgi myapp:app     serve an ASGI application (FastAPI...)\n"
            "\n"
            "The first Ctrl-C (or SIGTERM) shuts down gracefully; a second one stops at once."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "handler",
        nargs="?",
        metavar="MODULE:HANDLER",
        help=(
            "serve this handler instead of files: an async function taking a "
            "trio_h2.Stream, or an ASGI application (it takes scope, receive, send), "
            "imported from MODULE (the current directory is on the path)"
        ),
    )
    listen = parser.add_argument_group(
        "where to listen (--host/--port unless --bind, --fd or systemd sockets say)"
    )
    listen.add_argument(
        "--host",
        default=None,
        help='address to listen on (default: 127.0.0.1; "" or 0.0.0.0 for every interface)',
    )
    listen.add_argument(
        "--port",
        "-p",
        type=int,
        default=None,
        help=f"port to listen on (default: {DEFAULT_PORT}; 0 picks a free one)",
    )
    listen.add_argument(
        "--bind",
        "-b",
        action="append",
        default=[],
        metavar="ADDRESS",
        help=(
            "listen on HOST:PORT, [IPv6]:PORT, :PORT (every interface) or unix:PATH "
            "(a Unix socket); may be given more than once"
        ),
    )
    listen.add_argument(
        "--fd",
        action="append",
        type=int,
        default=[],
        metavar="N",
        help="serve on the listening socket inherited as file descriptor N (repeatable)",
    )
    listen.add_argument(
        "--unix-socket-mode",
        type=_octal,
        default=0o666,
        metavar="MODE",
        help="file mode of the Unix sockets --bind creates (default: 666)",
    )
    parser.add_argument(
        "--directory",
        "-d",
        default=None,
        metavar="DIR",
        help="directory to serve (default: the current directory)",
    )
    parser.add_argument(
        "--dotfiles",
        action="store_true",
        help="also serve and list names starting with a dot (.git, .env: hidden by default)",
    )
    parser.add_argument(
        "--http",
        choices=["auto", "1.1", "2"],
        default="auto",
        help="protocols to serve: auto (HTTP/1.1 and HTTP/2, the default), 1.1 or 2 only",
    )
    asgi = parser.add_argument_group("ASGI applications (FastAPI, Starlette, Quart-trio...)")
    asgi.add_argument(
        "--asgi",
        action="store_true",
        help=(
            "serve MODULE:HANDLER as an ASGI 3 application (the default for a target "
            "that takes scope, receive and send), with its lifespan"
        ),
    )
    asgi.add_argument(
        "--factory",
        action="store_true",
        help="MODULE:HANDLER is a function that returns what to serve: call it first",
    )
    asgi.add_argument(
        "--root-path",
        default="",
        metavar="PATH",
        help="the path an ASGI application is mounted at behind a proxy (scope root_path)",
    )
    tls = parser.add_argument_group("TLS (the protocol negotiated by ALPN)")
    tls.add_argument(
        "--tls",
        action="store_true",
        help=(
            "serve TLS with a development certificate for localhost, 127.0.0.1 and ::1 "
            "from a throwaway CA (needs trustme); the CA file's path is printed"
        ),
    )
    tls.add_argument("--certfile", help="PEM certificate chain (serves TLS)")
    tls.add_argument("--keyfile", help="PEM private key, if not in --certfile")
    workers = parser.add_argument_group("processes")
    workers.add_argument(
        "--workers",
        "-w",
        type=_worker_count,
        default=1,
        metavar="N",
        help=(
            "run N server processes under a supervisor that restarts them (SIGHUP: one "
            "at a time); 'auto' for one per core (default: 1)"
        ),
    )
    workers.add_argument(
        "--no-reuse-port",
        dest="reuse_port",
        action="store_false",
        help=(
            "workers share the supervisor's listening sockets instead of opening "
            "SO_REUSEPORT ones each (always so for unix: binds, --fd and systemd sockets)"
        ),
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=None,
        metavar="SECONDS",
        help=(
            "how long in-flight requests may take to finish on shutdown "
            f"(default: {Config().graceful_shutdown_timeout:g})"
        ),
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="level of the log on stderr (default: info)",
    )
    logs = parser.add_argument_group("logging")
    logs.add_argument(
        "--access-log",
        nargs="?",
        const="",
        default="",
        metavar="FILE",
        help="write a line per request to FILE (appended), or '-' for stdout (default: stderr)",
    )
    logs.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_const",
        const=None,
        help="write no access log",
    )
    logs.add_argument(
        "--access-log-format",
        default="default",
        metavar="FORMAT",
        help=(
            f"{', '.join(_logging.ACCESS_FORMATS)}, or a %%-style format of the fields "
            f"{', '.join(_logging.ACCESS_FIELDS)} (default: default)"
        ),
    )
    logs.add_argument(
        "--log-config",
        metavar="FILE",
        help="a logging.config.dictConfig dictionary in JSON or TOML, replacing the above",
    )
    development = parser.add_argument_group("development")
    development.add_argument(
        "--reload",
        action="store_true",
        help=(
            "restart the server when a Python file under the current directory changes "
            "(needs watchfiles)"
        ),
    )
    development.add_argument(
        "--reload-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="watch DIR instead (may be given more than once)",
    )
    _cli_config.add_config_arguments(parser)
    parser.add_argument("--version", action="version", version=_version())
    return parser


def _octal(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an octal mode such as 660, not {text!r}"
        ) from None
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(f"expected a mode between 000 and 777, not {text!r}")
    return mode


def cpu_count() -> int:
    """The cores this process may run on (what ``--workers auto`` starts)."""
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return max(1, count or 1)


def _worker_count(text: str) -> int:
    if text == "auto":
        return cpu_count()
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', not {text!r}") from None


def _version() -> str:
    from . import __version__

    return f"trio_h2 {__version__}"


def parse_options(argv: Sequence[str] | None) -> tuple[argparse.ArgumentParser, Options, bool]:
    """The Options, and whether a development certificate was asked for."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.handler is not None:
        hint = _address_hint(args.handler)
        if hint is not None:
            parser.error(f"{args.handler!r} is not MODULE:HANDLER; {hint}")
    if args.handler is not None and args.directory is not None:
        parser.error("give either a MODULE:HANDLER or --directory, not both")
    for flag, given in (("--asgi", args.asgi), ("--factory", args.factory)):
        if given and args.handler is None:
            parser.error(f"{flag} needs a MODULE:HANDLER to serve")
    if args.root_path:
        if args.handler is None:
            parser.error("--root-path needs an ASGI application (MODULE:APP) to serve")
        if not args.root_path.startswith("/"):
            parser.error(f"--root-path starts with '/', not {args.root_path!r}")
    if args.tls and args.certfile:
        parser.error("--tls makes a development certificate; drop it to use --certfile")
    if args.keyfile and not args.certfile:
        parser.error("--keyfile needs --certfile")
    if args.port is not None and not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, not {args.port}")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, not {args.workers}")
    binds, fds = _listen_options(parser, args)
    if args.grace is not None and not args.grace > 0:
        parser.error(f"--grace must be > 0, not {args.grace}")
    if args.reload_dir and not args.reload:
        parser.error("--reload-dir needs --reload")
    if args.reload and args.workers > 1:
        parser.error("--reload serves from one process: drop --workers")
    if args.reload and fds:
        parser.error(
            "--reload starts a new server at each change: "
            "it cannot take over --fd or systemd sockets"
        )
    for directory in args.reload_dir:
        if not os.path.isdir(directory):
            parser.error(f"--reload-dir {directory!r} is not a directory")
    try:
        _logging.access_formatter(args.access_log_format)
        if args.log_config is not None:
            _logging.load_log_config(args.log_config)
    except _logging.LogConfigError as exc:
        parser.error(str(exc))
    try:
        config_changes = _cli_config.config_changes(args)
    except (_cli_config.ConfigFileError, ValueError) as exc:
        parser.error(str(exc))
    options = Options(
        directory=os.path.abspath(args.directory or os.curdir),
        dotfiles=args.dotfiles,
        handler=args.handler,
        certfile=args.certfile,
        keyfile=args.keyfile,
        ca_path=None,
        workers=args.workers,
        grace=args.grace,
        log_level=args.log_level,
        access_log=args.access_log,
        http=args.http,
        access_log_format=args.access_log_format,
        log_config=args.log_config,
        config_changes=tuple(sorted(config_changes.items())),
        reload_dirs=tuple(args.reload_dir or [os.curdir]) if args.reload else (),
        asgi=args.asgi,
        factory=args.factory,
        root_path=args.root_path,
        binds=binds,
        fds=fds,
        reuse_port=args.reuse_port and _workers.HAVE_REUSE_PORT,
        unix_mode=args.unix_socket_mode,
    )
    return parser, options, args.tls


def _listen_options(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[tuple[_listeners.Bind, ...], tuple[int, ...]]:
    """Where to listen (see _listeners.py), and the command line's mistakes about it."""
    binds: list[_listeners.Bind] = []
    for text in args.bind:
        try:
            binds.append(_listeners.parse_bind(text))
        except ValueError as exc:
            parser.error(str(exc))
    try:
        for fd in args.fd:
            _listeners.check_fd(fd, f"--fd {fd}")
        activated = _listeners.activated_fds()
        for fd in activated:
            _listeners.check_fd(fd, f"file descriptor {fd} (LISTEN_FDS)")
    except _listeners.ListenError as exc:
        parser.error(str(exc))
    fds = (*args.fd, *activated)
    if len(set(fds)) < len(fds):
        parser.error(
            "each file descriptor may be served once (--fd given twice, or with LISTEN_FDS)"
        )
    if binds or fds:
        given = [
            flag
            for flag, value in (("--host", args.host), ("--port", args.port))
            if value is not None
        ]
        if given:
            others = "--bind" if binds else "--fd" if args.fd else "systemd's sockets (LISTEN_FDS)"
            parser.error(
                f"{' and '.join(given)} cannot be combined with {others}: "
                "give every TCP address as --bind HOST:PORT"
            )
    else:
        host = args.host if args.host is not None else "127.0.0.1"
        binds.append(
            _listeners.Bind(
                host=host or None, port=args.port if args.port is not None else DEFAULT_PORT
            )
        )
    return tuple(binds), fds


def _address_hint(spec: str) -> str | None:
    """What to type instead, when the positional argument is a port or HOST:PORT."""
    if spec.isdigit():
        return f"to listen on port {spec}, use --port {spec}"
    host, colon, port = spec.rpartition(":")
    if colon and port.isdigit():
        host = host.removeprefix("[").removesuffix("]")
        if not host:
            return f"to listen on port {port}, use --port {port}"
        return f"to listen on {host} port {port}, use --host {host} --port {port}"
    return None


# ------------------------------------------------------------------- building

#: How every signature complaint ends.
_ONE_STREAM = "trio_h2 handlers take one argument, a trio_h2.Stream"


def _accepts(signature: inspect.Signature, count: int) -> bool:
    try:
        signature.bind(*[None] * count)
    except TypeError:
        return False
    return True


def _signature(target: Callable[..., object]) -> inspect.Signature | None:
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None  # nothing to read (some callables written in C)


def _shown(signature: inspect.Signature) -> inspect.Signature:
    """The signature as the user wrote it, without the annotations."""
    return signature.replace(
        parameters=[
            parameter.replace(annotation=inspect.Parameter.empty)
            for parameter in signature.parameters.values()
        ],
        return_annotation=inspect.Signature.empty,
    )


def check_handler_signature(spec: str, target: Callable[..., object]) -> None:
    """Raise UsageError unless ``target`` can be called with one positional argument."""
    signature = _signature(target)
    if signature is None or _accepts(signature, 1):
        return  # nothing to read (some callables written in C): the first request tells
    shown = _shown(signature)
    if tuple(signature.parameters)[:3] == ("scope", "receive", "send") and _accepts(signature, 3):
        raise UsageError(f"{spec!r} takes {shown} like an ASGI application; {_ONE_STREAM}")
    raise UsageError(f"{spec!r} takes {shown}; {_ONE_STREAM}")


#: How every complaint about an ASGI application's signature ends.
_ASGI_SIGNATURE = "ASGI applications take (scope, receive, send)"


def is_asgi_application(target: Callable[..., object]) -> bool:
    """True for a target that takes three positional arguments and not one (ASGI 3)."""
    from .asgi import is_asgi_application as looks_asgi

    return looks_asgi(target)


def check_asgi_signature(spec: str, target: Callable[..., object]) -> None:
    """Raise UsageError unless ``target`` can be called as ``app(scope, receive, send)``."""
    signature = _signature(target)
    if signature is None or _accepts(signature, 3):
        return
    raise UsageError(f"{spec!r} takes {_shown(signature)}; {_ASGI_SIGNATURE}")


def load_target(spec: str) -> Callable[..., object]:
    """Import ``module:attribute`` (the attribute may be dotted); it must be callable."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UsageError(
            f"{spec!r} is not MODULE:HANDLER (e.g. myapp:handler); "
            "to serve a directory use --directory"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module_name + ".").startswith(exc.name + "."):
            raise  # the module exists; something it imports does not
        raise UsageError(f"cannot import {module_name!r}: {exc}") from None
    target: object = module
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not callable(target):
        raise UsageError(f"{spec!r} is not callable: it is {target!r}")
    return target


def _check_async(spec: str, target: Callable[..., object]) -> None:
    if inspect.isfunction(target) and not inspect.iscoroutinefunction(target):
        raise UsageError(f"{spec!r} is not an async function")


def _call_factory(spec: str, factory: Callable[..., object]) -> Callable[..., object]:
    signature = _signature(factory)
    if signature is not None and not _accepts(signature, 0):
        raise UsageError(f"{spec!r} takes {_shown(signature)}; a --factory takes no arguments")
    made = factory()
    if inspect.isawaitable(made):
        close = getattr(made, "close", None)
        if close is not None:
            close()  # never awaited: say so here rather than in a warning
        raise UsageError(f"{spec!r} is async; a --factory returns the application itself")
    if not callable(made):
        raise UsageError(f"{spec!r}() returned {made!r}, which is not callable")
    return made


def make_handler(options: Options) -> Handler:
    """What the options serve: a native handler, an ASGI application's, or files."""
    if options.handler is not None:
        spec = options.handler
        target = load_target(spec)
        if options.factory:
            target = _call_factory(spec, target)
        _check_async(spec, target)
        if options.asgi or is_asgi_application(target):
            check_asgi_signature(spec, target)
            # Imported only here: the ASGI layer brings trio-websocket with it.
            from .asgi import ASGIHandler

            # The lifespan fills the state (see _application_lifespan).
            return ASGIHandler(target, root_path=options.root_path, state={})  # type: ignore[arg-type]
        if options.root_path:
            raise UsageError(f"--root-path is for ASGI applications; {spec!r} is a handler")
        check_handler_signature(spec, target)
        return target  # type: ignore[return-value]
    try:
        return serve_directory(options.directory, dotfiles=options.dotfiles)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


_PEM_CERTIFICATE = re.compile(rb"^-----BEGIN (?:TRUSTED )?CERTIFICATE-----", re.MULTILINE)
_PEM_PRIVATE_KEY = re.compile(rb"^-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----", re.MULTILINE)


def _read_pem(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise UsageError(f"cannot read the {what} {path!r}: {exc.strerror or exc}") from None


def make_ssl_context(options: Options) -> ssl.SSLContext | None:
    """The server's TLS context; a UsageError naming the file that is wrong, if one is.

    OpenSSL's own errors do not say which of the two files they are about, so each
    file is read first and looked at for what it must hold (both are PEM, the only
    form ``load_cert_chain`` reads).
    """
    certfile, keyfile = options.certfile, options.keyfile
    if certfile is None:
        return None
    certificate = _read_pem(certfile, "certificate file")
    if not _PEM_CERTIFICATE.search(certificate):
        raise UsageError(f"the certificate file {certfile!r} holds no PEM certificate")
    if keyfile is None:
        if not _PEM_PRIVATE_KEY.search(certificate):
            raise UsageError(
                f"the certificate file {certfile!r} holds no private key: "
                "pass the key's file with --keyfile"
            )
        key_source = f"the private key in {certfile!r}"
    else:
        if not _PEM_PRIVATE_KEY.search(_read_pem(keyfile, "key file")):
            raise UsageError(f"the key file {keyfile!r} holds no PEM private key")
        key_source = f"the key file {keyfile!r}"
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise UsageError(
                f"{key_source} does not match the certificate in {certfile!r}"
            ) from None
        raise UsageError(
            f"cannot load {key_source} with the certificate in {certfile!r}: {exc}"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot load the certificate {certfile!r}: {exc}") from None
    return context


@contextlib.contextmanager
def development_certificate(options: Options) -> Iterator[Options]:
    """Options with a fresh certificate from a throwaway CA, in a temporary directory."""
    try:
        import trustme
    except ImportError:
        raise UsageError("--tls needs trustme: pip install 'trio_h2[tls]'") from None
    names = ["localhost", "127.0.0.1", "::1"]
    for bind in options.binds:
        host = bind.host
        if host and host not in names and host not in ("0.0.0.0", "::"):
            names.append(host)
    authority = trustme.CA(organization_name="trio_h2 development CA")
    leaf = authority.issue_cert(*names)
    with tempfile.TemporaryDirectory(prefix="trio_h2-tls-") as directory:
        ca_path = os.path.join(directory, "ca.pem")
        cert_path = os.path.join(directory, "server.pem")
        authority.cert_pem.write_to_path(ca_path)
        leaf.private_key_and_cert_chain_pem.write_to_path(cert_path)
        yield replace(options, certfile=cert_path, keyfile=None, ca_path=ca_path)


def _remove_development_certificate(options: Options) -> None:
    if options.ca_path is not None:
        shutil.rmtree(os.path.dirname(options.ca_path), ignore_errors=True)


def configure_logging(options: Options) -> None:
    """Log as the options say (stderr by default; see _logging.py)."""
    try:
        _logging.configure(
            options.log_level,
            access_log=options.access_log,
            access_format=options.access_log_format,
            log_config=options.log_config,
            workers=options.workers,
        )
    except _logging.LogConfigError as exc:
        raise UsageError(str(exc)) from None


# -------------------------------------------------------------------- running


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _reachable(host: str) -> str:
    # A wildcard address is where one listens, not where one connects.
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def announce(options: Options, addresses: list[_listeners.Where], asgi: bool = False) -> None:
    """Print where the server listens, with a curl command that reaches it."""
    scheme = "http" if options.certfile is None else "https"
    urls = [
        f"unix:{host}" if port is None else f"{scheme}://{_url_host(host)}:{port}"
        for host, port in addresses
    ]
    tcp = [(host, port) for host, port in addresses if port is not None]
    if tcp:
        host, port = tcp[0]
        target = f"{scheme}://{_url_host(_reachable(host))}:{port}/"
    else:
        target = f"--unix-socket {addresses[0][0]} {scheme}://localhost/"
    what = options.handler or options.directory
    if options.handler is not None and (options.asgi or asgi):
        what += " (ASGI)"
    protocols = {"auto": "HTTP/1.1 and HTTP/2", "1.1": "HTTP/1.1", "2": "HTTP/2"}[options.http]
    if options.certfile is None:
        curl = "curl --http2-prior-knowledge" if options.http == "2" else "curl"
        hint = f"{protocols}; try: {curl} {target}"
    elif options.ca_path is not None:
        hint = (
            f"{protocols} over TLS, development certificate; "
            f"try: curl --cacert {options.ca_path} {target}"
        )
    else:
        hint = f"{protocols} over TLS; try: curl {target}"
    workers = f" with {options.workers} workers" if options.workers > 1 else ""
    print(f"Serving {what} on {', '.join(urls)}{workers} ({hint})", flush=True)


def announce_stop(options: Options, signum: int) -> None:
    grace = options.grace if options.grace is not None else Config().graceful_shutdown_timeout
    print(
        f"{signal.Signals(signum).name}: shutting down; in-flight requests have {grace:g}s "
        "to finish (send it again to stop at once)",
        file=sys.stderr,
        flush=True,
    )


async def serve_until_signalled(
    options: Options,
    handler: Handler,
    ssl_context: ssl.SSLContext | None,
    sockets: list[socket.socket],
    *,
    on_ready: Callable[[list[_listeners.Where]], None],
    on_stop: Callable[[int], None] | None,
    on_force: Callable[[], None] | None = None,
    supervised: bool = False,
    signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM),
) -> None:
    """Serve on ``sockets`` until the first of ``signals`` (graceful) or the second (at once).

    Without a supervisor, SIGHUP is also received, and only logged: there is no
    worker to replace.
    """
    listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(sock)) for sock in sockets]
    config = options.config()
    server_scope = trio.CancelScope()
    received = signals if supervised else (*signals, signal.SIGHUP)

    async def stop_on_signals(receiver: AsyncIterator[int]) -> None:
        first = True
        async for signum in receiver:
            if signum == signal.SIGHUP and signum not in signals:
                logging.getLogger("trio_h2").warning(
                    "SIGHUP: ignored; a rolling restart needs --workers"
                )
            elif first:
                first = False
                if on_stop is not None:
                    on_stop(signum)
                server_scope.cancel()
            else:
                # The graceful shutdown runs shielded, so nothing short of leaving
                # the process ends it sooner.
                print(f"{signal.Signals(signum).name}: stopping now", file=sys.stderr, flush=True)
                if on_force is not None:
                    on_force()
                logging.shutdown()
                os._exit(1)

    async def stop_with_supervisor() -> None:
        await _workers.wait_for_supervisor_exit()
        server_scope.cancel()

    with trio.open_signal_receiver(*received) as receiver, _single_exceptions():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop_on_signals, receiver)
            if supervised:
                nursery.start_soon(stop_with_supervisor)
            with server_scope:
                async with (
                    _application_lifespan(handler, listeners, config),
                    trio.open_nursery() as server_nursery,
                ):
                    await server_nursery.start(
                        partial(
                            serve_listeners,
                            handler,
                            listeners,
                            ssl_context=ssl_context,
                            config=config,
                        )
                    )
                    on_ready([_listeners.where(sock) for sock in sockets])
            nursery.cancel_scope.cancel()


def serves_asgi(handler: Handler) -> bool:
    """Whether ``handler`` is an ASGI application's (make_handler() built it)."""
    if "trio_h2.asgi" not in sys.modules:  # imported only when an ASGIHandler is made
        return False
    from .asgi import ASGIHandler

    return isinstance(handler, ASGIHandler)


@contextlib.asynccontextmanager
async def _application_lifespan(
    handler: Handler, listeners: list[trio.SocketListener], config: Config
) -> AsyncIterator[None]:
    """An ASGI application's lifespan around its server (nothing for a native handler).

    Startup completes before the first connection is accepted (they wait in the
    listen queue meanwhile); shutdown starts once the server's graceful shutdown is
    over.  A failed startup or shutdown ends the command with the application's
    message.
    """
    if not serves_asgi(handler):
        yield
        return
    from .asgi import ASGIHandler, LifespanError, lifespan
    from .asgi._serve import listening_address

    assert isinstance(handler, ASGIHandler)
    handler.server = listening_address(listeners)
    try:
        async with lifespan(
            handler.app, state=handler.state, shutdown_timeout=config.graceful_shutdown_timeout
        ):
            yield
    except LifespanError as exc:
        for listener in listeners:
            await listener.aclose()  # serve_listeners() never took them over
        raise StartupError(str(exc)) from None


@contextlib.contextmanager
def _single_exceptions() -> Iterator[None]:
    """A lone exception out of the nurseries as itself (a StartupError, say)."""
    try:
        yield
    except BaseExceptionGroup as group:
        single = single_exception(group)
        raise single from single.__cause__


@contextlib.contextmanager
def _open_sockets(
    options: Options, *, reuse_port: bool = False
) -> Iterator[_listeners.OpenSockets]:
    """The options' listening sockets, open (and closed, their files removed, after)."""
    try:
        with _listeners.open_sockets(
            options.binds, options.fds, reuse_port=reuse_port, unix_mode=options.unix_mode
        ) as opened:
            yield opened
    except _listeners.ListenError as exc:
        raise (UsageError if exc.usage else StartupError)(str(exc)) from None


def _worker_ready(
    ready: multiprocessing.connection.Connection,
    handler: Handler,
    addresses: list[_listeners.Where],
) -> None:
    logging.getLogger("trio_h2.workers").info("worker %d serving", os.getpid())
    _workers.report_ready(ready, (addresses, serves_asgi(handler)))


def run_worker(
    options: Options, sockets: list[socket.socket], ready: multiprocessing.connection.Connection
) -> None:
    """A worker process: one whole server, on the supervisor's ``sockets`` or, if there
    are none, on SO_REUSEPORT sockets of its own.

    It is here, not in the supervisor, that the application is imported; a failure
    to start is reported to the supervisor, which says it.
    """
    _workers.worker_signals()
    configure_logging(options)
    try:
        handler = make_handler(options)
        ssl_context = make_ssl_context(options)
        with contextlib.ExitStack() as stack:
            if not sockets:
                sockets = stack.enter_context(_open_sockets(options, reuse_port=True)).sockets
            trio.run(
                partial(
                    serve_until_signalled,
                    options,
                    handler,
                    ssl_context,
                    sockets,
                    on_ready=partial(_worker_ready, ready, handler),
                    on_stop=None,
                    supervised=True,
                    signals=(signal.SIGTERM,),
                )
            )
    except (UsageError, StartupError) as exc:
        _workers.report_failure(ready, str(exc), 2 if isinstance(exc, UsageError) else 1)
        sys.exit(1)


def run(options: Options) -> int:
    """Serve as the options say; the exit status."""
    configure_logging(options)
    if options.workers == 1:
        # Fail here, with a clear message, before a socket is opened.
        handler = make_handler(options)
        options = replace(options, asgi=serves_asgi(handler))
        ssl_context = make_ssl_context(options)
        with _open_sockets(options) as opened:

            def force() -> None:
                _remove_development_certificate(options)
                opened.remove_files()

            trio.run(
                partial(
                    serve_until_signalled,
                    options,
                    handler,
                    ssl_context,
                    opened.sockets,
                    on_ready=partial(announce, options),
                    on_stop=partial(announce_stop, options),
                    on_force=force,
                )
            )
        return 0
    # The supervisor never imports the application (the workers do): it stays small,
    # and a rolling restart (SIGHUP) serves the code as it is on disk by then.
    make_ssl_context(options)  # but the certificate is checked here, once
    share = bool(options.fds) or any(bind.path is not None for bind in options.binds)
    with contextlib.ExitStack() as stack:
        if share or not options.reuse_port:
            # The supervisor opens every socket; the workers inherit them.
            sockets = stack.enter_context(_open_sockets(options)).sockets
        else:
            # Each worker opens its own; the supervisor holds each port (bound, not
            # listening) so that port 0 is one port for all, and stays theirs.
            sockets = []
            binds = []
            for bind in options.binds:
                try:
                    port = stack.enter_context(_workers.reserve_port(bind.host, bind.port))
                except OSError as exc:
                    raise StartupError(f"cannot listen on {bind}: {exc.strerror or exc}") from None
                binds.append(replace(bind, port=port))
            options = replace(options, binds=tuple(binds))
        try:
            return trio.run(
                _workers.supervise,
                options.workers,
                run_worker,
                (options, sockets),
                partial(_announce_workers, options),
                partial(announce_stop, options),
            )
        except _workers.WorkerFailed as exc:
            raise (UsageError if exc.status == 2 else StartupError)(exc.message) from None


def _announce_workers(options: Options, info: object) -> None:
    addresses, asgi = typing.cast(tuple[list[_listeners.Where], bool], info)
    announce(options, addresses, asgi)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``python -m trio_h2`` / ``trio-h2`` command; returns the exit status."""
    parser, options, want_tls = parse_options(argv)
    try:
        if options.reload_dirs:
            configure_logging(options)
            arguments = sys.argv[1:] if argv is None else list(argv)
            try:
                return _reload.run(arguments, options.reload_dirs)
            except _reload.ReloadUnavailable as exc:
                raise UsageError(str(exc)) from None
        if want_tls:
            with development_certificate(options) as tls_options:
                return run(tls_options)
        return run(options)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
