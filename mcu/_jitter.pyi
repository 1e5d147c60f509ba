# Types of the Cython extension mcu/_jitter.pyx (the audio jitter buffer in C; its
# specification is mcu.rtp.jitterbuffer.AudioJitterBuffer).
from mcu.rtp.jitterbuffer import AudioFrame, AudioJitterStats
from mcu.rtp.packet import RtpPacket

def _setup_fast_frames(enable: bool = True) -> bool: ...

class AudioJitterBuffer:
    clock_rate: int
    frame_duration: float
    min_delay: float
    max_delay: float
    stats: AudioJitterStats  # refreshed from the C counters on each read
    def __init__(
        self,
        clock_rate: int = 8000,
        frame_duration: float = ...,
        min_delay: float = ...,
        max_delay: float = ...,
    ) -> None: ...
    @property
    def jitter(self) -> float: ...
    @property
    def target_delay(self) -> float: ...
    @property
    def depth(self) -> int: ...
    def put(self, packet: RtpPacket, now: float) -> None: ...
    def put_raw(self, ssrc: int, seq16: int, timestamp: int, payload: bytes, now: float) -> None: ...
    def pop(self, now: float) -> AudioFrame | None: ...
