"""Binary Floor Control Protocol (RFC 8855) as a sans-I/O core: the message codec, UDP
reliability (retransmission, duplicate detection) and the floor control server of a room."""
