"""Writes the Grafana dashboards of the MCU (conf/grafana/dashboards/*.json).

The JSON files are what ships and what Grafana provisions; this script is how they are made,
so that the three dashboards share one style. Edit here, run
`python conf/grafana/build_dashboards.py`, and run tests/metrics (it queries every panel
expression against a real Prometheus).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards"
DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SCHEMA_VERSION = 39
I = 'instance=~"$instance"'  # every selector is scoped to the chosen MCU(s)
R = f'{I}, room="$room"'

Panel = dict[str, Any]


def target(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False,
           table: bool = False) -> dict[str, Any]:
    t: dict[str, Any] = {"datasource": DS, "expr": expr, "refId": ref, "legendFormat": legend,
                         "range": not instant, "instant": instant}
    if table:
        t["format"] = "table"
    return t


def panel(kind: str, title: str, targets: list[dict[str, Any]], x: int, y: int, w: int, h: int,
          *, unit: str = "short", description: str = "", **extra: Any) -> Panel:
    for i, t in enumerate(targets):
        t["refId"] = chr(ord("A") + i)
    p: Panel = {
        "type": kind, "title": title, "description": description, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
    }
    if kind == "timeseries":
        p["options"] = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}}
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "value", "graphMode": "area", "textMode": "auto"}
    p.update(extra)
    return p


def row(title: str, y: int, **extra: Any) -> Panel:
    return {"type": "row", "title": title, "collapsed": False, "panels": [],
            "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, **extra}


def ds_variable() -> dict[str, Any]:
    return {"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource",
            "query": "prometheus", "current": {"text": "Prometheus", "value": "prometheus"},
            "hide": 0, "refresh": 1}


def query_variable(name: str, label: str, query: str, *, multi: bool = False, regex: str = "",
                   include_all: bool = False) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            # no "definition": Grafana 11's dashboard model (grafana-foundation-sdk) has no such key and
            # drops it; the UI shows query.query instead
            "query": {"query": query, "refId": f"{name}-query"},
            "regex": regex, "refresh": 2, "sort": 1, "multi": multi, "includeAll": include_all,
            "current": {}, "hide": 0, "options": []}


def instance_variable() -> dict[str, Any]:
    return query_variable("instance", "MCU", "label_values(mcu_build_info, instance)",
                          multi=True, include_all=True)


def dashboard(uid: str, title: str, panels: list[Panel], variables: list[dict[str, Any]],
              description: str, refresh: str = "10s") -> dict[str, Any]:
    for i, p in enumerate(panels, start=1):
        p["id"] = i
    return {
        "uid": uid, "title": title, "description": description, "tags": ["mcu"],
        "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True,
        "timezone": "browser", "refresh": refresh, "graphTooltip": 1,
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [ds_variable(), *variables]},
        "annotations": {"list": []}, "links": [
            {"title": "MCU dashboards", "type": "dashboards", "tags": ["mcu"], "asDropdown": True}],
        "panels": panels,
    }


def overview() -> dict[str, Any]:
    cpu = f"rate(process_cpu_seconds_total{{{I}}}[$__rate_interval])"
    p = [
        panel("stat", "Rooms", [target(f"sum(mcu_rooms{{{I}}})")], 0, 0, 4, 4),
        panel("stat", "Sites connected", [target(f"sum(mcu_members{{{I}}})")], 4, 0, 4, 4),
        panel("stat", "SIP dialogs", [target(f"sum(mcu_sip_dialogs_active{{{I}}})")], 8, 0, 4, 4),
        panel("stat", "CPU (cores)", [target(f"sum({cpu})")], 12, 0, 4, 4, unit="none",
              description="CPU time the MCU process uses per second: 1.0 is one full core."),
        panel("stat", "Late audio ticks", [target(
            f"sum(rate(mcu_audio_ticks_late_total{{{I}}}[$__rate_interval])) "
            f"/ sum(rate(mcu_audio_tick_duration_seconds_count{{{I}}}[$__rate_interval]))")],
            16, 0, 4, 4, unit="percentunit",
            description="Share of 20 ms audio ticks that missed their deadline; above 1% is audible."),
        panel("stat", "MCU up", [target('up{job="mcu"}', "{{instance}}")], 20, 0, 4, 4,
              unit="bool_on_off"),
        panel("timeseries", "Sites per room", [target(
            f"mcu_room_members{{{I}}} * on (instance, room) group_left (name) mcu_room_info{{{I}}}",
            "{{room}} {{name}}")], 0, 4, 12, 8),
        panel("timeseries", "CPU and memory", [
            target(f"{cpu}", "CPU cores {{instance}}"),
            target(f"process_resident_memory_bytes{{{I}}} / 1e9", "RSS GB {{instance}}"),
            target(f"mcu_process_threads{{{I}}}", "threads {{instance}}")], 12, 4, 12, 8),
        panel("timeseries", "Late audio ticks and skipped video frames per second", [
            target(f"sum by (instance, room) (rate(mcu_audio_ticks_late_total{{{I}}}[$__rate_interval]))",
                   "late audio {{room}}"),
            target(f"rate(mcu_video_frames_skipped_total{{{I}}}[$__rate_interval])",
                   "skipped video frames {{instance}}", "B")], 0, 12, 12, 8,
            description="Skipped video frames: frame times the video tick missed because compose and "
                        "encode of the previous frame took too long (the output fell below its frame rate)."),
        panel("timeseries", "Encoder load (cores spent encoding)", [target(
            f"sum by (instance, room, view) "
            f"(rate(mcu_view_encode_duration_seconds_sum{{{I}}}[$__rate_interval]))",
            "{{room}} {{view}}")], 12, 12, 12, 8, unit="none",
            description="Seconds of encoding per second, per distinct view."),
        panel("timeseries", "Encoder frame rate against target", [
            target(f"mcu_view_output_frames_per_second{{{I}}}", "{{room}} {{view}}"),
            target(f"max by (instance) (mcu_view_target_frames_per_second{{{I}}})", "target")],
            0, 20, 12, 8, unit="none"),
        panel("timeseries", "Audio tick and compose time (p99)", [
            target("histogram_quantile(0.99, sum by (le) "
                   f"(rate(mcu_audio_tick_duration_seconds_bucket{{{I}}}[$__rate_interval])))",
                   "audio tick p99"),
            target("histogram_quantile(0.99, sum by (le) "
                   f"(rate(mcu_compose_duration_seconds_bucket{{{I}}}[$__rate_interval])))",
                   "compose p99"),
            target("histogram_quantile(0.99, sum by (le) "
                   f"(rate(mcu_event_loop_lag_seconds_bucket{{{I}}}[$__rate_interval])))",
                   "event loop lag p99")], 12, 20, 12, 8, unit="s"),
        panel("timeseries", "SIP requests per second", [target(
            f"sum by (method) (rate(mcu_sip_requests_total{{{I}}}[$__rate_interval]))",
            "{{method}}")], 0, 28, 8, 8, unit="reqps"),
        panel("timeseries", "SIP responses per second", [target(
            f"sum by (code) (rate(mcu_sip_responses_total{{{I}}}[$__rate_interval]))",
            "{{code}}")], 8, 28, 8, 8, unit="reqps"),
        panel("timeseries", "Authentication failures and config reloads", [
            target(f"sum by (kind) (increase(mcu_auth_failures_total{{{I}}}[$__rate_interval]))",
                   "auth {{kind}}"),
            target(f"sum by (result) (increase(mcu_config_reloads_total{{{I}}}[$__rate_interval]))",
                   "reload {{result}}")], 16, 28, 8, 8),
        panel("timeseries", "H.323 protocol violations and dropped RAS datagrams", [
            target(f"sum by (reason) (increase(mcu_h323_protocol_violations_total{{{I}}}[$__rate_interval]))",
                   "H.323 {{reason}}"),
            target(f"sum by (reason) (increase(mcu_h323_ras_dropped_total{{{I}}}[$__rate_interval]))",
                   "RAS {{reason}}")], 0, 36, 16, 8),
        panel("stat", "Registered at the H.323 gatekeeper", [target(
            f"mcu_h323_gatekeeper_registered{{{I}}}", "{{gatekeeper}}")], 16, 36, 8, 8,
            unit="bool_yes_no", description="No value: no [h323.gatekeeper] is configured."),
        panel("table", "Build and config", [
            target(f"mcu_build_info{{{I}}}", instant=True, table=True),
            target(f"mcu_config_info{{{I}}}", instant=True, table=True)], 0, 44, 24, 5,
            transformations=[{"id": "merge", "options": {}}, {"id": "organize", "options": {
                "excludeByName": {"Time": True, "Value": True, "__name__": True}}}]),
        row("Recordings and live streams", 49),
        panel("stat", "Recordings running", [target(f"sum(mcu_recordings_active{{{I}}})")], 0, 50, 4, 4),
        panel("stat", "Live streams up", [target(f"sum(mcu_streams_active{{{I}}})")], 4, 50, 4, 4),
        panel("stat", "Recording disk free", [target(f"min(mcu_recording_disk_free_bytes{{{I}}})")],
              8, 50, 4, 4, unit="bytes",
              description="Free space where [recording] dir is; no recording starts below min_free_mb."),
        panel("timeseries", "Recording bytes and dropped frames per second, by room", [
            target(f"sum by (room) (rate(mcu_recording_bytes_total{{{I}}}[$__rate_interval]))", "{{room}} bytes/s"),
            target(f"sum by (room) (rate(mcu_recording_frames_dropped_total{{{I}}}[$__rate_interval]))",
                   "{{room}} dropped/s")], 12, 50, 12, 8,
            description="Dropped frames: the recording's encoder fell behind; the meeting is not slowed."),
        panel("timeseries", "Recording failures by reason", [target(
            f"sum by (reason) (increase(mcu_recording_failures_total{{{I}}}[$__rate_interval]))", "{{reason}}")],
            0, 54, 12, 8),
        *tenant_row(62),
        # A cluster (README, "Many machines"): Prometheus labels each node's series with `node`
        # (file_sd from the registry); the stats above sum over every node, these show each one.
        # A single MCU has no `node` label: one series with an empty legend.
        row("Per node (cluster)", 79),
        panel("timeseries", "Rooms and sites per node", [
            target(f"sum by (node) (mcu_rooms{{{I}}})", "rooms {{node}}"),
            target(f"sum by (node) (mcu_members{{{I}}})", "sites {{node}}")], 0, 80, 12, 8),
        panel("timeseries", "CPU and admission's prediction per node", [
            target(f"sum by (node) ({cpu})", "CPU cores {{node}}"),
            target(f"sum by (node) (mcu_admission_predicted_cores{{{I}}})", "predicted {{node}}"),
            target(f"sum by (node) (mcu_admission_ceiling_cores{{{I}}})", "ceiling {{node}}")],
            12, 80, 12, 8, unit="none",
            description="A node whose prediction reaches its ceiling answers the front door's OPTIONS "
                        "with 503 and gets no new rooms."),
    ]
    return dashboard("mcu-overview", "MCU overview", p, [instance_variable()],
                     "Rooms, sites, CPU, late audio ticks and encoder load of the MCU.")


def tenant_row(y: int) -> list[Panel]:
    """Per tenant (conf/tenants.toml; bounded by the tenants configured): sites, rooms, quota use, refusals."""
    return [
        row("Tenants", y),
        panel("timeseries", "Sites by tenant", [target(
            f"sum by (tenant) (mcu_tenant_sites{{{I}}})", "{{tenant}}")], 0, y + 1, 8, 8,
            description="Sites in each tenant's rooms now (joined or keying a PIN); 'provider': rooms no "
                        "tenant owns."),
        panel("timeseries", "Rooms in use by tenant", [target(
            f"sum by (tenant) (mcu_tenant_rooms{{{I}}})", "{{tenant}}")], 8, y + 1, 8, 8),
        panel("bargauge", "Quota use", [target(
            f"max by (tenant, quota) (mcu_tenant_quota_use_ratio{{{I}}})", "{{tenant}} {{quota}}")],
            16, y + 1, 8, 8, unit="percentunit",
            description="Share of each tenant's concurrent quota in use (sites, rooms); at 100% its next "
                        "call gets 486 Tenant Quota.",
            options={"orientation": "horizontal", "displayMode": "gradient",
                     "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}),
        panel("timeseries", "Calls and recordings refused by quota", [target(
            f"sum by (tenant, quota) (increase(mcu_quota_refusals_total{{{I}}}[$__rate_interval]))",
            "{{tenant}} {{quota}}")], 0, y + 9, 12, 8,
            description="What a tenant's quota refused (conf/tenants.toml [tenant.quota]); the log line "
                        "call.rejected says which site and why."),
        panel("table", "Quotas", [target(f"mcu_tenant_quota{{{I}}}", instant=True, table=True)], 12, y + 9, 12, 8,
              description="Each tenant's limits (0: none).",
              transformations=[{"id": "organize", "options": {
                  "excludeByName": {"Time": True, "__name__": True, "job": True}}}]),
    ]


def room() -> dict[str, Any]:
    m = f'{R}, member=~"$member"'
    join_name = f"* on (instance, room, member) group_left (display_name) mcu_member_info{{{R}}}"
    p: list[Panel] = [
        panel("stat", "Sites", [target(f"mcu_room_members{{{R}}}")], 0, 0, 4, 4),
        panel("stat", "Views (encoders)", [target(f"mcu_room_views{{{R}}}")], 4, 0, 4, 4),
        panel("stat", "Speaker changes / min", [target(
            f"60 * rate(mcu_speaker_changes_total{{{R}}}[$__rate_interval])")], 8, 0, 4, 4),
        panel("stat", "Sites with loss > 2%", [target(
            f"count(mcu_member_loss_ratio{{{R}}} > 0.02) or vector(0)")], 12, 0, 4, 4),
        panel("table", "Room", [target(f"mcu_room_info{{{R}}}", instant=True, table=True)],
              16, 0, 8, 4, transformations=[{"id": "organize", "options": {
                  "excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True}}}]),
        panel("table", "Sites: codec, loss, jitter, bitrate, frame rate", [
            target(f"mcu_member_media_info{{{R}}} {join_name}", instant=True, table=True),
            target(f"mcu_member_loss_ratio{{{R}}}", instant=True, table=True),
            target(f"mcu_member_jitter_seconds{{{R}}}", instant=True, table=True),
            target(f"8 * rate(mcu_member_received_bytes_total{{{R}}}[$__rate_interval])",
                   instant=True, table=True),
            target(f"rate(mcu_member_decoded_frames_total{{{R}}}[$__rate_interval])",
                   instant=True, table=True),
            target(f"mcu_member_last_packet_age_seconds{{{R}}}", instant=True, table=True)],
            0, 4, 24, 12,
            description="One line per site and media kind; loss and jitter as the site reports them.",
            transformations=[
                {"id": "merge", "options": {}},
                {"id": "organize", "options": {
                    "excludeByName": {"Time": True, "Value #A": True, "__name__": True,
                                      "job": True, "instance": True, "room": True},
                    "renameByName": {"Value #B": "loss", "Value #C": "jitter",
                                     "Value #D": "bitrate in", "Value #E": "fps in",
                                     "Value #F": "last packet (s)"}}}]),
        panel("timeseries", "Views: frame rate and bitrate", [
            target(f"mcu_view_output_frames_per_second{{{R}}}", "{{view}} fps"),
            target(f"mcu_view_output_bits_per_second{{{R}}} / 1e6", "{{view}} Mbit/s")],
            0, 16, 8, 8, unit="none"),
        panel("timeseries", "Encode time p95 per view", [target(
            "histogram_quantile(0.95, sum by (view, le) "
            f"(rate(mcu_view_encode_duration_seconds_bucket{{{R}}}[$__rate_interval])))",
            "{{view}}")], 8, 16, 8, 8, unit="s"),
        panel("timeseries", "Keyframes sent per minute", [target(
            f"60 * sum by (view, reason) (rate(mcu_view_keyframes_sent_total{{{R}}}"
            "[$__rate_interval]))", "{{view}} {{reason}}")], 16, 16, 8, 8),
        panel("timeseries", "Audio tick time p99 and late ticks", [
            target("histogram_quantile(0.99, sum by (le) "
                   f"(rate(mcu_audio_tick_duration_seconds_bucket{{{R}}}[$__rate_interval])))",
                   "tick p99 (s)"),
            target(f"rate(mcu_audio_ticks_late_total{{{R}}}[$__rate_interval])", "late/s")],
            0, 24, 12, 8, unit="none"),
        panel("timeseries", "Joins and leaves per minute", [
            target(f"60 * rate(mcu_member_joins_total{{{R}}}[$__rate_interval])", "joins"),
            target(f"60 * rate(mcu_member_leaves_total{{{R}}}[$__rate_interval])", "leaves")],
            12, 24, 12, 8),
        # Content sharing (BFCP floor, the presenter's or the operator's content, its encodings).
        panel("stat", "Content floor held", [target(f"max(mcu_content_floor_held{{{R}}}) or vector(0)")],
              0, 32, 4, 8, description="1 while a site or the operator's slides present content in this room."),
        panel("timeseries", "Content encodings: frame rate and bitrate", [
            # 0 while nothing is presented (no encoding series then)
            target(f"mcu_content_fps{{{R}}} or on() vector(0)", "{{encoding}} fps"),
            target(f"mcu_content_bitrate_bps{{{R}}} / 1e6 or on() vector(0)", "{{encoding}} Mbit/s")], 4, 32, 8, 8,
              unit="none",
              description="One encoding per distinct (codec, size, frame rate) among the sites with a content stream."),
        panel("timeseries", "Floor requests and dropped BFCP messages per minute", [
            target(f"60 * sum by (result) (rate(mcu_content_floor_requests_total{{{I}}}[$__rate_interval]))",
                   "requests {{result}}"),
            target(f"60 * sum by (reason) (rate(mcu_bfcp_dropped_total{{{I}}}[$__rate_interval]))",
                   "dropped {{reason}}")], 12, 32, 12, 8,
              description="For the whole MCU: requests granted, pending, denied; BFCP input dropped by reason."),
        # One row per site, repeated over $member (text: display name, value: member id).
        row("Site $member", 40, repeat="member"),
        panel("timeseries", "Loss", [target(f"mcu_member_loss_ratio{{{m}}}", "{{kind}}")],
              0, 41, 5, 7, unit="percentunit"),
        panel("timeseries", "Jitter and RTT", [
            target(f"mcu_member_jitter_seconds{{{m}}}", "jitter {{kind}}"),
            target(f"mcu_member_rtt_seconds{{{m}}}", "rtt {{kind}}")], 5, 41, 5, 7, unit="s"),
        panel("timeseries", "Bitrate in / out", [
            target(f"8 * rate(mcu_member_received_bytes_total{{{m}}}[$__rate_interval])",
                   "in {{kind}}"),
            target(f"8 * rate(mcu_member_sent_bytes_total{{{m}}}[$__rate_interval])",
                   "out {{kind}}")], 10, 41, 5, 7, unit="bps"),
        panel("timeseries", "Frames decoded / dropped per second", [
            target(f"rate(mcu_member_decoded_frames_total{{{m}}}[$__rate_interval])", "decoded"),
            target(f"rate(mcu_member_dropped_frames_total{{{m}}}[$__rate_interval])", "dropped"),
            target(f"sum by (type) (rate(mcu_member_rtcp_feedback_received_total{{{m}}}"
                   "[$__rate_interval]))", "{{type}} received"),
            target(f"sum(rate(mcu_member_retransmitted_packets_total{{{m}}}[$__rate_interval]))",
                   "packets sent again (NACK)")], 15, 41, 5, 7),
        panel("table", "Codec", [target(
            f"mcu_member_media_info{{{m}}} {join_name}", instant=True, table=True)],
            20, 41, 4, 7, transformations=[{"id": "organize", "options": {"excludeByName": {
                "Time": True, "Value": True, "__name__": True, "job": True, "instance": True,
                "room": True, "member": True}}}]),
    ]
    variables = [
        instance_variable(),
        query_variable("room", "Room", f"label_values(mcu_room_members{{{I}}}, room)"),
        query_variable("member", "Site", f"query_result(mcu_member_info{{{R}}})", multi=True,
                       include_all=True,
                       regex='/display_name="(?<text>[^"]*)".*member="(?<value>[^"]*)"/'),
    ]
    return dashboard("mcu-room", "MCU room", p, variables,
                     "One room: every site's loss, jitter, bitrate, frame rate and codec.")


def capacity() -> dict[str, Any]:
    cpu = f"sum by (instance) (rate(process_cpu_seconds_total{{{I}}}[$__rate_interval]))"
    members = f"sum by (instance) (mcu_members{{{I}}})"
    views = f"sum by (instance) (mcu_room_views{{{I}}})"
    encode = (f"sum by (instance) "
              f"(rate(mcu_view_encode_duration_seconds_sum{{{I}}}[$__rate_interval]))")
    p = [
        panel("timeseries", "CPU against sites and views", [
            target(cpu, "CPU cores {{instance}}"),
            target(members, "sites {{instance}}"),
            target(views, "views {{instance}}")], 0, 0, 24, 9, unit="none",
            fieldConfig={"defaults": {"unit": "none"}, "overrides": [{
                "matcher": {"id": "byFrameRefID", "options": "A"},
                "properties": [{"id": "custom.axisPlacement", "value": "right"},
                               {"id": "unit", "value": "none"}]}]}),
        panel("stat", "CPU used of the host", [target(
            f"{cpu} / on (instance) max by (instance) (mcu_host_cpus{{{I}}})")], 0, 9, 6, 5,
            unit="percentunit"),
        panel("stat", "CPU per site (cores)", [target(f"{cpu} / on (instance) {members}")],
              6, 9, 6, 5, unit="none"),
        panel("stat", "Encode CPU per view (cores)", [target(f"{encode} / on (instance) {views}")],
              12, 9, 6, 5, unit="none"),
        panel("stat", "Sites per view", [target(f"{members} / on (instance) {views}")],
              18, 9, 6, 5, unit="none"),
        panel("timeseries", "Encode CPU by preset and resolution", [target(
            "sum by (preset, resolution) (rate(mcu_view_encode_duration_seconds_sum"
            f"{{{I}}}[$__rate_interval]) * on (instance, room, view) "
            f"group_left (preset, resolution) mcu_view_info{{{I}}})",
            "{{preset}} {{resolution}}")], 0, 14, 12, 8, unit="none"),
        panel("timeseries", "Deadline margin: audio tick and compose p99", [
            target("histogram_quantile(0.99, sum by (le) "
                   f"(rate(mcu_audio_tick_duration_seconds_bucket{{{I}}}[$__rate_interval])))",
                   "audio tick p99 (budget 20 ms)"),
            target("histogram_quantile(0.99, sum by (le) "
                   f"(rate(mcu_compose_duration_seconds_bucket{{{I}}}[$__rate_interval])))",
                   "compose p99 (budget 33 ms)")], 12, 14, 12, 8, unit="s"),
        panel("timeseries", "Memory and threads against sites", [
            target(f"process_resident_memory_bytes{{{I}}} / 1e6", "RSS MB {{instance}}"),
            target(f"mcu_process_threads{{{I}}}", "threads {{instance}}"),
            target(members, "sites {{instance}}")], 0, 22, 12, 8, unit="none"),
        panel("timeseries", "Packets per second in / out", [
            target(f"sum by (instance) "
                   f"(rate(mcu_member_received_packets_total{{{I}}}[$__rate_interval]))", "in"),
            target(f"sum by (instance) "
                   f"(rate(mcu_member_sent_packets_total{{{I}}}[$__rate_interval]))", "out")],
            12, 22, 12, 8, unit="pps"),
        panel("timeseries", "Admission: predicted against measured cores", [
            target(f"mcu_admission_predicted_cores{{{I}}}", "predicted {{instance}}"),
            target(f"mcu_admission_measured_cores{{{I}}}", "measured {{instance}}"),
            target(f"mcu_admission_ceiling_cores{{{I}}}", "ceiling {{instance}}")], 0, 30, 12, 8,
            unit="none"),
        panel("timeseries", "Refused calls and members' faults per minute", [
            target(f"sum by (reason) (increase(mcu_refusals_total{{{I}}}[1m]))", "refused: {{reason}}"),
            target(f"sum by (reason) (increase(mcu_faults_total{{{I}}}[1m]))", "fault: {{reason}}")],
            12, 30, 12, 8, unit="none"),
    ]
    return dashboard("mcu-capacity", "MCU capacity", p, [instance_variable()],
                     "How CPU grows with sites and distinct views: size the box from this.",
                     refresh="30s")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, build in (("mcu-overview", overview), ("mcu-room", room),
                        ("mcu-capacity", capacity)):
        path = OUT / f"{name}.json"
        path.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(path)


if __name__ == "__main__":
    main()
