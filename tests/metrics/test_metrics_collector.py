"""mcu.metrics: scrape-time collector output, event methods, NullMetrics, exporter, cardinality."""

from __future__ import annotations

import inspect
import urllib.request

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mcu.metrics import (
    ConferenceSnapshot,
    ConfigInfo,
    MemberSnapshot,
    Metrics,
    MetricsError,
    NullMetrics,
    RoomSnapshot,
    ViewSnapshot,
    make_metrics,
    start_exporter,
)
from tests.metrics.fake_meeting import FakeMeeting, build_snapshot

SERIES_LIMIT = 5000


def exposition(m: Metrics) -> str:
    return generate_latest(m.registry).decode("utf-8")


def series(m: Metrics) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for fam in text_string_to_metric_families(exposition(m))
            for s in fam.samples]


def names(m: Metrics) -> set[str]:
    return {name for name, _, _ in series(m)}


def member(member_id: str, kind: str = "audio", **fields: object) -> MemberSnapshot:
    base: dict[str, object] = {"room": "4100", "member_id": member_id, "display_name": "Hà Nội",
                               "user_agent": "Polycom/6.2", "kind": kind,
                               "codec": "H264" if kind == "video" else "PCMU"}
    base.update(fields)
    return MemberSnapshot(**base)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- negative cases


def test_no_provider_exposes_build_info_but_no_conference_series() -> None:
    m = Metrics(process=False)
    found = names(m)
    assert "mcu_build_info" in found
    assert not any(n.startswith(("mcu_room", "mcu_member_")) for n in found)
    assert m.registry.get_sample_value("mcu_metrics_snapshot_errors_total") == 0


def test_failing_provider_is_counted_and_the_page_still_renders() -> None:
    def broken() -> ConferenceSnapshot:
        raise RuntimeError("conference lock poisoned")

    m = Metrics(broken, process=False)
    m.sip_request("INVITE")
    text = exposition(m)
    text = exposition(m)
    assert 'mcu_sip_requests_total{method="INVITE"} 1.0' in text
    assert m.registry.get_sample_value("mcu_metrics_snapshot_errors_total") == 3  # incl. the call above
    assert "mcu_rooms" not in names(m)


def test_empty_snapshot_gives_zero_rooms_and_no_member_series() -> None:
    m = Metrics(lambda: ConferenceSnapshot(), process=False)
    assert m.registry.get_sample_value("mcu_rooms") == 0
    assert m.registry.get_sample_value("mcu_members") == 0
    assert not any(n.startswith("mcu_member_") for n in names(m))


def test_unknown_keyframe_reason_and_auth_kind_are_refused() -> None:
    m = Metrics(process=False)
    with pytest.raises(MetricsError, match="keyframe reason 'idr'"):
        m.keyframe_sent("4100", "v1", "idr")  # type: ignore[arg-type]
    with pytest.raises(MetricsError, match="auth failure kind 'tls'"):
        m.auth_failure("tls")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- collector output


def test_room_member_and_view_series_carry_snapshot_values() -> None:
    snap = ConferenceSnapshot(
        rooms=[RoomSnapshot("4100", "Giao ban", 1, "voice-activated", "1+7", True)],
        members=[member("m1", packets_in=500, bytes_in=80_000, loss_fraction=0.02,
                        jitter_seconds=0.004, rtt_seconds=None, speaking=True),
                 member("m1", "video", width=1280, height=720, packets_in=1200, pli_in=3,
                        nack_out=7, frames_decoded=900, frames_dropped=2, rtt_seconds=0.031,
                        seconds_since_last_packet=0.5)],
        views=[ViewSnapshot("v1", "4100", 12, 1280, 720, "H264", 29.5, 1.4e6, "ultrafast", 30.0)],
        sip_dialogs=4)
    m = Metrics(lambda: snap, process=False)
    get = m.registry.get_sample_value
    a = {"room": "4100", "member": "m1", "kind": "audio"}
    v = {**a, "kind": "video"}
    assert get("mcu_rooms") == 1
    assert get("mcu_members") == 1
    assert get("mcu_sip_dialogs_active") == 4
    assert get("mcu_room_members", {"room": "4100"}) == 1
    assert get("mcu_room_locked", {"room": "4100"}) == 1
    assert get("mcu_room_views", {"room": "4100"}) == 1
    assert get("mcu_room_info", {"room": "4100", "name": "Giao ban", "mode": "voice-activated",
                                 "layout": "1+7"}) == 1
    assert get("mcu_member_received_packets_total", a) == 500
    assert get("mcu_member_received_bytes_total", a) == 80_000
    assert get("mcu_member_loss_ratio", a) == pytest.approx(0.02)
    assert get("mcu_member_jitter_seconds", a) == pytest.approx(0.004)
    assert get("mcu_member_rtt_seconds", a) is None  # unknown RTT: no series, not a fake 0
    assert get("mcu_member_rtt_seconds", v) == pytest.approx(0.031)
    assert get("mcu_member_speaking", a) == 1
    assert get("mcu_member_speaking", v) is None
    assert get("mcu_member_rtcp_feedback_received_total", {**v, "type": "pli"}) == 3
    assert get("mcu_member_rtcp_feedback_sent_total", {**v, "type": "nack"}) == 7
    assert get("mcu_member_rtcp_feedback_received_total", {**a, "type": "pli"}) is None
    assert get("mcu_member_decoded_frames_total", v) == 900
    assert get("mcu_member_dropped_frames_total", v) == 2
    assert get("mcu_member_last_packet_age_seconds", v) == 0.5
    assert get("mcu_member_media_info", {**v, "codec": "H264", "resolution": "1280x720"}) == 1
    assert get("mcu_member_media_info", {**a, "codec": "PCMU"}) == 1
    view = {"room": "4100", "view": "v1"}
    assert get("mcu_view_members", view) == 12
    assert get("mcu_view_output_frames_per_second", view) == 29.5
    assert get("mcu_view_target_frames_per_second", view) == 30
    assert get("mcu_view_output_bits_per_second", view) == 1.4e6
    assert get("mcu_view_info", {**view, "codec": "H264", "resolution": "1280x720",
                                 "preset": "ultrafast"}) == 1


def test_display_name_and_user_agent_only_on_the_info_metric_in_utf8() -> None:
    snap = ConferenceSnapshot(members=[
        member("m7", display_name="Ủy ban nhân dân tỉnh Đắk Lắk", user_agent="TANDBERG/529"),
        member("m7", "video", display_name="Ủy ban nhân dân tỉnh Đắk Lắk",
               user_agent="TANDBERG/529")])
    m = Metrics(lambda: snap, process=False)
    raw = generate_latest(m.registry)
    assert "Ủy ban nhân dân tỉnh Đắk Lắk".encode() in raw
    info = [(n, lbl) for n, lbl, _ in series(m) if lbl.get("display_name")]
    assert info == [("mcu_member_info", {"room": "4100", "member": "m7",
                                         "display_name": "Ủy ban nhân dân tỉnh Đắk Lắk",
                                         "user_agent": "TANDBERG/529", "encrypted": "false"})]
    assert not any("user_agent" in lbl for n, lbl, _ in series(m) if n != "mcu_member_info")


def test_series_of_a_member_vanish_when_it_leaves() -> None:
    meeting = FakeMeeting(None, sites=3)
    meeting.advance(5.0)
    m = Metrics(meeting.snapshot, process=False)
    gone = meeting.member_ids[1]
    before = [s for s in series(m) if s[1].get("member") == gone]
    assert len(before) > 20
    meeting.leave(gone)
    assert [s for s in series(m) if s[1].get("member") == gone] == []
    assert m.registry.get_sample_value("mcu_room_members", {"room": "4100"}) == 2
    assert any(s[1].get("member") == meeting.member_ids[0] for s in series(m))


def test_counters_grow_as_the_meeting_advances() -> None:
    meeting = FakeMeeting(None, sites=2)
    m = Metrics(meeting.snapshot, process=False)
    labels = {"room": "4100", "member": meeting.member_ids[0], "kind": "video"}
    meeting.advance(1.0)
    first = m.registry.get_sample_value("mcu_member_received_packets_total", labels)
    meeting.advance(1.0)
    second = m.registry.get_sample_value("mcu_member_received_packets_total", labels)
    assert first is not None and second is not None and second > first > 0


# --------------------------------------------------------------------------- events


def test_event_methods_count_and_observe() -> None:
    m = Metrics(process=False)
    get = m.registry.get_sample_value
    for _ in range(3):
        m.sip_request("INVITE")
    m.sip_response("INVITE", 486)
    m.auth_failure("pin")
    m.config_reload(False)
    m.config_reload(True)
    m.keyframe_sent("4100", "v1", "pli")
    m.observe_audio_tick("4100", 0.001, late=False)
    m.observe_audio_tick("4100", 0.030, late=True)
    m.observe_compose("4100", 0.004)
    m.observe_encode("4100", "v1", 0.006)
    m.observe_loop_lag(0.2)
    m.speaker_change("4100")
    m.member_joined("4100")
    m.member_left("4100")
    assert get("mcu_sip_requests_total", {"method": "INVITE"}) == 3
    assert get("mcu_sip_responses_total", {"method": "INVITE", "code": "486"}) == 1
    assert get("mcu_auth_failures_total", {"kind": "pin"}) == 1
    assert get("mcu_auth_failures_total", {"kind": "digest"}) == 0  # known values start at 0
    assert get("mcu_config_reloads_total", {"result": "failure"}) == 1
    assert get("mcu_config_reloads_total", {"result": "success"}) == 1
    assert (get("mcu_config_last_reload_success_timestamp_seconds") or 0) > 1.6e9
    kf = {"room": "4100", "view": "v1"}
    assert get("mcu_view_keyframes_sent_total", {**kf, "reason": "pli"}) == 1
    assert get("mcu_view_keyframes_sent_total", {**kf, "reason": "join"}) == 0
    assert get("mcu_audio_tick_duration_seconds_count", {"room": "4100"}) == 2
    assert get("mcu_audio_tick_duration_seconds_bucket", {"room": "4100", "le": "0.02"}) == 1
    assert get("mcu_audio_ticks_late_total", {"room": "4100"}) == 1
    assert get("mcu_compose_duration_seconds_sum", {"room": "4100"}) == pytest.approx(0.004)
    assert get("mcu_view_encode_duration_seconds_count", kf) == 1
    assert get("mcu_event_loop_lag_seconds_bucket", {"le": "0.1"}) == 0
    assert get("mcu_event_loop_lag_seconds_bucket", {"le": "0.25"}) == 1
    assert get("mcu_speaker_changes_total", {"room": "4100"}) == 1
    assert get("mcu_member_joins_total", {"room": "4100"}) == 1
    assert get("mcu_member_leaves_total", {"room": "4100"}) == 1


def test_late_counter_reads_zero_from_the_first_tick() -> None:
    m = Metrics(process=False)
    m.observe_audio_tick("4100", 0.001)
    assert m.registry.get_sample_value("mcu_audio_ticks_late_total", {"room": "4100"}) == 0


def test_forget_room_and_forget_view_drop_event_series() -> None:
    m = Metrics(process=False)
    for room in ("4100", "4200"):
        m.member_joined(room)
        m.observe_audio_tick(room, 0.001)
        m.observe_encode(room, "v1", 0.003)
        m.observe_encode(room, "v2", 0.003)
        m.keyframe_sent(room, "v2", "join")
    m.forget_view("4100", "v2")
    left = [s for s in series(m) if s[1].get("room") == "4100"]
    assert left and not any(s[1].get("view") == "v2" for s in left)
    m.forget_room("4100")
    assert not any(s[1].get("room") == "4100" for s in series(m))
    assert any(s[1].get("room") == "4200" and s[1].get("view") == "v2" for s in series(m))
    m.observe_audio_tick("4100", 0.002)  # a room that reopens counts again
    assert m.registry.get_sample_value("mcu_audio_tick_duration_seconds_count",
                                       {"room": "4100"}) == 1


def test_process_collector_and_threads_are_exposed() -> None:
    found = names(Metrics())
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                 "mcu_process_threads", "mcu_host_cpus", "python_info"):
        assert name in found


def test_null_metrics_has_every_public_method_of_metrics_with_the_same_signature() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {n: inspect.signature(f) for n, f in inspect.getmembers(cls, inspect.isfunction)
                if not n.startswith("_")}

    real, null = public(Metrics), public(NullMetrics)
    assert set(real) == set(null)
    for name, sig in real.items():
        assert null[name] == sig, name
    off = NullMetrics()
    off.observe_audio_tick("4100", 0.001, True)
    off.keyframe_sent("4100", "v1", "idr")  # type: ignore[arg-type]  # no-op: no check either
    assert off.registry is None


def test_make_metrics_follows_the_enabled_flag() -> None:
    assert isinstance(make_metrics(False), NullMetrics)
    assert isinstance(make_metrics(True), Metrics)


# --------------------------------------------------------------------------- exporter


def test_exporter_serves_metrics_over_http_and_stops() -> None:
    meeting = FakeMeeting(None, sites=2)
    m = Metrics(meeting.snapshot)
    m.set_config_info(ConfigInfo("/etc/mcu/mcu.toml", "sha256:ab12"))
    stop = start_exporter(m, "127.0.0.1", 0)
    try:
        with urllib.request.urlopen(stop.url, timeout=5) as resp:
            body = resp.read().decode("utf-8")
            assert resp.status == 200
    finally:
        stop()
    assert 'mcu_config_info{digest="sha256:ab12",path="/etc/mcu/mcu.toml"} 1.0' in body
    assert "mcu_member_received_packets_total" in body
    assert "process_cpu_seconds_total" in body
    with pytest.raises(OSError):
        urllib.request.urlopen(stop.url, timeout=2)
    stop()  # stopping twice is harmless


def test_exporter_of_null_metrics_starts_nothing() -> None:
    stop = start_exporter(NullMetrics(), "127.0.0.1", 0)
    stop()
    assert stop.port == 0


# --------------------------------------------------------------------------- cardinality


def test_a_64_site_meeting_stays_well_under_5000_series() -> None:
    snap = build_snapshot("4100", sites=64, views=5)
    assert len(snap.members) == 128 and len(snap.views) == 5
    m = Metrics(lambda: snap)
    meeting = FakeMeeting(m, sites=64, views=5, troubles=True)  # every event label in use
    for _ in range(20):
        meeting.advance(0.1)
    m.sip_response("INVITE", 200)
    m.sip_response("BYE", 200)
    count = len(series(m))
    member_series = sum(1 for s in series(m) if "member" in s[1])
    print(f"\n64-site meeting (128 streams, 5 views): {count} series exposed, "
          f"{member_series} of them per member ({member_series / 64:.1f} per site)")
    assert count < SERIES_LIMIT / 2
    assert member_series > 64 * 20  # every site really is there
