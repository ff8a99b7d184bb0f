"""``rosvd`` host commands: enroll, certify, fingerprint, epoch seal, verify-chain, status."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .home import add_home_option, home_of
from .output import report as _report

#: Files read and certified per store transaction by `rosvd certify`.
CERTIFY_BATCH = 64


def _enroll(args) -> int:
    from .api.tokens import rotate
    from .certify import KEY_FILE, ApplianceConfig, initialise
    from .epochs import EpochPolicy
    from .key_file import describe
    policy = EpochPolicy(max_certificates=args.epoch_size, max_age_s=args.epoch_age,
                         vdf_iterations=args.vdf_iterations)
    home = home_of(args)
    address = initialise(home, ApplianceConfig(args.device, args.dev, policy, store_url=args.store_url),
                         scrypt_n=args.scrypt_n)
    # The API's write token, shown this once (the home keeps its hash): `rosvd token rotate` replaces it.
    _report({"address": address, "home": str(home), "dev_mode": args.dev,
             "device_key": describe(home / KEY_FILE), "api_token": rotate(home)}, args)
    return 0


def _store_check(args) -> int:
    from .certify import load_config, store_location
    from .store_maintenance import check
    report = check(*store_location(home_of(args), load_config(home_of(args))))

    def summary(report) -> str:
        counted = ("contents unreadable" if report["certificates"] is None else
                   f"{report['certificates']} certificates in {report['epochs']} epochs")
        return "\n".join([f"{'OK' if report['ok'] else 'DAMAGED'}: {report['store']}, {counted}",
                          *(f"  {problem}" for problem in report["problems"])])
    _report(report, args, summary)
    return 0 if report["ok"] else 1


def _store_backup(args) -> int:
    from .certify import load_config, store_location
    from .store_maintenance import backup
    path, url = store_location(home_of(args), load_config(home_of(args)))
    report = backup(path, Path(args.destination), url=url)
    _report(report, args, lambda r: f"backed up {r['certificates']} certificates in {r['epochs']} epochs"
            f" to {r['backup']} ({r['bytes']} bytes)")
    return 0


def _scrypt_cost(text: str) -> int:
    import argparse

    from .key_file import IdentityError, check_scrypt_n
    try:
        return check_scrypt_n(int(text))
    except (ValueError, IdentityError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _key_encrypt(args) -> int:
    from .certify import KEY_FILE, load_config
    from .identity import IdentityError, encrypt_key_file
    from .key_file import DEVICE_PASSPHRASE_ENV, FILE_SUFFIX, describe, passphrase_from_env
    load_config(home_of(args))  # refuses a home with no enrolled device
    passphrase = passphrase_from_env()
    if passphrase is None:
        raise IdentityError(f"give the new passphrase in {DEVICE_PASSPHRASE_ENV}{FILE_SUFFIX} (a file)"
                            f" or {DEVICE_PASSPHRASE_ENV}")
    identity = encrypt_key_file(home_of(args) / KEY_FILE, passphrase, args.scrypt_n)
    _report({"address": identity.address, "device_key": describe(home_of(args) / KEY_FILE)}, args)
    return 0


def _certify(args) -> int:
    from tqdm import tqdm

    from . import ingest
    from .certify import Appliance
    refused, issued, sealed = [], [], []

    def line(record) -> None:  # --jsonl: one record per line, as soon as it is durable
        print(json.dumps(record, sort_keys=True), flush=True)

    paths = ingest.expand_paths(args.paths, recursive=args.recursive)
    if not paths:
        raise ValueError("no files to certify (an empty directory, or nothing on stdin)")
    with Appliance(home_of(args)) as appliance:
        with tqdm(total=len(paths), unit="file", desc="certify", file=sys.stderr,
                  disable=args.quiet) as progress:
            def readable():
                for path, loaded in ingest.load_paths(paths, workers=os.cpu_count() or 1):
                    if isinstance(loaded, ingest.ContentError):
                        refused.append({"name": path, "error": type(loaded).__name__, "message": str(loaded)})
                        print(f"rosvd: refused {loaded}", file=sys.stderr)
                        if args.jsonl:
                            line({"refused": refused[-1]})
                        progress.update(1)
                    else:
                        yield loaded

            for batch in appliance.certify_all(readable(), batch=CERTIFY_BATCH, again=args.again):
                issued.extend(batch)
                progress.update(len(batch))
                for item in batch:
                    if args.jsonl:
                        line({"certificate": item.to_json()})
                    elif not args.json:
                        note = "  (certified before: its certificate)" if item.existing else ""
                        print(f"{item.certificate.id.hex()}  epoch {item.certificate.epoch}"
                              f"  {item.name}{note}")
                sys.stdout.flush()
        repeated = sum(item.existing for item in issued)
        if repeated:
            print(f"rosvd: {repeated} of {len(issued)} already certified by this device: their existing"
                  " certificates are returned (--again issues new ones)", file=sys.stderr)
        if args.seal and appliance.store.count_in(appliance.store.open_epoch().number):
            sealed.append(appliance.seal())
            if args.jsonl:
                line({"sealed_epoch": sealed[-1]})
    if args.json:
        _report({"certificates": [item.to_json() for item in issued], "refused": refused,
                 "sealed_epochs": sealed}, args)
    return 1 if refused else 0


def _fingerprint(args) -> int:
    from . import ingest
    from .fingerprint_regions import region_fingerprints
    from .hw.svd.params import SVDParams
    from .match import query_views
    params = SVDParams()
    results, status = [], 0
    for path in args.paths:
        try:
            content = ingest.from_path(path)
        except ingest.ContentError as error:
            results.append({"file": path, "error": type(error).__name__, "message": str(error)})
            print(f"rosvd: {error}", file=sys.stderr)
            status = 1
            continue
        record = {"file": path, "kind": content.kind, "blake3": content.blake3().hex(),
                  "fingerprint": None, "query_fingerprints": None, "query_variants": None,
                  "query_descriptors": None, "region_fingerprint": None, "query_windows": None,
                  "window_fingerprints": None, "window_descriptors": None}
        if content.pixels is not None:
            # What a query tries (rosvd.match: the match distance is the least over them, and
            # the descriptors confirm); the first is the stored, signed scheme-1 fingerprint.
            views = query_views(params, content.pixels, fast=False)
            record["fingerprint"] = views.fingerprints[0].hex()
            record["query_fingerprints"] = [value.hex() for value in views.fingerprints]
            record["query_variants"] = list(views.names)
            record["query_descriptors"] = [value.hex() for value in views.descriptors]
            # What a certificate keeps beside its fingerprint, and the windows a query tries
            # against it (rosvd.fingerprint_regions): a crop still meets the central region.
            record["region_fingerprint"] = region_fingerprints(params, content.pixels)[0].hex()
            record["query_windows"] = list(views.windows.names)
            record["window_fingerprints"] = [value.hex() for value in views.windows.fingerprints]
            record["window_descriptors"] = [value.hex() for value in views.windows.descriptors]
        results.append(record)
    _report(results, args, lambda records: "\n".join(
        f"{r.get('blake3', '-')}  {r.get('fingerprint') or '-'}  {r['file']}" for r in records))
    return status


def _seal(args) -> int:
    from .certify import Appliance
    with Appliance(home_of(args)) as appliance:
        number = appliance.seal()
        epoch = appliance.store.epoch(number)
        _report({"epoch": number, "certificates": epoch.count, "merkle_root": epoch.merkle_root.hex(),
                 "vdf_output": epoch.vdf_output.hex(), "iterations": epoch.iterations}, args)
    return 0


def _verify_chain(args) -> int:
    from .certify import Appliance
    with Appliance(home_of(args)) as appliance:
        report = appliance.verify_chain()

    def summary(record) -> str:
        return "\n".join([f"{'OK' if record['ok'] else 'FAILED'}: {record['epochs_checked']} epochs,"
                          f" {record['certificates_checked']} certificates checked",
                          *(f"  {problem}" for problem in record["problems"])])
    _report(report.to_json(), args, summary)
    return 0 if report.ok else 1


def _status(args) -> int:
    from .certify import KEY_FILE, Appliance
    from .key_file import describe
    with Appliance(home_of(args)) as appliance:
        store = appliance.store
        epochs = store.epochs()
        _report({"address": appliance.address, "device": appliance.config.device,
                 "device_key": describe(appliance.home / KEY_FILE),
                 "dev_mode": appliance.config.dev_mode, "certificates": store.certificate_count(),
                 "epochs": {state: sum(e.state == state for e in epochs)
                            for state in ("open", "sealed", "closed")},
                 "open_epoch": store.open_epoch().number,
                 "recovered_epochs": appliance.recovered_epochs}, args)
    return 0


def add_commands(commands) -> None:
    from .device import DEVICE_KINDS, OVERLAY_ENV
    from .output import add_json_flag

    def with_scrypt_n(parser):
        from .key_file import DEVICE_PASSPHRASE_ENV, MAX_SCRYPT_N, MIN_SCRYPT_N, STANDARD_SCRYPT_N
        parser.add_argument("--scrypt-n", type=_scrypt_cost, default=STANDARD_SCRYPT_N, metavar="N",
                            help=f"scrypt cost of the keystore, a power of two from {MIN_SCRYPT_N} to"
                            f" {MAX_SCRYPT_N} (default {STANDARD_SCRYPT_N}; unlocking takes 128*N bytes of"
                            f" memory); the passphrase comes from ${DEVICE_PASSPHRASE_ENV}_FILE or"
                            f" ${DEVICE_PASSPHRASE_ENV}")
        return parser

    enroll = add_home_option(commands.add_parser("enroll", help="create the device key and the store"))
    enroll.add_argument("--dev", action="store_true",
                        help="development mode: accept the model device's simulated entropy")
    enroll.add_argument("--device", default="model", choices=list(DEVICE_KINDS),
                        help="model (bit-exact Python), rtl (the AXI top on Verilator through the driver;"
                        " its entropy is labelled simulated) or pynq (a board: the overlay's .bit file in"
                        f" ${OVERLAY_ENV})")
    enroll.add_argument("--epoch-size", type=int, default=4096,
                        help="seal an epoch at this many certificates")
    enroll.add_argument("--epoch-age", type=float, default=60.0, help="... or when it is this old (s)")
    enroll.add_argument("--vdf-iterations", type=int, default=20_000, help="VDF squarings per epoch")
    enroll.add_argument("--store-url", metavar="URL",
                        help="keep the store in PostgreSQL: postgresql://user@host/database?schema=NAME,"
                        " one schema per appliance (default: SQLite, rosvd.sqlite in the home;"
                        " docs/storage.md)")
    with_scrypt_n(enroll)
    add_json_flag(enroll)
    enroll.set_defaults(handler=_enroll)

    store = commands.add_parser("store", help="the certificate store").add_subparsers(
        dest="store", required=True)
    store_check = add_home_option(store.add_parser(
        "check", help="integrity and consistency check, read-only (exit 1 if damaged)"))
    add_json_flag(store_check)
    store_check.set_defaults(handler=_store_check)
    store_backup = add_home_option(store.add_parser(
        "backup", help="consistent copy of the live store to a new file (SQLite online backup;"
        " a PostgreSQL store: use pg_dump)"))
    store_backup.add_argument("destination", metavar="DEST", help="file to create (never overwritten)")
    add_json_flag(store_backup)
    store_backup.set_defaults(handler=_store_backup)

    key = commands.add_parser("key", help="the device key at rest").add_subparsers(dest="key", required=True)
    encrypt = with_scrypt_n(add_home_option(key.add_parser(
        "encrypt", help="encrypt a plain (dev-mode) device key into a keystore, in place")))
    add_json_flag(encrypt)
    encrypt.set_defaults(handler=_key_encrypt)

    certify = add_home_option(commands.add_parser("certify", help="certify files (images are fingerprinted)"))
    certify.add_argument("paths", nargs="+", metavar="PATH",
                         help="files to certify; - reads one path per line from stdin")
    certify.add_argument("-r", "--recursive", action="store_true", help="certify the files in directories")
    certify.add_argument("--seal", action="store_true", help="seal the open epoch afterwards")
    certify.add_argument("--again", action="store_true",
                         help="issue a new certificate for content this device certified before"
                         " (default: return the existing one)")
    output = certify.add_mutually_exclusive_group()
    add_json_flag(certify, output)
    output.add_argument("--jsonl", action="store_true",
                        help="one JSON line per certificate as soon as it is durable (and per refusal)")
    certify.add_argument("--quiet", action="store_true", help="no progress bar")
    certify.set_defaults(handler=_certify)

    fingerprint = commands.add_parser("fingerprint", help="BLAKE3 and robust fingerprint of files (model)")
    fingerprint.add_argument("paths", nargs="+", metavar="FILE",
                             help="files (images also get a robust fingerprint)")
    add_json_flag(fingerprint)
    fingerprint.set_defaults(handler=_fingerprint)

    epoch = commands.add_parser("epoch", help="epochs").add_subparsers(dest="epoch", required=True)
    seal = add_home_option(epoch.add_parser("seal", help="seal the open epoch and prove its VDF"))
    add_json_flag(seal).set_defaults(handler=_seal)

    verify = add_home_option(commands.add_parser("verify-chain", help="re-verify every epoch from genesis"))
    add_json_flag(verify)
    verify.set_defaults(handler=_verify_chain)

    status = add_home_option(commands.add_parser("status", help="device, store and epoch summary"))
    add_json_flag(status).set_defaults(handler=_status)

    from .entropy.cli_args import BITS_HELP, bits_argument
    entropy = commands.add_parser("entropy", help="entropy source").add_subparsers(
        dest="entropy", required=True)
    assess = entropy.add_parser("assess", help="SP 800-90B min-entropy and SP 800-22 tests of a raw capture")
    assess.add_argument("file", metavar="FILE", help="one sample per byte (NIST tool convention)")
    assess.add_argument("--packed", action="store_true", help="packed bits, MSB first")
    assess.add_argument("--bits", type=bits_argument, default=None, metavar="1..8", help=BITS_HELP)
    add_json_flag(assess)
    assess.set_defaults(handler=_entropy_assess)
    restart = entropy.add_parser("restart", help="SP 800-90B 3.1.4 restart tests (1000 restarts x 1000)")
    restart.add_argument("file", metavar="FILE", help="10^6 samples, one per byte, row-major: "
                         "restart 1's 1000 samples, then restart 2's, ...")
    restart.add_argument("--bits", type=bits_argument, required=True, metavar="1..8", help=BITS_HELP)
    restart.add_argument("--h-initial", type=float, default=None, metavar="H",
                         help="initial entropy estimate H_I in bits per sample (default: the 3.1.3 "
                              "assessment of the restart data's rows)")
    add_json_flag(restart)
    restart.set_defaults(handler=_entropy_restart)
    health = entropy.add_parser("health", help="health-test parameters and fault detection latency")
    add_json_flag(health)
    health.set_defaults(handler=_entropy_health)


def _entropy_assess(args) -> int:
    from .cli import _emit
    from .entropy.assess import assess_file
    _emit(lambda: assess_file(args.file, packed=args.packed, bits=args.bits), args.json)
    return 0


def _entropy_restart(args) -> int:
    from .cli import _emit
    from .entropy.restart import restart_file
    result = restart_file(args.file, args.bits, h_initial=args.h_initial)
    _emit(lambda: result, args.json)
    return 0 if result["passed"] else 1  # 1: the restart data refutes H_I


def _entropy_health(args) -> int:
    from .cli import _emit
    from .entropy.health_report import run
    _emit(run, args.json)
    return 0


def add_benches(bench) -> None:
    from .output import add_json_flag
    certify = bench.add_parser("certify", help="certificates/s end to end, VDF share, C2PA baseline")
    certify.add_argument("--count", type=int, default=8192, help="arrays certified (two 4096 epochs)")
    certify.add_argument("--files", type=int, default=1024,
                         help="PNG files certified, and signed by the c2pa baseline (default 1024)")
    add_json_flag(certify)
    certify.set_defaults(handler=_bench_certify)
    fingerprint = bench.add_parser("fingerprint", help="robustness against PDQ and pHash")
    fingerprint.add_argument("--quick", action="store_true",
                             help="a few images per family, for a smoke run (figures not comparable)")
    add_json_flag(fingerprint)
    fingerprint.set_defaults(handler=_bench_fingerprint)
    model = bench.add_parser("model", help="spec model against the fast bit-exact model")
    add_json_flag(model)
    model.set_defaults(handler=_bench_model)
    anchor = bench.add_parser("anchor", help="gas per certificate by epoch size, against one tx each")
    anchor.add_argument("--sizes", default="1,16,256,4096", help="epoch sizes, comma-separated")
    anchor.add_argument("--naive-count", type=int, default=16, help="one-tx-per-certificate anchors measured")
    anchor.add_argument("--seed", type=int, default=0, help="seed of the sample epochs (default 0)")
    anchor.add_argument("--no-service", action="store_true",
                        help="skip the anchoring-service run (closed epochs on an interval-mining chain)")
    add_json_flag(anchor)
    anchor.set_defaults(handler=_bench_anchor)
    load = bench.add_parser("load", help="concurrent clients against a real `rosvd serve`: throughput,"
                            " latency, errors, acknowledged certificates missing from the store")
    load.add_argument("--clients", type=int, default=100, help="concurrent clients (default 100)")
    load.add_argument("--seconds", type=float, default=60.0, help="how long they run (default 60)")
    load.add_argument("--seed", type=int, default=0, help="seed of the request mix and content (default 0)")
    load.add_argument("--work", metavar="DIR", help="make the home and the server's log in DIR (new) and keep"
                      " them (default: a scratch directory, removed)")
    add_json_flag(load)
    load.set_defaults(handler=_bench_load)


def _bench_load(args) -> int:
    from .bench.load import run
    from .cli import _emit
    result = run(clients=args.clients, seconds=args.seconds, seed=args.seed, work=args.work,
                 progress=lambda text: print(f"[bench load] {text}", file=sys.stderr, flush=True))
    _emit(lambda: result, args.json)
    return 0 if result["ok"] else 1  # 1: errors, or acknowledged certificates missing


def _bench_anchor(args):
    from .bench.anchor import run
    from .cli import _emit
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    _emit(lambda: run(sizes=sizes, naive_count=args.naive_count, seed=args.seed,
                             service=not args.no_service), args.json)


def _bench_certify(args):
    from .bench.certify import run
    from .cli import _emit
    _emit(lambda: run(count=args.count, files=args.files), args.json)


def _bench_fingerprint(args):
    from .bench.fingerprint import run
    from .cli import _emit
    _emit(lambda: run(quick=args.quick), args.json)


def _bench_model(args):
    from .bench.model_speed import run
    from .cli import _emit
    _emit(lambda: run(), args.json)
