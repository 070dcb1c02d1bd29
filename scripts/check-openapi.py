#!/usr/bin/env python3
"""The OpenAPI document (docs/openapi.json, served at /api/v1/openapi.json) must list exactly
the routes the router has: `souk routes` prints them; every (method, path) pair must appear in
the document and the document must name no route the server lacks.

usage: check-openapi.py SOUK_BINARY OPENAPI_JSON
"""
import json
import subprocess
import sys
import tempfile


def main() -> int:
    binary, doc_path = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [binary, "routes", "--env", "prod", "--set", f"data_dir={tmp}"],
            check=True, capture_output=True, text=True, timeout=60,
        ).stdout
    routes = {(r["method"].lower(), r["path"]) for r in json.loads(out)}
    with open(doc_path, encoding="utf-8") as f:
        doc = json.load(f)
    if not str(doc.get("openapi", "")).startswith("3."):
        print("openapi: the document is not OpenAPI 3")
        return 1
    documented = set()
    for path, ops in doc.get("paths", {}).items():
        for method in ops:
            if method in ("get", "put", "post", "delete", "patch", "head", "options"):
                documented.add((method, path))
    missing = sorted(routes - documented)
    extra = sorted(documented - routes)
    for m, p in missing:
        print(f"openapi: route {m.upper()} {p} is not documented")
    for m, p in extra:
        print(f"openapi: documented {m.upper()} {p} has no route")
    if missing or extra:
        return 1
    print(f"openapi: {len(routes)} routes documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
