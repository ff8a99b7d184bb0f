"""Baseline: how many PNG files per second c2pa-python signs with a C2PA manifest.

The appliance certifies content by batching; C2PA embeds one signed manifest per file.
This module measures the latter on this machine so the two can be compared: the same
PNGs, a minimal manifest (claim generator, title, one ``c2pa.actions`` assertion with
``c2pa.created``), an ES256 signature, no timestamp authority and no network.

The signing credentials are made here with ``cryptography``: a self-signed P-256 CA and
an end-entity certificate it issues with the profile C2PA asks of a claim signer
(X.509 v3, ``keyUsage`` critical with ``digitalSignature``, ``extendedKeyUsage`` with
``emailProtection`` and ``documentSigning``, not a CA, subject and authority key ids).
They are for measurement only: no trust list knows the CA, so readers report the signer
as untrusted, which does not slow signing down.
"""
from __future__ import annotations

import contextlib
import datetime
import functools
import json
import struct
import tempfile
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import c2pa
import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Title written into every manifest, read back by the tests.
MANIFEST_TITLE = "RO-SVD c2pa baseline"
#: Claim generator name and version in the manifest.
CLAIM_GENERATOR = "rosvd-c2pa-baseline"
CLAIM_GENERATOR_VERSION = "0.1.0"
PNG_MIME = "image/png"
#: How long the generated certificates are valid, counted from one hour before creation.
CERT_VALIDITY = datetime.timedelta(days=30)


@dataclass(frozen=True)
class Credentials:
    """PEM files of a signing identity: ``chain_pem`` is end-entity first, then the CA."""

    directory: Path
    chain_pem: bytes
    key_pem: bytes
    ca_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "RO-SVD benchmark (not trusted)"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def make_credentials(directory: Path) -> Credentials:
    """Create a P-256 CA and a C2PA claim-signing certificate; write them to ``directory``.

    Files: ``ca.pem``, ``signer_chain.pem`` (end-entity, CA) and ``signer_key.pem`` (PKCS#8).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("RO-SVD benchmark CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + CERT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("RO-SVD benchmark claim signer")).issuer_name(ca_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + CERT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([
            ExtendedKeyUsageOID.EMAIL_PROTECTION,
            x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36"),  # id-kp-documentSigning
        ]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    chain_pem = signer_cert.public_bytes(serialization.Encoding.PEM) + ca_pem
    key_pem = signer_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
    (directory / "ca.pem").write_bytes(ca_pem)
    (directory / "signer_chain.pem").write_bytes(chain_pem)
    (directory / "signer_key.pem").write_bytes(key_pem)
    return Credentials(directory=directory, chain_pem=chain_pem, key_pem=key_pem, ca_pem=ca_pem)


@functools.cache
def _temporary_credentials() -> tuple[tempfile.TemporaryDirectory, Credentials]:
    holder = tempfile.TemporaryDirectory(prefix="rosvd-c2pa-")  # removed when the process ends
    return holder, make_credentials(Path(holder.name))


def credentials() -> Credentials:
    """The credentials of this process, made on first use in a temporary directory."""
    return _temporary_credentials()[1]


def manifest_definition(title: str = MANIFEST_TITLE) -> dict:
    """The minimal manifest: claim generator, title, ``c2pa.actions`` with ``c2pa.created``."""
    return {
        "claim_generator_info": [{"name": CLAIM_GENERATOR, "version": CLAIM_GENERATOR_VERSION}],
        "title": title,
        "format": PNG_MIME,
        "assertions": [{
            "label": "c2pa.actions",
            "data": {"actions": [{
                "action": "c2pa.created",
                "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
            }]},
        }],
    }


def _signer(creds: Credentials) -> c2pa.Signer:
    # ta_url=None: no timestamp authority, so signing never touches the network.
    info = c2pa.C2paSignerInfo(alg=c2pa.C2paSigningAlg.ES256, sign_cert=creds.chain_pem,
                               private_key=creds.key_pem, ta_url=None)
    return c2pa.Signer.from_info(info)


def _context(thumbnails: bool) -> c2pa.Context:
    return c2pa.Context(c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": thumbnails}}}))


def _targets(paths: Sequence[Path | str], out_dir: Path | str) -> tuple[list[Path], list[Path]]:
    """Check the inputs; returns the sources and the signed copies' paths under ``out_dir``."""
    out_dir = Path(out_dir)
    sources = [Path(p) for p in paths]
    for source in sources:
        if source.suffix.lower() != ".png":
            raise ValueError(f"{source} is not a .png file")
        if not source.is_file():
            raise FileNotFoundError(f"no such PNG file: {source}")
    targets = [out_dir / source.name for source in sources]
    if len(set(targets)) != len(targets):
        raise ValueError("two input files share a name; their signed copies would overwrite each other")
    for source, target in zip(sources, targets, strict=True):
        if source.resolve() == target.resolve():
            raise ValueError(f"refusing to sign {source} in place: choose another out_dir")
    out_dir.mkdir(parents=True, exist_ok=True)
    return sources, targets


def _sign_each(pairs, definition: str, context: c2pa.Context, signer: c2pa.Signer) -> None:
    """Sign each ``(source, target)`` pair: one builder per file, as a C2PA tool does."""
    for source, target in pairs:
        with c2pa.Builder(definition, context) as builder:
            builder.sign_file(source, target, signer)


def sign_png_files(paths: Sequence[Path | str], out_dir: Path | str, *, title: str = MANIFEST_TITLE,
                   thumbnails: bool = True) -> list[Path]:
    """Sign every PNG in ``paths`` with the minimal manifest; write ``out_dir/<name>``.

    ``thumbnails`` is the c2pa SDK's ``builder.thumbnail.enabled`` (on by default there):
    with it, each manifest embeds a JPEG thumbnail of the image, which costs time.
    Returns the written paths, in the order of ``paths``.
    """
    sources, targets = _targets(paths, out_dir)
    with _context(thumbnails) as context, _signer(credentials()) as signer:
        definition = json.dumps(manifest_definition(title))
        _sign_each(zip(sources, targets, strict=True), definition, context, signer)
    return targets


def files_per_s(paths: Sequence[Path | str], *, thumbnails: bool = True, threads: int = 1) -> float:
    """Files signed per second on ``paths`` (into a temporary dir) by ``threads`` threads.

    Set-up happens before the clock starts, as the appliance's does in ``rosvd bench
    certify``: the credentials, and for each thread its own settings context, signer and
    share of the files (every ``threads``-th file). The clock times signing and writing
    every file; the SDK's calls release the GIL, so the threads sign in parallel.
    """
    if not paths:
        raise ValueError("files_per_s needs at least one PNG file")
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    creds = credentials()
    definition = json.dumps(manifest_definition())
    with tempfile.TemporaryDirectory(prefix="rosvd-c2pa-out-") as out_dir, \
            contextlib.ExitStack() as stack, ThreadPoolExecutor(threads, "c2pa-sign") as pool:
        sources, targets = _targets(paths, out_dir)
        pairs = list(zip(sources, targets, strict=True))
        sessions = [(stack.enter_context(_context(thumbnails)), stack.enter_context(_signer(creds)))
                    for _ in range(threads)]
        start = time.perf_counter()
        futures = [pool.submit(_sign_each, pairs[index::threads], definition, context, signer)
                   for index, (context, signer) in enumerate(sessions)]
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - start
        if not all(target.is_file() for target in targets):
            raise RuntimeError("c2pa did not write every signed file")
    return len(paths) / elapsed


def write_png(path: Path | str, width: int = 512, height: int = 512, seed: int = 0) -> Path:
    """Write a deterministic 8-bit RGB test PNG (smooth gradients plus noise) to ``path``."""
    if width < 1 or height < 1:
        raise ValueError(f"PNG size must be at least 1x1, got {width}x{height}")
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([xs * 255 // max(width - 1, 1), ys * 255 // max(height - 1, 1),
                     (xs + ys) * 255 // max(width + height - 2, 1)], axis=-1)
    pixels = np.clip(base + rng.integers(-12, 13, size=base.shape), 0, 255).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter type 0 on every row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour
    path = Path(path)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6))
                     + chunk(b"IEND", b""))
    return path


def bench(files: int = 8, size: int = 512, threads: int = 1) -> dict:
    """Files per second with and without thumbnails on ``files`` fresh ``size``-square PNGs."""
    with tempfile.TemporaryDirectory(prefix="rosvd-c2pa-in-") as in_dir:
        paths = [write_png(Path(in_dir) / f"image_{i:03d}.png", size, size, seed=i) for i in range(files)]
        return {
            "files": files,
            "size": size,
            "png_bytes_mean": sum(p.stat().st_size for p in paths) / files,
            "c2pa_sdk": c2pa.sdk_version(),
            "threads": threads,
            "files_per_s": files_per_s(paths, threads=threads),
            "files_per_s_no_thumbnail": files_per_s(paths, thumbnails=False, threads=threads),
        }


if __name__ == "__main__":
    print(json.dumps(bench(), indent=2))
