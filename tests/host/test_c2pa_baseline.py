"""rosvd.bench.c2pa_baseline: signed PNGs read back with c2pa.Reader."""
from __future__ import annotations

import json

import c2pa
import pytest

from rosvd.bench import c2pa_baseline


def _read(path, context=None) -> tuple[str | None, dict]:
    with c2pa.Reader(path, context=context) as reader:
        return reader.get_validation_state(), json.loads(reader.json())


def _codes(store: dict) -> set[str]:
    return {status["code"] for status in store.get("validation_status", [])}


@pytest.fixture(scope="module")
def source_pngs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("png")
    return [c2pa_baseline.write_png(folder / f"image_{i}.png", 64, 48, seed=i) for i in range(2)]


def test_signed_png_reads_back_with_our_manifest(source_pngs, tmp_path):
    signed = c2pa_baseline.sign_png_files(source_pngs, tmp_path / "out")
    assert signed == [tmp_path / "out" / p.name for p in source_pngs]
    for source, target in zip(source_pngs, signed, strict=True):
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with pytest.raises(c2pa.C2paError):  # the source itself carries no manifest
            _read(source)
        state, store = _read(target)
        manifest = store["manifests"][store["active_manifest"]]
        assert manifest["title"] == c2pa_baseline.MANIFEST_TITLE
        assert manifest["claim_generator_info"][0]["name"] == c2pa_baseline.CLAIM_GENERATOR
        assert manifest["signature_info"]["alg"].lower() == "es256"
        actions = [a for assertion in manifest["assertions"] if assertion["label"].startswith("c2pa.actions")
                   for a in assertion["data"]["actions"]]
        assert [a["action"] for a in actions] == ["c2pa.created"]
        # Nobody trusts our CA: that is the only complaint, the signature and hashes hold.
        assert state == "Valid"
        assert _codes(store) == {"signingCredential.untrusted"}


def test_certificate_chain_is_accepted_when_its_ca_is_trusted(source_pngs, tmp_path):
    (signed,) = c2pa_baseline.sign_png_files(source_pngs[:1], tmp_path, title="trusted", thumbnails=False)
    anchors = c2pa_baseline.credentials().ca_pem.decode()
    with c2pa.Context(c2pa.Settings.from_dict({"trust": {"trust_anchors": anchors}})) as context:
        state, store = _read(signed, context)
    assert state == "Trusted", store.get("validation_status")
    manifest = store["manifests"][store["active_manifest"]]
    assert manifest["title"] == "trusted"
    assert "thumbnail" not in manifest


def test_tampered_pixels_invalidate_the_manifest(source_pngs, tmp_path):
    (signed,) = c2pa_baseline.sign_png_files(source_pngs[:1], tmp_path / "out", thumbnails=False)
    data = bytearray(signed.read_bytes())
    data[data.index(b"IDAT") + 20] ^= 0x01
    tampered = tmp_path / "tampered.png"
    tampered.write_bytes(bytes(data))
    state, store = _read(tampered)
    assert state == "Invalid"
    assert "assertion.dataHash.mismatch" in _codes(store)


def test_bad_inputs_are_refused(source_pngs, tmp_path):
    with pytest.raises(ValueError, match="is not a .png file"):
        c2pa_baseline.sign_png_files([tmp_path / "image.jpg"], tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="no such PNG file"):
        c2pa_baseline.sign_png_files([tmp_path / "missing.png"], tmp_path / "out")
    with pytest.raises(ValueError, match="in place"):
        c2pa_baseline.sign_png_files(source_pngs[:1], source_pngs[0].parent)
    with pytest.raises(ValueError, match="at least one PNG"):
        c2pa_baseline.files_per_s([])


def test_files_per_s_is_a_rate(source_pngs):
    assert c2pa_baseline.files_per_s(source_pngs, thumbnails=False) > 0


def test_threads_share_the_files_and_sign_every_one(source_pngs, monkeypatch):
    signed = []
    real = c2pa_baseline._sign_each

    def recording(pairs, definition, context, signer):
        pairs = list(pairs)
        signed.append([source.name for source, _ in pairs])
        real(pairs, definition, context, signer)

    monkeypatch.setattr(c2pa_baseline, "_sign_each", recording)
    assert c2pa_baseline.files_per_s(source_pngs, thumbnails=False, threads=2) > 0
    # Each thread signs its own share; together they sign every file once.
    assert sorted(signed) == [[source_pngs[0].name], [source_pngs[1].name]]
    with pytest.raises(ValueError, match="threads"):
        c2pa_baseline.files_per_s(source_pngs, threads=0)
