"""The project's own synthetic talking heads: parametric cartoon faces drawn with Pillow, no assets, no downloads.

A clip is one identity (face shape, skin tone, hair colour and style, eye colour, shirt colour, plus small
continuous proportions) on a per-clip background, moved per frame by the factors of synthetic_motion.py: head
yaw / pitch / roll, a small head shift, mouth opening, blinks and brow raises. The ground truth of both kinds of
factor is returned with the pixels, so disentanglement can be measured exactly: identity from the content code,
motion from the motion codes.

Drawing: the head is a flattened ellipsoid; each facial feature sits at a 3D point on it, rotated by yaw and
pitch and projected orthographically, so a turning head moves the nose more than the eyes and hides the far ear;
roll rotates the drawn head layer about its centre. Frames are drawn at `SUPERSAMPLE` times the output size and
box-filtered down, which anti-aliases every edge. Deterministic: the same seed gives the same bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageDraw

from motioncontent.data.talking_heads.synthetic_motion import MOTION_FACTORS, motion_trajectory

SYNTHETIC_RECIPE_VERSION = 2  # bump whenever rendered pixels or factors change, so caches get rebuilt
SUPERSAMPLE = 2

# Categorical identity factors: name -> options. Colours are RGB.
FACE_SHAPES = {"round": (1.0, 0.92), "oval": (0.92, 1.0), "long": (0.84, 1.07), "wide": (1.08, 0.92)}
SKIN_TONES = [(255, 224, 196), (241, 194, 158), (224, 172, 125), (198, 134, 90), (141, 85, 54), (92, 56, 38)]
HAIR_COLOURS = [(20, 17, 15), (90, 56, 37), (165, 107, 60), (222, 188, 110), (170, 60, 30), (200, 200, 205)]
HAIR_STYLES = ("bald", "short", "long", "bun", "fringe")
EYE_COLOURS = [(70, 45, 25), (40, 90, 160), (60, 120, 70), (120, 110, 60), (95, 95, 105)]
SHIRT_COLOURS = [(40, 60, 140), (150, 30, 40), (40, 110, 60), (220, 220, 215), (35, 35, 40), (200, 150, 40)]
IDENTITY_FACTORS = ("face_shape", "skin_tone", "hair_colour", "hair_style", "eye_colour", "shirt_colour")
IDENTITY_OPTIONS = {"face_shape": len(FACE_SHAPES), "skin_tone": len(SKIN_TONES), "hair_colour": len(HAIR_COLOURS),
                    "hair_style": len(HAIR_STYLES), "eye_colour": len(EYE_COLOURS), "shirt_colour": len(SHIRT_COLOURS)}
# Continuous proportions, drawn uniformly in these ranges (multipliers of the base sizes).
PROPORTIONS = {"eye_spacing": (0.85, 1.15), "eye_size": (0.8, 1.25), "mouth_width": (0.8, 1.25),
               "nose_size": (0.8, 1.3), "brow_thickness": (0.7, 1.4), "head_size": (0.92, 1.08)}


@dataclass(frozen=True)
class Identity:
    """Everything that stays fixed for a person: categorical factors (indices) and continuous proportions."""

    face_shape: int
    skin_tone: int
    hair_colour: int
    hair_style: int
    eye_colour: int
    shirt_colour: int
    eye_spacing: float
    eye_size: float
    mouth_width: float
    nose_size: float
    brow_thickness: float
    head_size: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Identity":
        categorical = {name: int(rng.integers(IDENTITY_OPTIONS[name])) for name in IDENTITY_FACTORS}
        continuous = {name: float(rng.uniform(*PROPORTIONS[name])) for name in PROPORTIONS}
        return cls(**categorical, **continuous)

    def labels(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in IDENTITY_FACTORS}

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _shade(colour: tuple[int, ...], factor: float) -> tuple[int, int, int]:
    r, g, b = (min(255, max(0, round(c * factor))) for c in colour[:3])
    return r, g, b


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """A soft vertical gradient in a random muted colour: per clip, so it is content but not identity."""
    top = rng.uniform(40, 220, 3)
    bottom = top * rng.uniform(0.55, 0.9)
    ramp = np.linspace(0, 1, size)[:, None, None]
    pixels = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (size, size, 3))
    return Image.fromarray(np.ascontiguousarray(pixels.round().astype(np.uint8)), "RGB").convert("RGBA")


class FaceRenderer:
    """Draws frames of size x size RGB uint8 for an Identity and per-frame motion factors (MOTION_FACTORS)."""

    def __init__(self, size: int = 64):
        self.size = size
        self.s = size * SUPERSAMPLE  # drawing resolution

    # ---- geometry -------------------------------------------------------------------------------------------
    def _project(self, point: tuple[float, float, float], yaw: float, pitch: float) -> tuple[float, float, float]:
        """(x, y, z) in head units (x right, y down, z towards the camera) -> rotated (x', y', z')."""
        x, y, z = point
        x, z = x * np.cos(yaw) + z * np.sin(yaw), z * np.cos(yaw) - x * np.sin(yaw)
        y, z = y * np.cos(pitch) - z * np.sin(pitch), z * np.cos(pitch) + y * np.sin(pitch)
        return x, y, z

    def render(self, identity: Identity, motion: np.ndarray, background_seed: int) -> np.ndarray:
        """(T, size, size, 3) uint8 frames of `identity` moving by `motion` (T, len(MOTION_FACTORS))."""
        background = _background(np.random.default_rng(background_seed), self.s)
        return np.stack([self._frame(identity, dict(zip(MOTION_FACTORS, m)), background) for m in motion])

    def _frame(self, idt: Identity, m: dict[str, float], background: Image.Image) -> np.ndarray:
        s = self.s
        w_scale, h_scale = list(FACE_SHAPES.values())[idt.face_shape]
        a = 0.24 * s * w_scale * idt.head_size  # face half-width
        b = 0.30 * s * h_scale * idt.head_size  # face half-height
        cx, cy = s * (0.5 + m["shift_x"]), s * (0.46 + m["shift_y"])
        yaw, pitch = np.radians(m["yaw"]), np.radians(m["pitch"])
        skin, hair = SKIN_TONES[idt.skin_tone], HAIR_COLOURS[idt.hair_colour]
        style = HAIR_STYLES[idt.hair_style]

        frame = background.copy()
        body = ImageDraw.Draw(frame)
        # Shoulders and neck do not roll with the head; they follow its shift a little.
        sx = cx + 0.3 * (cx - s / 2)
        body.ellipse([sx - 0.46 * s, s * 0.9, sx + 0.46 * s, s * 1.45], fill=SHIRT_COLOURS[idt.shirt_colour])
        body.rectangle([cx - 0.34 * a, cy + 0.5 * b, cx + 0.34 * a, s * 0.98], fill=_shade(skin, 0.82))

        layer = Image.new("RGBA", (s, s), (0, 0, 0, 0))
        d = ImageDraw.Draw(layer)

        def at(u: float, v: float, depth: float = 0.0) -> tuple[float, float, float]:
            """A point at face-relative (u, v) on the ellipsoid surface (+depth), projected to pixels."""
            z = 0.9 * a * np.sqrt(max(0.0, 1 - u * u - v * v)) + depth * a
            x, y, z = self._project((u * a, v * b, z), yaw, pitch)
            return cx + x, cy + y, z

        def ellipse(x: float, y: float, rx: float, ry: float, fill: tuple[int, ...]) -> None:
            if rx > 0.3 and ry > 0.3:
                d.ellipse([x - rx, y - ry, x + rx, y + ry], fill=fill)

        # Back hair, behind everything else on the head; it moves opposite to the face when the head turns.
        back = -np.sin(yaw) * 0.12 * a
        if style == "long":
            d.rounded_rectangle([cx + back - 1.2 * a, cy - 1.08 * b, cx + back + 1.2 * a, cy + 1.25 * b],
                                radius=int(0.9 * a), fill=hair)
        elif style != "bald":
            ellipse(cx + back, cy - 0.1 * b, 1.1 * a, 1.06 * b, hair)
        # Ears sit on the rim of the head: as it turns, the far ear goes behind the face outline and the near one
        # comes round onto the cheek (drawn after the face then).
        ears = []
        for side in (-1, 1):
            x, y, z = self._project((side * a, 0.05 * b, 0.0), yaw, pitch)
            ears.append((cx + x, cy + y, z))
        ear_colour = _shade(skin, 0.88)
        for x, y, z in ears:
            if z <= 0:
                ellipse(x, y, 0.14 * a, 0.22 * b, ear_colour)
        # Face with a darker rim (a cheap shading cue).
        ellipse(cx, cy, a, b, _shade(skin, 0.86))
        ellipse(cx - 0.04 * a, cy - 0.04 * b, 0.9 * a, 0.93 * b, skin)
        for x, y, z in ears:
            if z > 0:
                ellipse(x, y, 0.14 * a * max(0.3, 1 - z / a), 0.22 * b, ear_colour)
        # Hair on top: the part of a slightly larger ellipse above a hairline that follows the pitch.
        if style != "bald":
            _, line_y, _ = at(0, -0.62)
            theta = np.linspace(np.pi, 2 * np.pi, 25)
            arc_x, arc_y = cx + 1.05 * a * np.cos(theta), cy - 0.04 * b + 1.06 * b * np.sin(theta)
            d.polygon(list(zip(arc_x, np.minimum(arc_y, line_y))), fill=hair)  # flat along the hairline
            if style == "fringe":  # a side-swept fringe down to the brows on one side
                p0, p1, p2 = at(-0.9, -0.75), at(0.6, -0.45), at(-0.2, -0.2)
                d.polygon([(p0[0], p0[1]), (p1[0], p1[1]), (p2[0], p2[1]), (cx - a, cy - 0.3 * b)], fill=hair)
            if style == "bun":
                bx, by, _ = at(0, -0.95, 0.1)
                ellipse(bx, by - 0.25 * b, 0.32 * a, 0.3 * b, hair)
        # Eyes: sclera height follows eye_open; iris and pupil are squashed with it so they never leave the eye.
        open_ = float(np.clip(m["eye_open"], 0, 1))
        for side in (-1, 1):
            u = side * 0.38 * idt.eye_spacing
            x, y, z = at(u, -0.1)
            fore = max(0.0, np.cos(yaw + np.arcsin(np.clip(u, -1, 1)) * 0.8))  # the far eye narrows first
            rx, ry_full = 0.17 * a * idt.eye_size * fore, 0.11 * b * idt.eye_size
            ry = ry_full * open_
            if z <= 0 or rx < 0.5:
                continue
            if open_ < 0.2:  # closed: a lash line
                d.line([x - rx, y, x + rx, y], fill=_shade(hair, 0.6), width=max(1, SUPERSAMPLE))
                continue
            ellipse(x, y, rx, ry, (245, 245, 240))
            iris = 0.62 * ry_full
            ix = x + np.sin(yaw) * 0.15 * rx  # the gaze stays on the camera a little as the head turns
            ellipse(ix, y, min(iris * fore, rx), min(iris, ry), EYE_COLOURS[idt.eye_colour])
            ellipse(ix, y, min(0.45 * iris * fore, rx), min(0.45 * iris, ry), (15, 12, 12))
            d.arc([x - rx, y - ry, x + rx, y + ry], 190, 350, fill=_shade(hair, 0.5), width=max(1, SUPERSAMPLE))
        # Brows: raised by brow_raise; their inner ends dip a little when lowered (a frown).
        brow_colour = _shade(hair if style != "bald" else (60, 45, 35), 0.8)
        lift = float(m["brow_raise"])
        for side in (-1, 1):
            u = side * 0.38 * idt.eye_spacing
            inner = at(u - side * 0.2, -0.34 - 0.14 * lift + 0.04 * (1 - lift))
            outer = at(u + side * 0.2, -0.36 - 0.14 * lift)
            if min(inner[2], outer[2]) <= 0:
                continue
            t = 0.05 * b * idt.brow_thickness
            d.polygon([(inner[0], inner[1] - t), (outer[0], outer[1] - t), (outer[0], outer[1] + t * 0.6),
                       (inner[0], inner[1] + t)], fill=brow_colour)
        # Nose: sticks out, so it shifts most with yaw.
        nx, ny, _ = at(0, 0.16, 0.22 * idt.nose_size)
        ellipse(nx, ny, 0.09 * a * idt.nose_size, 0.16 * b * idt.nose_size, _shade(skin, 0.8))
        ellipse(nx, ny + 0.1 * b * idt.nose_size, 0.07 * a * idt.nose_size, 0.05 * b, _shade(skin, 0.62))
        # Mouth: lips open with mouth_open, the dark inside and a row of teeth appear.
        mouth = float(np.clip(m["mouth_open"], 0, 1))
        mx, my, _ = at(0, 0.5)
        mw = 0.32 * a * idt.mouth_width * max(0.2, np.cos(yaw)) * (1 - 0.15 * mouth)
        ellipse(mx, my, mw, 0.06 * b + 0.16 * b * mouth, _shade(skin, 0.62) if idt.skin_tone > 3 else (185, 80, 85))
        if mouth > 0.05:
            inner_h = 0.13 * b * mouth
            ellipse(mx, my, 0.8 * mw, inner_h, (45, 15, 20))
            d.chord([mx - 0.7 * mw, my - inner_h, mx + 0.7 * mw, my + inner_h * 0.6], 180, 360, fill=(235, 235, 225))

        # Roll: rotate only the head's bounding square (the costly step), about the head centre.
        r = int(1.35 * max(a, b)) + 2
        box = (int(cx) - r, int(cy) - r, int(cx) + r, int(cy) + r)
        head = layer.crop(box)
        if abs(m["roll"]) > 1e-3:
            head = head.rotate(float(m["roll"]), resample=Image.Resampling.BILINEAR, center=(cx - box[0], cy - box[1]))
        frame.alpha_composite(head, dest=(max(0, box[0]), max(0, box[1])), source=(max(0, -box[0]), max(0, -box[1])))
        return np.asarray(frame.convert("RGB").reduce(SUPERSAMPLE))


def render_clip(identity: Identity, frames: int, fps: float, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(video (frames, size, size, 3) uint8, motion factors (frames, len(MOTION_FACTORS)) float32) of one clip."""
    rng = np.random.default_rng(seed)
    motion = motion_trajectory(rng, frames, fps)
    video = FaceRenderer(size).render(identity, motion, background_seed=int(rng.integers(2**31)))
    return video, motion
