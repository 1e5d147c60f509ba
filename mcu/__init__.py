"""open MCU: a software Multipoint Control Unit for SIP room systems."""

__version__ = "0.1.0"
