"""Many MCU nodes behind one SIP front door: the Redis room registry, the node shell, a local cluster."""
