"""Check shipped Grafana dashboards and alert rules against a real Prometheus.

Reusable by any test that has a Prometheus scraping an MCU (a fake meeting here; the real MCU
in the lead's end-to-end tests):

    with running_prometheus(tmp_path, ["127.0.0.1:9464"], rule_files=[ALERTS]) as prom:
        wait_for_scrapes(prom.url, count=5)
        failures = [r for r in check_all(prom.url) if not r.ok]
        assert not failures, format_results(failures)

`check_dashboard` resolves the dashboard's template variables from Prometheus itself (as
Grafana would: `label_values(...)`, `query_result(...)` with its regex), substitutes them and
Grafana's `$__rate_interval` & co. into every `targets[].expr`, and queries /api/v1/query.
`check_rules` reads the rules Prometheus loaded (/api/v1/rules, so no YAML parser is needed)
and queries every expression; with `alerts_must_fire=False` an alert passes when its
expression parses and the signal under its threshold returns data (a healthy MCU fires none).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((REPO / "conf" / "grafana" / "dashboards").glob("*.json"))
ALERTS = REPO / "conf" / "prometheus" / "mcu-alerts.yml"
SCRAPE_CONFIG = REPO / "conf" / "prometheus" / "prometheus.yml"

# What Grafana would put in for its built-in variables at a 1 s scrape interval.
DEFAULT_BUILTINS = {"__rate_interval": "10s", "__interval": "2s", "__range": "5m",
                    "__range_s": "300", "__interval_ms": "2000"}

VARIABLE = re.compile(r"\$\{(\w+)(?::[\w]+)?\}|\[\[(\w+)\]\]|\$(\w+)")
LABEL_VALUES = re.compile(r"^\s*label_values\((?:(.*),)?\s*(\w+)\s*\)\s*$", re.DOTALL)
QUERY_RESULT = re.compile(r"^\s*query_result\((.*)\)\s*$", re.DOTALL)
COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)(\s*bool)?")
SET_OPERATOR = re.compile(r"\b(and|or|unless)\b")


class PromCheckError(Exception):
    """Prometheus could not be started or did not answer as expected."""


class PromQueryError(Exception):
    """Prometheus refused a query (bad syntax, unknown function, ...)."""


@dataclass(frozen=True)
class ExprResult:
    source: str  # e.g. "mcu-room.json: panel 'Loss' A" or "rule MCUDown"
    expr: str  # the expression as sent, variables substituted
    ok: bool
    detail: str  # number of series, or what went wrong


def format_results(results: Sequence[ExprResult]) -> str:
    return "\n".join(f"{'ok  ' if r.ok else 'FAIL'} {r.source}: {r.detail}\n       {r.expr}"
                     for r in results)


# --------------------------------------------------------------------------- HTTP API


def _get(url: str, timeout: float) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as e:
        try:
            body = json.load(e)
        except ValueError:
            raise PromQueryError(f"HTTP {e.code} from {url}") from e
    if body.get("status") != "success":
        raise PromQueryError(f"{body.get('errorType', 'error')}: {body.get('error', body)}")
    return body["data"]


def query(base_url: str, expr: str, timeout: float = 10.0) -> dict[str, Any]:
    """The `data` of an instant query: {"resultType": ..., "result": ...}."""
    return _get(f"{base_url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}", timeout)


def result_size(data: Mapping[str, Any]) -> int:
    """Series in a vector/matrix result; a scalar or string counts as one."""
    if data["resultType"] in ("vector", "matrix"):
        return len(data["result"])
    return 1


def check_expr(base_url: str, source: str, expr: str, need_data: bool = True) -> ExprResult:
    try:
        n = result_size(query(base_url, expr))
    except PromQueryError as e:
        return ExprResult(source, expr, False, f"refused: {e}")
    if need_data and n == 0:
        return ExprResult(source, expr, False, "parsed but returned no data")
    return ExprResult(source, expr, True, f"{n} series")


# --------------------------------------------------------------------------- dashboards


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replace $var, ${var}, ${var:fmt} and [[var]]; unknown names are left for Prometheus to refuse."""
    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        return values.get(name, m.group(0))
    return VARIABLE.sub(repl, expr)


def panel_targets(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title + refId, expr) of every target, rows' nested panels included."""
    def walk(panels: Sequence[Mapping[str, Any]]) -> Iterator[tuple[str, str]]:
        for p in panels:
            yield from walk(p.get("panels", []))
            for t in p.get("targets", []):
                if t.get("expr"):
                    yield f"panel {p.get('title', '?')!r} {t.get('refId', '')}", t["expr"]
    yield from walk(dashboard.get("panels", []))


def _js_regex(regex: str) -> re.Pattern[str] | None:
    if not regex:
        return None
    body = regex[1:regex.rindex("/")] if regex.startswith("/") else regex
    return re.compile(body.replace("(?<", "(?P<"))


def _query_result_lines(data: Mapping[str, Any]) -> list[str]:
    # The text Grafana builds for query_result(): name{k="v",...} value timestamp_ms
    lines = []
    for item in data.get("result", []):
        metric = dict(item.get("metric", {}))
        name = metric.pop("__name__", "")
        labels = ",".join(f'{k}="{v}"' for k, v in metric.items())
        value = item.get("value", [0, ""])
        lines.append(f"{name}{{{labels}}} {value[1]} {int(float(value[0]) * 1000)}")
    return lines


def _variable_query(variable: Mapping[str, Any]) -> str:
    raw = variable.get("query")
    return str(raw.get("query", "") if isinstance(raw, dict) else raw or variable.get("definition"))


def variable_options(base_url: str, variable: Mapping[str, Any],
                     values: Mapping[str, str]) -> list[tuple[str, str]]:
    """(text, value) options of a Grafana query variable, computed the way Grafana does."""
    raw = variable.get("query")
    q = raw.get("query", "") if isinstance(raw, dict) else str(raw or variable.get("definition"))
    q = substitute(q, values)
    pattern = _js_regex(variable.get("regex", ""))
    if m := LABEL_VALUES.match(q):
        selector, label = m.group(1), m.group(2)
        data = query(base_url, selector if selector else f'{{{label}!=""}}')
        texts = sorted({s["metric"][label] for s in data["result"] if label in s["metric"]})
    elif m := QUERY_RESULT.match(q):
        texts = _query_result_lines(query(base_url, m.group(1)))
    else:
        raise PromCheckError(f"variable {variable['name']}: unsupported query {q!r}")
    options = []
    for text in texts:
        if pattern is None:
            options.append((text, text))
            continue
        found = pattern.search(text)
        if not found:
            continue
        groups = found.groupdict()
        value = groups.get("value") or (found.group(1) if found.groups() else found.group(0))
        options.append((groups.get("text") or value, value))
    return options


def resolve_variables(base_url: str, dashboard: Mapping[str, Any],
                      given: Mapping[str, str] | None = None
                      ) -> tuple[dict[str, str], list[ExprResult]]:
    """A value for every query variable (the given one, or the first option Prometheus offers)."""
    values: dict[str, str] = {**DEFAULT_BUILTINS, **(given or {})}
    problems: list[ExprResult] = []
    for var in dashboard.get("templating", {}).get("list", []):
        name = var["name"]
        if var.get("type") == "datasource":
            values.setdefault(name, "prometheus")
            continue
        if var.get("type") != "query":
            continue
        source = f"variable ${name}"
        try:
            options = variable_options(base_url, var, values)
        except (PromQueryError, PromCheckError) as e:
            problems.append(ExprResult(source, _variable_query(var), False, str(e)))
            continue
        if not options:
            problems.append(ExprResult(source, _variable_query(var), False, "no values"))
            continue
        problems.append(ExprResult(source, _variable_query(var), True,
                                   f"{len(options)} values, first {options[0]}"))
        values.setdefault(name, options[0][1])
    return values, problems


def check_dashboard(base_url: str, path: Path, variables: Mapping[str, str] | None = None
                    ) -> list[ExprResult]:
    """Every variable query and every target expression of one dashboard file."""
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    values, results = resolve_variables(base_url, dashboard, variables)
    for source, expr in panel_targets(dashboard):
        results.append(check_expr(base_url, f"{path.name}: {source}", substitute(expr, values)))
    return [ExprResult(r.source if r.source.startswith(path.name) else f"{path.name}: {r.source}",
                       r.expr, r.ok, r.detail) for r in results]


# --------------------------------------------------------------------------- alert rules


def _top_level_split(expr: str, pattern: re.Pattern[str]) -> tuple[str, str] | None:
    """Split at the first match of `pattern` outside brackets and strings."""
    depth, quote, i = 0, "", 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and (m := pattern.match(expr, i)):
            return expr[:i], expr[m.end():]
        i += 1
    return None


def _unwrap(expr: str) -> str:
    """Drop parentheses that enclose the whole expression."""
    expr = expr.strip()
    while expr.startswith("(") and _closing_paren(expr) == len(expr) - 1:
        expr = expr[1:-1].strip()
    return expr


def _closing_paren(expr: str) -> int:
    depth = 0
    for i, c in enumerate(expr):
        depth += c == "("
        depth -= c == ")"
        if depth == 0:
            return i
    return -1


def alert_signal(expr: str) -> str:
    """The quantity an alert compares with its threshold: `A > 0.05 and B` gives `A`."""
    expr = _unwrap(expr)
    if split := _top_level_split(expr, SET_OPERATOR):
        expr = _unwrap(split[0])
    if split := _top_level_split(expr, COMPARISON):
        expr = split[0]
    return _unwrap(expr)


def loaded_rules(base_url: str) -> list[dict[str, Any]]:
    """Every rule Prometheus loaded, with its group name, query and health."""
    data = _get(f"{base_url}/api/v1/rules", 10.0)
    return [{**rule, "group": group["name"]} for group in data["groups"] for rule in group["rules"]]


def check_rules(base_url: str, alerts_must_fire: bool = True) -> list[ExprResult]:
    results = []
    rules = loaded_rules(base_url)
    if not rules:
        return [ExprResult("rules", "", False, "Prometheus loaded no rules")]
    for rule in rules:
        source = f"rule {rule['name']}"
        expr = rule["query"]
        if rule.get("health") == "err":
            results.append(ExprResult(source, expr, False, f"evaluation: {rule.get('lastError')}"))
            continue
        if rule["type"] == "alerting" and not alerts_must_fire:
            parsed = check_expr(base_url, source, expr, need_data=False)
            if not parsed.ok:
                results.append(parsed)
                continue
            results.append(check_expr(base_url, f"{source} (signal)", alert_signal(expr)))
        else:
            results.append(check_expr(base_url, source, expr))
    return results


def check_all(base_url: str, dashboards: Sequence[Path] = DASHBOARDS,
              variables: Mapping[str, str] | None = None,
              alerts_must_fire: bool = True) -> list[ExprResult]:
    results = [r for path in dashboards for r in check_dashboard(base_url, path, variables)]
    return results + check_rules(base_url, alerts_must_fire)


# --------------------------------------------------------------------------- a real Prometheus


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]
    config: Path
    log: Path


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        raise PromCheckError("the `prometheus` binary is missing: apt-get install prometheus")
    return path


def write_prometheus_config(path: Path, targets: Sequence[str], rule_files: Sequence[Path] = (),
                            scrape_interval: str = "1s", job: str = "mcu") -> Path:
    # JSON is YAML, so the config needs no YAML writer.
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval,
                   "scrape_timeout": scrape_interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}],
    }
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


@contextmanager
def running_prometheus(work_dir: Path, targets: Sequence[str], rule_files: Sequence[Path] = (),
                       scrape_interval: str = "1s", job: str = "mcu",
                       ready_timeout: float = 20.0) -> Iterator[PrometheusServer]:
    """A Prometheus on a free 127.0.0.1 port with throwaway config and storage."""
    binary = prometheus_binary()
    work_dir.mkdir(parents=True, exist_ok=True)
    config = write_prometheus_config(work_dir / "prometheus.yml", targets, rule_files,
                                     scrape_interval, job)
    port = free_port()
    log_path = work_dir / "prometheus.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={work_dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=log_file, stderr=subprocess.STDOUT)
    server = PrometheusServer(f"http://127.0.0.1:{port}", proc, config, log_path)
    try:
        _wait_ready(server, ready_timeout)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(server: PrometheusServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise PromCheckError(f"prometheus exited with {server.process.returncode}: "
                                 f"{server.log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise PromCheckError(f"prometheus not ready after {timeout} s: "
                         f"{server.log.read_text(errors='replace')[-2000:]}")


def wait_for_scrapes(base_url: str, count: int = 5, job: str = "mcu", timeout: float = 30.0,
                     metric: str = "mcu_build_info") -> int:
    """Wait until Prometheus holds `count` samples of `metric` (successful scrapes of the MCU)."""
    expr = f'max(count_over_time({metric}{{job="{job}"}}[5m]))'
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        result = query(base_url, expr)["result"]
        seen = int(float(result[0]["value"][1])) if result else 0
        if seen >= count:
            return seen
        time.sleep(0.25)
    raise PromCheckError(f"only {seen} of {count} scrapes of job {job!r} after {timeout} s")
