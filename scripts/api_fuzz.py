"""Fuzz the HTTP API with schemathesis: a fresh home, a real `rosvd serve`, N generated cases.

    .venv/bin/python scripts/api_fuzz.py [--cases 10000] [--seed 1] [--workers 1] [--keep DIR]

Prints one JSON report on stdout (cases, responses by operation and status, 5xx count,
every failure once per operation and check); progress on stderr. Exit 0 when no response
was a 5xx and no check failed, 1 otherwise, 2 when it could not run. The home uses small
epochs (six certificates, 300 VDF squarings) so that sealing and proving happen during the
run, and no rate limit (docs/api.md, "Reliability").
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

from rosvd.api.fuzz import FuzzError, fuzz
from rosvd.api.process import ServerError, ServerProcess, local_home
from rosvd.epochs import EpochPolicy

#: Six certificates close an epoch; its VDF is 300 squarings (milliseconds).
POLICY = EpochPolicy(max_certificates=6, max_age_s=3600, vdf_iterations=300)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="test cases to generate (default 10000)")
    parser.add_argument("--seed", type=int, default=1, help="schemathesis seed of the first run (default 1)")
    parser.add_argument("--workers", type=int, default=1,
                        help="schemathesis worker threads (default 1: see sw/api/fuzz.py on more)")
    parser.add_argument("--keep", metavar="DIR", help="make the home and logs in DIR (new) and keep them")
    args = parser.parse_args(argv)
    if args.cases < 1 or args.workers < 1:
        parser.error("--cases and --workers must be positive")
    with tempfile.TemporaryDirectory(prefix="rosvd-fuzz-home-") as scratch:
        root = Path(args.keep) if args.keep else Path(scratch)
        try:
            root.mkdir(parents=True, exist_ok=bool(not args.keep))
            token = local_home(root / "home", POLICY)
            with ServerProcess(root / "home", root / "serve.log") as server:
                report = fuzz(server.url, token, args.cases, seed=args.seed, workers=args.workers,
                              progress=lambda text: print(f"[api fuzz] {text}", file=sys.stderr, flush=True),
                              log=root / "schemathesis.log")
        except (FuzzError, ServerError, OSError, ValueError, RuntimeError) as error:
            print(f"api_fuzz: {error}", file=sys.stderr)
            return 2
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
