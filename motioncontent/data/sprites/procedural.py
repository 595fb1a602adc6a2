"""The project's own pixel-art renderer with the Sprites factor structure, used when the LPC art is absent.
Unlike the benchmark it draws from numpy primitives, not LPC art, mirrors left into right and lets a seed vary shades.

Same interface and labels as `lpc.LPCRenderer`: 6 skins x 6 pants x 6 tops x 6 hair styles, 3 actions x 3 directions,
8 frames of 64x64 RGB on black, constant golden boots. A 3D stick skeleton (y down, l to the character's left,
z forward) is posed per (action, frame) and projected to a front view with a slight top-down tilt or to a left
profile. As in LPC, each attribute is a stack of pre-rendered RGBA layers, so a character is 5 masked copies.
"""

from __future__ import annotations

import numpy as np

from motioncontent.data.sprites.factors import (
    ACTIONS,
    FRAME_SIZE,
    NUM_CHARACTERS,
    NUM_FRAMES,
    NUM_MOTIONS,
    NUM_OPTIONS,
    character_attributes,
)

PROCEDURAL_RECIPE_VERSION: int = 1  # bump whenever rendered pixels change, so caches get rebuilt

_Y, _X = np.mgrid[0:FRAME_SIZE, 0:FRAME_SIZE].astype(np.float32)
_CX = (FRAME_SIZE - 1) / 2  # the figure's axis lies between two pixel columns, so the front view is symmetric


def _rect(y0: float, x0: float, y1: float, x1: float) -> np.ndarray:
    return (_Y >= y0) & (_Y <= y1) & (_X >= x0) & (_X <= x1)


def _disc(c, r: float) -> np.ndarray:
    return (_Y - c[0]) ** 2 + (_X - c[1]) ** 2 <= r * r


def _box(y0: float, x0: float, y1: float, x1: float) -> np.ndarray:
    """Filled rectangle with its 4 corner pixels cut, the cheapest way to make pixel art look rounded."""
    return _rect(y0, x0, y1, x1) & ~((np.minimum(_Y - y0, y1 - _Y) < 1) & (np.minimum(_X - x0, x1 - _X) < 1))


def _seg(p, q, width: float) -> np.ndarray:
    """Thick line (capsule) from p to q."""
    d = np.subtract(q, p)
    t = np.clip(((_Y - p[0]) * d[0] + (_X - p[1]) * d[1]) / max(float(d @ d), 1e-6), 0, 1)
    return (_Y - p[0] - t * d[0]) ** 2 + (_X - p[1] - t * d[1]) ** 2 <= (width / 2) ** 2


def _lerp(p, q, t: float) -> np.ndarray:
    return p + t * (np.asarray(q) - p)


def _outline(rank: np.ndarray) -> np.ndarray:
    """Pixels of a part bordering something behind it (or nothing): the dark pixel-art contour."""
    pad = np.pad(rank, 1)
    behind = np.minimum.reduce([pad[:-2, 1:-1], pad[2:, 1:-1], pad[1:-1, :-2], pad[1:-1, 2:]])
    return (rank > 0) & (behind < rank)


# ---- poses -----------------------------------------------------------------------------------------------------
# A limb segment points along (elevation e, heading h): e = 0 hangs down, pi points up; h = 0 points outwards,
# pi/2 forwards, pi across the body. Negative e with h = pi/2 swings backwards.
_FWD = np.pi / 2
# Spellcast key poses, the same for both arms: (upper e, h, fore e, h), body rise, glow radius at the hands.
_SPELL = [((0.15, 0.0, 0.15, 0.0), 0, 0), ((0.5, 1.3, 1.6, 1.5), 0, 0), ((1.1, 0.6, 1.6, 0.5), -1, 1.5),
          ((1.7, 0.5, 2.3, 0.4), -1, 2.5), ((2.3, 0.5, 2.7, 0.4), -2, 3.5), ((2.6, 0.6, 2.95, 0.5), -2, 4.5),
          ((1.2, 0.7, 1.0, 0.9), -1, 1.5)]
# Slash key poses: (sword arm, other arm, (front thigh, back thigh), body dip). The sword goes up, back, then down.
_SLASH = [((0.15, 0.3, 0.4, 1.3), (0.1, _FWD, 0.2, _FWD), (0.0, 0.0), 0),
          ((1.5, 1.2, 2.4, 1.3), (0.0, _FWD, 0.1, _FWD), (0.0, -0.05), -1),
          ((2.9, _FWD, 3.4, _FWD), (-0.2, _FWD, -0.1, _FWD), (0.1, -0.1), -1),
          ((1.9, 1.5, 1.6, 1.3), (-0.3, _FWD, 0.0, _FWD), (0.3, -0.2), 0),
          ((1.1, 1.4, 0.8, 1.0), (-0.4, _FWD, -0.2, _FWD), (0.45, -0.3), 1),
          ((0.6, 2.3, 0.5, 2.7), (-0.45, _FWD, -0.3, _FWD), (0.5, -0.3), 1)]
_KEYS = {"spellcast": (0, 1, 2, 3, 4, 5, 4, 6), "slash": (0, 1, 2, 3, 4, 5, 4, 0)}  # like the LPC columns


def _pose(action: str, t: int) -> dict:
    """Limb angles of frame t; side -1 is the character's right, +1 its left (the near side in profile)."""
    if action == "walk":
        pose = {"dy": 0, "glow": 0.0, "blade": False, "arms": {}, "legs": {}}
        for side, phase in ((1, 2 * np.pi * t / NUM_FRAMES), (-1, 2 * np.pi * t / NUM_FRAMES + np.pi)):
            thigh = 0.5 * np.sin(phase)
            pose["legs"][side] = (thigh, thigh - 0.9 * max(0.0, np.cos(phase)))  # the swinging leg bends its knee
            pose["arms"][side] = (-0.5 * np.sin(phase), _FWD, -0.5 * np.sin(phase) + 0.35, _FWD)  # arms counter-swing
        pose["dy"] = -1 if abs(np.cos(2 * np.pi * t / NUM_FRAMES)) > 0.9 else 0  # the body peaks as the legs pass
        return pose
    key = _KEYS[action][t]
    if action == "spellcast":
        arm, dy, glow = _SPELL[key]
        return {"dy": dy, "glow": glow, "blade": False, "arms": {-1: arm, 1: arm}, "legs": {-1: (0, 0), 1: (0, 0)}}
    sword, other, (front, back), dy = _SLASH[key]
    return {"dy": dy, "glow": 0.0, "blade": True, "arms": {1: sword, -1: other},
            "legs": {1: (front, front - 0.3 * (key == 3)), -1: (back, back)}}


def _direction(e: float, h: float, side: int) -> np.ndarray:
    return np.array([np.cos(e), side * np.sin(e) * np.cos(h), np.sin(e) * np.sin(h)])


# Chibi proportions like the LPC figures: a head of radius 8 on a body of about 3 head radii.
_HEAD_R, _HEAD_Y, _SHOULDER, _HIP = 8.0, 24.0, (34.5, 7.0), (45.0, 3.2)


def _figure(action: str, profile: bool, t: int) -> list[dict]:
    """Parts of frame t back to front, each with its skin silhouette and joints in pixels."""
    pose = _pose(action, t)
    dy = pose["dy"]

    def px(p) -> np.ndarray:  # the front view tilts down a little, so what comes forward sits lower on screen
        y, lat, z = p
        return np.array([y + dy, _CX - z]) if profile else np.array([y + dy + 0.35 * z, _CX + lat])

    parts = {}
    for side in (-1, 1):
        far = profile and side == -1
        root = np.array([_SHOULDER[0], _SHOULDER[1] * side, 0.0])
        e1, h1, e2, h2 = pose["arms"][side]
        if profile and action == "spellcast":  # in profile the caster reaches forwards, so the glow spares the face
            e1, h1, e2, h2 = 0.7 * e1, _FWD, 0.7 * e2, _FWD
        joints = [root, root + 6 * _direction(e1, h1, side)]
        joints.append(joints[1] + 5.5 * _direction(e2, h2, side))
        a, b, c = (px(j) for j in joints)
        tip = c + 11 * (c - b) / max(np.linalg.norm(c - b), 1.0)
        parts[f"arm{side}"] = dict(name="arm", skin=_seg(a, b, 4.5) | _seg(b, c, 4) | _disc(c, 2.2), a=a, b=b, c=c,
                                   far=far, tip=tip, depth=joints[2][2], sword=pose["blade"] and side == 1,
                                   glow=pose["glow"])
        root = np.array([_HIP[0], _HIP[1] * side, 0.0])
        joints = [root, root + 6 * _direction(pose["legs"][side][0], _FWD, side)]
        joints.append(joints[1] + 6 * _direction(pose["legs"][side][1], _FWD, side))
        a, b, c = (px(j) for j in joints)
        parts[f"leg{side}"] = dict(name="leg", skin=_seg(a, b, 5.5) | _seg(b, c, 5), a=a, b=b, c=c, far=far,
                                   depth=joints[2][2])
    half, hx = (4.0, _CX - 0.5) if profile else (6.5, _CX)
    torso = (33 + dy, _CX - half, 45 + dy, _CX + half)
    parts["hips"] = dict(name="hips", skin=_box(43 + dy, _CX - half + 0.5, 48 + dy, _CX + half - 0.5))
    parts["torso"] = dict(name="torso", skin=_box(*torso))
    parts["neck"] = dict(name="neck", skin=_box(29 + dy, hx - 2, 34 + dy, hx + 2))
    head = np.array([_HEAD_Y + dy, hx])
    nose = _rect(head[0] + 1.5, hx - _HEAD_R - 1, head[0] + 2.5, hx) if profile else False
    parts["head"] = dict(name="head", skin=_disc(head, _HEAD_R) | nose, c=head)
    if profile:
        order = ["leg-1", "arm-1", "leg1", "hips", "torso", "neck", "head", "arm1"]
    else:  # limbs nearer the viewer are drawn later
        legs = sorted(["leg-1", "leg1"], key=lambda k: parts[k]["depth"])
        order = legs + ["hips", "torso", "neck", "head"] + sorted(["arm-1", "arm1"], key=lambda k: parts[k]["depth"])
    for name in order:
        parts[name].update(profile=profile, torso=torso)
    return [parts[name] for name in order]


# ---- the five layers -------------------------------------------------------------------------------------------
# A painter maps one part to (mask, role) pairs; roles index the option's palette, and roles >= _SHINE (metal
# shine, blade, glow) get no dark contour.
_SHINE = 4


def _dress_body(part: dict, opt: int) -> list:
    out = [(part["skin"], 1)]
    if part["name"] == "head":
        hy, hx = part["c"]
        for x in [hx - 5] if part["profile"] else [hx - 3.5, hx + 3.5]:
            out.append((_rect(hy + 0.5, x - 0.5, hy + 2.5, x + 0.5), 2))
    return out


_PANTS_STYLE = ("trousers", "greaves", "trousers", "armour", "shorts", "formal")


def _dress_pants(part: dict, opt: int) -> list:
    style = _PANTS_STYLE[opt]
    if part["name"] == "hips":
        belt = part["skin"] & (_Y <= part["torso"][2] + 1.5)  # the one row between shirt and legs
        return [(part["skin"], 1)] + ([(belt, 2)] if style == "formal" else [])
    if part["name"] != "leg":
        return []
    a, b, c = part["a"], part["b"], part["c"]
    if style in ("shorts", "greaves"):
        out = [(_seg(a, _lerp(a, b, 0.8), 6.5), 1)]
        return out + ([(_seg(_lerp(b, c, 0.15), _lerp(b, c, 0.8), 6), 2)] if style == "greaves" else [])
    out = [(_seg(a, b, 6.5) | _seg(b, _lerp(b, c, 0.9), 6), 1)]
    return out + ([(_disc(b, 2.6), 2)] if style == "armour" else [])


_SLEEVES = ("long", "short", None, "pad", None, "long")


def _dress_top(part: dict, opt: int) -> list:
    if part["name"] == "arm":
        a, b, c = part["a"], part["b"], part["c"]
        if _SLEEVES[opt] == "long":
            return [(_seg(a, b, 5.5) | _seg(b, _lerp(b, c, 0.6), 5), 1)]
        if _SLEEVES[opt] == "short":
            return [(_seg(a, _lerp(a, b, 0.6), 6), 1)]
        return [(_disc(a, 3.4), 2)] if _SLEEVES[opt] == "pad" else []
    if part["name"] != "torso":
        return []
    y0, x0, y1, x1 = part["torso"]
    profile, m = part["profile"], part["skin"]
    front = (x0, x0 + 1.5) if profile else (_CX - 1.5, _CX + 1.5)  # the strip a tie or an open vest shows
    strip = (_X >= front[0]) & (_X <= front[1])
    hem = m & (_Y > y1 - 1.5)
    if opt == 2:  # tank top: bare shoulders and a scoop neck
        cut = (_Y < y0 + 2.5) & ((_X < x0 + 2.5) | (_X > x1 - 2.5) | (strip if profile else np.abs(_X - _CX) < 2.6))
        return [(m & ~cut, 1)]
    if opt == 3:  # chest plate with a shine
        return [(m, 1), (hem, 2), (m & _seg((y0 + 3, x0 + 2), (y0 + 7, x0 + 3.5 if profile else x1 - 3), 1.5), 4)]
    if opt == 4:  # open leather vest, laced at the bottom
        return [(m & ~(strip & (_Y < y1 - 2)), 1), (hem, 2)]
    if opt == 5:  # formal shirt with a tie
        tie = strip & (_X <= front[0] + 0.5) if profile else (strip & (np.abs(_X - _CX) < 1))
        return [(m, 1), (m & tie & (_Y < y1 - 2), 2)]
    return [(m, 1), (hem, 2)]  # tunics with a darker hem


def _dress_hair(part: dict, opt: int) -> list:
    if part["name"] != "head":
        return []
    (hy, hx), profile, r = part["c"], part["profile"], _HEAD_R + 0.6
    back = _X >= hx + 0.5 if profile else np.abs(_X - hx) >= 6  # back of the head, or the temples
    cap = _disc((hy, hx), r) & ((_Y <= hy - 3.5) | (back & (_Y <= hy + (4 if profile else 1))))
    fx = hx - 3 if profile else hx  # where the fringe falls
    if opt == 0:  # spiky
        angles = (-0.3, 0.2, 0.7, 1.2, 1.7) if profile else (-1.1, -0.55, 0.0, 0.55, 1.1)
        spikes = [_seg((hy - 5, hx), (hy - 5 - 8 * np.cos(a), hx + 8 * np.sin(a)), 3) for a in angles]
        return [(cap | np.logical_or.reduce(spikes) | _seg((hy - 4, fx - 3.5), (hy - 1.5, fx - 1.5), 2), 1)]
    if opt == 1:  # long, with a knot
        locks = _box(hy - 3, hx + 3, hy + 11, hx + 9) if profile else (
            _box(hy - 3, hx - 9.5, hy + 10, hx - 6) | _box(hy - 3, hx + 6, hy + 10, hx + 9.5))
        knot = _disc((hy - 5, hx + 9) if profile else (hy - 9.5, hx), 2.8)
        return [(cap | locks, 1), (knot, 2)]
    if opt == 2:  # short, swept
        return [(cap | _seg((hy - 6, fx - 4), (hy - 2.5, fx + 2), 3), 1)]
    if opt == 3:  # bangs down to the eyebrows, cut jagged
        bangs = _disc((hy, hx), r) & (_Y <= hy - 1.5) & ((_X < hx + 1) if profile else True)
        return [(cap | (bangs & ~((_X.astype(int) % 3 == 0) & (_Y > hy - 2.5))), 1)]
    if opt == 4:  # bun on top
        return [(cap, 1), (_disc((hy - 8, hx + 6) if profile else (hy - 10, hx), 3.6), 2)]
    # Afro: a big puff with the face cut out.
    face = _disc((hy + 2.5, hx - (3 if profile else 0)), 7 if profile else 6.5) & (_Y >= hy - 2.5)
    return [(_disc((hy - 2, hx + (1 if profile else 0)), 11) & ~(face & ((_X <= hx + 1) if profile else True)), 1)]


def _dress_gear(part: dict, opt: int) -> list:
    """Constant boots, the slash sword and the spell glow: the same on every character."""
    out = []
    if part["name"] == "leg":
        (fy, fx), profile = part["c"], part["profile"]
        boot = _box(fy - 2, fx - 5, fy + 2, fx + 1.5) if profile else _box(fy - 2, fx - 3.2, fy + 2, fx + 3.2)
        out += [(boot, 1), (boot & (_Y < fy - 1), 2)]
    if part["name"] == "arm" and part["sword"]:
        out += [(_seg(part["c"], part["tip"], 2), 4), (_disc(part["c"], 1.6), 3)]
    if part["name"] == "arm" and part["glow"] > 0:
        out += [(_disc(part["c"], part["glow"]), 5), (_disc(part["c"], part["glow"] / 2), 6)]
    return out


def _paint(parts: list[dict], dress, opt: int) -> tuple[np.ndarray, np.ndarray]:
    """Role and brightness of one layer. Each part first erases what it hides, so a bare arm in front of a shirt
    cuts the shirt and the body layer beneath shows through, as in the LPC sheets."""
    role = np.zeros((FRAME_SIZE, FRAME_SIZE), np.int8)
    rank = np.zeros((FRAME_SIZE, FRAME_SIZE), np.int16)
    light = np.ones((FRAME_SIZE, FRAME_SIZE), np.float32)
    for k, part in enumerate(parts, 1):
        role[part["skin"]], rank[part["skin"]] = 0, 0
        for mask, r in dress(part, opt):
            role[mask], rank[mask] = r, (k if r < _SHINE else 99)  # shine sits on top and outlines nothing
            light[mask] = 0.75 if part.get("far") and r < _SHINE else 1.0  # the far limbs in profile are in shade
    light[_outline(rank) & (role < _SHINE)] *= 0.55
    return role, light


# Colours of roles 1, 2, ... per option; a role an option does not list takes its first colour.
_PALETTES = {
    "skin": [(c, (40, 28, 36)) for c in ((241, 204, 170), (205, 150, 105), (150, 152, 165), (160, 190, 228),
                                        (140, 90, 60), (92, 60, 44))],
    "pants": [((225, 225, 218),), ((110, 75, 45), (210, 130, 45)), ((180, 40, 45),),
              ((120, 126, 142), (200, 205, 215)), ((40, 150, 145),), ((60, 64, 110), (140, 90, 40))],
    "top": [((135, 30, 45), (95, 20, 30)), ((50, 150, 90), (30, 100, 60)), ((225, 185, 60),),
            ((160, 166, 182), (120, 125, 140), (0, 0, 0), (235, 238, 245)), ((145, 92, 50), (100, 60, 30)),
            ((238, 238, 242), (200, 35, 40))],
    "hair": [((80, 175, 60),), ((60, 95, 210), (40, 60, 150)), ((240, 220, 140),), ((236, 236, 236),),
             ((195, 30, 55), (150, 20, 40)), ((145, 65, 185),)],
    "gear": [((230, 180, 50), (250, 215, 110), (120, 80, 40), (215, 220, 235), (110, 215, 255), (245, 255, 255))],
}
# (palette, painter, number of distinct shapes: skin and gear only change colour), in compositing order.
_LAYERS = (("skin", _dress_body, 1), ("pants", _dress_pants, NUM_OPTIONS), ("top", _dress_top, NUM_OPTIONS),
           ("hair", _dress_hair, NUM_OPTIONS), ("gear", _dress_gear, 1))


class ProceduralRenderer:
    """Renders all 9 motions of a character from layers pre-rendered in __init__ (under a second)."""

    def __init__(self, seed: int = 0):
        rng = np.random.RandomState(seed)
        views = [(action, profile) for action in ACTIONS for profile in (False, True)]
        figures = {view: [_figure(*view, t) for t in range(NUM_FRAMES)] for view in views}
        self._layers = []
        for name, dress, n_shapes in _LAYERS:
            roles = np.zeros((n_shapes, NUM_MOTIONS, NUM_FRAMES, FRAME_SIZE, FRAME_SIZE), np.int8)
            light = np.ones(roles.shape, np.float32)
            for s in range(n_shapes):
                for action, profile in views:
                    d = 3 * ACTIONS.index(action) + int(profile)
                    for t, parts in enumerate(figures[action, profile]):
                        roles[s, d, t], light[s, d, t] = _paint(parts, dress, s)
            # The right profile is the left one mirrored.
            roles[:, 2::3], light[:, 2::3] = roles[:, 1::3, ..., ::-1], light[:, 1::3, ..., ::-1]
            palette = np.zeros((len(_PALETTES[name]), 7, 3), np.float32)
            for o, colours in enumerate(_PALETTES[name]):
                palette[o, 1:] = [colours[r] if r < len(colours) else colours[0] for r in range(6)]
            # The seed moves every shade a little; hues, shapes and hence the factor structure stay put.
            palette = np.clip(palette + rng.randint(-10, 11, size=palette.shape), 0, 255)
            rgba = np.zeros((len(palette), *roles.shape[1:], 4), np.uint8)
            for o in range(len(palette)):
                s = o % n_shapes  # skin and gear colour one shared shape
                rgba[o, ..., :3] = np.clip(palette[o][roles[s]] * light[s][..., None], 0, 255)
            # One uint32 per pixel, so compositing moves a quarter as many elements.
            self._layers.append((rgba.view(np.uint32)[..., 0], roles > 0))

    def render_character(self, character: int) -> np.ndarray:
        """uint8 array (9, 8, 64, 64, 3): the 9 motions of one character, D = 3 * action + direction."""
        if not 0 <= character < NUM_CHARACTERS:  # a negative id would otherwise index the layers from the end
            raise ValueError(f"character must be in [0, {NUM_CHARACTERS}), got {character}")
        canvas = np.zeros((NUM_MOTIONS, NUM_FRAMES, FRAME_SIZE, FRAME_SIZE), np.uint32)  # black background
        for (rgb, alpha), option in zip(self._layers, (*character_attributes(character), 0)):
            np.copyto(canvas, rgb[option], where=alpha[option % len(alpha)])
        return np.ascontiguousarray(canvas[..., None].view(np.uint8)[..., :3])
