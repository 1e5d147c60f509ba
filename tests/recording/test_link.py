"""A live stream's link: backoff doubling to a cap, reset after a stable period, reconnect counts;
stream keys never in what is logged or shown."""

from __future__ import annotations

from mcu.recording.link import LinkState, StreamLink, check_stream_url, redact_text, redact_url

URL = "rtmp://ingest.example.gov:1935/live/s3cr3t-key-42"


def test_backoff_doubles_to_the_cap_and_attempts_wait_for_it() -> None:
    link = StreamLink(retry_initial=1.0, retry_max=8.0)
    link.started(0.0)
    delays = []
    now = 0.0
    for _ in range(6):
        delays.append(link.failed(now, "Connection refused"))
        assert link.state is LinkState.RETRYING
        assert not link.attempt_due(now + delays[-1] - 0.01), "not before the delay"
        now += delays[-1]
        assert link.attempt_due(now) and link.state is LinkState.CONNECTING
        assert not link.attempt_due(now), "one attempt per due time"
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert link.attempts == 7 and link.reconnects == 0


def test_stable_link_resets_the_backoff_and_counts_a_reconnect() -> None:
    link = StreamLink(retry_initial=1.0, retry_max=30.0, stable_after=30.0)
    link.started(0.0)
    link.connected(1.0)
    assert link.state is LinkState.LIVE
    assert link.failed(2.0, "reset") == 1.0
    link.attempt_due(3.0)
    link.connected(3.5)
    assert link.reconnects == 1
    assert link.failed(4.0, "reset") == 2.0, "a short-lived link keeps backing off"
    link.attempt_due(6.0)
    link.connected(6.0)
    assert link.failed(100.0, "reset") == 1.0, "after 94 s up, back to the shortest delay"


def test_stopped_link_never_retries() -> None:
    link = StreamLink()
    link.started(0.0)
    link.stop(1.0)
    assert link.failed(2.0, "late failure") == 0.0
    assert not link.attempt_due(1e9) and link.state is LinkState.STOPPED


def test_urls_are_checked() -> None:
    assert check_stream_url(URL) is None
    assert check_stream_url("rtmps://live-api-s.facebook.com:443/rtmp/FB-key") is None
    assert "cannot send" in (check_stream_url("srt://10.0.0.1:9000?streamid=abc") or "")
    assert "must start with" in (check_stream_url("http://x/app/key") or "")
    assert "stream key" in (check_stream_url("rtmp://host/live") or "")
    assert "no host" in (check_stream_url("rtmp:///app/key") or "")


def test_redaction_hides_key_password_and_query() -> None:
    assert redact_url(URL) == "rtmp://ingest.example.gov:1935/live/***"
    assert "pw" not in redact_url("rtmps://user:pw@host/app/key")
    assert redact_url("srt://h:9000?streamid=#!::r=live/key,m=publish&passphrase=xyz") == "srt://h:9000?***"
    text = f"[Errno 111] Connection refused: '{URL}' (s3cr3t-key-42)"
    out = redact_text(text, URL)
    assert "s3cr3t" not in out and "ingest.example.gov" in out
