"""Protocol-neutral calls ("legs"): who is calling, why a call is refused, and the small interface
the operator's tools drive. SIP (and H.323) adapters produce legs; the conference never sees
protocol objects."""
