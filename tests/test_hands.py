"""The embedded synthetic hands (RegDA's RHD -> H3D analogue): metadata, geometry of the kinematic model,
visibility against the rendered layers, determinism, registry and figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from uda_nb.data import hands, load_domain  # noqa: E402
from uda_nb.data.keypoints import KeypointDomain  # noqa: E402
from uda_nb.viz.keypoints import draw_keypoints, keypoint_grid  # noqa: E402

N = 160


@pytest.fixture(scope="module")
def debug_batches():
    """A small debug batch per style, with the rendered layers."""
    return {style: hands.generate_hands(style, N, np.random.default_rng([7, i]), debug=True)
            for i, style in enumerate(hands.STYLES)}


def _pixel(out, values):
    """``values (N, H, W)`` read at the pixel holding each keypoint -> ``(N, 21)``."""
    kp = out["keypoints"]
    ix = np.clip(np.floor(kp[..., 0]).astype(int), 0, hands.IMAGE_SIZE - 1)
    iy = np.clip(np.floor(kp[..., 1]).astype(int), 0, hands.IMAGE_SIZE - 1)
    return values[np.arange(len(kp))[:, None], iy, ix]


def test_metadata_skeleton_is_a_tree_and_groups_partition_the_fingers():
    assert len(hands.KEYPOINT_NAMES) == 21 == len(set(hands.KEYPOINT_NAMES))
    assert hands.KEYPOINT_NAMES[0] == "wrist" and hands.KEYPOINT_NAMES[8] == "index_tip"
    assert len(hands.SKELETON) == 20 == len(hands.SKELETON_COLORS)
    assert len(set(hands.SKELETON_COLORS)) == 5  # one colour per finger
    parent = list(range(21))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b in hands.SKELETON:  # 20 edges joining 21 nodes without a cycle: a spanning tree
        ra, rb = find(a), find(b)
        assert ra != rb, f"edge {(a, b)} closes a cycle"
        parent[ra] = rb
    assert len({find(i) for i in range(21)}) == 1
    members = [i for idx in hands.GROUPS.values() for i in idx]
    assert sorted(members) == list(range(1, 21))  # disjoint, and every finger keypoint in one group
    assert set(members) | {0} == set(range(21))
    assert set(hands.GROUPS) == {"MCP", "PIP", "DIP", "fingertip"}
    for f in range(5):  # one keypoint of each finger per group, in order from the palm out
        assert [hands.GROUPS[g][f] for g in ("MCP", "PIP", "DIP", "fingertip")] == [1 + 4 * f + k for k in range(4)]


def test_build_shapes_dtypes_and_visible_keypoints_inside_the_image(debug_batches):
    out = hands.build_hands("render", "test", 0, n=24)
    assert out["images"].shape == (24, 3, 64, 64) and out["images"].dtype == np.uint8
    assert out["keypoints"].shape == (24, 21, 2) and out["keypoints"].dtype == np.float32
    assert out["visible"].shape == (24, 21) and out["visible"].dtype == bool
    for style, out in debug_batches.items():
        kp, vis = out["keypoints"], out["visible"]
        assert ((kp[vis] >= 0) & (kp[vis] < 64)).all(), style
        assert ((kp >= hands.MARGIN - 1e-3) & (kp <= 64 - hands.MARGIN + 1e-3)).all()  # the fit keeps a margin
        assert 0.6 < vis.mean() < 0.95, (style, vis.mean())  # occlusion happens, but most points are seen
        assert vis[:, 0].mean() > 0.9  # the wrist is rarely hidden


def test_hand_pixels_are_where_the_keypoints_are(debug_batches):
    out = debug_batches["render"]
    vis = out["visible"]
    assert (_pixel(out, out["hand_alpha"])[vis] > 0.5).mean() > 0.99
    assert (_pixel(out, out["part_id"])[vis] >= 0).all()
    # On the final image (flat backgrounds), every visible keypoint's pixel differs from the background there.
    img = out["images"].astype(np.float32).transpose(0, 2, 3, 1) / 255
    diff = np.abs(img - out["background"].transpose(0, 2, 3, 1)).max(-1)
    assert (_pixel(out, diff)[vis] > 0.05).mean() > 0.99
    # ... and the hand covers a sizeable but not total part of the frame.
    cover = out["hand_alpha"].mean((1, 2))
    assert 0.1 < cover.min() and cover.max() < 0.9


def test_same_seed_same_bytes_different_seed_or_split_differs():
    a, b = hands.build_hands("photo", "test", 0, n=12), hands.build_hands("photo", "test", 0, n=12)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    c = hands.build_hands("photo", "test", 1, n=12)
    d = hands.build_hands("photo", "train", 0, n=12)
    e = hands.build_hands("render", "test", 0, n=12)
    for other in (c, d, e):
        assert not np.array_equal(a["images"], other["images"])
        assert not np.allclose(a["keypoints"], other["keypoints"])


def test_bone_lengths_follow_the_kinematic_model(debug_batches):
    for out in debug_batches.values():
        p3 = np.concatenate([out["keypoints"], out["depth"][..., None]], axis=-1)  # (N, 21, 3) pixels
        scale = out["scale"][:, None]
        palm = np.linalg.norm(p3[:, 9] - p3[:, 0], axis=-1)
        np.testing.assert_allclose(palm, out["scale"], rtol=1e-4)  # wrist -> middle MCP = one palm length
        for f in range(5):
            for k in range(3):
                a, b = 1 + 4 * f + k, 2 + 4 * f + k
                length3d = np.linalg.norm(p3[:, b] - p3[:, a], axis=-1)
                np.testing.assert_allclose(length3d, hands.SEGMENT_LENGTHS[f, k] * out["scale"], rtol=1e-4)
                length2d = np.linalg.norm(out["keypoints"][:, b] - out["keypoints"][:, a], axis=-1)
                assert (length2d <= length3d + 1e-3).all()  # projection only shortens
        # Finger bases sit where the palm model puts them (rigid palm): MCP-to-MCP distances in 3-D.
        for i, j in ((5, 9), (9, 13), (13, 17), (1, 9)):
            model = np.linalg.norm(hands.BASES[(i - 1) // 4] - hands.BASES[(j - 1) // 4])
            np.testing.assert_allclose(np.linalg.norm(p3[:, i] - p3[:, j], axis=-1), model * scale[:, 0], rtol=1e-4)
        assert (out["scale"] <= hands.MAX_SCALE + 1e-4).all() and (out["scale"] > 10).all()


def test_joint_angles_stay_inside_their_limits_and_use_the_range(debug_batches):
    for style, out in debug_batches.items():
        flex, abd = out["flexion"], out["abduction"]
        lim_f, lim_a = hands.FLEXION_LIMITS, hands.ABDUCTION_LIMITS
        assert ((flex >= lim_f[..., 0] - 1e-4) & (flex <= lim_f[..., 1] + 1e-4)).all()
        assert ((abd >= lim_a[:, 0] - 1e-4) & (abd <= lim_a[:, 1] + 1e-4)).all()
        assert (flex[:, 1:, 0].max(0) > 70).all() and (flex[:, 1:, 1].min(0) < 15).all()  # open and curled
        assert 0.3 < out["palm_facing"].mean() < 0.7 and 0.3 < out["left_hand"].mean() < 0.7
    # The documented pose shift: render hands turn through the full circle, photo hands stay near upright.
    assert np.abs(debug_batches["render"]["rotation"]).max() > 150
    assert np.abs(debug_batches["photo"]["rotation"]).max() <= 120


def test_curled_fingers_hide_and_an_open_palm_shows_everything():
    rng = np.random.default_rng(3)
    poses = hands.sample_poses(4, "render", rng)
    poses.update(yaw=np.zeros(4), pitch=np.zeros(4), rotation=np.zeros(4), abduction=np.zeros((4, 5)),
                 palm_facing=np.array([True, False, True, False]), left_hand=np.array([False, True, True, False]),
                 sleeve=np.full(4, np.inf), wrist_flexion=np.zeros(4))
    flex = np.zeros((4, 5, 3))
    flex[2:, 1:] = [85.0, 100.0, 70.0]  # fists (fingers only)
    poses["flexion"] = flex
    pl = hands.place_hands(poses)
    vis, _ = hands.keypoint_visibility(pl)
    assert vis[:2].all()  # a flat hand, palm or back toward us, left or right: all 21 visible
    tips = list(hands.GROUPS["fingertip"][1:])
    assert not vis[3, tips].any()  # back of a fist: the curled fingertips are behind the palm
    assert not vis[2, tips].any()  # palm side of a fist: the tips are under the middle phalanges
    assert vis[2:, 0].all() and vis[3, list(hands.GROUPS["MCP"][1:])].all()  # knuckles still seen from behind


def test_invisible_keypoints_are_really_covered(debug_batches):
    for style, out in debug_batches.items():
        self_vis, vis = out["self_visible"], out["visible"]
        hidden = ~self_vis
        assert hidden.any()
        # Something of the hand lies over every self-occluded keypoint, and the front-most part there is
        # (up to pixel rounding) not one of the keypoint's own parts.
        pid = _pixel(out, out["part_id"])
        assert (pid[hidden] >= 0).all()
        own = np.stack([np.isin(pid[:, j], hands.OWNERS[j]) for j in range(21)], axis=1)
        assert (~own[hidden]).mean() > 0.75
        assert own[self_vis].mean() > 0.97
        assert (out["top_part"] == pid).mean() > 0.88  # the exact test agrees with the rendered layers
        if style == "render":
            assert np.array_equal(vis, self_vis)  # no occluders in the render style
        else:
            by_object = self_vis & ~vis
            assert by_object.any()
            # Under an occluded keypoint the final picture is not the hand: the occluder covers it.
            occ = out["occluder_alpha"]
            near = np.maximum.reduce([np.roll(np.roll(occ, dy, 1), dx, 2) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
            assert (_pixel(out, near)[by_object] > 0.4).all()
            changed = np.abs(out["composite"] - out["hand_only"]).max(1)  # before camera effects
            assert (_pixel(out, changed)[by_object & (_pixel(out, occ) > 0.5)] > 0.02).mean() > 0.9
            assert (_pixel(out, occ)[vis] < 0.5).mean() > 0.99  # visible ones are not (up to pixel rounding)


def test_photo_style_looks_like_photos_not_flat_drawings(debug_batches):
    render, photo = debug_batches["render"], debug_batches["photo"]

    def texture(out):  # mean local variation of the background, where the hand is absent
        img = out["images"].astype(np.float32) / 255
        grad = np.abs(np.diff(img, axis=3)).mean(1)[:, :, :]
        bg = out["hand_alpha"][:, :, 1:] < 0.01
        return (grad * bg).sum() / bg.sum()

    assert texture(photo) > 4 * texture(render)  # photo textures and noise vs flat colours
    # Shading: render hands are flat (cel) tones, photo skin varies smoothly. Share of a hand's solid pixels
    # taken by its three most common brightness levels:
    def flatness(out):
        lum = (out["hand_only"] * np.array([0.3, 0.6, 0.1])[None, :, None, None]).sum(1)
        shares = []
        for i in range(40):
            _, counts = np.unique(np.round(lum[i][out["hand_alpha"][i] > 0.99], 2), return_counts=True)
            shares.append(np.sort(counts)[::-1][:3].sum() / counts.sum())
        return np.mean(shares)

    assert flatness(render) > 0.5 and flatness(photo) < 0.35


def test_bad_style_and_split_name_the_choices():
    with pytest.raises(ValueError, match="render.*photo"):
        hands.build_hands("cartoon", "train", 0, n=2)
    with pytest.raises(ValueError, match="train"):
        hands.build_hands("photo", "validation", 0, n=2)


def test_load_domain_gives_a_keypoint_domain(monkeypatch, isolated_data):
    monkeypatch.setitem(hands.SIZES, "test", 30)  # a small split in a temporary cache folder
    dom = load_domain("hands-photo", "test")
    assert isinstance(dom, KeypointDomain) and len(dom) == 30
    assert dom.images.shape == (30, 3, 64, 64) and dom.images.dtype == torch.float32
    assert dom.keypoints.shape == (30, 21, 2) and dom.visible.shape == (30, 21) and dom.visible.dtype == torch.bool
    assert dom.keypoint_names == hands.KEYPOINT_NAMES and dom.skeleton == hands.SKELETON
    assert dom.groups == hands.GROUPS and dom.meta["skeleton_colors"] == hands.SKELETON_COLORS
    assert dom.meta["family"] == "hands" and dom.meta["rotation"].shape == (30,)
    assert 0.0 <= float(dom.images.min()) and float(dom.images.max()) <= 1.0
    assert dom.unlabeled().keypoints is None


def test_keypoint_grid_and_draw_keypoints(debug_batches):
    out = debug_batches["render"]
    dom = KeypointDomain("hands-render", "test", torch.from_numpy(out["images"][:10]).float() / 255,
                         torch.from_numpy(out["keypoints"][:10]), torch.from_numpy(out["visible"][:10]),
                         hands.KEYPOINT_NAMES, hands.SKELETON, dict(hands.GROUPS),
                         meta={"skeleton_colors": hands.SKELETON_COLORS})
    single = KeypointDomain("dsprites-like", "test", torch.rand(5, 3, 64, 64), torch.rand(5, 1, 2) * 64,
                            torch.ones(5, 1, dtype=torch.bool), ("position",))
    fig = keypoint_grid([dom, dom.unlabeled(), single], per_row=4, seed=0)
    try:
        assert len(fig.axes) == 12
        drawn = fig.axes[0]
        assert len(drawn.lines) == 20 and len(drawn.collections) == 21  # 20 bones, 21 keypoints
        assert len(fig.axes[4].lines) == 0 and len(fig.axes[4].collections) == 0  # unlabeled: images only
        assert len(fig.axes[8].lines) == 0 and len(fig.axes[8].collections) == 1  # one keypoint, no skeleton
    finally:
        plt.close(fig)
    fig, ax = plt.subplots()
    try:
        hidden = torch.ones(21, dtype=torch.bool)
        hidden[4] = False
        draw_keypoints(ax, out["images"][0], out["keypoints"][0], hidden, hands.SKELETON, hands.SKELETON_COLORS)
        styles = [line.get_linestyle() for line in ax.lines]
        assert styles.count("--") == 1  # the bone to the hidden thumb tip is dashed
        assert ax.get_xlim() == (0.0, 64.0) and ax.get_ylim() == (64.0, 0.0)  # pixel coordinates, y down
    finally:
        plt.close(fig)
