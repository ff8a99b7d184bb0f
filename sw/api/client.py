"""``rosvd query``: ask a server who certified a file, then check every answer locally.

The server's word is never taken: for each match the bundle's own certificate says
whether it covers these exact bytes (BLAKE3 computed here) and how far its fingerprint is
from this file's (computed here, with the bit-exact model), and the bundle goes through
the same verifier as ``rosvd verify``. With ``--rpc`` and ``--registry`` that includes the
chain checks; without them a bundle is reported as not verified against the chain, never
as verified.
"""
from __future__ import annotations

import json
from pathlib import Path

from .. import ingest

DEFAULT_TIMEOUT_S = 60.0


class QueryError(ValueError):
    """Bad input, an unreachable server or an answer that is not this API's (exit 2)."""


def local_query(path: str):
    """The file's content, its BLAKE3 and its query views (:class:`rosvd.match.QueryViews`,
    computed here with the bit-exact model; None for plain files)."""
    try:
        content = ingest.from_path(path)
    except ingest.ContentError as error:
        raise QueryError(str(error)) from None
    views = None
    if content.pixels is not None:
        from ..hw.svd.params import SVDParams
        from ..match import query_views
        views = query_views(SVDParams(), content.pixels, fast=False)
    return content, content.blake3(), views


def ask(url: str, path: str, blake3: bytes, views, upload: bool, max_distance: float | None,
        limit: int | None, timeout: float = DEFAULT_TIMEOUT_S, rule: str | None = None) -> dict:
    """POST the query (the hash and the views' fingerprints and descriptors, or with
    ``upload`` the file itself); the first result."""
    import httpx
    endpoint = url.rstrip("/") + "/v1/query"
    try:
        if upload:
            data = {key: str(value) for key, value in (("max_distance", max_distance), ("limit", limit),
                                                       ("match_rule", rule)) if value is not None}
            with open(path, "rb") as handle:
                response = httpx.post(endpoint, files={"file": (Path(path).name, handle)}, data=data,
                                      timeout=timeout)
        else:
            item = {"blake3": blake3.hex()}
            if views is not None:
                item["fingerprints"] = [value.hex() for value in views.fingerprints]
                item["descriptors"] = [value.hex() for value in views.descriptors]
                if views.windows is not None:
                    item["window_fingerprints"] = [value.hex() for value in views.windows.fingerprints]
                    item["window_descriptors"] = [value.hex() for value in views.windows.descriptors]
            body = {"queries": [item]}
            if rule is not None:
                body["match_rule"] = rule
            if max_distance is not None:
                body["max_distance"] = max_distance
            if limit is not None:
                body["limit"] = limit
            response = httpx.post(endpoint, json=body, timeout=timeout)
    except httpx.InvalidURL as error:
        raise QueryError(f"--url {url!r} is not a URL: {error}") from None
    except httpx.UnsupportedProtocol:
        raise QueryError(f"--url {url!r} needs http:// or https://") from None
    except httpx.HTTPError as error:
        raise QueryError(f"cannot reach the server at {url}: {error}") from None
    try:
        record = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise QueryError(f"{endpoint} answered {response.status_code} with no JSON:"
                         " not a rosvd server?") from None
    if response.status_code != 200:
        if isinstance(record, dict) and "detail" in record:
            raise QueryError(f"the server refused the query ({response.status_code} {record.get('title')}):"
                             f" {record['detail']}")
        raise QueryError(f"{endpoint} answered {response.status_code}")
    try:
        return {"max_distance": record["max_distance"], "match_rule": record.get("match_rule"),
                **record["results"][0]}
    except (KeyError, IndexError, TypeError):
        raise QueryError(f"{endpoint} answered with a document that is not a query result") from None


def check(match: dict, blake3: bytes, views, registry, max_distance: float | None = None) -> dict:
    """One match, re-derived from its bundle here and verified (``registry``: None offline).

    The distance is recomputed here: the least over this file's views (``views``, None for
    plain files) to the fingerprint the bundle's certificate signs and, plus the region
    penalty, over its windows to the certificate's region fingerprint. A scheme-2
    certificate signs its region fingerprint and its match descriptors' hash, so the
    descriptors the server sent are checked against that hash and the confirmation at the
    answer's radius (``max_distance``) is recomputed here too. For an older certificate the
    region fingerprint and the confirmation are the server's word (``region_signed`` and
    ``confirmation_checked`` false)."""
    from ..bundle import BundleError, parse
    from ..certificate import CertificateError, decode
    from ..verifier import verify_bundle
    claimed = match.get("certificate") or {}
    record = {"certificate_id": match.get("certificate_id"), "status": claimed.get("status"),
              "epoch": (claimed.get("certificate") or {}).get("epoch"),
              "sequence": (claimed.get("certificate") or {}).get("sequence"),
              "server_exact": match.get("exact"), "server_distance": match.get("distance"),
              "server_confirmed": match.get("confirmed"), "server_confirmation": match.get("confirmation"),
              "server_region_fingerprint": match.get("region_fingerprint"),
              "exact": None, "distance": None, "confirmed": None, "confirmation": None,
              "region_signed": False, "confirmation_checked": False, "verified": False, "checks": None,
              "bundle_unavailable": match.get("bundle_unavailable"), "problems": []}
    bundle = match.get("bundle")
    if bundle is None:
        record["problems"].append("no bundle: " + str(match.get("bundle_unavailable") or "none given"))
        return record
    try:
        parse(bundle)
        certificate = decode(bytes.fromhex(bundle["certificate"]))
    except (BundleError, CertificateError, ValueError, KeyError, TypeError) as error:
        record["problems"].append(f"the bundle is malformed: {error}")
        return record
    record["exact"] = certificate.content_hash == blake3
    if views is not None and any(certificate.fingerprint):
        _rederive(record, match, certificate, views, max_distance)
    if certificate.id.hex() != str(record["certificate_id"]).removeprefix("0x"):
        record["problems"].append("the bundle is for another certificate than the server named")
    if record["exact"] != bool(match.get("exact")):
        record["problems"].append("the server's exact-match claim disagrees with the bundle")
    if not record["exact"] and record["distance"] is None:
        record["problems"].append("the bundle's certificate neither covers these bytes nor has a fingerprint")
    result = verify_bundle(bundle, registry)
    record["checks"] = result.to_json()
    record["verified"] = bool(result.ok) and not record["problems"]
    return record


def _hex(value, problems: list, what: str) -> bytes | None:
    try:
        return bytes.fromhex(str(value).removeprefix("0x"))
    except ValueError:
        problems.append(f"the server's {what} is not hex")
        return None


def _rederive(record: dict, match: dict, certificate, views, max_distance: float | None) -> None:
    """The match's distance and (where signed) confirmation, from this file's views and the
    certificate; disagreements with the server's claims go to ``record["problems"]``."""
    from ..certificate import FingerprintScheme, descriptors_hash
    from ..match import (
        REGION_CONFIRM_THRESHOLD,
        combine,
        descriptor_problem,
        distances,
        judge,
        judge_all,
        window_radius,
    )
    problems = record["problems"]
    signed = certificate.fingerprint_scheme == FingerprintScheme.ROSVD_SVD_REGIONS
    record["region_signed"] = signed
    region = certificate.region_fingerprint if signed else None
    if not signed and match.get("region_fingerprint") is not None:
        region = _hex(match["region_fingerprint"], problems, "region fingerprint")     # its word
        if region is not None and len(region) != 32:
            problems.append("the server's region fingerprint is not 32 bytes of hex")
            region = None
    elif signed and match.get("region_fingerprint") not in (None, region.hex()):
        problems.append("the server's region fingerprint is not the one the certificate signs")
    kept = (None, None)
    sent = match.get("descriptors")
    if signed and isinstance(sent, dict):
        pair = tuple(_hex(sent.get(key), problems, f"{key} descriptor") for key in ("content", "region"))
        if None not in pair and descriptors_hash(*pair) != certificate.descriptors_hash:
            problems.append("the descriptors the server sent are not the ones the certificate signs")
        elif None not in pair and not any(descriptor_problem(d) for d in pair):
            kept = pair
            record["confirmation_checked"] = max_distance is not None
    radius = max_distance if max_distance is not None else float("inf")
    content = judge(views, distances(views, [certificate.fingerprint]), [kept[0]], radius)[0]
    through_region = None
    if region is not None and views.windows is not None:
        windows = judge_all(views.windows, distances(views.windows, [region]), [kept[1]],
                            window_radius(radius), REGION_CONFIRM_THRESHOLD)
        through_region = windows.through_regions().judgement(0)     # the penalty, as the server adds it
    judged = combine(content, through_region)
    record["distance"] = judged.distance
    if match.get("distance") is not None and judged.distance != match.get("distance"):
        problems.append(f"the server's distance {match.get('distance')} is not this file's {judged.distance}"
                        " to the signed fingerprints")
    if record.get("confirmation_checked"):
        record["confirmed"], record["confirmation"] = judged.confirmed, judged.confirmation
        if match.get("confirmed") is not None and judged.confirmed != match.get("confirmed"):
            problems.append(f"the server's confirmation ({match.get('confirmed')}) is not what the signed"
                            f" descriptors give here ({judged.confirmed})")


def summary(report: dict) -> str:
    lines = [f"{report['file']}: blake3 {report['blake3'][:16]}..., {len(report['matches'])} match(es)"
             f" within {report['max_distance']:.4f} from {report['url']}"]
    for match in report["matches"]:
        how = "exact   " if match["exact"] else (
            f"d={match['distance']:.4f}" if match["distance"] is not None else "?       ")
        if match.get("server_region_fingerprint") and not match.get("region_signed"):
            how += " (region: the server's word)"
        if match.get("confirmation_checked"):
            how += " confirmed here" if match.get("confirmed") else " NOT confirmed here"
        if match["verified"]:
            verdict = "VERIFIED"
        elif match["checks"] is None:
            verdict = "NOT VERIFIED: " + "; ".join(match["problems"])
        else:
            unchecked = [c["name"] for c in match["checks"]["checks"] if c["ok"] is None]
            failed = [c["name"] for c in match["checks"]["checks"] if c["ok"] is False]
            verdict = "NOT VERIFIED:" + (f" failed {', '.join(failed)};" if failed else "") + (
                f" not checked {', '.join(unchecked)}" if unchecked else "") + (
                f" {'; '.join(match['problems'])}" if match["problems"] else "")
        lines.append(f"  {how}  0x{match['certificate_id']}  epoch {match['epoch']} #{match['sequence']}"
                     f"  {match['status']}  {verdict.rstrip(';')}")
    if not report["chain"]:
        lines.append("  (no --rpc: the bundles were checked offline only,"
                     " so none is verified against the chain)")
    return "\n".join(lines)
