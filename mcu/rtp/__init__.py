"""mcu.rtp: sans-I/O RTP/RTCP media plane (time comes in as `now`).

packet       RTP header, CSRC, padding, RFC 8285 extensions, RFC 6464 audio level
rtcp         SR/RR/SDES/BYE, NACK, PLI, FIR, TMMBR/TMMBN, REMB; compound parse/serialize
h264/vp8/h263  payload formats (Payloader.payload(mtu, frame), Depacketizer.assemble(...))
dtmf         RFC 4733 telephone-event receiver (one event per press) and sender
jitterbuffer AudioJitterBuffer (adaptive, lost markers) and VideoJitterBuffer (events)
stats        RFC 3550 receive statistics, RTT, RTCP interval
session      OutboundStream (per-member SSRC/seq/ts rewrite, SR) and RtpSession (RTCP)
errors       RtpParseError / RtcpParseError hierarchy with counter-friendly reasons
"""
