"""The API's request and response schemas (pydantic): the OpenAPI document is made from them."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..match import MAX_VIEWS, MAX_WINDOWS

HEX32 = r"^(0x)?[0-9a-fA-F]{64}$"
#: A match descriptor (rosvd.fingerprint_confirm): at most 512 bytes, as hex.
HEX_DESCRIPTOR = r"^(0x)?([0-9a-fA-F]{2}){1,512}$"
MatchRule = Literal["confirmed", "distance"]
Status = Literal["open", "sealed", "closed", "anchored"]


class ProblemDetail(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""
    type: str = Field(description="urn:rosvd:problem:<slug> (docs/api.md lists them)")
    title: str
    status: int
    detail: str
    instance: str = Field(description="the request path")
    model_config = ConfigDict(extra="allow")


class CertificateFields(BaseModel):
    """The decoded canonical certificate (docs/host-pipeline.md); hashes as hex."""
    id: str
    version: int
    content_kind: int = Field(description="0 file, 1 image, 2 array")
    fingerprint_scheme: int = Field(description="0 none, 1 rosvd-svd, 2 rosvd-svd with its region and"
                                    " match descriptors (version 3)")
    content_hash: str = Field(description="BLAKE3-256 of the exact bytes")
    fingerprint: str
    device: str
    entropy_commitment: str
    timestamp_ms: int = Field(description="the host's claimed time; the chain's window is in the bundle")
    epoch: int
    sequence: int
    after_block: int
    after_block_hash: str
    region_fingerprint: str = Field(description="scheme 2: the fingerprint of the content's central region;"
                                    " zero otherwise")
    descriptors_hash: str = Field(description="scheme 2: BLAKE3 of the content's and the region's match"
                                  " descriptors (rosvd.certificate.descriptors_hash); zero otherwise")


class AnchorRecord(BaseModel):
    state: str = Field(description="the anchoring service's state: queued, pending, mined, anchored,"
                       " refused, empty")
    chain_id: int
    registry: str
    block_number: int | None
    tx_hash: str | None


class EpochRecord(BaseModel):
    number: int
    status: Status
    certificates: int
    merkle_root: str | None
    opened_ms: int
    sealed_ms: int | None
    closed_ms: int | None
    vdf_iterations: int | None
    anchor: AnchorRecord | None


class CertificateRecord(BaseModel):
    certificate: CertificateFields
    signature: str
    encoding: str = Field(description="the canonical encoding (hex; 448 bytes for version 3, 384 for 2,"
                          " 320 for 1); its keccak256 is the id")
    status: Status = Field(description="its epoch's: open (still filling), sealed (VDF running), closed"
                           " (proved: a bundle exists), anchored (on the chain)")
    bundle_available: bool


class CertificateList(BaseModel):
    certificates: list[CertificateRecord]


class Issued(BaseModel):
    name: str = Field(description="the uploaded file's name")
    existing: bool = Field(description="this device certified these exact bytes before: that certificate")
    certificate: CertificateRecord


class IssuedList(BaseModel):
    issued: list[Issued]


class EpochPage(BaseModel):
    epochs: list[EpochRecord]
    next_after: int | None = Field(description="pass as `after` for the next page; null on the last")


class RegistryRecord(BaseModel):
    chain_id: int
    registry: str
    deployed_block: int


class CrossCheck(BaseModel):
    decompositions: int = Field(description="decompositions the device ran since the service started")
    compared: int = Field(description="of those, compared word for word with the specification model")
    mismatches: int = Field(description="comparisons that differed (each one refused its certificate)")


class DeviceRecord(BaseModel):
    address: str
    backend: str = Field(description="model, rtl or pynq")
    cross_check: CrossCheck | None = Field(
        default=None, description="for a device behind the driver (rtl, pynq): its results checked against"
                                  " the specification model in this service; null for the model itself")
    dev_mode: bool = Field(description="simulated entropy accepted (never in production)")
    certificates: int
    registry: RegistryRecord | None = Field(
        description="the registry this appliance joined; whether the device is registered and not revoked"
                    " is the chain's word: check it there (the bundle verifier does)")


class DeviceList(BaseModel):
    devices: list[DeviceRecord]


class Health(BaseModel):
    status: Literal["ok"]
    certificates: int
    open_epoch: int


#: List items checked against their pattern (a 422, not a failure further in).
Hex32Item = Annotated[str, StringConstraints(pattern=HEX32)]
DescriptorItem = Annotated[str, StringConstraints(pattern=HEX_DESCRIPTOR)]


def _hex_list(most: int, description: str):
    """An optional list of 1 to ``most`` items."""
    return Field(default=None, min_length=1, max_length=most, description=description)


class QueryItem(BaseModel):
    blake3: str | None = Field(default=None, pattern=HEX32, description="BLAKE3-256 of the exact bytes")
    fingerprint: str | None = Field(default=None, pattern=HEX32, description="the robust fingerprint (one"
                                    " view; or send `fingerprints`)")
    fingerprints: list[Hex32Item] | None = _hex_list(
        MAX_VIEWS, "the fingerprints of the query's views (`rosvd fingerprint --json` gives them as"
        " query_fingerprints, the content's own first): the distance is the least over them")
    descriptors: list[DescriptorItem] | None = _hex_list(
        MAX_VIEWS, "the views' match descriptors, one per fingerprint (`query_descriptors`):"
        " needed for the confirmed rule's second stage")
    window_fingerprints: list[Hex32Item] | None = _hex_list(
        MAX_WINDOWS, "the fingerprints of the query's region windows (`query_windows` of `rosvd"
        " fingerprint --json`), matched against the certificates' region fingerprints (needs fingerprints)")
    window_descriptors: list[DescriptorItem] | None = _hex_list(
        MAX_WINDOWS, "the windows' match descriptors, one per window fingerprint")
    model_config = ConfigDict(extra="forbid")


class QueryRequest(BaseModel):
    queries: list[QueryItem] = Field(min_length=1)
    match_rule: MatchRule = Field(
        default="confirmed", description="confirmed: fingerprint candidates within max_distance (default the"
        " candidate radius), confirmed by the descriptors; distance: the fingerprint distance alone"
        " (docs/fingerprint.md gives both rules' false matches)")
    max_distance: float | None = Field(default=None, ge=0, le=1,
                                       description="largest normalised fingerprint distance (default: the"
                                                   " rule's, in the response)")
    limit: int | None = Field(default=None, ge=1, description="matches per query (default 10)")
    model_config = ConfigDict(extra="forbid")


class MatchDescriptors(BaseModel):
    content: str = Field(description="the content's match descriptor (hex)")
    region: str = Field(description="its central region's (hex)")


class Match(BaseModel):
    certificate_id: str
    exact: bool = Field(description="the same exact bytes (BLAKE3)")
    distance: float = Field(description="normalised Hamming distance of the fingerprints (0 when exact), the"
                                        " least over the query's views")
    view: str | None = Field(description="the query's view at that distance (null for an exact match)")
    confirmation: float | None = Field(description="the confirmation score (this server's; a scheme-2"
                                       " certificate signs the descriptors' hash, so a client re-scores"
                                       " them); null when not confirmed")
    confirmed: bool | None = Field(description="whether the confirmation passed; null when it could not be"
                                   " made (exact match, distance rule, or no descriptor on a side)")
    region_fingerprint: str | None = Field(
        description="for a match through a region window: the certificate's region fingerprint it met"
                    " (signed in a scheme-2 certificate; the server's word for older ones); the distance"
                    " then includes the region penalty; null otherwise")
    descriptors: MatchDescriptors | None = Field(
        description="the match descriptors the confirmation scored (a scheme-2 certificate signs their"
                    " hash, so a client re-scores them itself); null when the store keeps none")
    certificate: CertificateRecord
    bundle: dict[str, Any] | None = Field(description="the proof bundle (sw/bundle.py format): verify it"
                                          " yourself")
    bundle_unavailable: str | None = Field(description="why there is no bundle yet")


class QueryResult(BaseModel):
    name: str | None = Field(description="the uploaded file's name")
    blake3: str | None
    fingerprint: str | None = Field(description="the content's own fingerprint (the first view's)")
    views: list[str] | None = Field(description="the views tried (identity, mirror, trimmed, trimmed+mirror"
                                    " for an upload; view1.. for further sent fingerprints)")
    windows: list[str] | None = Field(description="the region windows tried (fraction@top,left of the"
                                      " query; window1.. for sent ones), null when none")
    matches: list[Match]


class QueryResponse(BaseModel):
    match_rule: MatchRule
    max_distance: float
    confirm_threshold: float | None = Field(description="the confirmed rule's score threshold")
    limit: int
    results: list[QueryResult]


class CheckRecord(BaseModel):
    name: str = Field(description="the verifier's check (sw/verifier.py lists them)")
    ok: bool | None = Field(description="true passed, false failed, null not made")
    detail: str


class ServerVerification(BaseModel):
    """What this server's verifier found; a client that does not trust the server re-checks
    with `rosvd query FILE --url URL --rpc NODE --registry ADDR`."""
    certificate_id: str
    ok: bool = Field(description="every check passed (never without the chain checks)")
    checks: list[CheckRecord]
    time_window: dict[str, Any]
    status: dict[str, Any] = Field(description="the chain's word beyond pass or fail: revoked_since_block,"
                                   " open_flags")
    checked_by: Literal["this server"]
    node: str | None = Field(description="the chain node checked against (scheme://host:port only);"
                             " null when the home joined no chain")
    node_redacted: bool | None = Field(description="the node's URL had a path, query or user part, not shown")
    chain_id: int | None
    registry: str | None = Field(description="the registry this server trusts (its deployment's)")
    chain_unchecked: str | None = Field(description="why the chain checks were not made")
    elapsed_ms: int
