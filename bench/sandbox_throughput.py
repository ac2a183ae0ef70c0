"""Sandbox throughput: page through every record of each billing vendor over loopback.

Starts ``billbridge sandbox`` in its own process on 127.0.0.1 and, per vendor, lists
customers, subscriptions and invoices of every site at the largest page size with one
plain keep-alive ``httpx.Client``; prints records, requests (including the Zoho token
refresh), records per second (wall clock, one request at a time, so it includes the
client's own decoding) and seconds, plus the sandbox process's CPU time per record and
the rate that CPU time allows (``server rec/s``: what the simulator could serve if the
client cost nothing, and the figure least disturbed by other load on the machine). The
client decodes with orjson by default (``--client-json stdlib`` for the standard
library, which on a slow machine costs the client more than the sandbox spends). Then
times generating a 100,000-customer dataset (all on Chargebee, like the sync benchmark).

Usage: ``python bench/sandbox_throughput.py [--size 8000] [--seed 7] [--rounds 1]
[--client-json orjson|stdlib]`` (targets: at least 5,000 records/s per vendor;
generation under 10 s). Each round starts a fresh sandbox process, so every page is
rendered cold.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson

from desktop.sandbox import catalog as cat
from desktop.sandbox.credentials import (
    CHARGEBEE_KEYS,
    RECURLY_KEYS,
    ZOHO_CLIENT_ID,
    ZOHO_CLIENT_SECRET,
    zoho_user,
)
from desktop.sandbox.dataset import World
from desktop.sandbox.facade import MOUNTS

RECURLY_ACCEPT = "application/vnd.recurly.v2021-02-25"
Decode = Callable[[bytes], Any]
#: How the client decodes bodies (set by ``--client-json``).
DECODERS: dict[str, Decode] = {"orjson": orjson.loads, "stdlib": json.loads}


class Endpoints:
    """Base URLs of a sandbox served by ``billbridge sandbox --port-base P``."""

    def __init__(self, port_base: int) -> None:
        self.origins = {name: f"http://127.0.0.1:{port_base + i}" for i, name in enumerate(MOUNTS)}

    def chargebee(self, site: str) -> str:
        """Chargebee base URL of a site."""
        return f"{self.origins['chargebee']}/chargebee/{site}/api/v2"

    def recurly(self, site: str) -> str:
        """Recurly origin of a site's region."""
        found = cat.site_named("recurly", site)
        return self.origins[f"recurly-{found.region if found else 'us'}"]

    def zoho_accounts(self, dc: str) -> str:
        """Zoho accounts server of a data centre."""
        return f"{self.origins['zoho']}/zoho/{dc}/accounts"


def chargebee_pages(
    http: httpx.Client, urls: Endpoints, decode: Decode = orjson.loads
) -> Iterator[int]:
    """Yields the record count of every Chargebee page."""
    for site, key in CHARGEBEE_KEYS.items():
        for resource in ("customers", "subscriptions", "invoices"):
            offset: str | None = None
            while True:
                params: dict[str, Any] = {"limit": 100}
                if offset:
                    params["offset"] = offset
                url = f"{urls.chargebee(site)}/{resource}"
                body = decode(
                    http.get(url, params=params, auth=(key, "")).raise_for_status().content
                )
                yield len(body["list"])
                offset = body.get("next_offset")
                if not offset:
                    break


def recurly_pages(
    http: httpx.Client, urls: Endpoints, decode: Decode = orjson.loads
) -> Iterator[int]:
    """Yields the record count of every Recurly page."""
    headers = {"Accept": RECURLY_ACCEPT}
    for site, key in RECURLY_KEYS.items():
        base = urls.recurly(site)
        for resource in ("accounts", "subscriptions", "invoices"):
            path: str | None = f"/{resource}?limit=200&sort=updated_at&order=asc"
            while path:
                response = http.get(base + path, auth=(key, ""), headers=headers)
                body = decode(response.raise_for_status().content)
                yield len(body["data"])
                path = body["next"]


def zoho_pages(http: httpx.Client, urls: Endpoints, decode: Decode = orjson.loads) -> Iterator[int]:
    """Yields the record count of every Zoho Billing page (token refresh included)."""
    for site in cat.sites_of("zoho-billing"):
        user = zoho_user(site.region)
        token = http.post(
            urls.zoho_accounts(site.region) + "/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": ZOHO_CLIENT_ID,
                "client_secret": ZOHO_CLIENT_SECRET,
                "refresh_token": user.refresh_token,
            },
        ).json()
        yield 0
        headers = {
            "Authorization": f"Zoho-oauthtoken {token['access_token']}",
            "X-com-zoho-subscriptions-organizationid": site.name,
        }
        for resource in ("customers", "subscriptions", "invoices"):
            page = 1
            while True:
                url = f"{token['api_domain']}/billing/v1/{resource}"
                params = {"page": page, "per_page": 200}
                response = http.get(url, params=params, headers=headers)
                body = decode(response.raise_for_status().content)
                yield len(body[resource])
                if not body["page_context"]["has_more_page"]:
                    break
                page += 1


def _free_port_base() -> int:
    for _ in range(50):
        base = random.randrange(20_000, 60_000)
        sockets = []
        try:
            for offset in range(len(MOUNTS)):
                probe = socket.socket()
                sockets.append(probe)
                probe.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for probe in sockets:
                probe.close()
    raise RuntimeError("No four free consecutive ports on 127.0.0.1.")


def _wait_until_serving(urls: Endpoints, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("The sandbox process exited before serving.")
        try:
            httpx.get(urls.origins["zoho"] + "/_sandbox/status", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("The sandbox did not start serving within 60 seconds.")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux ``/proc``; else ``None``)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Row = tuple[str, int, int, float, float | None]


def measure(size: int, seed: int, decode: Decode = orjson.loads) -> list[Row]:
    """Serves the sandbox in a separate process (as ``billbridge sandbox`` does) and pages
    through every vendor; returns (vendor, records, requests, seconds, sandbox CPU
    seconds) rows."""
    port_base = _free_port_base()
    command = [sys.executable, "-m", "desktop", "sandbox", "--size", str(size)]
    command += ["--seed", str(seed), "--port-base", str(port_base)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    urls = Endpoints(port_base)
    rows: list[Row] = []
    try:
        _wait_until_serving(urls, process)
        with httpx.Client(timeout=30) as http:
            for vendor, pages in (
                ("chargebee", chargebee_pages),
                ("recurly", recurly_pages),
                ("zoho-billing", zoho_pages),
            ):
                cpu_before = cpu_seconds(process.pid)
                started = time.perf_counter()
                counts = list(pages(http, urls, decode))
                seconds = time.perf_counter() - started
                cpu_after = cpu_seconds(process.pid)
                cpu = (
                    cpu_after - cpu_before
                    if cpu_after is not None and cpu_before is not None
                    else None
                )
                rows.append((vendor, sum(counts), len(counts), seconds, cpu))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    return rows


def main() -> None:
    """Prints the throughput table and the generation time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8_000, help="billing customers (all vendors)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=1, help="fresh sandbox runs to measure")
    parser.add_argument("--client-json", choices=sorted(DECODERS), default="orjson")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Paging over loopback, dataset of {args.size:,} customers across three vendors")
    print(
        f"client JSON: {args.client_json}; load average before: {load:.2f} on {os.cpu_count()} CPUs"
    )
    header = f"{'vendor':<14}{'records':>10}{'requests':>10}{'records/s':>12}{'seconds':>10}"
    print(header + f"{'server us/rec':>15}{'server rec/s':>14}")
    for _ in range(args.rounds):
        for vendor, records, requests, seconds, cpu in measure(
            args.size, args.seed, DECODERS[args.client_json]
        ):
            rate = records / seconds if seconds else 0.0
            line = f"{vendor:<14}{records:>10,}{requests:>10,}{rate:>12,.0f}{seconds:>10.2f}"
            if cpu:
                line += f"{cpu / records * 1e6:>15.1f}{records / cpu:>14,.0f}"
            print(line)
    started = time.perf_counter()
    world = World(seed=args.seed, size=100_000, vendors=("chargebee",))
    seconds = time.perf_counter() - started
    print(
        f"\nGenerated {len(world.customers):,} customers, {len(world.subscriptions):,} "
        f"subscriptions, {len(world.invoices):,} invoices (Chargebee) in {seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
