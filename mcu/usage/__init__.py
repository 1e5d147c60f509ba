"""Usage records: a record per call and per meeting, never lost on a crash (mcu.usage.journal),
kept in SQLite or PostgreSQL (mcu.usage.store) and summed into monthly statements
(mcu.usage.statement, `mcu usage`)."""
