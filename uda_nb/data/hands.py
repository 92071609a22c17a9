"""Synthetic hands with 21 keypoints: the embedded analogue of RegDA's RHD -> H3D task (Jiang et al., CVPR
2021, section 5.2: a rendered source, a real-photo target, PCK per keypoint group MCP / PIP / DIP / fingertip).

Every image is ``3 x 64 x 64`` (RegDA's heatmaps are 64 x 64 too) and shows one hand posed by a small 3-D
kinematic model and projected orthographically:

* **Model.** A palm (a rounded slab whose outline is a fixed polygon), a forearm, and five fingers of three
  capsule segments each, in roughly adult proportions (unit: the palm length, wrist -> middle MCP; fingers
  0.64-0.87 of it, the thumb shorter and set at an angle). Fingers flex at MCP / PIP / DIP inside the
  palm-normal plane (so a curled finger *looks* shorter and a fist folds back over the palm) and abduct in the
  palm plane; the thumb flexes across the palm in a plane tilted out of it (opposition). Every angle is
  clipped to :data:`FLEXION_LIMITS` / :data:`ABDUCTION_LIMITS`. The whole hand is then mirrored (left or right
  hand), turned palm- or back-facing, tilted (yaw, pitch), rotated in the image plane, scaled so the hand fills
  most of the frame, and translated so every part stays inside it (the forearm may leave the frame).
* **Occlusion.** Rendering uses a depth buffer (front surfaces of capsules and of the palm slab), so fingers
  curled toward the camera cover the palm and fingers curled away hide behind it. A keypoint is *visible*
  unless, at its exact position, a part other than its own (e.g. other than the PIP joint's two phalanges)
  lies in front of it, or (``photo`` style) an occluder covers it.
* **Styles.** ``render`` (the RHD role): flat cel-shaded cartoon skin with a dark outline on a plain or
  two-colour gradient background, no noise. ``photo`` (the H3D role): skin tones from very light to very dark,
  soft directional light with a warm subsurface tint, specular sheen, nails, palm and joint creases, a soft
  drop shadow, out-of-focus photo backgrounds (the bundled photos of :mod:`uda_nb.data.photos`), occluding
  objects textured with photos, colour jitter, lens blur and sensor noise.
* **Pose shift.** The styles share the kinematic model and keypoint semantics but, like RHD and H3D, not the
  pose distribution exactly: ``render`` rotates hands through the full circle and draws more random finger
  curls; ``photo`` keeps hands within 120 degrees of upright and draws more counting gestures and open hands.

Keypoint order (RHD / H3D as in the Transfer-Learning-Library): 0 wrist; then for thumb, index, middle, ring,
little finger four points each, from the palm outwards: ``mcp, pip, dip, tip``. For the thumb these slots hold,
anatomically, the CMC (the thumb's base on the palm), MCP and IP joints and the tip; the slot names follow the
fingers, as the per-group PCK of RegDA / the Transfer-Learning-Library does.
Coordinates are pixels ``(x, y)``, ``x`` the column, from the top-left corner of the top-left pixel.
"""

from __future__ import annotations

import numpy as np

from .digits import to_uint8
from .photos import random_patches

IMAGE_SIZE = 64
STYLES = ("render", "photo")
SIZES = {"train": 4000, "test": 1000}
DESCRIPTIONS = {
    "render": "synthetic hands, flat cel-shaded cartoon skin on plain/gradient backgrounds (the RHD role)",
    "photo": "photo-like hands: skin tones, soft light, creases, photo backgrounds, occluders, blur, noise "
             "(the H3D role)",
}

FINGERS = ("thumb", "index", "middle", "ring", "little")
JOINTS = ("mcp", "pip", "dip", "tip")
KEYPOINT_NAMES = ("wrist",) + tuple(f"{f}_{j}" for f in FINGERS for j in JOINTS)
# Bones: wrist to each finger's base, then along the finger; 4 edges per finger, fingers in keypoint order.
SKELETON = tuple(edge for f in range(5) for edge in ((0, 1 + 4 * f), (1 + 4 * f, 2 + 4 * f),
                                                     (2 + 4 * f, 3 + 4 * f), (3 + 4 * f, 4 + 4 * f)))
FINGER_COLORS = ("#e6b800", "#2ca02c", "#1f77b4", "#9467bd", "#d62728")  # thumb yellow ... little red (TLL)
SKELETON_COLORS = tuple(FINGER_COLORS[i // 4] for i in range(len(SKELETON)))  # one colour per edge
GROUPS = {"MCP": (1, 5, 9, 13, 17), "PIP": (2, 6, 10, 14, 18), "DIP": (3, 7, 11, 15, 19),
          "fingertip": (4, 8, 12, 16, 20)}

# ---------------------------------------------------------------------------------------------------------------
# Kinematic model, in units of palm length. Hand frame: x across the palm toward the little finger, y from the
# wrist to the middle-finger MCP, z out of the palm (the palm side). Angles in degrees.
# ---------------------------------------------------------------------------------------------------------------
BASES = np.array([[-0.20, 0.20], [-0.27, 0.95], [0.0, 1.0], [0.25, 0.96], [0.46, 0.86]])  # thumb CMC, 4 MCPs
SEGMENT_LENGTHS = np.array([[0.40, 0.30, 0.25],   # thumb: metacarpal, proximal, distal
                            [0.37, 0.22, 0.19],   # index: proximal, middle, distal phalanx
                            [0.40, 0.26, 0.21],   # middle
                            [0.38, 0.25, 0.20],   # ring
                            [0.29, 0.18, 0.17]])  # little
SEGMENT_RADII = np.array([[0.150, 0.115, 0.105],
                          [0.097, 0.092, 0.085],
                          [0.100, 0.095, 0.087],
                          [0.095, 0.090, 0.083],
                          [0.082, 0.078, 0.072]])
NEUTRAL_ANGLE = np.array([-50.0, -9.0, -1.0, 7.0, 16.0])  # in-plane direction from +y, positive toward +x
SPREAD = np.array([0.0, -14.0, -3.0, 8.0, 18.0])  # abduction of a fully spread hand (thumb drawn separately)
THUMB_PLANE_TILT = 45.0  # the thumb flexes in a plane tilted this far out of the palm plane (opposition)
FLEXION_LIMITS = np.array([[[0.0, 50.0], [0.0, 60.0], [-15.0, 80.0]],     # thumb CMC, MCP, IP
                           *[[[-20.0, 90.0], [0.0, 110.0], [-5.0, 80.0]]] * 4])  # fingers MCP, PIP, DIP
ABDUCTION_LIMITS = np.array([[-30.0, 30.0], [-25.0, 15.0], [-12.0, 12.0], [-12.0, 20.0], [-15.0, 30.0]])
# Palm outline (inset by the slab's half thickness, which rounds it), counter-clockwise, convex.
PALM_POLYGON = np.array([[-0.20, 0.06], [0.18, 0.06], [0.36, 0.40], [0.40, 0.78], [0.34, 0.87], [0.0, 0.93],
                         [-0.26, 0.88], [-0.30, 0.55], [-0.26, 0.25]])
PALM_HALF_THICKNESS = 0.11
FOREARM_RADIUS, FOREARM_FLAT = 0.30, 0.35  # the forearm is flatter in depth than wide
SLEEVE_RADIUS, SLEEVE_FLAT = 0.37, 0.45
MARGIN = 2.0  # pixels kept free between the hand (keypoints + flesh) and the image border
MAX_SCALE = 44.0  # pixels per palm length (small fists are not blown up further)

# Parts, in drawing order: 0 forearm, 1 sleeve, 2 palm, 3..5 thumb segments, then 3 segments per finger.
FOREARM, SLEEVE, PALM = 0, 1, 2
NUM_PARTS = 18


def _segment_part(finger: int, segment: int) -> int:
    return 3 + 3 * finger + segment


def _owners() -> tuple[tuple[int, ...], ...]:
    """For each keypoint the parts it belongs to (its own flesh): only *other* parts can hide it."""
    own = [(PALM, FOREARM, _segment_part(0, 0))]
    for f in range(5):
        first = (PALM, _segment_part(f, 0))
        own += [first, (_segment_part(f, 0), _segment_part(f, 1)), (_segment_part(f, 1), _segment_part(f, 2)),
                (_segment_part(f, 2),)]
    return tuple(own)


OWNERS = _owners()

# Style-specific pose priors: gesture mix (open, fist, counting, random curls), roll range, scale range.
POSE_PRIORS = {
    "render": {"gesture": (0.15, 0.15, 0.25, 0.45), "roll": 180.0, "scale": (0.65, 0.97)},
    "photo": {"gesture": (0.20, 0.15, 0.45, 0.20), "roll": 120.0, "scale": (0.72, 0.97)},
}


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise ValueError(f"Unknown hand style {style!r}: use one of {STYLES}.")


# ---------------------------------------------------------------------------------------------------------------
# Poses
# ---------------------------------------------------------------------------------------------------------------
def sample_poses(n: int, style: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Joint angles and view for ``n`` hands: ``flexion (n, 5, 3)`` and ``abduction (n, 5)`` degrees inside
    the limits, ``yaw, pitch, rotation (n,)`` degrees, ``palm_facing, left_hand (n,)`` bool, wrist angles,
    and the fractions that later fix scale and translation."""
    _check_style(style)
    prior = POSE_PRIORS[style]
    gesture = rng.choice(4, size=n, p=prior["gesture"])
    u = rng.random((n, 5))
    curls = np.stack([0.2 * u, 0.75 + 0.25 * u,
                      np.where(rng.random((n, 5)) < 0.5, 0.15 * u, 0.7 + 0.3 * u),
                      rng.beta(0.8, 0.8, (n, 5))])
    curl = curls[gesture, np.arange(n)]  # (n, 5)
    noise = rng.normal(0.0, 1.0, (n, 5, 3))
    flex = np.empty((n, 5, 3))
    flex[:, 1:, 0] = 88 * curl[:, 1:] + 7 * noise[:, 1:, 0]
    flex[:, 1:, 1] = 100 * curl[:, 1:] + 7 * noise[:, 1:, 1]
    flex[:, 1:, 2] = 0.7 * flex[:, 1:, 1] + 5 * noise[:, 1:, 2]  # DIP follows PIP (tendon coupling)
    flex[:, 0, 0] = 45 * curl[:, 0] + 6 * noise[:, 0, 0]
    flex[:, 0, 1] = 50 * curl[:, 0] + 6 * noise[:, 0, 1]
    flex[:, 0, 2] = 65 * curl[:, 0] + 6 * noise[:, 0, 2]
    flex = np.clip(flex, FLEXION_LIMITS[None, :, :, 0], FLEXION_LIMITS[None, :, :, 1])
    lo_spread = np.array([0.2, -0.4, -0.3, -0.3])[gesture]
    hi_spread = np.array([1.0, 0.2, 0.9, 0.9])[gesture]
    spread = lo_spread + (hi_spread - lo_spread) * rng.random(n)
    abd = spread[:, None] * SPREAD[None] + 3.0 * rng.normal(0.0, 1.0, (n, 5))
    abd[:, 0] = -25.0 * spread + 20.0 * curl[:, 0] + 5.0 * rng.normal(0.0, 1.0, n)  # open thumb spreads out
    abd = np.clip(abd, ABDUCTION_LIMITS[None, :, 0], ABDUCTION_LIMITS[None, :, 1])
    return {
        "flexion": flex, "abduction": abd,
        "palm_facing": rng.random(n) < 0.5, "left_hand": rng.random(n) < 0.5,
        "yaw": rng.uniform(-55.0, 55.0, n), "pitch": rng.uniform(-35.0, 35.0, n),
        "rotation": rng.uniform(-prior["roll"], prior["roll"], n),
        "wrist_deviation": rng.uniform(-15.0, 15.0, n), "wrist_flexion": rng.uniform(-35.0, 35.0, n),
        "scale_fraction": rng.uniform(*prior["scale"], n), "shift_fraction": rng.random((n, 2)),
        "sleeve": np.where(rng.random(n) < 0.5, rng.uniform(0.5, 1.5, n), np.inf),
    }


def _unit(deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rad = np.deg2rad(deg)
    return np.sin(rad), np.cos(rad)


def hand_skeleton(poses: dict[str, np.ndarray]):
    """Forward kinematics in the hand frame (palm lengths).

    Returns ``joints (n, 21, 3)`` keypoints, ``segments (n, 5, 3, 2, 3)`` capsule end points (the distal
    capsule stops short of the fingertip keypoint so its round cap ends just beyond it) and ``palm_side
    (n, 5, 3, 3)`` each segment's unit vector toward its palm side (for creases and nails)."""
    flex, abd = poses["flexion"], poses["abduction"]
    n = len(flex)
    joints = np.zeros((n, 21, 3))
    segments = np.zeros((n, 5, 3, 2, 3))
    palm_side = np.zeros((n, 5, 3, 3))
    z = np.array([0.0, 0.0, 1.0])
    for f in range(5):
        s, c = _unit(NEUTRAL_ANGLE[f] + abd[:, f])
        d = np.stack([s, c, np.zeros(n)], axis=1)  # in-plane direction of the finger
        if f == 0:
            inward = np.stack([c, -s, np.zeros(n)], axis=1)  # in the palm plane, toward the fingers
            ts, tc = _unit(THUMB_PLANE_TILT)
            m = tc * inward + ts * z
        else:
            m = np.broadcast_to(z, (n, 3))
        pos = np.zeros((n, 3))
        pos[:, :2] = BASES[f]
        joints[:, 1 + 4 * f] = pos
        phi = np.zeros(n)
        for k in range(3):
            phi = phi + np.deg2rad(flex[:, f, k])
            u = np.cos(phi)[:, None] * d + np.sin(phi)[:, None] * m
            palm_side[:, f, k] = -np.sin(phi)[:, None] * d + np.cos(phi)[:, None] * m
            nxt = pos + SEGMENT_LENGTHS[f, k] * u
            segments[:, f, k, 0] = pos
            segments[:, f, k, 1] = nxt if k < 2 else nxt - 0.6 * SEGMENT_RADII[f, k] * u
            joints[:, 2 + 4 * f + k] = nxt
            pos = nxt
    return joints, segments, palm_side


def _rotation(poses: dict[str, np.ndarray]) -> np.ndarray:
    """``(n, 3, 3)`` hand frame -> camera frame (x right, y up, z toward the viewer), mirror included."""
    n = len(poses["yaw"])
    yaw = np.deg2rad(poses["yaw"] + np.where(poses["palm_facing"], 0.0, 180.0))
    pitch, roll = np.deg2rad(poses["pitch"]), np.deg2rad(poses["rotation"])
    zero, one = np.zeros(n), np.ones(n)

    def mat(rows):
        return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)

    ry = mat([[np.cos(yaw), zero, np.sin(yaw)], [zero, one, zero], [-np.sin(yaw), zero, np.cos(yaw)]])
    rx = mat([[one, zero, zero], [zero, np.cos(pitch), -np.sin(pitch)], [zero, np.sin(pitch), np.cos(pitch)]])
    rz = mat([[np.cos(roll), -np.sin(roll), zero], [np.sin(roll), np.cos(roll), zero], [zero, zero, one]])
    mirror = np.where(poses["left_hand"], -1.0, 1.0)
    return rz @ rx @ ry * np.stack([mirror, one, one], axis=-1)[:, None, :]


def place_hands(poses: dict[str, np.ndarray], size: int = IMAGE_SIZE) -> dict[str, np.ndarray]:
    """Pose, view, scale and translation -> everything the renderer needs, in image coordinates ``(u, v, z)``:
    ``u`` the column and ``v`` the row in pixels, ``z`` pixels toward the viewer (0 at the wrist).

    Scale (pixels per palm length) is the largest that fits the hand (keypoints plus flesh, forearm excluded)
    into the image with :data:`MARGIN`, times the pose's ``scale_fraction`` (at most :data:`MAX_SCALE`)."""
    joints, segments, palm_side = hand_skeleton(poses)
    n = len(joints)
    rot = _rotation(poses)
    flip = np.array([1.0, -1.0, 1.0])  # camera y-up -> image v-down

    def to_cam(p):  # (n, ..., 3) hand frame -> rotated camera frame, image axes, unit scale
        return np.einsum("nij,n...j->n...i", rot, p) * flip

    cj, cs = to_cam(joints), to_cam(segments)
    dv, dw = _unit(poses["wrist_deviation"])
    fs, fc = _unit(poses["wrist_flexion"])
    fore_dir = np.stack([dv * fc, -dw * fc, fs], axis=1)
    fore = to_cam(np.stack([0.25 * fore_dir, 3.0 * fore_dir], axis=1))  # its round end stops at the wrist
    sleeve_start = np.minimum(poses["sleeve"], 3.0)[:, None]
    sleeve = to_cam(np.stack([sleeve_start * fore_dir, 3.5 * fore_dir], axis=1))
    poly = np.concatenate([PALM_POLYGON, np.zeros((len(PALM_POLYGON), 1))], axis=1)
    cpoly = to_cam(np.broadcast_to(poly, (n,) + poly.shape))
    # Extent at unit scale: keypoints, capsules with their radii, palm with its rounding.
    radii = np.broadcast_to(SEGMENT_RADII[None, :, :, None], (n, 5, 3, 2)).reshape(n, -1)
    pts = cs[..., :2].reshape(n, -1, 2)
    lo = np.minimum(np.minimum((pts - radii[..., None]).min(1), (cpoly[..., :2] - PALM_HALF_THICKNESS).min(1)),
                    cj[..., :2].min(1))
    hi = np.maximum(np.maximum((pts + radii[..., None]).max(1), (cpoly[..., :2] + PALM_HALF_THICKNESS).max(1)),
                    cj[..., :2].max(1))
    extent = (hi - lo).max(1)
    scale = np.minimum((size - 2 * MARGIN) / extent * poses["scale_fraction"], MAX_SCALE)
    room_lo = MARGIN - scale[:, None] * lo
    room_hi = size - MARGIN - scale[:, None] * hi
    offset = room_lo + poses["shift_fraction"] * (room_hi - room_lo)
    off3 = np.concatenate([offset, np.zeros((n, 1))], axis=1)

    def px(p):
        return p * scale.reshape((n,) + (1,) * (p.ndim - 1)) + off3.reshape((n,) + (1,) * (p.ndim - 2) + (3,))

    normal = np.einsum("nij,j->ni", rot, np.array([0.0, 0.0, 1.0])) * flip
    return {
        "joints": px(cj), "segments": px(cs), "palm_side": to_cam(palm_side), "forearm": px(fore),
        "sleeve": px(sleeve), "has_sleeve": np.isfinite(poses["sleeve"]), "palm_polygon": px(cpoly)[..., :2],
        "palm_normal": normal,
        "palm_axes": np.stack([rot[:, :, 0] * flip, rot[:, :, 1] * flip], 1) * scale[:, None, None],
        "scale": scale,
    }


# ---------------------------------------------------------------------------------------------------------------
# Geometry evaluated at a flat list of points (pixel centres or keypoints). ``img (P,)`` says which image each
# point belongs to, so every image is evaluated only inside its own bounding box of each part (a ragged batch).
# ---------------------------------------------------------------------------------------------------------------
F32 = np.float32


def _capsule(px, py, a, b, r, k):
    """A capsule from ``a`` to ``b`` (``(P, 3)`` image coordinates) of radius ``r (P,)``, depth squashed by
    ``k``, seen along -z, at points ``px, py (P,)``. Returns the signed 2-D distance to its silhouette (an
    orthographic capsule projects to a 2-D capsule of the same radius), the depth of its front surface (the
    max over the swept spheres, in closed form), the unit normal ``(P, 3)`` there and the axis parameter
    ``t`` in [0, 1] of the sphere that makes that surface."""
    wx, wy, dz = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1], b[:, 2] - a[:, 2]
    qx, qy = px - a[:, 0], py - a[:, 1]
    l2sq = np.maximum(wx * wx + wy * wy, F32(1e-6))
    t0 = (qx * wx + qy * wy) / l2sq
    tc = np.clip(t0, 0, 1)
    ex, ey = qx - tc * wx, qy - tc * wy
    dist = np.sqrt(ex * ex + ey * ey) - r
    rho = np.sqrt(np.maximum(r * r - np.maximum(qx * qx + qy * qy - t0 * t0 * l2sq, 0), 0))
    l2 = np.sqrt(l2sq)
    # Maximise z(t) + k sqrt(r^2 - |p - axis(t)|^2) over t: stationary point, then clamp to the segment.
    tau = dz * rho / (l2 * np.sqrt(k * k * l2sq + dz * dz) + F32(1e-9))
    lo = np.maximum(0, t0 - rho / l2)
    t = np.clip(t0 + tau, lo, np.maximum(lo, np.minimum(1, t0 + rho / l2)))
    vx, vy = qx - t * wx, qy - t * wy
    h = np.sqrt(np.maximum(r * r - vx * vx - vy * vy, 0))
    z = a[:, 2] + t * dz + k * h
    nz = h / k
    inv = 1 / np.sqrt(vx * vx + vy * vy + nz * nz + F32(1e-9))
    return dist, z, np.stack([vx * inv, vy * inv, nz * inv], axis=-1), t


def _palm(px, py, img, poly, half, normal, wrist):
    """The palm slab at points ``(P,)``: a convex polygon ``poly (B, V, 2)`` in the plane through ``wrist
    (B, 3)`` with unit ``normal (B, 3)``, rounded by ``half (B,)`` (its half thickness, pixels). Returns what
    :func:`_capsule` does, the last item being the signed distance to the polygon itself."""
    # Signed distance as a smooth max of the edges' half-plane distances (exact inside a convex polygon;
    # outside, the log-sum-exp rounds the obtuse corners by about a pixel, which the slab rounding hides).
    v0 = poly.astype(F32)
    e = np.roll(v0, -1, axis=1) - v0  # (B, V, 2) edges
    area = np.sum(v0[:, :, 0] * e[:, :, 1] - v0[:, :, 1] * e[:, :, 0], axis=1)  # twice the signed area
    orient = np.where(area >= 0, F32(1), F32(-1))[:, None]  # mirroring flips the winding
    length = np.maximum(np.linalg.norm(e, axis=-1), F32(1e-6))
    nx, ny = orient * e[..., 1] / length, -orient * e[..., 0] / length  # outward unit normals
    lx, ly, lc = nx[img], ny[img], (nx * v0[..., 0] + ny * v0[..., 1])[img]  # (P, V) each
    dist = px[:, None] * lx + py[:, None] * ly - lc
    top = dist.max(axis=1)
    # Per image: smoothing width (0.04 palm lengths), viewer-facing normal, plane through the wrist.
    side = np.where(normal[:, 2] >= 0, 1.0, -1.0)
    nzs = side * np.maximum(np.abs(normal[:, 2]), 0.3)  # no blow-up for steep palms
    per_image = np.stack([0.04 * half / PALM_HALF_THICKNESS, half, side * normal[:, 0], side * normal[:, 1],
                          side * normal[:, 2], -normal[:, 0] / nzs, -normal[:, 1] / nzs,
                          wrist[:, 2] + (normal[:, 0] * wrist[:, 0] + normal[:, 1] * wrist[:, 1]) / nzs,
                          1 / np.abs(nzs)], axis=0).astype(F32)[:, img]
    tau, half, fx, fy, fz, ax, ay, az, inv_nz = per_image
    w = np.exp((dist - top[:, None]) / tau[:, None])
    dpoly = top + tau * np.log(w.sum(axis=1))
    gx, gy = np.einsum("pv,pv->p", w, lx), np.einsum("pv,pv->p", w, ly)
    glen = np.maximum(np.sqrt(gx * gx + gy * gy), F32(1e-6))
    gx, gy = gx / glen, gy / glen  # outward direction
    out = np.maximum(dpoly, 0)
    z = ax * px + ay * py + az + np.sqrt(np.maximum(half * half - out * out, 0)) * inv_nz
    # Pillow-shaped rim: the normal turns outward over the last ~1.5 half-thicknesses.
    s = np.clip((dpoly + F32(1.5) * half) / (F32(2.5) * half), 0, 1)
    s = s * np.sqrt(s)
    c = np.sqrt(np.maximum(1 - s * s, 0))
    n3x, n3y, n3z = fx * c + gx * s, fy * c + gy * s, fz * c
    inv = 1 / (np.sqrt(n3x * n3x + n3y * n3y + n3z * n3z) + F32(1e-9))
    n3 = np.stack([n3x * inv, n3y * inv, n3z * inv], axis=-1)
    return dpoly - half, z, n3, dpoly


def _part_geometry(pl, idx):
    """``(a, b, r, k)`` of capsule part ``idx`` per image: end points ``(B, 3)``, radius ``(B,)``, squash."""
    scale = pl["scale"]
    if idx == FOREARM:
        return pl["forearm"][:, 0], pl["forearm"][:, 1], FOREARM_RADIUS * scale, FOREARM_FLAT
    if idx == SLEEVE:
        return pl["sleeve"][:, 0], pl["sleeve"][:, 1], SLEEVE_RADIUS * scale, SLEEVE_FLAT
    f, k = divmod(idx - 3, 3)
    seg = pl["segments"][:, f, k]
    return seg[:, 0], seg[:, 1], SEGMENT_RADII[f, k] * scale, 1.0


def _part_at(pl, idx, px, py, img):
    """Part ``idx`` at points ``(P,)`` of images ``img``: ``(dist, z, normal, t)`` as :func:`_capsule`."""
    if idx == PALM:
        half = (PALM_HALF_THICKNESS * pl["scale"]).astype(F32)
        return _palm(px, py, img, pl["palm_polygon"], half, pl["palm_normal"], pl["joints"][:, 0])
    a, b, r, k = _part_geometry(pl, idx)
    a, b, r = a.astype(F32)[img], b.astype(F32)[img], r.astype(F32)[img]
    d, z, nrm, t = _capsule(px, py, a, b, r, F32(k))
    if idx == SLEEVE:
        d = np.where(pl["has_sleeve"][img], d, F32(np.inf))
    return d, z, nrm, t


OCCLUSION_MARGIN = 0.5  # pixels: another part must be at least this far in front of a keypoint to hide it


def keypoint_visibility(pl) -> tuple[np.ndarray, np.ndarray]:
    """Self-occlusion at the exact keypoint positions: ``(visible (B, 21), top_part (B, 21))``.

    A keypoint is hidden when a part that is not one of its own (:data:`OWNERS`: e.g. a PIP joint's two
    phalanges) covers its position with a surface more than :data:`OCCLUSION_MARGIN` pixels in front of it.
    Its own parts never hide it (a joint seen through its own flesh counts as visible, as in annotated
    datasets). ``top_part`` is the front-most part at the keypoint (-1: none), as in the rendered layers."""
    kp = pl["joints"]
    nb = len(kp)
    px, py = kp[..., 0].ravel().astype(F32), kp[..., 1].ravel().astype(F32)
    kz = kp[..., 2].ravel()
    img = np.repeat(np.arange(nb), 21)
    owner = np.zeros((21, NUM_PARTS), dtype=bool)
    for j, parts in enumerate(OWNERS):
        owner[j, list(parts)] = True
    owner = np.tile(owner, (nb, 1))  # (B * 21, parts)
    best_z = np.full(px.shape, -np.inf, dtype=F32)
    top = np.full(px.shape, -1)
    hidden = np.zeros(px.shape, dtype=bool)
    for idx in range(NUM_PARTS):
        d, z, _, _ = _part_at(pl, idx, px, py, img)
        covers = d <= 0
        hidden |= covers & ~owner[:, idx] & (z > kz + OCCLUSION_MARGIN)
        front = covers & (z > best_z)
        best_z = np.where(front, z, best_z)
        top = np.where(front, idx, top)
    inside = (kp[..., 0] >= 0) & (kp[..., 0] < IMAGE_SIZE) & (kp[..., 1] >= 0) & (kp[..., 1] < IMAGE_SIZE)
    return ~hidden.reshape(nb, 21) & inside, top.reshape(nb, 21)


# ---------------------------------------------------------------------------------------------------------------
# Appearance
# ---------------------------------------------------------------------------------------------------------------
RENDER_SKINS = np.array([[1.00, 0.86, 0.74], [0.98, 0.76, 0.60], [0.93, 0.70, 0.55], [0.87, 0.64, 0.48],
                         [0.70, 0.48, 0.34], [0.50, 0.33, 0.24]])
PHOTO_SKIN_RAMP = np.array([[0.96, 0.79, 0.69], [0.91, 0.70, 0.57], [0.82, 0.58, 0.43], [0.67, 0.44, 0.30],
                            [0.49, 0.31, 0.20], [0.34, 0.21, 0.14]])  # very light ... very dark


def _sample_appearance(n: int, style: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-image colours, light and camera effects for one batch (drawn in a fixed order: reproducible)."""
    app = {}
    if style == "render":
        skin = RENDER_SKINS[rng.integers(0, len(RENDER_SKINS), n)]
        light = np.stack([rng.uniform(-0.5, -0.2, n), rng.uniform(-0.6, -0.3, n), np.ones(n)], axis=1)
        bg = rng.random((n, 2, 3))
        for _ in range(50):  # plain backgrounds that stand apart from the skin
            bad = (np.linalg.norm(bg - skin[:, None], axis=-1) < 0.45).any(1)
            if not bad.any():
                break
            bg[bad] = rng.random((int(bad.sum()), 2, 3))
        app["background"] = bg
        app["gradient"] = np.where(rng.random(n) < 0.5, 0.0, 1.0)[:, None] * _unit_vectors(rng, n)
        app["cloth"] = rng.random((n, 3)) * 0.8 + 0.1
    else:
        tone = rng.random(n) * (len(PHOTO_SKIN_RAMP) - 1)
        i = np.minimum(tone.astype(int), len(PHOTO_SKIN_RAMP) - 2)
        w = (tone - i)[:, None]
        skin = (1 - w) * PHOTO_SKIN_RAMP[i] + w * PHOTO_SKIN_RAMP[i + 1]
        skin = skin * rng.uniform(0.95, 1.05, (n, 1)) * (1 + rng.normal(0, 0.02, (n, 3)) * [1.0, 0.6, 0.6])
        light = np.stack([rng.uniform(-0.9, 0.9, n), rng.uniform(-0.9, 0.9, n), rng.uniform(0.6, 1.4, n)], 1)
        app["ambient"] = rng.uniform(0.25, 0.4, n)
        app["diffuse"] = rng.uniform(0.65, 0.85, n)
        app["specular"] = rng.uniform(0.04, 0.12, n)
        warmth = rng.uniform(-1.0, 1.0, n)[:, None]  # tungsten ... daylight
        app["light_colour"] = 1 + warmth * np.array([0.06, 0.0, -0.10])
        app["background_kind"] = rng.choice(3, n, p=(0.45, 0.4, 0.15))  # sharp photo, zoomed photo, wall
        app["photo64"] = random_patches(n, IMAGE_SIZE, rng)
        app["photo32"] = random_patches(n, IMAGE_SIZE // 2, rng)
        app["wall"] = rng.uniform(0.25, 0.85, (n, 3)) * rng.uniform(0.6, 1.0, (n, 1))
        app["gradient"] = rng.uniform(0.0, 0.35, (n, 1)) * _unit_vectors(rng, n)
        app["background_blur"] = rng.choice(3, n, p=(0.3, 0.4, 0.3))
        app["shadow"] = rng.uniform(0.25, 0.55, n)
        app["shadow_offset"] = rng.uniform(1.0, 4.0, n)
        app["cloth_photo"] = random_patches(n, IMAGE_SIZE, rng)
        app["cloth"] = rng.uniform(0.1, 0.9, (n, 3))
        app["cloth_is_photo"] = rng.random(n) < 0.5
        app["n_occluders"] = rng.choice(3, n, p=(0.55, 0.35, 0.10))
        app["occluder_kind"] = rng.integers(0, 3, (n, 2))  # pen / ball / box
        app["occluder_anchor"] = rng.integers(0, 21, (n, 2))
        app["occluder_jitter"] = rng.normal(0.0, 4.0, (n, 2, 2))
        app["occluder_size"] = rng.uniform(0.0, 1.0, (n, 2, 2))
        app["occluder_angle"] = rng.uniform(0.0, np.pi, (n, 2))
        used = app["n_occluders"][:, None] > np.arange(2)[None]  # photo textures only for objects drawn
        app["occluder_photo"] = np.zeros((n, 2, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=F32)
        app["occluder_photo"][used] = random_patches(int(used.sum()), IMAGE_SIZE, rng)
        app["occluder_flat"] = rng.random((n, 2)) < 0.4
        app["occluder_colour"] = rng.uniform(0.05, 0.95, (n, 2, 3))
        app["gain"] = rng.uniform(0.94, 1.06, (n, 3))
        app["brightness"] = rng.uniform(0.8, 1.15, n)
        app["contrast"] = rng.uniform(0.85, 1.15, n)
        app["blur"] = rng.choice(3, n, p=(0.3, 0.45, 0.25))
        app["noise"] = rng.uniform(0.005, 0.035, n)
        app["noise_field"] = rng.standard_normal((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=F32)
    app["skin"] = np.clip(skin, 0.0, 1.0)
    app["light"] = light / np.linalg.norm(light, axis=1, keepdims=True)
    return {k: v.astype(F32) if v.dtype == np.float64 else v for k, v in app.items()}


def _unit_vectors(rng, n):
    a = rng.uniform(0, 2 * np.pi, n)
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def _smooth(x, a, b):
    t = np.clip((x - F32(a)) / F32(b - a), 0, 1)
    return t * t * (3 - 2 * t)


PALM_LIGHTER = np.array([0.10, 0.09, 0.09], dtype=F32)
SHADOW_TINT = np.array([0.0, 0.10, 0.14], dtype=F32)  # light scattered under the skin: shadows turn warm


def _shade(style, app, idx, pl, nrm, t, px, py, img):
    """Colour ``(P, 3)`` of part ``idx`` at its front surface (unit normals ``nrm``)."""
    nl = np.sum(nrm * app["light"][img], axis=-1)
    if style == "render":
        base = (app["cloth"] if idx == SLEEVE else app["skin"])[img]
        tone = np.where(nl > 0.35, F32(1.0), F32(0.78)) + np.where(nl > 0.93, F32(0.07), F32(0))  # cel shading
        return base * tone[:, None]
    diffuse = np.clip((nl + F32(0.35)) / F32(1.35), 0, 1)  # wrapped Lambert: soft skin
    shade = app["ambient"][img] + app["diffuse"][img] * diffuse
    if idx == SLEEVE:
        photo = app["cloth_is_photo"][img][:, None]
        tex = _sample_image(app["cloth_photo"], px, py, img) * F32(0.8) + F32(0.1)
        return np.where(photo, tex, app["cloth"][img]) * shade[:, None]
    skin = app["skin"][img]
    palmar = _palmarness(pl, idx, nrm, img)
    base = skin * (1 + palmar[:, None] * PALM_LIGHTER * (F32(1.4) - skin))  # palms and finger pads are lighter
    col = base * (shade[:, None] * (1 - (1 - diffuse[:, None]) * SHADOW_TINT))
    light = app["light"][img]
    half = light + np.array([0, 0, 1], dtype=F32)
    half /= np.linalg.norm(half, axis=-1, keepdims=True)
    spec = app["specular"][img] * np.maximum(np.sum(nrm * half, axis=-1), 0) ** 10
    crease = None
    if idx >= 3:
        f, k = divmod(idx - 3, 3)
        along = t * F32(SEGMENT_LENGTHS[f, k])  # palm lengths from the segment's proximal joint
        if k > 0:  # flexion crease on the palm side of PIP / DIP, knuckle wrinkles on the back
            crease = np.exp(-(along / F32(0.03)) ** 2) * (F32(0.2) * np.clip(palmar, 0, 1)
                                                         + F32(0.05) * np.clip(-palmar, 0, 1))
        elif f > 0:  # the finger's palmar crease just past the palm's edge
            crease = np.exp(-((along - F32(0.10)) / F32(0.03)) ** 2) * F32(0.25) * np.clip(palmar, 0, 1)
        if k == 2:  # nail on the back of the distal phalanx
            nail = (_smooth(-palmar, 0.45, 0.75) * _smooth(t, 0.35, 0.55))[:, None]
            nail_col = np.clip(skin * F32(1.1) + np.array([0.05, 0.03, 0.04], dtype=F32), 0, 1) * shade[:, None]
            col = col * (1 - nail) + nail_col * nail
            spec = spec * (1 + F32(2.5) * nail[:, 0])
    elif idx == PALM:
        facing = (pl["palm_normal"][:, 2] > 0)[img]
        crease = F32(0.5) * _palm_lines(pl, px, py, img) * facing
    if crease is not None:
        col = col * (1 - F32(0.35) * crease[:, None])
    return (col + spec[:, None]) * app["light_colour"][img]


def _palmarness(pl, idx, nrm, img):
    """Cosine between the surface normal and the part's palm side (+1: palm side toward us, -1: back)."""
    if idx in (PALM, FOREARM, SLEEVE):
        side = pl["palm_normal"].astype(F32)[img]
        return np.sum(nrm * side, axis=-1) * (F32(1) if idx == PALM else F32(0.5))
    f, k = divmod(idx - 3, 3)
    return np.sum(nrm * pl["palm_side"][:, f, k].astype(F32)[img], axis=-1)


def _palm_lines(pl, px, py, img):
    """Faint heart, head and life lines, drawn in palm coordinates (the inverse of the palm's affine map)."""
    axes = pl["palm_axes"][..., :2]  # (B, 2, 2): image vectors of the hand's unit x and y axes
    det = axes[:, 0, 0] * axes[:, 1, 1] - axes[:, 0, 1] * axes[:, 1, 0]
    det = np.where(np.abs(det) < 1e-6, 1e-6, det)
    inv = (np.stack([[axes[:, 1, 1], -axes[:, 1, 0]], [-axes[:, 0, 1], axes[:, 0, 0]]]) / det).astype(F32)[:, :, img]
    wrist = pl["joints"][:, 0, :2].astype(F32)[img]
    dx, dy = px - wrist[:, 0], py - wrist[:, 1]
    hx, hy = inv[0, 0] * dx + inv[0, 1] * dy, inv[1, 0] * dx + inv[1, 1] * dy
    heart = np.exp(-((hy - (0.80 - 0.25 * (hx - 0.35) ** 2 - 0.10 * hx)) / F32(0.02)) ** 2) * _smooth(hx, -0.15, 0.0)
    head = (np.exp(-((hy - (0.62 - 0.12 * hx)) / F32(0.02)) ** 2) * _smooth(hx, -0.30, -0.20)
            * _smooth(-hx, -0.30, -0.20))
    life = (np.exp(-((np.hypot(hx + 0.42, hy - 0.42) - 0.36) / F32(0.02)) ** 2) * _smooth(hy, 0.05, 0.2)
            * _smooth(-hy, -0.75, -0.6))
    return np.clip(heart + head + life, 0, 1).astype(F32)


def _sample_image(images, px, py, img):
    """Nearest-pixel lookup of ``images (B, 3, H, W)`` at points ``(P,)`` of images ``img`` -> ``(P, 3)``."""
    iy = np.clip(py.astype(int), 0, images.shape[2] - 1)
    ix = np.clip(px.astype(int), 0, images.shape[3] - 1)
    return images[img, :, iy, ix]


# ---------------------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------------------
def _pixels(lo, hi, size):
    """Pixels of each image's box ``[lo, hi)`` (``(B, 2)``, clipped to the image) as one flat ragged list:
    ``img, ix, iy`` ``(P,)``."""
    x0, y0 = (np.clip(np.floor(lo[:, i]), 0, size).astype(int) for i in (0, 1))
    x1, y1 = (np.clip(np.ceil(hi[:, i]), 0, size).astype(int) for i in (0, 1))
    w, h = np.maximum(x1 - x0, 0), np.maximum(y1 - y0, 0)
    count = w * h
    img = np.repeat(np.arange(len(lo)), count)
    off = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    wi = np.maximum(w, 1)[img]
    return img, x0[img] + off % wi, y0[img] + off // wi


def _part_bounds(pl, idx):
    if idx == PALM:
        poly = pl["palm_polygon"]
        pad = PALM_HALF_THICKNESS * pl["scale"] + 1.5
        return poly.min(1) - pad[:, None], poly.max(1) + pad[:, None]
    a, b, r, _ = _part_geometry(pl, idx)
    lo = np.minimum(a[:, :2], b[:, :2]) - r[:, None] - 1.5
    hi = np.maximum(a[:, :2], b[:, :2]) + r[:, None] + 1.5
    if idx == SLEEVE:
        hi = np.where(pl["has_sleeve"][:, None], hi, lo)
    return lo, hi


def _render_hand(style, app, pl, size):
    """Depth-buffered, anti-aliased hand layer: premultiplied colour + alpha ``(B, H, W, 4)`` and the
    front-most part per pixel ``(B, H, W)`` int8 (-1: none)."""
    nb = len(pl["scale"])
    rgba = np.zeros((nb * size * size, 4), dtype=F32)
    depth = np.full(nb * size * size, -np.inf, dtype=F32)
    part_id = np.full(nb * size * size, -1, dtype=np.int8)
    for idx in range(NUM_PARTS):
        img, ix, iy = _pixels(*_part_bounds(pl, idx), size)
        if len(img) == 0:
            continue
        px, py = ix.astype(F32) + F32(0.5), iy.astype(F32) + F32(0.5)  # pixel centres
        d, z, nrm, t = _part_at(pl, idx, px, py, img)
        keep = d < 0.5  # only pixels the part touches
        img, px, py, ix, iy, d, z, nrm, t = (v[keep] for v in (img, px, py, ix, iy, d, z, nrm, t))
        cov = np.clip(F32(0.5) - d, 0, 1)  # exact-width anti-aliasing from the signed distance
        col = _shade(style, app, idx, pl, nrm, t, px, py, img)
        if style == "render":  # cartoon outline: the last ~1.2 px inside each part's silhouette
            col = col * (1 - F32(0.55) * np.clip(d + F32(1.7), 0, 1))[:, None]
        g = (img * size + iy) * size + ix
        cur, cur_z = rgba[g], depth[g]
        front = z > cur_z
        new = np.concatenate([col * cov[:, None], cov[:, None]], axis=1)
        over = new + (1 - cov[:, None]) * cur
        under = cur + (1 - cur[:, 3:]) * new
        rgba[g] = np.where(front[:, None], over, under)
        solid = front & (cov >= 0.5)
        depth[g] = np.where(solid, z, cur_z)
        part_id[g] = np.where(solid, np.int8(idx), part_id[g])
    return rgba.reshape(nb, size, size, 4), part_id.reshape(nb, size, size)


def _occluders(app, pl, size):
    """Objects in front of the hand (``photo`` only), each anchored near a random keypoint: a pen (thin long
    capsule), a ball (round blob) or a box (rounded rectangle), photo-textured or flat, with a shading
    gradient across it. Returns colour ``(B, H, W, 3)``, alpha ``(B, H, W)`` and the signed distance at each
    keypoint ``(B, 21)`` (<= 0: covered)."""
    nb = len(pl["scale"])
    colour = np.zeros((nb, size * size, 3), dtype=F32)
    alpha = np.zeros((nb, size * size), dtype=F32)
    kp_dist = np.full((nb, 21), np.inf)
    grid = np.arange(size, dtype=F32) + F32(0.5)
    gx, gy = np.tile(grid, size), np.repeat(grid, size)
    kp = pl["joints"][..., :2]
    scale = pl["scale"]
    for j in range(2):
        act = np.flatnonzero(app["n_occluders"] > j)
        if len(act) == 0:
            continue
        centre = kp[act, app["occluder_anchor"][act, j]] + app["occluder_jitter"][act, j]
        ang = app["occluder_angle"][act, j]
        u = np.stack([np.cos(ang), np.sin(ang)], axis=1)
        kind, sz, s = app["occluder_kind"][act, j], app["occluder_size"][act, j], scale[act]
        half_len = np.select([kind == 0, kind == 1], [(0.5 + 0.6 * sz[:, 0]) * s, 0.05 * s],
                             (0.12 + 0.2 * sz[:, 0]) * s)
        radius = np.select([kind == 0, kind == 1], [(0.035 + 0.04 * sz[:, 1]) * s, (0.12 + 0.16 * sz[:, 1]) * s],
                           (0.1 + 0.15 * sz[:, 1]) * s)
        box = (kind == 2)[:, None]

        def sdf(px, py):  # (A, M) points -> signed distance, position across the object in [-1, 1]
            qx, qy = px - centre[:, 0, None], py - centre[:, 1, None]
            along = qx * u[:, 0, None] + qy * u[:, 1, None]
            across = -qx * u[:, 1, None] + qy * u[:, 0, None]
            hl, r = half_len[:, None], radius[:, None]
            cap = np.hypot(np.maximum(np.abs(along) - hl, 0), across) - r
            bx, by = np.abs(along) - hl + 0.3 * r, np.abs(across) - 0.7 * r
            rbox = np.hypot(np.maximum(bx, 0), np.maximum(by, 0)) + np.minimum(np.maximum(bx, by), 0) - 0.3 * r
            return np.where(box, rbox, cap), across / np.maximum(r, 1e-6)

        d, across = sdf(gx[None], gy[None])
        cov = np.clip(0.5 - d, 0, 1).astype(F32)
        flat = app["occluder_flat"][act, j][:, None, None]
        tex = np.where(flat, app["occluder_colour"][act, j][:, None, :],
                       app["occluder_photo"][act, j].reshape(len(act), 3, -1).transpose(0, 2, 1))
        light = app["light"][act]
        facing = light[:, 0] * -u[:, 1] + light[:, 1] * u[:, 0]  # light across the object: a rounded look
        shade = (0.75 + 0.35 * np.clip(-across * facing[:, None], -1, 1)).astype(F32)
        colour[act] = cov[..., None] * tex * shade[..., None] + (1 - cov[..., None]) * colour[act]
        alpha[act] = cov + (1 - cov) * alpha[act]
        dk, _ = sdf(kp[act, :, 0], kp[act, :, 1])
        kp_dist[act] = np.minimum(kp_dist[act], dk)
    return colour.reshape(nb, size, size, 3), alpha.reshape(nb, size, size), kp_dist


def _backgrounds(style, app, size):
    """``(B, H, W, 3)`` backgrounds: plain or two-colour gradients (render); bundled photos, sharp or zoomed
    and out of focus, or a plain wall with a light gradient (photo)."""
    ramp = np.linspace(-1.0, 1.0, size, dtype=F32)
    g = app["gradient"]
    proj = g[:, 0, None, None] * ramp[None, None, :] + g[:, 1, None, None] * ramp[None, :, None]
    if style == "render":
        w = np.clip(0.5 + 0.5 * proj, 0, 1)[..., None]
        w = np.where(np.abs(g).sum(1)[:, None, None, None] > 0, w, F32(0))  # no gradient: the first colour
        bg = app["background"]
        return (1 - w) * bg[:, 0, None, None, :] + w * bg[:, 1, None, None, :]
    from scipy.ndimage import gaussian_filter

    sharp = app["photo64"].transpose(0, 2, 3, 1)
    zoomed = np.repeat(np.repeat(app["photo32"], 2, axis=2), 2, axis=3).transpose(0, 2, 3, 1)
    zoomed = gaussian_filter(zoomed, sigma=(0, 0.8, 0.8, 0))
    wall = app["wall"][:, None, None, :] * (1 + proj[..., None])
    kind = app["background_kind"][:, None, None, None]
    bg = np.where(kind == 0, sharp, np.where(kind == 1, zoomed, wall))
    for level, sigma in ((1, 0.8), (2, 1.6)):  # depth of field: the hand in focus, the scene often not
        sel = app["background_blur"] == level
        if sel.any():
            bg[sel] = gaussian_filter(bg[sel], sigma=(0, sigma, sigma, 0))
    return bg


def _drop_shadow(alpha, app, size):
    """A soft shadow of the hand on the background, cast away from the light: ``(B, H, W)`` in [0, 1]."""
    from scipy.ndimage import gaussian_filter

    soft = gaussian_filter(alpha, sigma=(0, 2.0, 2.0))
    shift = np.clip(np.rint(-app["light"][:, :2] / app["light"][:, 2:] * app["shadow_offset"][:, None]), -6, 6)
    shift = shift.astype(int)
    padded = np.pad(soft, ((0, 0), (6, 6), (6, 6)))
    return np.stack([padded[i, 6 - sy:6 - sy + size, 6 - sx:6 - sx + size] for i, (sx, sy) in enumerate(shift)])


def _camera(img, app):
    """White balance, exposure, contrast, lens blur and sensor noise (stronger in the dark), ``(B, H, W, 3)``."""
    from scipy.ndimage import gaussian_filter

    img = img * app["gain"][:, None, None, :] * app["brightness"][:, None, None, None]
    mean = img.mean(axis=(1, 2, 3), keepdims=True)
    img = (img - mean) * app["contrast"][:, None, None, None] + mean
    for level, sigma in ((1, 0.5), (2, 0.85)):
        sel = app["blur"] == level
        if sel.any():
            img[sel] = gaussian_filter(img[sel], sigma=(0, sigma, sigma, 0))
    return img + app["noise_field"] * (app["noise"][:, None, None, None] * (F32(1.3) - F32(0.6) * np.clip(img, 0, 1)))


def _subset(d: dict, sl) -> dict:
    return {k: v[sl] for k, v in d.items()}


def render_hands(style: str, poses: dict[str, np.ndarray], rng: np.random.Generator, debug: bool = False,
                 batch: int = 250) -> dict[str, np.ndarray]:
    """Render posed hands: ``images (N, 3, 64, 64)`` uint8, ``keypoints (N, 21, 2)`` float32, ``visible
    (N, 21)`` bool, ``depth (N, 21)`` float32 (pixels toward the viewer, relative to the wrist) and
    ``scale (N,)`` (pixels per palm length).

    With ``debug`` also the layers behind each image: ``part_id (N, 64, 64)`` int8 (front-most part per pixel,
    -1 for none), ``hand_alpha`` and ``occluder_alpha`` ``(N, 64, 64)``, ``hand_only`` and ``background``
    ``(N, 3, 64, 64)`` float32 in [0, 1] (the hand over its background before occluders and camera effects;
    the background alone), ``composite`` (with occluders, before camera effects), ``self_visible (N, 21)``
    (before occluders) and ``top_part (N, 21)`` (see :func:`keypoint_visibility`)."""
    _check_style(style)
    size = IMAGE_SIZE
    placed = place_hands(poses, size)
    n = len(placed["scale"])
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    visible = np.empty((n, 21), dtype=bool)
    dbg: dict[str, list] = {k: [] for k in ("part_id", "hand_alpha", "occluder_alpha", "hand_only", "composite",
                                            "background", "self_visible", "top_part")}
    for start in range(0, n, batch):
        sl = slice(start, min(start + batch, n))
        pl = _subset(placed, sl)
        nb = len(pl["scale"])
        app = _sample_appearance(nb, style, rng)
        rgba, part_id = _render_hand(style, app, pl, size)
        colour, alpha = rgba[..., :3], rgba[..., 3]
        self_vis, top = keypoint_visibility(pl)
        bg = _backgrounds(style, app, size)
        shadow = _drop_shadow(alpha, app, size) * app["shadow"][:, None, None] if style == "photo" else 0
        img = colour + (1 - alpha[..., None]) * (bg * (1 - shadow[..., None] if style == "photo" else 1))
        hand_only = img.copy() if debug else None
        occ_alpha = np.zeros((nb, size, size), dtype=F32)
        vis = self_vis
        composite = img
        if style == "photo":
            occ_col, occ_alpha, kp_dist = _occluders(app, pl, size)
            img = occ_col + (1 - occ_alpha[..., None]) * img
            vis = vis & (kp_dist > 0)
            composite = img
            img = _camera(img, app)
        images[sl] = to_uint8(img).transpose(0, 3, 1, 2)
        visible[sl] = vis
        if debug:
            for key, val in (("part_id", part_id), ("hand_alpha", alpha), ("occluder_alpha", occ_alpha),
                             ("hand_only", hand_only.transpose(0, 3, 1, 2)),
                             ("composite", composite.transpose(0, 3, 1, 2)),
                             ("background", bg.transpose(0, 3, 1, 2)),
                             ("self_visible", self_vis), ("top_part", top)):
                dbg[key].append(val)
    joints = placed["joints"]
    out = {"images": images, "keypoints": joints[..., :2].astype(np.float32), "visible": visible,
           "depth": (joints[..., 2] - joints[:, :1, 2]).astype(np.float32), "scale": placed["scale"].astype(np.float32)}
    if debug:
        out.update({k: np.concatenate(v) for k, v in dbg.items()})
    return out


SPLIT_INDEX = {"train": 0, "test": 1}


def generate_hands(style: str, n: int, rng: np.random.Generator, debug: bool = False) -> dict[str, np.ndarray]:
    """``n`` posed and rendered hands of one style (see :func:`build_hands` for the arrays)."""
    _check_style(style)
    poses = sample_poses(n, style, rng)
    out = render_hands(style, poses, rng, debug=debug)
    out.update({
        "rotation": poses["rotation"].astype(np.float32), "yaw": poses["yaw"].astype(np.float32),
        "pitch": poses["pitch"].astype(np.float32), "palm_facing": poses["palm_facing"],
        "left_hand": poses["left_hand"], "flexion": poses["flexion"].astype(np.float32),
        "abduction": poses["abduction"].astype(np.float32),
    })
    return out


def build_hands(style: str, split: str, seed: int, n: int | None = None) -> dict[str, np.ndarray]:
    """One split of ``hands-<style>``.

    Returns ``images`` uint8 ``(N, 3, 64, 64)``, ``keypoints`` float32 ``(N, 21, 2)`` pixel ``(x, y)``,
    ``visible`` bool ``(N, 21)``, and pose factors: ``rotation, yaw, pitch (N,)`` degrees (rotation is
    counter-clockwise on screen, 0 = fingers up before tilting), ``palm_facing, left_hand (N,)`` bool,
    ``flexion (N, 5, 3)`` and ``abduction (N, 5)`` degrees (fingers in :data:`FINGERS` order; inside
    :data:`FLEXION_LIMITS`, :data:`ABDUCTION_LIMITS`), ``scale (N,)`` pixels per palm length (wrist -> middle
    MCP in 3-D) and ``depth (N, 21)`` pixels toward the viewer relative to the wrist. ``N`` is
    ``SIZES[split]`` unless ``n`` is given. Deterministic: the generator is seeded by ``(seed, split, style)``.
    """
    _check_style(style)
    if split not in SPLIT_INDEX:
        raise ValueError(f"Unknown split {split!r}: use one of {tuple(SPLIT_INDEX)}.")
    rng = np.random.default_rng([seed, SPLIT_INDEX[split], STYLES.index(style), 2121])
    return generate_hands(style, SIZES[split] if n is None else n, rng)
