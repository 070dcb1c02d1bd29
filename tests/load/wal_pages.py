#!/usr/bin/env python3
"""Pages each transaction wrote to a SQLite WAL, by table or index.

usage: wal_pages.py DB [LAST_N]
Reads DB-wal (copy it first if the server is writing), splits its valid frames into
transactions at each commit frame, and attributes the frames of the last LAST_N transactions
(default 200) to the b-tree owning each page (SQLite's dbstat table, read from DB). Pages the
main file does not have yet (new since the last checkpoint) show as "(new page)".
"""
import collections
import sqlite3
import struct
import sys


def transactions(wal_path):
    with open(wal_path, "rb") as f:
        data = f.read()
    if len(data) < 32:
        return 0, []
    _, _, page_size, _, salt1, salt2, _, _ = struct.unpack(">8I", data[:32])
    out, current, offset = [], [], 32
    while offset + 24 + page_size <= len(data):
        page, commit, s1, s2 = struct.unpack(">4I", data[offset:offset + 16])
        if (s1, s2) != (salt1, salt2):
            break  # frames from before the last restart
        current.append(page)
        if commit:
            out.append(current)
            current = []
        offset += 24 + page_size
    return page_size, out


def owners(db_path):
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    return dict((page, name) for name, page in con.execute("SELECT name, pageno FROM dbstat"))


def main():
    db = sys.argv[1]
    last = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    page_size, txs = transactions(db + "-wal")
    if not txs:
        print("no committed transactions in the WAL")
        return
    txs = txs[-last:]
    owner = owners(db)
    counts = collections.Counter(owner.get(p, "(new page)") for tx in txs for p in tx)
    frames = sum(len(tx) for tx in txs)
    print(f"{len(txs)} transactions, {frames / len(txs):.1f} pages ({page_size} B) each")
    for name, n in counts.most_common():
        print(f"{n / len(txs):7.2f}  {name}")


if __name__ == "__main__":
    main()
