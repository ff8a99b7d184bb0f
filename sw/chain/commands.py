"""``rosvd chain``: run a local devnet, deploy the registry, join it, anchor epochs.

    rosvd chain up       Anvil in the foreground with the registry deployed (state kept
                         in --dir across restarts); --join registers this appliance's device
    rosvd chain deploy   deploy the registry on any JSON-RPC endpoint (Besu, Quorum)
    rosvd chain join     register the device with a member key (the device key signs its
                         proof of possession)
    rosvd chain anchor   anchor closed epochs (until done, or --follow)
    rosvd chain status   anchor states from the store (no chain needed)
"""
from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from ..home import add_home_option, home_of
from ..output import report as _report

#: Dev accounts of ``rosvd chain up`` (Anvil's deterministic keys): who plays which role.
DEVNET_ADMIN, DEVNET_MEMBER, DEVNET_OPERATOR = 0, 1, 2
DEPLOYMENT_FILE = "deployment.json"
STATE_FILE = "anvil-state.json"
OPERATOR_KEY_FILE = "operator-key.json"


def _devnet_dir(args) -> Path:
    return Path(args.dir) if args.dir else home_of(args) / "devnet"


def load_account(path: Path):
    """A consortium account (deployer, member, relayer) from a key file: plain, or a keystore
    (geth's, a wallet's) unlocked with ``ROSVD_ACCOUNT_PASSPHRASE[_FILE]``."""
    from eth_account import Account

    from ..identity import IdentityError, load_identity
    from ..key_file import ACCOUNT_PASSPHRASE_ENV, passphrase_from_env
    if not path.is_file():
        raise IdentityError(f"no key file at {path} (--key-file; `rosvd chain up` writes a devnet"
                            " operator key)")
    identity = load_identity(path, passphrase_from_env(ACCOUNT_PASSPHRASE_ENV),
                             passphrase_env=ACCOUNT_PASSPHRASE_ENV)
    return Account.from_key(identity.private_key.secret)


def _write_account_key(path: Path, private_key_hex: str, role: str) -> None:
    import coincurve

    from ..identity import write_key_file
    if not path.exists():
        key = coincurve.PrivateKey(bytes.fromhex(private_key_hex.removeprefix("0x")))
        write_key_file(path, key, role=role)


def _tx_params(args) -> dict:
    return {} if args.gas_price is None else {"gasPrice": args.gas_price}


def _interrupt(*_) -> None:
    """SIGTERM as Ctrl-C: Anvil is stopped either way, and writes its state on the way out."""
    raise KeyboardInterrupt


def _up(args) -> int:
    from eth_account import Account

    from .contracts import deploy_registry
    from .deployment import Deployment
    from .devnet import Devnet
    directory = _devnet_dir(args)
    directory.mkdir(parents=True, exist_ok=True)
    state, deployment_path = directory / STATE_FILE, directory / DEPLOYMENT_FILE
    resume = state.is_file() and deployment_path.is_file()
    net = Devnet(port=args.port, dump_state=state, load_state=state if resume else None,
                 block_time=args.block_time)
    signal.signal(signal.SIGTERM, _interrupt)
    with net:
        admin = Account.from_key(net.private_keys[DEVNET_ADMIN])
        if resume:
            deployment = Deployment.load(deployment_path)
            deployment = Deployment(net.chain_id, net.url, deployment.registry, deployment.block_number,
                                    deployment.deployer, deployment.source_hash)
            registry = deployment.connect(admin)
        else:
            registry, tx = deploy_registry(net_web3(net.url), admin)
            registry.add_member(Account.from_key(net.private_keys[DEVNET_MEMBER]).address)
            deployment = Deployment(net.chain_id, net.url, registry.address, tx.block_number, admin.address,
                                    registry.artifact.source_hash)
        deployment.save(deployment_path)
        _write_account_key(directory / OPERATOR_KEY_FILE, net.private_keys[DEVNET_OPERATOR], "operator")
        joined = None
        if args.join:
            member = Account.from_key(net.private_keys[DEVNET_MEMBER])
            joined = join(home_of(args), deployment_path, registry.using(member))
        _report({"rpc_url": net.url, "chain_id": net.chain_id, "registry": registry.address,
                     "deployment": str(deployment_path), "operator_key": str(directory / OPERATOR_KEY_FILE),
                     "state": str(state), "resumed": resume, "joined": joined,
                     "roles": {"admin": net.addresses[DEVNET_ADMIN], "member": net.addresses[DEVNET_MEMBER],
                               "operator": net.addresses[DEVNET_OPERATOR]}}, args)
        print("rosvd: devnet running; Ctrl-C stops it (its state is kept)", file=sys.stderr, flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


def net_web3(url: str):
    from web3 import Web3
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))


def join(home: Path, deployment_path: Path, member_registry) -> dict:
    """Register ``home``'s device (owned by the member ``member_registry`` signs as; the device
    key signs its proof of possession) and point the appliance at the deployment. A device
    already registered is left as it is, so it can be re-run."""
    from ..certify import device_identity, join_chain, load_config
    identity = device_identity(home, load_config(home))
    device = identity.address
    record = member_registry.get_device(device)
    if record is None:
        board_id = member_registry.w3.keccak(text=f"rosvd/board/{device}")
        member_registry.register(identity, board_id, bytes(32))
        record = member_registry.get_device(device)
    elif not record.active:
        raise RuntimeError(f"device {device} was revoked on this registry; a revoked key cannot anchor again")
    join_chain(home, deployment_path)
    return {"device": device, "owner": record.owner, "registry": member_registry.address}


def _deploy(args) -> int:
    from .contracts import DEFAULT_MIN_VDF_ITERATIONS, deploy_registry
    from .deployment import Deployment
    w3 = net_web3(args.rpc)
    deployer = load_account(Path(args.key_file))
    registry, tx = deploy_registry(w3, deployer, admin=args.admin, tx_params=_tx_params(args),
                                   min_vdf_iterations=args.min_vdf_iterations or DEFAULT_MIN_VDF_ITERATIONS)
    deployment = Deployment(w3.eth.chain_id, args.rpc, registry.address, tx.block_number, deployer.address,
                            registry.artifact.source_hash)
    deployment.save(Path(args.out))
    _report({"deployment": args.out, "registry": registry.address, "block_number": tx.block_number,
                 "gas_used": tx.gas_used, "admin": args.admin or deployer.address}, args)
    return 0


def _join(args) -> int:
    from .deployment import Deployment
    deployment_path = Path(args.deployment)
    registry = Deployment.load(deployment_path).connect(load_account(Path(args.member_key_file)),
                                                        tx_params=_tx_params(args))
    _report(join(home_of(args), deployment_path, registry), args)
    return 0


def _anchor(args) -> int:
    from ..certify import device_identity, load_config, open_store
    from .anchor import AnchorPolicy, AnchorService, status
    from .deployment import Deployment, DeploymentError
    home = home_of(args)
    config = load_config(home)
    deployment_path = Path(args.deployment or config.deployment or home_of(args) / "devnet" / DEPLOYMENT_FILE)
    key_path = Path(args.key_file) if args.key_file else deployment_path.parent / OPERATOR_KEY_FILE
    relayer = load_account(key_path)
    registry = Deployment.load(deployment_path).connect(relayer, tx_params=_tx_params(args))

    def follow_deployment():
        """Where the deployment file says the chain is now (`rosvd chain up` rewrites it when
        it restarts on another port)."""
        try:
            moved = Deployment.load(deployment_path)
            if moved.rpc_url == service.w3.provider.endpoint_uri:
                return None
            return moved.connect(relayer, tx_params=_tx_params(args))
        except DeploymentError:
            return None

    identity = device_identity(home, config)
    policy = AnchorPolicy(confirmations=args.confirmations, replace_after_s=args.replace_after,
                          max_fee_wei=args.max_fee_wei)
    store = open_store(home, config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with AnchorService(store, registry, identity, policy, reconnect=follow_deployment) as service:
            retried = service.retry_refused() if args.retry_refused else []
            timed_out = False
            try:
                events = service.run(stop, until_anchored=not args.follow, timeout_s=args.timeout)
            except KeyboardInterrupt:
                events = service.events
            except TimeoutError as error:
                print(f"rosvd: {error}", file=sys.stderr)
                events, timed_out = service.events, True
        _report({"events": dict(events), "retried": retried, "timed_out": timed_out, **status(store)}, args)
    finally:
        store.close()
    return 1 if timed_out else 0


def _status(args) -> int:
    from ..certify import open_store
    from .anchor import status
    store = open_store(home_of(args))  # refuses a home with no enrolled device
    try:
        _report(status(store), args)
    finally:
        store.close()
    return 0


def add_commands(commands) -> None:
    from ..output import add_json_flag
    chain = commands.add_parser("chain", help="consortium registry: devnet, deploy, join, anchor")
    chain = chain.add_subparsers(dest="chain", required=True)

    def with_gas_price(parser):
        parser.add_argument("--gas-price", type=int, default=None,
                            help="fixed gas price in wei (0 on a free-gas Besu/Quorum network)")
        return parser

    up = add_home_option(chain.add_parser("up", help="run Anvil with the registry deployed, until Ctrl-C"))
    up.add_argument("--dir", help="devnet state, deployment and operator key (default HOME/devnet)")
    up.add_argument("--port", type=int, default=None, help="JSON-RPC port (default: a free one)")
    up.add_argument("--block-time", type=float, default=1.0, help="seconds per block (default 1)")
    up.add_argument("--join", action="store_true",
                    help="register HOME's device, owned by the dev member")
    add_json_flag(up).set_defaults(handler=_up)

    deploy = with_gas_price(chain.add_parser("deploy", help="deploy the registry on a JSON-RPC endpoint"))
    deploy.add_argument("--rpc", required=True, help="JSON-RPC URL of a node of the consortium chain")
    deploy.add_argument("--key-file", required=True, help="deployer key file, 0600: plain, or a keystore"
                        " unlocked with $ROSVD_ACCOUNT_PASSPHRASE_FILE or $ROSVD_ACCOUNT_PASSPHRASE")
    deploy.add_argument("--admin", help="first admin address (default: the deployer; use a multisig)")
    deploy.add_argument("--out", default=DEPLOYMENT_FILE, help="deployment file to write")
    deploy.add_argument("--min-vdf-iterations", type=int, default=None,
                        help="consortium policy: fewest VDF squarings an anchored epoch may claim"
                             " (default: the devnet's, rosvd.chain.contracts.DEFAULT_MIN_VDF_ITERATIONS)")
    add_json_flag(deploy).set_defaults(handler=_deploy)

    joining = with_gas_price(add_home_option(chain.add_parser("join",
                                                              help="register this device on the registry")))
    joining.add_argument("--deployment", required=True,
                         help="deployment file of the registry (from `rosvd chain deploy` or `chain up`)")
    joining.add_argument("--member-key-file", required=True, help="key file of a consortium member (plain or"
                         " keystore, as --key-file of deploy)")
    add_json_flag(joining).set_defaults(handler=_join)

    anchor = chain.add_parser("anchor", help="anchor closed epochs on the registry")
    anchor = with_gas_price(add_home_option(anchor))
    anchor.add_argument("--deployment", help="deployment file (default: the one the appliance joined)")
    anchor.add_argument("--key-file", help="key of the account that relays anchors and pays their gas"
                        " (default: the devnet operator key); the device key signs them")
    anchor.add_argument("--confirmations", type=int, default=2, help="blocks deep before an epoch counts")
    anchor.add_argument("--replace-after", type=float, default=30.0,
                        help="seconds before an unmined anchor is re-sent with a higher fee")
    anchor.add_argument("--max-fee-wei", type=int, default=None, help="never pay more per gas")
    anchor.add_argument("--follow", action="store_true", help="keep anchoring new epochs until stopped")
    anchor.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    anchor.add_argument("--retry-refused", action="store_true",
                        help="send epochs the registry refused again (after a member fixed the cause)")
    add_json_flag(anchor).set_defaults(handler=_anchor)

    add_json_flag(add_home_option(chain.add_parser("status", help="anchor states of this appliance's epochs"))
                  ).set_defaults(handler=_status)
