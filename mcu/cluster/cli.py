"""`mcu cluster up|status|down|targets`: a local cluster on one machine, and file_sd from the registry."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mcu.cluster import local

DEFAULT_DIR = "cluster"


def cmd_up(args: argparse.Namespace) -> int:
    folder = Path(args.dir).resolve()
    try:
        cluster = local.plan(folder, args.nodes, args.sip_port, base_port=args.base_port, redis_port=args.redis_port,
                             rtp_base=args.rtp_base, heartbeat=args.heartbeat, ping_interval=args.ping_interval,
                             fr_timer_ms=args.fr_timer_ms)
        for item in args.node_config or []:
            node_id, _, path = item.partition("=")
            cluster.extra[node_id] = Path(path).read_text(encoding="utf-8")
        local.up(cluster, Path(args.conf).resolve())
    except (local.ClusterError, OSError) as exc:
        print(f"cluster not started: {exc}", file=sys.stderr)
        return 1
    print(f"front door  kamailio   sip:<room>@127.0.0.1:{cluster.sip_port}   pid {cluster.kamailio_pid}  "
          f"log {folder / 'kamailio.log'}")
    print(f"registry    redis      {cluster.redis_url}   pid {cluster.redis_pid}")
    for node in cluster.nodes:
        print(f"node        {node.node_id:<10} {node.sip}  admin {node.admin}  metrics http://{node.metrics}/metrics  "
              f"rtp {node.rtp_min}-{node.rtp_max}  pid {node.pid}")
    print(f"written     {folder / 'cluster.json'}; prometheus targets {folder / 'prometheus' / 'targets.json'}")
    print(f"admin token {folder / cluster.nodes[0].node_id / 'admin.token'} (the same on every node)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    try:
        cluster = local.read(Path(args.dir).resolve())
    except local.ClusterError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    report = local.status(cluster)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        def state(running: bool) -> str:
            return "running" if running else "STOPPED"

        print(f"front door  kamailio   {report['sip']}   {state(report['kamailio']['running'])}")
        print(f"registry    redis      {report['redis']['url']}   {state(report['redis']['running'])}"
              + (f"   ({report['registry_error']})" if report["registry_error"] else ""))
        for n in report["nodes"]:
            print(f"node        {n['id']:<10} {n['sip']}  {state(n['running'])}  "
                  f"{'registered' if n['registered'] else 'not registered'}  rooms {n['rooms']}  "
                  f"members {n['members']}{'  FULL' if n['full'] else ''}")
        for room, owner in report["rooms"].items():
            print(f"room        {room:<10} on {owner}")
    everything = [report["kamailio"]["running"], report["redis"]["running"], *(n["running"] for n in report["nodes"])]
    return 0 if all(everything) else 3


def cmd_down(args: argparse.Namespace) -> int:
    try:
        cluster = local.read(Path(args.dir).resolve())
    except local.ClusterError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    stopped = local.down(cluster)
    print("stopped " + (", ".join(stopped) if stopped else "nothing (no process was running)"))
    return 0


def cmd_targets(args: argparse.Namespace) -> int:
    """Prometheus file_sd targets from the live registry (every node's exporter, label node)."""
    import asyncio

    try:
        nodes, _ = asyncio.run(local.registry_view(args.redis))
    except Exception as exc:  # noqa: BLE001
        print(f"cannot read the registry at {args.redis}: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(local.prometheus_targets([(n.node_id, n.metrics) for n in nodes.values()]), encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {out} ({len(nodes)} node(s))")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cluster = sub.add_parser("cluster", help="a local cluster: Kamailio front door, Redis registry, N nodes",
                             description="Start, inspect and stop a cluster on 127.0.0.1 for trying and testing; "
                                         "the production layout (one node per machine) uses the same config "
                                         "files (README, 'Many machines').")
    actions = cluster.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="start Redis, the nodes and Kamailio; print where each listens")
    up.add_argument("--nodes", type=int, default=2, help="MCU nodes (default 2)")
    up.add_argument("--dir", default=DEFAULT_DIR, help=f"folder for configs, logs, cluster.json (default {DEFAULT_DIR})")
    up.add_argument("--sip-port", type=int, default=5060, help="the front door's SIP port (default 5060)")
    up.add_argument("--base-port", type=int, default=5070,
                    help="node i: SIP base+i, admin base+100+i, metrics base+200+i, Redis base+300 "
                         "(default 5070; 0: free ports picked now)")
    up.add_argument("--redis-port", type=int, default=0, help="Redis port (default: from --base-port)")
    up.add_argument("--rtp-base", type=int, default=30000, help="node i's RTP ports: base+1000(i-1) onwards")
    up.add_argument("--heartbeat", type=float, default=1.0, help="registry heartbeat of the nodes, s (claims live 3x)")
    up.add_argument("--ping-interval", type=int, default=2, help="Kamailio OPTIONS keep-alive to the nodes, s")
    up.add_argument("--fr-timer-ms", type=int, default=2000, help="Kamailio: a node silent this long is dead")
    up.add_argument("--conf", default=str(local.REPO_CONF), help="where rooms.toml, layouts.toml, ... come from")
    up.add_argument("--node-config", action="append", metavar="NODE=FILE",
                    help="TOML keys added to one node's [cluster] section (it comes last in its mcu.toml), "
                         "e.g. node-1=max.toml holding max_rooms = 1 (repeatable)")
    up.set_defaults(func=cmd_up)
    status = actions.add_parser("status", help="each process and the registry's nodes and rooms (exit 3: one is down)")
    status.add_argument("--dir", default=DEFAULT_DIR)
    status.add_argument("--json", action="store_true", help="the report as JSON")
    status.set_defaults(func=cmd_status)
    down = actions.add_parser("down", help="stop each process of the cluster by its PID")
    down.add_argument("--dir", default=DEFAULT_DIR)
    down.set_defaults(func=cmd_down)
    targets = actions.add_parser("targets", help="write Prometheus file_sd targets from the registry")
    targets.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="the registry's URL")
    targets.add_argument("--out", default="/etc/prometheus/mcu-nodes.json", help="file_sd file to write")
    targets.set_defaults(func=cmd_targets)
