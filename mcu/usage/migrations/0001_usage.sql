-- Usage records: one row per call and per meeting. Portable SQL (SQLite 3.24+ and PostgreSQL 12+).
-- Times are UTC seconds since the epoch.
CREATE TABLE usage_calls (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    room TEXT NOT NULL,
    meeting_id TEXT NOT NULL,
    site TEXT NOT NULL,
    uri TEXT NOT NULL,
    protocol TEXT NOT NULL,
    direction TEXT NOT NULL,
    start DOUBLE PRECISION NOT NULL,
    answer DOUBLE PRECISION,
    "end" DOUBLE PRECISION NOT NULL,
    end_reason TEXT NOT NULL,
    audio_codec TEXT NOT NULL,
    video_codec TEXT NOT NULL,
    resolution TEXT NOT NULL,
    tier TEXT NOT NULL,
    bytes_in BIGINT NOT NULL,
    bytes_out BIGINT NOT NULL,
    packets_in BIGINT NOT NULL,
    packets_out BIGINT NOT NULL,
    loss DOUBLE PRECISION NOT NULL,
    jitter_ms DOUBLE PRECISION NOT NULL,
    encrypted INTEGER NOT NULL
);
CREATE INDEX usage_calls_tenant_start ON usage_calls (tenant, start);
CREATE TABLE usage_meetings (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    room TEXT NOT NULL,
    start DOUBLE PRECISION NOT NULL,
    "end" DOUBLE PRECISION NOT NULL,
    end_reason TEXT NOT NULL,
    calls INTEGER NOT NULL,
    peak_sites INTEGER NOT NULL,
    site_minutes DOUBLE PRECISION NOT NULL,
    recording_minutes DOUBLE PRECISION NOT NULL
);
CREATE INDEX usage_meetings_tenant_start ON usage_meetings (tenant, start);
