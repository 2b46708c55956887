#!/usr/bin/env python3
"""Markdown tables from bench/timeouts.sh's results (one JSON file per
client and setting, one `synack lab matrix --format json` row per line).

    python3 bench/timeouts_table.py /tmp/synack-timeouts
"""
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/synack-timeouts")
ORDER = ["curl", "wget", "python-socket", "python-urllib", "python-requests", "python-httpx", "node-fetch", "go-net-http", "rust-ureq", "psql"]
KEY = ["syn_black_hole", "first_syn_lost", "dead_first_v4", "aaaa_black_hole", "accept_queue_full", "pmtu_black_hole"]


def rows(path):
    if not path.exists():
        return {}
    return {r["fault"]: r for r in map(json.loads, filter(None, path.read_text().splitlines()))}


def cell(r):
    if r is None:
        return "–"
    t = r["elapsed_ms"] / 1000
    exit_ = "killed" if r["killed"] else f"exit {r['exit']}"
    syns = " + ".join(str(s["syns"]) for s in r["syns"]) or "0"
    return f"{t:.2f} s, {exit_}, {syns} SYN{'s' if syns != '1' else ''}"


clients = sorted({p.name.split(".")[0] for p in out.glob("*.json")},
                 key=lambda c: ORDER.index(c)
                 if c in ORDER else 99)

print("| client | setting | " + " | ".join(KEY) + " |")
print("|---|---|" + "---|" * len(KEY))
for c in clients:
    for setting in ["default", "recommended"]:
        r = rows(out / f"{c}.{setting}.json")
        if r:
            print(f"| {c} | {setting} | " + " | ".join(cell(r.get(k)) for k in KEY) + " |")
print()
for c in clients:
    d, rec = rows(out / f"{c}.default.json"), rows(out / f"{c}.recommended.json")
    cmd_d = (out / f"{c}.default.cmd").read_text().strip() if (out / f"{c}.default.cmd").exists() else ""
    cmd_r = (out / f"{c}.recommended.cmd").read_text().strip() if (out / f"{c}.recommended.cmd").exists() else ""
    print(f"### {c}\n")
    print(f"* default: `{cmd_d}`" if "\n" not in cmd_d else "* default:\n\n```\n" + cmd_d + "\n```\n")
    print(f"* recommended: `{cmd_r}`" if "\n" not in cmd_r else "* recommended:\n\n```\n" + cmd_r + "\n```\n")
    print()
    print("| fault | default | verdict | recommended | verdict |")
    print("|---|---|---|---|---|")
    faults = list(d) or list(rec)
    for f in faults:
        a, b = d.get(f), rec.get(f)
        print(f"| {f} | {cell(a)} | {a['verdict'] if a else '–'} | {cell(b)} | {b['verdict'] if b else '–'} |")
    print()
