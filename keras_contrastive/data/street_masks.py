"""Procedural semantic-segmentation masks of street scenes (the chapter's case study, offline).

The survey chapter's case study (Bastanlar & Orhan, Section 4) learns
representations of semantic masks of street scenes and retrieves, for a query
mask, the database mask of the same place.  Cityscapes and Street View are
not available offline, so this module draws such masks from a small 3-D
street model seen through a pinhole camera:

* a *scene* is a place: a straight road with sidewalks and a curb, a
  horizon and vanishing point, facades of buildings of varied height and
  depth along both sides (the skyline), trees, poles (some carrying a
  sign), parked cars along the curbs; plus *dynamic* objects: moving cars
  on the road and people on the sidewalks;
* a *view* renders the scene from a camera 1.5 m above the road, with a
  lateral shift, a forward move (zoom) and a small yaw; the ground is
  classified per pixel by back-projection, then objects are painted far to
  near;
* a *pair* (query, database) is the same scene seen from two viewpoints,
  with the dynamic objects drawn anew, the vegetation changed (trees
  added/removed, crowns resized) and segmentation noise on the class
  boundaries of each view.

Masks are uint8 class ids ``[H, W]`` (``STREET_CLASSES`` names them).

Example:

>>> from keras_contrastive.data import synthetic_street_masks
>>> masks = synthetic_street_masks(4, seed=0)
>>> masks.shape, masks.dtype
((4, 64, 80), dtype('uint8'))
>>> queries, database = synthetic_street_masks(3, seed=1, pairs=True)
>>> queries.shape == database.shape == (3, 64, 80)
True
"""
import numpy as np

STREET_CLASSES = ("sky", "building", "road", "sidewalk", "vegetation", "terrain", "car", "pole",
                  "person", "sign")
SKY, BUILDING, ROAD, SIDEWALK, VEGETATION, TERRAIN, CAR, POLE, PERSON, SIGN = range(10)
# Cityscapes' colours for the classes (for pictures)
STREET_PALETTE = np.array([
    [70, 130, 180], [70, 70, 70], [128, 64, 128], [244, 35, 232], [107, 142, 35],
    [152, 251, 152], [0, 0, 142], [153, 153, 153], [220, 20, 60], [220, 220, 0]], np.uint8)

_CAMERA_HEIGHT = 1.5  # metres
_FAR = 80.0  # metres of street modelled ahead


def _scene(rng):
    """A place: the static layout plus the vegetation (dynamic objects are per view)."""
    road = rng.uniform(3.0, 6.0)  # half width of the road
    sidewalk = rng.uniform(1.5, 3.5)
    scene = {"road": road, "sidewalk": sidewalk, "curb": road + sidewalk,
             "horizon": rng.uniform(0.36, 0.5), "yaw": rng.uniform(-0.08, 0.08),
             "terrain_side": rng.random(2) < 0.3, "facades": [], "poles": [], "parked": []}
    for side in (-1, 1):
        z = rng.uniform(2.0, 8.0)
        while z < _FAR:  # facades along the side, some set back, some gaps
            length = rng.uniform(6.0, 20.0)
            if rng.random() < 0.85:
                setback = rng.uniform(0.0, 3.0)
                scene["facades"].append((side, scene["curb"] + setback, z, z + length,
                                         rng.uniform(6.0, 25.0)))
            z += length + (rng.uniform(0.0, 6.0) if rng.random() < 0.4 else 0.0)
        for z in np.cumsum(rng.uniform(8.0, 20.0, size=6)):
            if z < _FAR:
                scene["poles"].append((side, road + rng.uniform(0.3, 0.8), z,
                                       rng.uniform(4.0, 7.0), rng.random() < 0.4))
        for z in np.cumsum(rng.uniform(5.0, 14.0, size=6)):
            if z < _FAR and rng.random() < 0.6:
                scene["parked"].append((side * (road - 1.2), z))
    scene["trees"] = _trees(rng, scene, n=int(rng.integers(2, 9)))
    return scene


def _trees(rng, scene, n):
    sides = rng.choice([-1, 1], size=n)
    return [(side * (scene["road"] + rng.uniform(0.5, scene["sidewalk"])),
             rng.uniform(4.0, _FAR * 0.7), rng.uniform(2.5, 5.0), rng.uniform(1.5, 3.5))
            for side in sides]


def _dynamic(rng, scene):
    """Moving cars on the road and people on the sidewalks of one moment."""
    cars = [(rng.uniform(-scene["road"] + 1.0, scene["road"] - 1.0), rng.uniform(6.0, 60.0))
            for _ in range(int(rng.integers(0, 4)))]
    people = [(rng.choice([-1, 1]) * (scene["road"] + rng.uniform(0.3, scene["sidewalk"])),
               rng.uniform(3.0, 35.0)) for _ in range(int(rng.integers(0, 5)))]
    return cars, people


def _changed_vegetation(rng, trees, scene):
    """Seasons and gardening: some trees gone, some new, crowns resized."""
    kept = [(x, z, h, r * rng.uniform(0.7, 1.3)) for x, z, h, r in trees if rng.random() > 0.25]
    return kept + _trees(rng, scene, n=int(rng.integers(0, 3)))


class _Camera:
    def __init__(self, size, scene, shift, forward, yaw):
        self.height, self.width = size
        self.focal = 0.9 * self.width * np.exp(forward)  # zoom
        self.cx = self.width / 2.0
        self.horizon = scene["horizon"] * self.height
        self.x0, self.yaw = shift, scene["yaw"] + yaw

    def to_camera(self, x, z):
        """World (lateral x, depth z) -> camera (lateral, depth) after the shift and yaw."""
        x = x - self.x0
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return c * x - s * z, s * x + c * z

    def direction_to_world(self, xc, zc):
        """A camera direction (lateral, depth) -> the world direction: the inverse yaw."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return c * xc + s * zc, -s * xc + c * zc

    def to_world(self, xc, zc):
        """Camera (lateral, depth) -> world (lateral x, depth z): ``to_camera``'s inverse."""
        x, z = self.direction_to_world(xc, zc)
        return x + self.x0, z

    def column(self, x, z):
        xc, zc = self.to_camera(x, z)
        return self.cx + self.focal * xc / zc, zc

    def row(self, height, zc):
        return self.horizon + self.focal * (_CAMERA_HEIGHT - height) / zc


def _ground(camera, scene):
    """Sky above the horizon; below it each pixel's ground point is classified."""
    rows, cols = np.mgrid[0:camera.height, 0:camera.width].astype(np.float64)
    mask = np.full((camera.height, camera.width), SKY, np.uint8)
    below = rows + 0.5 > camera.horizon + 0.5
    zc = camera.focal * _CAMERA_HEIGHT / np.maximum(rows + 0.5 - camera.horizon, 1e-6)
    xc = (cols + 0.5 - camera.cx) * zc / camera.focal
    x, _ = camera.to_world(xc, zc)
    ground = np.where(np.abs(x) <= scene["road"], ROAD,
                      np.where(np.abs(x) <= scene["curb"], SIDEWALK, TERRAIN))
    side_terrain = np.where(x < 0, scene["terrain_side"][0], scene["terrain_side"][1])
    ground = np.where((ground == TERRAIN) & ~side_terrain, SIDEWALK, ground)
    mask[below] = ground[below]
    return mask


def _paint_box(mask, camera, x, z, half_width, height, cls, bottom=0.0):
    """An upright rectangle (a car, a person, a pole, a sign) at ground point (x, z)."""
    u, zc = camera.column(x, z)
    if zc < 0.5:
        return
    half = max(0.5, camera.focal * half_width / zc)
    top, base = camera.row(bottom + height, zc), camera.row(bottom, zc)
    c0, c1 = int(np.floor(u - half)), int(np.ceil(u + half))
    r0, r1 = int(np.floor(top)), int(np.ceil(base))
    c0, r0 = max(c0, 0), max(r0, 0)
    if c0 < min(c1, camera.width) and r0 < min(r1, camera.height):
        mask[r0:r1, c0:c1] = cls


def _paint_facade(mask, camera, side, offset, z0, z1, height):
    """A facade: the plane x = side * offset between depths z0 and z1, up to ``height``."""
    cols = np.arange(camera.width) + 0.5
    # the ray through column u: camera direction (d, 1) with d = (u - cx) / f; at camera
    # depth t it is at world x0 + t * slope, depth t * depth: solve for the plane
    slope, depth = camera.direction_to_world((cols - camera.cx) / camera.focal, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (side * offset - camera.x0) / slope
    z_world = t * depth
    visible = (t > 0.5) & (z_world >= z0) & (z_world <= z1)
    for col in np.nonzero(visible)[0]:
        top = int(max(0, np.floor(camera.row(height, t[col]))))
        base = int(min(camera.height, np.ceil(camera.row(0.0, t[col]))))
        mask[top:base, col] = BUILDING


def _paint_tree(mask, camera, x, z, height, radius):
    u, zc = camera.column(x, z)
    if zc < 0.5:
        return
    _paint_box(mask, camera, x, z, 0.15, height - radius, VEGETATION)  # trunk
    rows, cols = np.ogrid[0:camera.height, 0:camera.width]
    centre = camera.row(height, zc)
    r = camera.focal * radius / zc
    mask[(rows + 0.5 - centre) ** 2 + (cols + 0.5 - u) ** 2 <= r * r] = VEGETATION


def _boundary_noise(rng, mask, rate):
    """Segmentation noise: boundary pixels take a 4-neighbour's class with probability ``rate``."""
    out = mask.copy()
    padded = np.pad(mask, 1, mode="edge")  # no wrap-around: the sky never reaches the bottom
    height, width = mask.shape
    shifts = [padded[:height, 1:-1], padded[2:, 1:-1], padded[1:-1, :width], padded[1:-1, 2:]]
    choice = rng.integers(0, 4, size=mask.shape)
    neighbour = np.choose(choice, shifts)
    flip = (neighbour != mask) & (rng.random(mask.shape) < rate)
    out[flip] = neighbour[flip]
    return out


def _render(rng, scene, trees, dynamic, size, shift, forward, yaw, noise):
    camera = _Camera(size, scene, shift, forward, yaw)
    mask = _ground(camera, scene)
    cars, people = dynamic
    objects = []  # (depth, painter) far to near
    for side, offset, z0, z1, height in scene["facades"]:
        objects.append((z0, lambda m, a=(side, offset, z0, z1, height):
                        _paint_facade(m, camera, *a)))
    for x, z, height, radius in trees:
        objects.append((z, lambda m, a=(x, z, height, radius): _paint_tree(m, camera, *a)))
    for side, offset, z, height, has_sign in scene["poles"]:
        x = side * offset

        def pole(m, x=x, z=z, height=height, has_sign=has_sign):
            _paint_box(m, camera, x, z, 0.1, height, POLE)
            if has_sign:
                _paint_box(m, camera, x, z, 0.45, 0.8, SIGN, bottom=height - 1.2)
        objects.append((z, pole))
    for x, z in list(scene["parked"]) + cars:
        objects.append((z, lambda m, x=x, z=z: _paint_box(m, camera, x, z, 0.9, 1.5, CAR)))
    for x, z in people:
        objects.append((z, lambda m, x=x, z=z: _paint_box(m, camera, x, z, 0.25, 1.75, PERSON)))
    for _, paint in sorted(objects, key=lambda o: -o[0]):
        paint(mask)
    return _boundary_noise(rng, mask, noise) if noise else mask


def synthetic_street_masks(n_scenes, size=(64, 80), seed=0, pairs=False, noise=0.15):
    """Semantic masks of procedurally generated street scenes.

    Args:
        n_scenes: number of scenes (places).
        size: ``(height, width)`` of the masks (the chapter: 64 x 80).
        seed: the scenes and views drawn (the same seed gives the same masks).
        pairs: ``False``: one view per scene; ``True``: two views of every
            scene (query and database: another viewpoint -- lateral shift up
            to 1.5 m, 0-5 m forward, yaw up to 5 degrees -- the dynamic
            objects drawn anew and the vegetation changed).
        noise: probability that a class-boundary pixel takes a neighbour's class.

    Returns:
        uint8 class ids (``STREET_CLASSES``) ``[n, H, W]``, or
        ``(queries, database)`` with ``pairs=True``.

    Example:

    >>> from keras_contrastive.data import STREET_CLASSES, synthetic_street_masks
    >>> masks = synthetic_street_masks(2, seed=0)
    >>> {"sky", "building", "road"} <= {STREET_CLASSES[c] for c in masks[0].ravel()}
    True
    """
    if int(n_scenes) < 1:
        raise ValueError(f"n_scenes must be a positive integer, got {n_scenes!r}.")
    height, width = size
    if height < 16 or width < 16:
        raise ValueError(f"size must be at least 16 x 16, got {size!r}.")
    rng = np.random.default_rng(seed)
    first, second = [], []
    for _ in range(int(n_scenes)):
        scene = _scene(rng)
        view = dict(shift=rng.uniform(-0.75, 0.75), forward=rng.uniform(-0.1, 0.1),
                    yaw=rng.uniform(-0.03, 0.03))
        first.append(_render(rng, scene, scene["trees"], _dynamic(rng, scene), size,
                             noise=noise, **view))
        if pairs:
            other = dict(shift=view["shift"] + rng.uniform(-1.5, 1.5),
                         forward=view["forward"] + rng.uniform(0.0, 0.25),
                         yaw=view["yaw"] + np.deg2rad(rng.uniform(-5.0, 5.0)))
            second.append(_render(rng, scene, _changed_vegetation(rng, scene["trees"], scene),
                                  _dynamic(rng, scene), size, noise=noise, **other))
    if pairs:
        return np.stack(first), np.stack(second)
    return np.stack(first)


def street_mask_splits(size=(64, 80), seed=0, unpaired=3484, train_pairs=368, test_pairs=120):
    """The case study's splits, sized like the chapter's, from disjoint scenes.

    Returns:
        ``{"unpaired": [3484, H, W], "train_pairs": (queries, database),
        "test_pairs": (queries, database)}`` (368 and 120 pairs).

    Example:

    >>> from keras_contrastive.data import street_mask_splits
    >>> splits = street_mask_splits(unpaired=8, train_pairs=4, test_pairs=2)
    >>> splits["unpaired"].shape, splits["test_pairs"][0].shape
    ((8, 64, 80), (2, 64, 80))
    """
    seeds = np.random.SeedSequence(seed).spawn(3)
    return {
        "unpaired": synthetic_street_masks(unpaired, size, seed=seeds[0]),
        "train_pairs": synthetic_street_masks(train_pairs, size, seed=seeds[1], pairs=True),
        "test_pairs": synthetic_street_masks(test_pairs, size, seed=seeds[2], pairs=True),
    }


def plot_street_mask_pairs(queries, database, path, n=8):
    """Writes a PNG of ``n`` query masks (top row) above their database masks.

    Example:

    >>> import tempfile, os
    >>> from keras_contrastive.data import plot_street_mask_pairs, synthetic_street_masks
    >>> queries, database = synthetic_street_masks(4, seed=0, pairs=True)
    >>> path = plot_street_mask_pairs(queries, database, os.path.join(tempfile.mkdtemp(), "p.png"))
    >>> open(path, "rb").read(4)
    b'\x89PNG'
    """
    from keras_contrastive import plotting

    n = min(n, len(queries))
    fig, axes = plotting.figure(2, n, figsize=(1.6 * n, 2.8))
    for i in range(n):
        for row, masks in enumerate((queries, database)):
            axes[row, i].imshow(STREET_PALETTE[masks[i]], interpolation="nearest")
            axes[row, i].axis("off")
        axes[0, i].set_title(f"pair {i}", fontsize=8)
    axes[0, 0].text(-4, queries.shape[1] / 2, "query", rotation=90, va="center", ha="right",
                    fontsize=8)
    axes[1, 0].text(-4, queries.shape[1] / 2, "database", rotation=90, va="center", ha="right",
                    fontsize=8)
    return plotting.save(fig, path)
