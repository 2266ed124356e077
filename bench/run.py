"""`make bench`: every benchmark of issue 6, a readable table, then one JSON object as the last line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = [
    ("deploy", "redis"),
    ("deploy", "orm"),
    ("page", "orm"),
    ("web", "orm"),
    ("makespan", "redis"),
    ("rss", "orm"),
    ("tail", "orm"),
    ("register", "orm"),
    ("dashboard", "orm"),
    ("insights", "orm"),
    ("audit_csv", "orm"),
    ("audit_pg", "pg"),
    ("app_cold", "orm"),
]
TARGETS = {
    "deploy_overhead_ratio": ("<=", 1.10),
    "deploy_overhead_ratio_orm": ("<=", 1.25),
    "incremental_overhead_s": ("<=", 0.5),
    "pickup_ms_orm": ("<=", 300),
    "pickup_ms_redis": ("<=", 100),
    "app_page_ms": ("<=", 50),
    "app_page_growth": ("<=", 1.5),
    "makespan_ratio": ("<=", 1.3),
    "worker_rss_growth_mb": ("<=", 20),
    "tail_git_calls": ("<=", 0),
    "dashboard_ms_500": ("<=", 200),
    "dashboard_growth": ("<=", 1.5),
    "insights_ms_100k": ("<=", 300),
    "audit_csv_1m_s": ("<=", 10),
    "audit_filtered_ms_pg": ("<=", 50),
    "app_page_cold_ms": ("<=", 300),
}


def run(name: str, broker: str) -> dict:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scenario.py"), name, broker],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        print(f"{name} ({broker}) failed:\n{done.stderr[-3000:]}", file=sys.stderr)
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def main() -> int:
    if not shutil.which("wrk"):
        subprocess.run(["bash", "-c", "apt-get update -qq && apt-get install -y -qq wrk"], check=False)
    results = {f"{name}-{broker}": run(name, broker) for name, broker in SCENARIOS}
    deploy_redis, deploy_orm = results["deploy-redis"], results["deploy-orm"]
    page, makespan, rss, web = results["page-orm"], results["makespan-redis"], results["rss-orm"], results["web-orm"]
    tail = results["tail-orm"]
    register = results["register-orm"]
    board, insight = results["dashboard-orm"], results["insights-orm"]
    export, audit_pages, cold = results["audit_csv-orm"], results["audit_pg-pg"], results["app_cold-orm"]
    summary = {
        "deploy_overhead_ratio": deploy_redis.get("deploy_overhead_ratio"),
        "deploy_overhead_ratio_orm": deploy_orm.get("deploy_overhead_ratio"),
        "incremental_overhead_s": deploy_redis.get("incremental_overhead_s"),
        "incremental_overhead_s_orm": deploy_orm.get("incremental_overhead_s"),
        "pickup_ms_orm": deploy_orm.get("pickup_ms"),
        "pickup_ms_redis": deploy_redis.get("pickup_ms"),
        "app_page_ms": page.get("app_page_ms"),
        "app_page_growth": page.get("app_page_growth"),
        "seed_style_page_ratio": page.get("seed_style_page_ratio"),
        "makespan_ratio": makespan.get("makespan_ratio"),
        "makespan_lost": makespan.get("lost"),
        "makespan_overlapping": makespan.get("overlapping"),
        "worker_rss_growth_mb": rss.get("worker_rss_growth_mb"),
        "web_rps": web.get("web_rps"),
        "tail_ms": tail.get("tail_ms"),
        "ready_after_register_s": register.get("ready_after_register_s"),
        "plain_clone_mirror_s": register.get("plain_clone_mirror_s"),
        "tail_p95_ms": tail.get("tail_p95_ms"),
        "tail_git_calls": tail.get("tail_git_calls"),
        "dashboard_ms_500": board.get("dashboard_ms_500"),
        "dashboard_growth": board.get("dashboard_growth"),
        "insights_ms_100k": insight.get("insights_ms_100k"),
        "insights_growth": insight.get("insights_growth"),
        "audit_csv_1m_s": export.get("audit_csv_1m_s"),
        "audit_csv_growth": export.get("audit_csv_growth"),
        "audit_filtered_ms_pg": audit_pages.get("audit_filtered_ms_pg"),
        "audit_filtered_growth": audit_pages.get("audit_filtered_growth"),
        "app_page_cold_ms": cold.get("app_page_cold_ms"),
        "app_page_cold_growth": cold.get("app_page_cold_growth"),
    }
    print(f"{'measure':32} {'value':>10}  {'target':>8}  verdict")
    for key, value in summary.items():
        op, bar = TARGETS.get(key, ("", None))
        verdict = "" if bar is None or value is None else ("met" if value <= bar else "MISSED")
        print(f"{key:32} {value!s:>10}  {op + str(bar) if bar is not None else 'report':>8}  {verdict}")
    print("details:")
    for key, value in results.items():
        print(f"  {key}: {json.dumps(value)}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
