"""A calibration with round unit costs, so test arithmetic can be done by hand."""

from __future__ import annotations

from mcu.plan.calibration import Calibration


def unit_cal(cores: int = 4, usable: float = 0.7) -> Calibration:
    return Calibration(
        cores=cores,
        usable_fraction=usable,
        decode_ms={"sd360": 0.5, "hd720": 1.0, "fhd1080": 2.0},
        encode_ms={"ultrafast": {"sd360": 1.0, "hd720": 3.0, "fhd1080": 6.0}},
        scale_ms_per_tile=0.5,
        blit_ms_per_tile=0.01,
        mix_us_per_member=10.0,
        audio_decode_us={"g711": 2.0, "g722": 5.0, "opus": 20.0},
        audio_encode_us={"g711": 2.0, "g722": 20.0, "opus": 70.0},
        rtp_us_per_packet=5.0,
        view_ms=0.0,  # the conference-path terms are 0 here; tests that need them set them
        video_room_ms=0.0,
        video_in_us_per_packet=0.0,
        video_out_us_per_packet=0.0,
        machine_name="unit",
        path="unit.toml",
    )
