"""Distinctive identities for synthetic sites: a tone and a colour per member number.

Tones are integer frequencies in 300-3000 Hz (so a 1 s Goertzel window lands exactly on the
bin and a 1 s audio cycle loops without a click). Numbers are spread over 16 slots 170 Hz
apart by a stride coprime with 16, so the numbers of one aligned block (0-15, 16-31, ...) are
at least 170 Hz apart and neighbouring numbers land far apart; each block of 16 is shifted by
42 Hz (4 layers give 64 distinct tones, any two at least 42 Hz apart; 1-16 at least 128 Hz). Colours follow the same
slots around the hue circle; the layer changes saturation and brightness.
"""

from __future__ import annotations

import colorsys

from mcu.layout.compose import rgb_to_yuv  # the compositor's BT.601 conversion: one definition

TONE_BASE_HZ = 300
TONE_SLOT_HZ = 170
TONE_LAYER_HZ = 42
SLOTS = 16
LAYERS = 4
SLOT_STRIDE = 7  # coprime with SLOTS: neighbouring numbers land far apart
LAYER_SATURATION = (0.85, 0.6, 0.85, 0.6)
LAYER_VALUE = (0.9, 0.9, 0.6, 0.6)

RGB = tuple[int, int, int]
YUV = tuple[int, int, int]


def _slot_layer(n: int) -> tuple[int, int]:
    if n < 0:
        raise ValueError(f"member number must be >= 0, got {n}")
    return (n * SLOT_STRIDE) % SLOTS, (n // SLOTS) % LAYERS


def tone_for(n: int) -> int:
    """Tone frequency in Hz of member number `n` (integer, 300..2976)."""
    slot, layer = _slot_layer(n)
    return TONE_BASE_HZ + slot * TONE_SLOT_HZ + layer * TONE_LAYER_HZ


def colour_for(n: int) -> RGB:
    """Picture colour (8-bit RGB) of member number `n`."""
    slot, layer = _slot_layer(n)
    hue = (slot + layer / LAYERS) / SLOTS
    r, g, b = colorsys.hsv_to_rgb(hue, LAYER_SATURATION[layer], LAYER_VALUE[layer])
    return round(r * 255), round(g * 255), round(b * 255)


def yuv_for(n: int) -> YUV:
    return rgb_to_yuv(colour_for(n))


def contrast_yuv(colour: YUV) -> YUV:
    """White digits on dark colours, black on light ones."""
    return (16, 128, 128) if colour[0] >= 126 else (235, 128, 128)
