"""Recording and live streaming of a room: its full mix and its picture, written by PyAV.

Sans-I/O parts (time and sizes come in as arguments): `naming` (file names that sort by time and
carry the room), `sidefile` (the JSON beside each recording), `retention` (what is old enough to
delete), `disk` (the free-space floor), `mp4` (where the last complete fragment ends),
`link` (a live stream's connect/retry state with backoff, and URL redaction).
The I/O shell: `writer` (one encode/mux thread per output, fed by a bounded queue) and
`manager` (the rooms' recordings and streams, driven from the server's loop).
"""
