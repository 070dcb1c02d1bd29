#!/usr/bin/env python3
"""Prepares a running souk for the reserve benchmarks: an organizer's published event with one
show and one zone large enough never to sell out, and N members with access tokens.

usage: reserve_setup.py BASE_URL SOUK_BIN DATA_DIR USERS OUT_JSON [CAPACITY]
The organizer is created with the CLI (on the same data dir); members register over HTTP in
parallel. OUT_JSON gets {"show_id", "zone_id", "tokens": [...]}.
"""
import concurrent.futures
import json
import subprocess
import sys
import urllib.error
import urllib.request


def call(base, method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())["data"]
    except urllib.error.HTTPError as e:
        # The error envelope says why (its code and message); keep it for whoever reads this.
        e.msg = "%s %s: %s %s" % (method, path, e.msg, e.read().decode(errors="replace")[:500])
        raise


def main():
    base, binary, data_dir, users, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    capacity = int(sys.argv[6]) if len(sys.argv) > 6 else 10_000_000
    subprocess.run([binary, "admin", "create-user", "--email", "bench-org@souk.test", "--role", "organizer",
                    "--env", "test", "--set", f"data_dir={data_dir}"],
                   input="bench organizer pass\n", text=True, capture_output=True, check=False)
    org = call(base, "POST", "/api/v1/auth/login",
               {"email": "bench-org@souk.test", "password": "bench organizer pass"})["access_token"]
    ev = call(base, "POST", "/api/v1/events",
              {"title": "Benchmark Rush", "starts_at": "2030-01-01T20:00:00Z",
               "sale_starts_at": "2020-01-01T00:00:00Z", "max_per_user": 100000}, org)
    show = call(base, "POST", f"/api/v1/events/{ev['id']}/shows",
                {"starts_at": "2030-01-01T20:00:00Z", "ends_at": "2030-01-01T23:00:00Z"}, org)
    zone = call(base, "POST", f"/api/v1/shows/{show['id']}/zones",
                {"name": "Floor", "price": {"amount": 0, "currency": "USD"}, "capacity": capacity}, org)
    call(base, "POST", f"/api/v1/events/{ev['id']}/publish", {}, org)

    def member(i):
        email = f"bench-{i}@souk.test"
        try:
            call(base, "POST", "/api/v1/auth/register",
                 {"email": email, "password": "bench member pass", "display_name": f"B{i}"})
        except urllib.error.HTTPError as e:
            if e.code != 409:
                raise
        return call(base, "POST", "/api/v1/auth/login",
                    {"email": email, "password": "bench member pass"})["access_token"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(member, range(users)))
    json.dump({"show_id": show["id"], "zone_id": zone["id"], "event_id": ev["id"], "tokens": tokens},
              open(out, "w"))


if __name__ == "__main__":
    main()
