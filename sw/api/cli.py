"""``rosvd serve``, ``rosvd token rotate`` and ``rosvd query``."""
from __future__ import annotations

import socket
import sys

from ..home import add_home_option, home_of

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: Seconds an idle keep-alive connection stays open. uvicorn's default (5) is httpx's pool
#: expiry: a pooled client could send its next request as the server closes the connection
#: (a reset, an error for a request it never saw). Above common clients' idle timeouts, the
#: client is always the one that closes (nginx's default is 75 s too).
KEEP_ALIVE_S = 75


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are
    # TCP, and without it every keep-alive answer after the first waited ~40 ms (Nagle
    # holding the body until the client's delayed ACK of the headers). Set on the listening
    # socket too, which accepted sockets inherit.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _log_config() -> dict:
    """uvicorn's logging, with its access log on stderr too (its default is stdout, which
    carries only the start-up record)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG
    config = copy.deepcopy(LOGGING_CONFIG)
    for handler in config["handlers"].values():
        handler["stream"] = "ext://sys.stderr"
    return config


def _serve(args) -> int:
    import uvicorn

    from ..certify import load_config
    from ..output import report
    from .app import create_app
    from .settings import Settings
    from .tokens import stored_digest
    from .writer import Writer
    home = home_of(args)
    load_config(home)
    settings = Settings.load(home)
    sock = _listen(args.host, args.port)
    writer = Writer(home, warm_up=True)
    try:
        app = create_app(home, settings, writer)
    except BaseException:
        writer.close()
        raise
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    report({"url": f"http://{shown}:{port}", "home": str(home), "address": writer.address,
            "write_token": "configured" if stored_digest(home) else "none: run `rosvd token rotate`"},
           args, lambda r: f"serving {r['home']} (device {r['address']}) on {r['url']}")
    sys.stdout.flush()
    server = uvicorn.Server(uvicorn.Config(app, log_level="info", log_config=_log_config(),
                                           timeout_graceful_shutdown=10, timeout_keep_alive=KEEP_ALIVE_S))
    server.run(sockets=[sock])
    return 0


def _token_rotate(args) -> int:
    from ..certify import load_config
    from ..output import report
    from .tokens import TOKEN_FILE, rotate
    load_config(home_of(args))
    token = rotate(home_of(args))
    print("rosvd: the new API token is printed once and stored only as a hash; the old one no longer works",
          file=sys.stderr)
    report({"token": token, "file": str(home_of(args) / TOKEN_FILE)}, args, lambda r: r["token"])
    return 0


def _query(args) -> int:
    from ..output import report
    from ..verify_cli import VerifyInputError, registry_client
    from .client import QueryError, ask, check, local_query, summary
    if args.rpc is not None and args.registry is None:
        raise QueryError("--rpc needs --registry ADDR: the registry address you trust")
    if args.registry is not None and args.rpc is None:
        raise QueryError("--registry needs --rpc URL: a chain node you choose")
    _, blake3, views = local_query(args.file)
    try:
        registry = registry_client(args.rpc, args.registry) if args.rpc else None
    except VerifyInputError as error:
        raise QueryError(str(error)) from None
    result = ask(args.url, args.file, blake3, views, args.upload, args.max_distance, args.limit,
                 args.timeout, args.match_rule)
    matches = [check(match, blake3, views, registry, result["max_distance"])
               for match in result.get("matches") or []]
    record = {"url": args.url, "file": args.file, "blake3": blake3.hex(),
              "fingerprint": None if views is None else views.fingerprints[0].hex(),
              "views": None if views is None else list(views.names),
              "match_rule": result["match_rule"], "max_distance": result["max_distance"],
              "chain": registry is not None, "matches": matches,
              "verified": any(match["verified"] for match in matches)}
    report(record, args, summary)
    return 0 if record["verified"] else 1


def _distance(text: str) -> float:
    import argparse
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a distance is a number from 0 to 1, not {text!r}")
    return value


def _share(text: str) -> float:
    import argparse
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"a share of capacity above 0 and at most 1, not {text!r}")
    return value


def _positive(text: str) -> int:
    import argparse
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a positive whole number, not {text!r}")
    return int(text)


def add_commands(commands) -> None:
    from ..output import add_json_flag
    serve = commands.add_parser("serve", help="serve the HTTP API (docs/api.md) of an appliance home")
    add_home_option(serve)
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT,
                       help=f"port to listen on (default {DEFAULT_PORT}; 0: any free port, printed)")
    add_json_flag(serve)
    serve.set_defaults(handler=_serve)

    token = commands.add_parser("token", help="the API's write token").add_subparsers(
        dest="token", required=True)
    rotate = token.add_parser("rotate", help="make a new write token (printed once), replacing the old one")
    add_home_option(rotate)
    add_json_flag(rotate)
    rotate.set_defaults(handler=_token_rotate)

    query = commands.add_parser("query", help="ask a server who certified a file; verify each bundle here")
    query.add_argument("file", metavar="FILE", help="the content to look up")
    query.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    query.add_argument("--rpc", metavar="URL", help="JSON-RPC URL of a chain node you choose"
                       " (with --registry)")
    query.add_argument("--registry", metavar="ADDR", help="the consortium registry address you trust")
    query.add_argument("--upload", action="store_true",
                       help="send the file itself (default: only its BLAKE3 and its views' fingerprints"
                       " and descriptors, computed here)")
    query.add_argument("--match-rule", choices=("confirmed", "distance"), default=None,
                       help="confirmed (the server's default): fingerprint candidates its descriptors"
                       " confirm; distance: the fingerprint distance alone")
    query.add_argument("--max-distance", type=_distance, default=None, metavar="D",
                       help="largest fingerprint distance, 0..1 (default: the rule's, which the"
                       " answer reports)")
    query.add_argument("--limit", type=_positive, default=None, metavar="N",
                       help="matches to ask for (default: the server's, 10)")
    query.add_argument("--timeout", type=float, default=60.0, metavar="S",
                       help="seconds to wait for the server (default 60)")
    add_json_flag(query)
    query.set_defaults(handler=_query)


def _bench_query(args) -> int:
    from ..bench.query import run
    from ..cli import _emit
    if args.work is not None and args.work.exists() and not args.work.is_dir():
        raise ValueError(f"--work {args.work} exists and is not a directory")
    result = {}

    def measure():
        result.update(run(stored=args.stored, clients=args.clients, seconds=args.seconds, work=args.work,
                          seed=args.seed, load_fraction=args.load))
        return result
    _emit(measure, args.json)
    return 1 if result.get("errors") else 0


def add_benches(bench) -> None:
    from pathlib import Path

    from ..bench.query import (
        DEFAULT_CLIENTS,
        DEFAULT_LOAD_FRACTION,
        DEFAULT_SECONDS,
        DEFAULT_SEED,
        DEFAULT_STORED,
    )
    from ..output import add_json_flag
    query = bench.add_parser("query", help="the query API at scale: latency under concurrency, recall, index"
                             " build, memory (docs/api.md)")
    query.add_argument("--stored", type=_positive, default=DEFAULT_STORED, metavar="N",
                       help=f"certificates in the store (default {DEFAULT_STORED:,})")
    query.add_argument("--clients", type=_positive, default=DEFAULT_CLIENTS, metavar="C",
                       help=f"concurrent HTTP clients (default {DEFAULT_CLIENTS})")
    query.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, metavar="S",
                       help=f"length of each phase (default {DEFAULT_SECONDS:g})")
    query.add_argument("--work", type=Path, default=None, metavar="DIR",
                       help="keep the built store here and reuse it next time"
                       " (default: a temporary directory)")
    query.add_argument("--load", type=_share, default=DEFAULT_LOAD_FRACTION, metavar="F",
                       help="share of the measured capacity offered in the latency phases"
                       f" (default {DEFAULT_LOAD_FRACTION:g})")
    query.add_argument("--seed", type=int, default=DEFAULT_SEED,
                       help="seed of the synthetic store and queries")
    add_json_flag(query)
    query.set_defaults(handler=_bench_query)
