"""Robust-fingerprint benchmark: ours against PDQ and pHash on the same images and attacks.

``.venv/bin/python -m rosvd.bench.fingerprint [--quick]`` prints one JSON object.

Images: the photos shipped inside scikit-image (offline, no download) and seeded
synthetic families. Candidate designs were compared on the photos and
:data:`TUNING_FAMILIES` only; :data:`HELD_OUT_FAMILIES` are reported separately, and the
decision thresholds are fixed on the *tuning* images' different-content pairs only.

For every image (the "original": uint8 RGB) each attack of :data:`ATTACKS` gives one
same-content pair (original, attacked). Different-content pairs are all pairs of
distinct originals. For a target false-positive rate ``f`` with ``P`` different pairs,
let ``d_(a)`` be the ``a = floor(f P)``-th smallest different-pair distance (0-based):
a pair *matches* when its distance is strictly below ``d_(a)``, so at most ``a``
different pairs match (the realised FPR is reported). TPR is the fraction of same
pairs that match.
"""
from __future__ import annotations

import argparse
import io
import json
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from rosvd.fingerprint import robust_fingerprints
from rosvd.hw.svd.params import SVDParams
from rosvd.preprocess import preprocess_batch

BENCH_SEED = 3
#: scikit-image photos that load offline. ``cat`` is ``chelsea`` again and is left out.
SKIMAGE_PHOTOS = (
    "astronaut", "brick", "camera", "cell", "checkerboard", "chelsea", "clock", "coffee",
    "coins", "colorwheel", "grass", "gravel", "horse", "hubble_deep_field",
    "immunohistochemistry", "logo", "microaneurysms", "moon", "page", "retina", "rocket", "text",
)
TUNING_FAMILIES = ("blobs", "shapes", "clouds", "gratings")
HELD_OUT_FAMILIES = ("mosaic", "scenes")
FPR_TARGETS = (1e-3, 1e-4)
#: Attack name -> one-line description (the docs table repeats these).
ATTACKS = {
    "jpeg50": "JPEG quality 50 (Pillow, 4:2:0)",
    "jpeg75": "JPEG quality 75 (Pillow, 4:2:0)",
    "resize50": "resize to half width and height (Pillow bicubic)",
    "noise5": "additive Gaussian noise, sigma 5 on 0..255, per sample, rounded and clipped",
    "crop90": "centre crop keeping 90% of each side (5% off every edge)",
    "rotate2": "rotate 2 degrees counter-clockwise about the centre, bicubic, same size, black corners",
}


# Images ---------------------------------------------------------------------------------
def as_rgb8(image: np.ndarray) -> np.ndarray:
    """Any skimage photo -> uint8 (H, W, 3); alpha composited over black, bool -> 0/255."""
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.shape[2] == 4:
        alpha = image[..., 3:4].astype(np.uint32)
        image = ((image[..., :3].astype(np.uint32) * alpha + 127) // 255).astype(np.uint8)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def skimage_photos(names=SKIMAGE_PHOTOS) -> dict[str, np.ndarray]:
    import skimage.data
    return {name: as_rgb8(getattr(skimage.data, name)()) for name in names}


def _palette(rng, count):
    return rng.integers(0, 256, (count, 3)).astype(np.float64)


def _grid(rng):
    height, width = (int(v) for v in rng.integers(160, 320, 2))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    return height, width, yy / height, xx / width


def _to_rgb8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def blobs(rng) -> np.ndarray:
    height, width, yy, xx = _grid(rng)
    out = np.broadcast_to(_palette(rng, 1)[0], (height, width, 3)).copy()
    for _ in range(int(rng.integers(4, 20))):
        cy, cx, radius = rng.random(), rng.random(), rng.uniform(0.03, 0.3)
        weight = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius ** 2))[..., None]
        out = out * (1 - weight) + _palette(rng, 1)[0] * weight
    return _to_rgb8(out)


def shapes(rng) -> np.ndarray:
    height, width, _, _ = _grid(rng)
    image = Image.new("RGB", (width, height), tuple(int(c) for c in _palette(rng, 1)[0]))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 15))):
        x0, x1 = sorted(rng.integers(0, width, 2))
        y0, y1 = sorted(rng.integers(0, height, 2))
        colour = tuple(int(c) for c in _palette(rng, 1)[0])
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        elif kind == 1:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            points = [(int(rng.integers(0, width)), int(rng.integers(0, height))) for _ in range(3)]
            draw.polygon(points, fill=colour)
    return np.asarray(image)


def _smooth_field(rng, height, width, exponent):
    """Gaussian noise with a 1/f**exponent amplitude spectrum, normalised to 0..1."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    radius = np.sqrt(fy ** 2 + fx ** 2)
    radius[0, 0] = 1.0
    noise = rng.standard_normal(radius.shape) + 1j * rng.standard_normal(radius.shape)
    spectrum = noise / radius ** exponent
    spectrum[0, 0] = 0
    field = np.fft.irfft2(spectrum, s=(height, width))
    return (field - field.min()) / max(field.max() - field.min(), 1e-12)


def clouds(rng) -> np.ndarray:
    height, width, _, _ = _grid(rng)
    field = _smooth_field(rng, height, width, rng.uniform(1.5, 2.5))[..., None]
    low, high = _palette(rng, 2)
    return _to_rgb8(low * (1 - field) + high * field)


def gratings(rng) -> np.ndarray:
    height, width, yy, xx = _grid(rng)
    out = np.zeros((height, width, 3))
    for _ in range(int(rng.integers(2, 5))):
        angle, frequency, phase = rng.uniform(0, np.pi), rng.uniform(1, 8), rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * frequency * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)
        out += wave[..., None] * (_palette(rng, 1)[0] - 128) / 3
    return _to_rgb8(out + 128)


def mosaic(rng) -> np.ndarray:
    """Voronoi cells with flat random colours (held out)."""
    height, width, yy, xx = _grid(rng)
    count = int(rng.integers(6, 40))
    centres = rng.random((count, 2))
    distance = (yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2
    return _to_rgb8(_palette(rng, count)[np.argmin(distance, axis=-1)])


def scenes(rng) -> np.ndarray:
    """Sky gradient, a textured ground below a wavy horizon and a few objects (held out)."""
    height, width, yy, xx = _grid(rng)
    sky_top, sky_low, ground = _palette(rng, 3)
    horizon = rng.uniform(0.3, 0.8) + 0.08 * np.sin(2 * np.pi * (rng.uniform(0.5, 3) * xx + rng.random()))
    texture = _smooth_field(rng, height, width, 1.2)[..., None]
    sky = sky_top * (1 - yy[..., None]) + sky_low * yy[..., None]
    out = np.where((yy < horizon)[..., None], sky, ground * (0.6 + 0.8 * texture))
    image = Image.fromarray(_to_rgb8(out))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 6))):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(8, max(9, min(height, width) // 3)))
        colour = tuple(int(c) for c in _palette(rng, 1)[0])
        draw.ellipse((cx - size, cy - size, cx + size, cy + size // 2), fill=colour)
    return np.asarray(image)


FAMILIES = {"blobs": blobs, "shapes": shapes, "clouds": clouds, "gratings": gratings,
            "mosaic": mosaic, "scenes": scenes}


def family_images(family: str, count: int, seed: int = BENCH_SEED) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, sorted(FAMILIES).index(family)])
    return [FAMILIES[family](rng) for _ in range(count)]


# Attacks --------------------------------------------------------------------------------
def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _resize(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    size = (max(1, width // 2), max(1, height // 2))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))


def _noise(image: np.ndarray, rng) -> np.ndarray:
    return _to_rgb8(image.astype(np.float64) + rng.normal(0.0, 5.0, image.shape))


def _crop(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    dy, dx = round(0.05 * height), round(0.05 * width)
    return np.ascontiguousarray(image[dy:height - dy, dx:width - dx])


def _rotate(image: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(image).rotate(2.0, Image.Resampling.BICUBIC, expand=False))


def attack(name: str, image: np.ndarray, rng) -> np.ndarray:
    if name == "jpeg50":
        return _jpeg(image, 50)
    if name == "jpeg75":
        return _jpeg(image, 75)
    if name == "resize50":
        return _resize(image)
    if name == "noise5":
        return _noise(image, rng)
    if name == "crop90":
        return _crop(image)
    if name == "rotate2":
        return _rotate(image)
    raise ValueError(f"unknown attack {name!r}; known: {sorted(ATTACKS)}")


# Hashes ---------------------------------------------------------------------------------
def _decompose():
    """The bit-exact engine model (the fast re-implementation when it is present)."""
    import importlib.util
    if importlib.util.find_spec("rosvd.fast_model") is not None:
        from rosvd.fast_model import decompose
        return decompose, "rosvd.fast_model"
    from rosvd.hw.svd.model import decompose
    return decompose, "rosvd.hw.svd.model"


def rosvd_bits(params: SVDParams, images, chunk: int = 256, check: int = 16) -> np.ndarray:
    """Fingerprint bits; the first ``check`` matrices are also run through the reference
    model, and a fast implementation that disagrees with it is an error."""
    decompose, name = _decompose()
    if name != "rosvd.hw.svd.model" and check:
        from rosvd.hw.svd.model import decompose as reference
        matrices = preprocess_batch(params, images[:check])
        fast, slow = decompose(params, matrices), reference(params, matrices)
        if not (np.array_equal(fast.sigma, slow.sigma) and np.array_equal(fast.vectors, slow.vectors)):
            raise AssertionError(f"{name} disagrees with the bit-exact model")
    out = []
    for start in range(0, len(images), chunk):
        matrices = preprocess_batch(params, images[start:start + chunk])
        prints = robust_fingerprints(params, matrices, decompose(params, matrices))
        out.append(np.unpackbits(np.frombuffer(b"".join(prints), np.uint8).reshape(len(prints), -1), axis=1))
    return np.concatenate(out)


def pdq_bits(images) -> np.ndarray:
    import pdqhash
    return np.array([pdqhash.compute(image)[0] for image in images], dtype=np.uint8)


def phash_bits(images) -> np.ndarray:
    import imagehash
    hashes = [imagehash.phash(Image.fromarray(image)).hash.ravel() for image in images]
    return np.array(hashes, dtype=np.uint8)


# Statistics -----------------------------------------------------------------------------
def distances(bits_a: np.ndarray, bits_b: np.ndarray) -> np.ndarray:
    """Row-wise normalised Hamming distances."""
    return (bits_a != bits_b).mean(axis=1)


def pairwise_distances(bits: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Distances of the pairs (rows[i], cols[i]) via a Gram product (fast for many pairs)."""
    signed = bits.astype(np.float32) * 2 - 1
    agree = signed @ signed.T
    width = bits.shape[1]
    return ((width - agree[rows, cols]) / (2 * width)).astype(np.float64)


def summary(values: np.ndarray) -> dict:
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return {"count": 0}
    p = np.percentile(values, [1, 5, 50, 95, 99])
    return {"count": int(values.size), "mean": round(float(values.mean()), 4),
            "min": round(float(values.min()), 4), "p1": round(float(p[0]), 4), "p5": round(float(p[1]), 4),
            "p50": round(float(p[2]), 4), "p95": round(float(p[3]), 4), "p99": round(float(p[4]), 4),
            "max": round(float(values.max()), 4)}


def thresholds(different: np.ndarray, targets=FPR_TARGETS) -> dict[str, float]:
    """Strict thresholds: ``d < t`` matches; at most ``floor(f P)`` different pairs do."""
    ordered = np.sort(different)
    return {f"{f:g}": float(ordered[int(np.floor(f * len(ordered)))]) for f in targets}


@dataclass
class ImageSet:
    images: list          #: originals, uint8 RGB
    group: list           #: "photo" or the family name


def build_images(per_family: int, photos: tuple[str, ...]) -> ImageSet:
    images, group = [], []
    for name, image in skimage_photos(photos).items():
        images.append(image)
        group.append("photo:" + name)
    for family in TUNING_FAMILIES + HELD_OUT_FAMILIES:
        for image in family_images(family, per_family):
            images.append(image)
            group.append(family)
    return ImageSet(images, group)


def run(per_family: int = 150, photos: tuple[str, ...] = SKIMAGE_PHOTOS, quick: bool = False,
        params: SVDParams | None = None) -> dict:
    """Run the benchmark; ``quick`` shrinks it to a few seconds (for tests)."""
    start = time.perf_counter()
    params = params or SVDParams()
    if quick:
        per_family, photos = min(per_family, 4), photos[:4]
    data = build_images(per_family, photos)
    count = len(data.images)
    held = np.array([g in HELD_OUT_FAMILIES for g in data.group])
    photo = np.array([g.startswith("photo:") for g in data.group])
    rng = np.random.default_rng(BENCH_SEED)
    attacked = {name: [attack(name, image, rng) for image in data.images] for name in ATTACKS}
    everything = list(data.images) + [image for name in ATTACKS for image in attacked[name]]
    timings = {}
    methods = {"rosvd": lambda ims: rosvd_bits(params, ims), "pdq": pdq_bits, "phash": phash_bits}
    rows, cols = np.triu_indices(count, 1)
    tuning_pair = ~held[rows] & ~held[cols]
    result_methods = {}
    for method, hasher in methods.items():
        t0 = time.perf_counter()
        bits = hasher(everything)
        timings[method] = round(time.perf_counter() - t0, 2)
        originals = bits[:count]
        different = pairwise_distances(originals, rows, cols)
        limits = thresholds(different[tuning_pair])
        entry = {"bits": int(bits.shape[1]), "thresholds": limits,
                 "different_tuning": summary(different[tuning_pair]),
                 "different_held_out": summary(different[~tuning_pair]),
                 "realised_fpr_tuning": {f: float((different[tuning_pair] < t).mean())
                                         for f, t in limits.items()},
                 "realised_fpr_held_out": {f: float((different[~tuning_pair] < t).mean())
                                           for f, t in limits.items()},
                 "tuning": {}, "photos": {}, "held_out": {}}
        for index, name in enumerate(ATTACKS):
            same = distances(originals, bits[count * (index + 1): count * (index + 2)])
            for part, mask in (("tuning", ~held), ("photos", photo), ("held_out", held)):
                entry[part][name] = {"same": summary(same[mask]),
                                     **{f"tpr@{f}": round(float((same[mask] < t).mean()), 4)
                                        for f, t in limits.items()}}
        result_methods[method] = entry
    goal = {part: {name: {f"{f:g}": result_methods["rosvd"][part][name][f"tpr@{f:g}"]
                          >= result_methods["pdq"][part][name][f"tpr@{f:g}"] for f in FPR_TARGETS}
                   for name in ATTACKS} for part in ("tuning", "photos", "held_out")}
    return {
        "engine": _decompose()[1],
        "params": {"n": params.n, "k": params.k, "data_width": params.data_width, "sweeps": params.sweeps},
        "quick": quick,
        "images": {"total": count, "photos": [g[6:] for g in data.group if g.startswith("photo:")],
                   "tuning_families": {f: per_family for f in TUNING_FAMILIES},
                   "held_out_families": {f: per_family for f in HELD_OUT_FAMILIES}},
        "pairs": {"different_tuning": int(tuning_pair.sum()), "different_held_out": int((~tuning_pair).sum()),
                  "same_per_attack_tuning": int((~held).sum()), "same_per_attack_held_out": int(held.sum())},
        "attacks": ATTACKS,
        "methods": result_methods,
        "rosvd_at_least_pdq": goal,
        "hash_seconds": timings,
        "seconds": round(time.perf_counter() - start, 1),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few images only (seconds)")
    parser.add_argument("--per-family", type=int, default=150, help="images per synthetic family")
    args = parser.parse_args(argv)
    print(json.dumps(run(per_family=args.per_family, quick=args.quick), indent=1))


if __name__ == "__main__":
    main()
