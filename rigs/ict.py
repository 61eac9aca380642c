"""The ICT FaceKit head: locate, fetch (once, checksummed) and load it with numpy, ARKit-named.

The ICT FaceKit "FaceXModel" is a 26,719-vertex head (face, back of head, gums and tongue, teeth,
eyeballs, lacrimal fluid, eye occlusion, eyelashes) in centimetres, Y up, +Z forward, +X the
character's left, with 53 expression shapes named like ARKit (``_L``/``_R`` sides). This module turns it
into what the demo character needs: neutral positions in metres, polygons, and one delta per canonical
ARKit channel (:data:`rigs.core.arkit.ARKIT_NAMES`):

* ICT splits ``browInnerUp`` and ``cheekPuff`` into ``_L``/``_R``; here each becomes ONE delta, the sum of
  both halves, so a single ARKit channel drives the whole shape.
* ICT has no ``tongueOut``: :func:`tongue_out_delta` synthesises one that slides the tongue (found
  geometrically inside the lower dental arch) forward and slightly down.

Where the head comes from, in order: ``$PARLEY_DATA/ict_facekit/ict_facekit_light.npz`` (see
:func:`rigs.core.files.data_root`), then ``<cache>/ict_facekit/ict_facekit_light.npz`` (``$PARLEY_CACHE`` or
``~/.cache/parley``), built by :func:`fetch` from the public ICT-FaceKit repository's ``FaceXModel``
OBJ files. Files whose SHA-256 we know are checked against it; the rest are recorded in a manifest on
first download and checked on later use. No network and no copy -> :class:`DataMissingError` saying what
to download and where to put it.

Pure numpy (no bpy); Blender code converts with :func:`rigs.core.rotations.yup_to_zup`: (x, y, z) -> (x, -z, y).

References: Li et al. 2020, "Learning Formation of Physically-Based Face Attributes" (ICT FaceKit);
https://github.com/ICT-VGL/ICT-FaceKit (MIT licence).
"""
from __future__ import annotations

import json
import re
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .core.arkit import ARKIT_NAMES, canonical_name
from .core.errors import DataMissingError
from .core.files import atomic_path, atomic_write, cache_dir, data_root, sha256_file

SOURCE_REPO = "https://github.com/ICT-VGL/ICT-FaceKit"
SOURCE_RAW = "https://raw.githubusercontent.com/ICT-VGL/ICT-FaceKit/master/FaceXModel/"
PACK_NAME = "ict_facekit_light.npz"
NUM_VERTICES = 26719
CM_TO_M = 0.01

# SHA-256 of upstream FaceXModel files we have seen (the rest are recorded on first download).
KNOWN_SHA256 = {
    "generic_neutral_mesh.obj": "eedbc2576d8e5ea57f55255b8f98263213a1efb5431d8bfceed1d7aef10271f9",
    "jawOpen.obj": "8d84355e10f48b05550980cee385bcd426f4797090da76a20de0535bb2f99f4a",
    "eyeBlink_L.obj": "f5ed1c3072a400083b7d4f7f5cb3d73882b7ebb95c3232f957394db8cf7fe19e",
    "mouthFunnel.obj": "d4f1dba04c1af5fc37452c88cc54a72f1133296c26d9abe0f8adb74dc5c2577f",
    "vertex_indices.json": "4f9b35306299980dd46bee4a6b79bb95dfae1953693b74b35a64f7febfd081a5",
}

# Polygon ranges of the OBJ's material groups (``usemtl`` order in generic_neutral_mesh.obj), which
# are also the row ranges of ``faces`` in the pack. Each part's vertices are a contiguous block.
FACE_GROUPS: dict[str, tuple[int, int]] = {
    "face": (0, 9230), "back_head": (9230, 14034), "gums_tongue": (14034, 17006),
    "teeth": (17006, 21496), "sclera_left": (21496, 22296), "iris_left": (22296, 23094),
    "sclera_right": (23094, 23894), "iris_right": (23894, 24692), "lacrimal_fluid": (24692, 25018),
    "eye_blend": (25018, 25048), "eye_occlusion": (25048, 25304), "eyelashes": (25304, 26384),
}
# vertex blocks (start, stop) of the parts that move rigidly or on their own
VERTEX_PARTS: dict[str, tuple[int, int]] = {
    "skin": (0, 14062), "gums_tongue": (14062, 17039), "teeth_upper": (17039, 19247),
    "teeth_lower": (19247, 21451), "eye_left": (21451, 23021), "eye_right": (23021, 24591),
    "eye_extras": (24591, 26719),
}


@dataclass(frozen=True)
class IctHead:
    """The ICT head in metres, Y up (ICT's own axes), ARKit-keyed.

    neutral_m: (V, 3) float32; faces: (F, 4) int32 with -1 padding for triangles;
    deltas_m: canonical ARKit name -> (V, 3) float32 offset at weight 1 (all 52 channels);
    source: where the pack was read from; notes: per-channel remarks (merged halves, synthesised).
    """

    neutral_m: np.ndarray
    faces: np.ndarray
    deltas_m: dict
    source: str
    notes: dict = field(default_factory=dict)

    @property
    def num_vertices(self) -> int:
        return int(self.neutral_m.shape[0])

    def polygons(self) -> list[np.ndarray]:
        """Faces as index arrays without padding (quads and triangles)."""
        return [f[f >= 0] for f in self.faces]

    def part(self, name: str) -> np.ndarray:
        """(n,) vertex indices of a part in :data:`VERTEX_PARTS`."""
        a, b = VERTEX_PARTS[name]
        return np.arange(a, b)

    def eye_center_m(self, side: str) -> np.ndarray:
        """(3,) centre of the left/right eyeball (bounding-box centre of its sclera), metres Y up."""
        v = self.neutral_m[slice(*VERTEX_PARTS[f"eye_{side}"])]
        return 0.5 * (v.min(0) + v.max(0))


def pack_path(*, allow_download: bool = False) -> Path:
    """Path of the ICT pack (data folder, else cache; downloads into the cache if allowed).

    Raises DataMissingError naming what to download and where when it is nowhere to be found.
    """
    tried = []
    try:
        p = data_root() / "ict_facekit" / PACK_NAME
        if p.is_file():
            return p
        tried.append(str(p))
    except DataMissingError as e:
        tried.append(str(e))
    cache = cache_dir() / "ict_facekit"
    p = cache / PACK_NAME
    if p.is_file():
        _verify_manifest(cache)
        return p
    tried.append(str(p))
    if allow_download:
        return fetch(cache)
    raise DataMissingError(
        "ICT FaceKit head not found (looked in: " + "; ".join(tried) + "). Download the FaceXModel folder of "
        f"{SOURCE_REPO} (generic_neutral_mesh.obj, the 53 expression OBJs, vertex_indices.json) and run "
        f"`python -c \"import rigs.ict as m; m.fetch()\"` with network access, or put {PACK_NAME} under "
        "$PARLEY_DATA/ict_facekit/.")


def load_ict(path=None, *, allow_download: bool = False) -> IctHead:
    """Load the ICT head (metres, Y up) with one delta per canonical ARKit channel (52 in all)."""
    path = Path(path) if path is not None else pack_path(allow_download=allow_download)
    try:
        with np.load(path, allow_pickle=False) as z:
            neutral = z["neutral"].astype(np.float32) * CM_TO_M
            faces = z["faces"].astype(np.int32)
            names = [str(s) for s in z["expr_names"]]
            deltas = z["expr_deltas"].astype(np.float32) * CM_TO_M
    except (OSError, KeyError, ValueError) as e:
        raise DataMissingError(f"{path}: not a readable ICT FaceKit pack ({e}); delete it and fetch again") from None
    if neutral.shape != (NUM_VERTICES, 3):
        raise DataMissingError(f"{path}: expected {NUM_VERTICES} vertices, found {neutral.shape[0]}")
    out: dict[str, np.ndarray] = {}
    notes: dict[str, str] = {}
    for i, n in enumerate(names):
        c = canonical_name(n)
        if c is None:
            continue
        if c in out:  # split channel (browInnerUp_L + _R): one ARKit channel drives both halves
            out[c] = out[c] + deltas[i]
            notes[c] = f"sum of ICT {notes[c].split('ICT ')[-1]} and {n}"
        else:
            out[c] = deltas[i].copy()
            notes[c] = f"ICT {n}"
    head = IctHead(neutral, faces, out, str(path), notes)
    if "tongueOut" not in out:
        out["tongueOut"] = tongue_out_delta(head)
        notes["tongueOut"] = ("synthesised: tongue vertices slide forward"
                              if np.any(out["tongueOut"]) else "no tongue geometry: no-op key")
    missing = [n for n in ARKIT_NAMES if n not in out]
    for n in missing:  # keep the 52-channel promise; a zero key is a documented no-op
        out[n] = np.zeros_like(neutral)
        notes[n] = "not in this ICT pack: no-op key"
    return head


def tongue_vertices(head: IctHead) -> np.ndarray:
    """Indices of the tongue: gum/tongue vertices that move with ``jawOpen`` and lie inside the lower
    dental arch (more than 6 mm medial of the lower teeth at the same depth)."""
    gt = head.part("gums_tongue")
    move = np.linalg.norm(head.deltas_m["jawOpen"][gt], axis=1)
    lower = move > 0.3 * move.max()
    teeth = head.neutral_m[head.part("teeth_lower")]
    if not len(teeth):
        return np.zeros(0, np.int64)
    pts = head.neutral_m[gt]
    z_bins = np.round(teeth[:, 2] / 0.005)
    half = {b: np.abs(teeth[z_bins == b, 0]).min() for b in np.unique(z_bins)}
    zb = np.round(pts[:, 2] / 0.005)
    zmin = teeth[:, 2].min()
    width = np.array([half.get(b, half[min(half)] if z < zmin else 0.0) for b, z in zip(zb, pts[:, 2])])
    inside = np.abs(pts[:, 0]) < width - 0.006
    above_floor = pts[:, 1] > teeth[:, 1].min() - 0.005
    return gt[lower & inside & above_floor]


def tongue_out_delta(head: IctHead, *, reach_m: float = 0.018) -> np.ndarray:
    """(V, 3) delta for ARKit ``tongueOut``: the tongue slides forward (+Z) by up to ``reach_m`` at the
    tip, tapering to zero at the root, and drops a little; zeros if no tongue is found."""
    d = np.zeros_like(head.neutral_m)
    idx = tongue_vertices(head)
    if len(idx) < 20:
        return d
    z = head.neutral_m[idx, 2]
    w = np.clip((z - z.min()) / max(z.max() - z.min(), 1e-6), 0.0, 1.0) ** 1.5
    d[idx, 2] = reach_m * w
    d[idx, 1] = -0.25 * reach_m * w
    return d


# ---------------------------------------------------------------- fetching from the public repository

def _verify_manifest(folder: Path) -> None:
    man = folder / "manifest.json"
    if not man.is_file():
        return
    want = json.loads(man.read_text())
    p = folder / PACK_NAME
    if want.get(PACK_NAME) and sha256_file(p) != want[PACK_NAME]:
        raise DataMissingError(f"{p}: checksum does not match {man}; delete {folder} and fetch again")


def _download(url: str, dest: Path, sha256: str | None) -> str:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(dest) as tmp:
            with open(tmp, "wb") as f, urllib.request.urlopen(url, timeout=60) as r:
                while chunk := r.read(1 << 20):
                    f.write(chunk)
            got = sha256_file(tmp)
            if sha256 and got != sha256:
                raise DataMissingError(f"{url}: SHA-256 {got} does not match the expected {sha256}")
        return got
    except OSError as e:
        raise DataMissingError(f"cannot download {url} ({e}); fetch the ICT FaceKit FaceXModel folder from "
                               f"{SOURCE_REPO} by hand and put {PACK_NAME} under $PARLEY_DATA/ict_facekit/") from None


def read_obj_vertices(path) -> np.ndarray:
    """(V, 3) float32 ``v`` lines of an OBJ file (centimetres for ICT)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        rows = [ln[2:].split()[:3] for ln in f if ln.startswith("v ")]
    return np.asarray(rows, dtype=np.float32)


def read_obj_faces(path) -> np.ndarray:
    """(F, 4) int32 zero-based ``f`` lines (vertex index only), triangles padded with -1."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for ln in f:
            if ln.startswith("f "):
                idx = [int(t.split("/")[0]) - 1 for t in ln.split()[1:5]]
                out.append(idx + [-1] * (4 - len(idx)))
    return np.asarray(out, dtype=np.int32)


def fetch(folder=None) -> Path:
    """Download FaceXModel from the ICT-FaceKit repository into ``folder`` (default: the cache) and pack it.

    Known files are checked against :data:`KNOWN_SHA256`; the others' hashes go to ``manifest.json``
    (trust on first use) together with the pack's. Returns the pack's path.
    """
    folder = Path(folder) if folder is not None else cache_dir() / "ict_facekit"
    raw = folder / "FaceXModel"
    manifest: dict[str, str] = {}
    manifest["vertex_indices.json"] = _download(SOURCE_RAW + "vertex_indices.json", raw / "vertex_indices.json",
                                                KNOWN_SHA256["vertex_indices.json"])
    names = json.loads((raw / "vertex_indices.json").read_text())["expressions"]
    for n in ["generic_neutral_mesh"] + list(names):
        if not re.fullmatch(r"[A-Za-z0-9_]+", n):
            raise DataMissingError(f"unexpected expression name {n!r} in vertex_indices.json")
        fn = f"{n}.obj"
        manifest[fn] = _download(SOURCE_RAW + fn, raw / fn, KNOWN_SHA256.get(fn))
    neutral = read_obj_vertices(raw / "generic_neutral_mesh.obj")
    faces = read_obj_faces(raw / "generic_neutral_mesh.obj")
    deltas = np.stack([read_obj_vertices(raw / f"{n}.obj") - neutral for n in names])
    atomic_write(folder / PACK_NAME, lambda f: np.savez_compressed(
        f, neutral=neutral, faces=faces, expr_names=np.array(names), expr_deltas=deltas.astype(np.float32)))
    manifest[PACK_NAME] = sha256_file(folder / PACK_NAME)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return folder / PACK_NAME
