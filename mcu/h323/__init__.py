"""Sans-I/O H.323 cores (issue 15): TPKT, Q.931, H.225.0 call signalling, H.245 control and
a call state machine for the MCU side. No sockets, threads or clocks: bytes and `now` in,
bytes and events out (see call.H323Call).

ASN.1 (H.225.0, H.245) is aligned PER through pycrate, whose types are module singletons:
every encode and decode must run on one thread, the event loop (see per.py).
"""
