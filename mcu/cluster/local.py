"""A local cluster for trying and testing: Redis, Kamailio and N MCU nodes on 127.0.0.1.

`plan()` decides every port, folder and config text (pure: tests check it without starting
anything); `up()` writes the files and starts the processes, each in its own session with its
output in DIR/<name>.log; `down()` stops each by the PID recorded in DIR/cluster.json.

    DIR/cluster.json            where everything listens, and the PIDs
    DIR/redis/                  redis-server's folder (no persistence)
    DIR/kamailio/kamailio.cfg   conf/kamailio/kamailio.cfg as shipped, run with -A defines
    DIR/kamailio/dispatcher.list  the nodes' SIP addresses (dispatcher set 1)
    DIR/node-<i>/mcu.toml       each node's config ([cluster] section), next to copies of
                                rooms, layouts, sites, endpoints, calibration and the shared admin token
    DIR/prometheus/targets.json file_sd targets of the nodes' exporters, label node
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_CONF = Path(__file__).resolve().parents[2] / "conf"
CONF_FILES = ("rooms.toml", "layouts.toml", "sites.toml", "endpoints.toml", "calibration.toml")
RTP_PORTS_PER_NODE = 1000
MODULE_DIRS = ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/aarch64-linux-gnu/kamailio/modules",
               "/usr/lib/kamailio/modules", "/usr/local/lib64/kamailio/modules", "/usr/local/lib/kamailio/modules")


class ClusterError(Exception):
    """The cluster cannot start or be found; the message says what to do."""


@dataclass
class NodePlan:
    node_id: str
    sip_port: int
    admin_port: int
    metrics_port: int
    rtp_min: int
    rtp_max: int
    folder: str
    pid: int = 0

    @property
    def sip(self) -> str:
        return f"sip:127.0.0.1:{self.sip_port}"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def metrics(self) -> str:
        return f"127.0.0.1:{self.metrics_port}"


@dataclass
class ClusterPlan:
    folder: str
    sip_port: int
    redis_port: int
    nodes: list[NodePlan]
    heartbeat: float = 1.0
    ping_interval: int = 2
    fr_timer_ms: int = 2000
    kamailio_pid: int = 0
    redis_pid: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def path(self, *parts: str) -> Path:
        return Path(self.folder).joinpath(*parts)

    def to_json(self) -> str:
        doc = asdict(self)
        doc["redis_url"] = self.redis_url
        doc["sip"] = f"sip:<room>@127.0.0.1:{self.sip_port}"
        for node, plan in zip(doc["nodes"], self.nodes):
            node.update(sip=plan.sip, admin=plan.admin, metrics=plan.metrics)
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ClusterPlan:
        doc = json.loads(text)
        names = set(cls.__dataclass_fields__)
        node_names = set(NodePlan.__dataclass_fields__)
        nodes = [NodePlan(**{k: v for k, v in n.items() if k in node_names}) for n in doc["nodes"]]
        return cls(**{k: v for k, v in doc.items() if k in names and k != "nodes"}, nodes=nodes)


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def plan(folder: Path, nodes: int, sip_port: int = 5060, *, base_port: int = 0, redis_port: int = 0,
         rtp_base: int = 30000, heartbeat: float = 1.0, ping_interval: int = 2,
         fr_timer_ms: int = 2000) -> ClusterPlan:
    """Ports and folders of a local cluster. base_port 0: every port is a free one picked now
    (tests); else node i gets SIP base+i, admin base+100+i, metrics base+200+i."""
    if nodes < 1:
        raise ClusterError("a cluster needs at least one node (--nodes N)")
    node_plans = []
    for i in range(1, nodes + 1):
        if base_port:
            sip, admin, metrics = base_port + i, base_port + 100 + i, base_port + 200 + i
        else:
            sip, admin, metrics = free_port(), free_port(), free_port()
        low = rtp_base + (i - 1) * RTP_PORTS_PER_NODE
        node_plans.append(NodePlan(f"node-{i}", sip, admin, metrics, low, low + RTP_PORTS_PER_NODE - 1,
                                   str(folder / f"node-{i}")))
    return ClusterPlan(str(folder), sip_port, redis_port or (base_port + 300 if base_port else free_port()),
                       node_plans, heartbeat, ping_interval, fr_timer_ms)


def node_config(cluster: ClusterPlan, node: NodePlan) -> str:
    """The mcu.toml of one node: SIP, RTP, admin and metrics on 127.0.0.1, and its [cluster]."""
    return (
        "# written by `mcu cluster up`: one node of a local cluster\n"
        '[server]\nname = "open-mcu ' + node.node_id + '"\n'
        '[log]\nformat = "json"\nlevel = "info"\n'
        f'[[sip.listen]]\ntransport = "udp"\nhost = "127.0.0.1"\nport = {node.sip_port}\n'
        f'[[sip.listen]]\ntransport = "tcp"\nhost = "127.0.0.1"\nport = {node.sip_port}\n'
        f'[rtp]\nhost = "127.0.0.1"\nport_min = {node.rtp_min}\nport_max = {node.rtp_max}\n'
        f'[metrics]\nenabled = true\nhost = "127.0.0.1"\nport = {node.metrics_port}\n'
        f'[admin]\nenabled = true\nhost = "127.0.0.1"\nport = {node.admin_port}\ntoken_file = "admin.token"\n'
        '[h323]\nenabled = false\n'
        f'[cluster]\nnode_id = "{node.node_id}"\nredis_url = "{cluster.redis_url}"\n'
        f'advertise_sip = "{node.sip}"\nadvertise_admin = "{node.admin}"\nheartbeat = {cluster.heartbeat}\n'
        + cluster.extra.get(node.node_id, "")
    )


def dispatcher_list(cluster: ClusterPlan) -> str:
    lines = ["# written by `mcu cluster up`: setid destination flags priority attributes"]
    lines += [f"1 {n.sip} 0 0 node={n.node_id}" for n in cluster.nodes]
    return "\n".join(lines) + "\n"


def kamailio_argv(cluster: ClusterPlan, cfg: Path, module_dir: str) -> list[str]:
    """Kamailio in the foreground (-DD), logging to stderr (-E), the shipped cfg with -A defines."""
    run = cluster.path("kamailio", "run")
    return ["kamailio", "-DD", "-E", "-f", str(cfg), "-Y", str(run), "-P", str(cluster.path("kamailio", "kamailio.pid")),
            "-m", "64", "-M", "8",
            "-A", "MCU_LISTEN_ADDR=127.0.0.1", "-A", f"MCU_LISTEN_PORT={cluster.sip_port}",
            "-A", f'MCU_REDIS="name=reg;addr=127.0.0.1;port={cluster.redis_port};db=0"',
            "-A", f'MCU_DISPATCHER_LIST="{cluster.path("kamailio", "dispatcher.list")}"',
            "-A", f'MCU_MPATH="{module_dir}/"',
            "-A", f"MCU_PING_INTERVAL={cluster.ping_interval}", "-A", f"MCU_FR_TIMER={cluster.fr_timer_ms}"]


def prometheus_targets(nodes: list[tuple[str, str]]) -> str:
    """file_sd targets (Prometheus <file_sd_config>) of (node id, host:port) exporters."""
    return json.dumps([{"targets": [address], "labels": {"node": node_id, "job": "mcu"}}
                       for node_id, address in nodes if address], indent=2) + "\n"


def module_dir() -> str:
    for folder in MODULE_DIRS:
        if Path(folder, "dispatcher.so").exists():
            if not Path(folder, "ndb_redis.so").exists():
                raise ClusterError(f"{folder} has no ndb_redis.so: install kamailio-redis-modules")
            return folder
    raise ClusterError("no Kamailio modules found: install kamailio and kamailio-redis-modules")


# ---------------------------------------------------------------------------------- processes


def _start(argv: list[str], log: Path, cwd: Path) -> subprocess.Popen:
    if shutil.which(argv[0]) is None:
        raise ClusterError(f"{argv[0]} is not installed (Debian: redis-server, kamailio, kamailio-redis-modules)")
    with open(log, "ab") as out:
        return subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _wait(what: str, ready, proc: subprocess.Popen, log: Path, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ClusterError(f"{what} exited at start (status {proc.returncode}); see {log}:\n{_tail(log)}")
        if ready():
            return
        time.sleep(0.1)
    raise ClusterError(f"{what} not ready within {timeout:.0f} s; see {log}:\n{_tail(log)}")


def _tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def options_ping(port: int, timeout: float = 0.5) -> int | None:
    """The status of a SIP OPTIONS sent over UDP to 127.0.0.1:port, or None without an answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(timeout)
        local = s.getsockname()[1]
        tag = secrets.token_hex(4)
        msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{tag}\r\n"
               f"Max-Forwards: 70\r\nFrom: <sip:cluster@127.0.0.1>;tag={tag}\r\nTo: <sip:127.0.0.1:{port}>\r\n"
               f"Call-ID: {tag}@cluster\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        s.sendto(msg.encode(), ("127.0.0.1", port))
        try:
            data = s.recv(65535)
        except OSError:
            return None
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def up(cluster: ClusterPlan, conf: Path = REPO_CONF, timeout: float = 60.0) -> ClusterPlan:
    """Write every file and start Redis, the nodes and Kamailio; raise ClusterError (after stopping
    what started) when one cannot start."""
    folder = Path(cluster.folder)
    if (folder / "cluster.json").exists() and any(_alive(p) for p in _pids(read(folder))):
        raise ClusterError(f"a cluster already runs from {folder}: `mcu cluster down --dir {folder}` first")
    folder.mkdir(parents=True, exist_ok=True)
    mods = module_dir()
    token = secrets.token_urlsafe(24)
    try:
        (folder / "redis").mkdir(exist_ok=True)
        redis = _start(["redis-server", "--port", str(cluster.redis_port), "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no", "--dir", str(folder / "redis")], folder / "redis.log", folder)
        cluster.redis_pid = redis.pid
        write(cluster)
        _wait("redis-server", lambda: "Ready to accept connections" in _tail(folder / "redis.log", 200),
              redis, folder / "redis.log", timeout)
        procs = []
        for node in cluster.nodes:
            node_dir = Path(node.folder)
            node_dir.mkdir(parents=True, exist_ok=True)
            for name in CONF_FILES:
                if (conf / name).exists():
                    shutil.copy(conf / name, node_dir / name)
            (node_dir / "admin.token").write_text(token + "\n", encoding="utf-8")
            os.chmod(node_dir / "admin.token", 0o600)
            (node_dir / "mcu.toml").write_text(node_config(cluster, node), encoding="utf-8")
            proc = _start([sys.executable, "-m", "mcu", "serve", "-c", str(node_dir / "mcu.toml")],
                          folder / f"{node.node_id}.log", node_dir)
            node.pid = proc.pid
            procs.append((node, proc))
            write(cluster)
        for node, proc in procs:
            log = folder / f"{node.node_id}.log"
            _wait(f"node {node.node_id}", lambda log=log: '"mcu.ready"' in _tail(log, 400), proc, log, timeout)
        kam = folder / "kamailio"
        (kam / "run").mkdir(parents=True, exist_ok=True)
        shutil.copy(conf / "kamailio" / "kamailio.cfg", kam / "kamailio.cfg")
        (kam / "dispatcher.list").write_text(dispatcher_list(cluster), encoding="utf-8")
        proc = _start(kamailio_argv(cluster, kam / "kamailio.cfg", mods), folder / "kamailio.log", kam)
        cluster.kamailio_pid = proc.pid
        write(cluster)
        _wait("kamailio", lambda: options_ping(cluster.sip_port) == 200, proc, folder / "kamailio.log", timeout)
        write_targets(cluster, [(n.node_id, n.metrics) for n in cluster.nodes])
    except BaseException:
        down(cluster)
        raise
    return cluster


def write(cluster: ClusterPlan) -> None:
    path = Path(cluster.folder) / "cluster.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(cluster.to_json(), encoding="utf-8")
    tmp.replace(path)


def write_targets(cluster: ClusterPlan, nodes: list[tuple[str, str]]) -> Path:
    out = Path(cluster.folder) / "prometheus" / "targets.json"
    out.parent.mkdir(exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(prometheus_targets(nodes), encoding="utf-8")
    tmp.replace(out)  # Prometheus never reads a half-written file
    return out


def read(folder: Path) -> ClusterPlan:
    path = folder / "cluster.json"
    try:
        return ClusterPlan.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClusterError(f"no cluster in {folder} (no cluster.json): start one with `mcu cluster up --dir {folder}`") \
            from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ClusterError(f"{path} is not a cluster description ({exc})") from None


def _pids(cluster: ClusterPlan) -> list[int]:
    return [p for p in (*(n.pid for n in cluster.nodes), cluster.kamailio_pid, cluster.redis_pid) if p]


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not running
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def stop_pid(pid: int, timeout: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; True if it was running."""
    if not _alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True


def down(cluster: ClusterPlan) -> list[str]:
    """Stop the nodes (they give their rooms back), then Kamailio and Redis, each by its PID."""
    stopped = []
    for node in cluster.nodes:
        if stop_pid(node.pid):
            stopped.append(f"{node.node_id} (pid {node.pid})")
        node.pid = 0
    if stop_pid(cluster.kamailio_pid):
        stopped.append(f"kamailio (pid {cluster.kamailio_pid})")
    cluster.kamailio_pid = 0
    if stop_pid(cluster.redis_pid):
        stopped.append(f"redis-server (pid {cluster.redis_pid})")
    cluster.redis_pid = 0
    if Path(cluster.folder, "cluster.json").exists():
        write(cluster)
    return stopped


def status(cluster: ClusterPlan) -> dict:
    """Each process (running or not) and what the registry says: nodes, their load, rooms."""
    out: dict = {"sip": f"sip:<room>@127.0.0.1:{cluster.sip_port}",
                 "kamailio": {"pid": cluster.kamailio_pid, "running": _alive(cluster.kamailio_pid)},
                 "redis": {"pid": cluster.redis_pid, "running": _alive(cluster.redis_pid), "url": cluster.redis_url},
                 "nodes": [], "rooms": {}, "registry_error": ""}
    registered: dict = {}
    try:
        import asyncio

        registered, out["rooms"] = asyncio.run(registry_view(cluster.redis_url))
    except Exception as exc:  # noqa: BLE001 - status reports what it can
        out["registry_error"] = f"{type(exc).__name__}: {exc}"
    for node in cluster.nodes:
        info = registered.get(node.node_id)
        out["nodes"].append({"id": node.node_id, "pid": node.pid, "running": _alive(node.pid), "sip": node.sip,
                             "admin": node.admin, "metrics": node.metrics, "registered": info is not None,
                             "rooms": info.rooms if info else 0, "members": info.members if info else 0,
                             "full": info.full if info else False,
                             "predicted_cores": info.predicted_cores if info else 0.0})
    return out


async def registry_view(url: str):  # type: ignore[no-untyped-def]
    import redis.asyncio as aioredis

    from mcu.cluster.registry import list_nodes, list_rooms

    client = aioredis.from_url(url, decode_responses=True, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        nodes = {n.node_id: n for n in await list_nodes(client)}
        rooms = await list_rooms(client)
    finally:
        await client.aclose()
    return nodes, rooms
