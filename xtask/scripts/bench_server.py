"""Drives a running AkiDB server (REST, `requests`) and a running Chroma server
(`chromadb.HttpClient`) through the same workload on dev-pydoc-50k and prints
one JSON object per system on stdout (lines starting with `{`).

Started by `cargo xtask bench server`, which starts and kills both servers.
Progress goes to stderr.
"""

import argparse
import json
import os
import sys
import threading
import time

import numpy as np
import orjson
import requests

K = 10
BATCH = 1000
FILTERS = (("library", "broad"), ("faq", "narrow"))


def log(msg):
    print(f"[bench_server] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- process info


def tree_pids(root):
    """`root` and every descendant (Chroma and AkiDB are one process each, but be safe)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def rss_mib(root):
    """Sum of VmRSS over the process tree, MiB."""
    total = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024.0


def cpu_seconds(root):
    """utime + stime of the process tree, seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / tick


def wait_idle(pid, name, limit=600.0):
    """Waits until the server burns < 5 % of a core over 2 s: background indexing is done.

    Neither server exposes "index built" over its API, so both are judged the same way.
    """
    start = time.perf_counter()
    prev = cpu_seconds(pid)
    while time.perf_counter() - start < limit:
        time.sleep(2.0)
        now = cpu_seconds(pid)
        if now - prev < 0.1:
            return time.perf_counter() - start
        prev = now
    log(f"{name}: still busy after {limit:.0f} s, measuring anyway")
    return time.perf_counter() - start


def wait_ready(url, pid, name, limit=120.0):
    deadline = time.time() + limit
    while time.time() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            raise SystemExit(f"{name} (pid {pid}) exited before it was ready")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{name} not ready at {url} after {limit:.0f} s")


# ---------------------------------------------------------------- measurement


def run_clients(n_clients, make_client, search, queries):
    """Runs `queries` split over `n_clients` threads, each with its own client.

    Returns (qps, latencies_ms, results by query index).
    """
    results = [None] * len(queries)
    latencies = [[] for _ in range(n_clients)]
    clients = [make_client() for _ in range(n_clients)]
    errors = []
    barrier = threading.Barrier(n_clients + 1)

    def worker(t):
        client = clients[t]
        barrier.wait()
        try:
            for i in range(t, len(queries), n_clients):
                s = time.perf_counter()
                results[i] = search(client, queries[i])
                latencies[t].append((time.perf_counter() - s) * 1000.0)
        except Exception as e:  # reported after join
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_clients)]
    for th in threads:
        th.start()
    barrier.wait()
    start = time.perf_counter()
    for th in threads:
        th.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"search failed: {errors[0]}")
    lat = np.array([x for part in latencies for x in part])
    return len(queries) / wall, lat, results


def recall(results, truth):
    hits = sum(len(set(ids) & set(t)) for ids, t in zip(results, truth))
    return hits / (K * len(results))


def percentiles(lat):
    return float(np.percentile(lat, 50)), float(np.percentile(lat, 99))


class AkiDB:
    name = "AkiDB"

    def __init__(self, url, collection):
        self.url = url.rstrip("/")
        self.coll = collection
        self.ef = None

    def ready_url(self):
        return self.url + "/ready"

    def session(self):
        s = requests.Session()
        s.headers["Content-Type"] = "application/json"
        return s

    def create(self, dim):
        r = self.session().post(
            f"{self.url}/api/v1/collections",
            data=orjson.dumps({"name": self.coll, "dimension": dim, "metric": "cosine"}),
        )
        if r.status_code != 201:
            raise RuntimeError(f"create collection: {r.status_code} {r.text}")

    def ingest_batch(self, client, ids, vectors, payloads):
        points = [
            {"id": int(i), "vector": v, "payload": p} for i, v, p in zip(ids, vectors, payloads)
        ]
        r = client.put(
            f"{self.url}/api/v1/collections/{self.coll}/points",
            data=orjson.dumps({"points": points}, option=orjson.OPT_SERIALIZE_NUMPY),
        )
        if r.status_code != 200 or r.json().get("upserted") != len(points):
            raise RuntimeError(f"upsert: {r.status_code} {r.text[:500]}")

    def noop(self, client):
        client.get(f"{self.url}/health").raise_for_status()

    def count(self):
        r = self.session().get(f"{self.url}/api/v1/collections/{self.coll}")
        r.raise_for_status()
        return r.json()["points"]

    def searcher(self, section=None):
        url = f"{self.url}/api/v1/collections/{self.coll}/search"
        base = {"k": K, "with_payload": section is not None}
        if self.ef is not None:
            base["ef"] = self.ef
        if section is not None:
            base["filter"] = {"must": [{"key": "section", "match": {"value": section}}]}

        def search(client, q):
            r = client.post(url, data=orjson.dumps(dict(base, vector=q), option=orjson.OPT_SERIALIZE_NUMPY))
            if r.status_code != 200:
                raise RuntimeError(f"search: {r.status_code} {r.text[:500]}")
            hits = orjson.loads(r.content)["hits"]
            ids = [int(h["id"]) for h in hits]
            sections = [h["payload"]["section"] for h in hits] if section is not None else None
            return ids, sections

        return search


class Chroma:
    name = "Chroma"

    def __init__(self, port, collection):
        self.port = port
        self.coll = collection
        self.ef = None
        self.created = False

    def ready_url(self):
        return f"http://127.0.0.1:{self.port}/api/v2/heartbeat"

    def session(self):
        import chromadb
        from chromadb.config import Settings

        client = chromadb.HttpClient(
            host="127.0.0.1", port=self.port, settings=Settings(anonymized_telemetry=False)
        )
        # Before the collection exists a "client" is the server handle, afterwards the collection.
        return client.get_collection(self.coll) if self.created else client

    def create(self, dim):
        client = self.session()
        try:
            client.create_collection(self.coll, configuration={"hnsw": {"space": "cosine"}})
        except TypeError:
            client.create_collection(self.coll, metadata={"hnsw:space": "cosine"})
        self.created = True

    def ingest_batch(self, coll, ids, vectors, payloads):
        coll.add(ids=[str(int(i)) for i in ids], embeddings=vectors, metadatas=list(payloads))

    def noop(self, client):
        chromadb_client = client._client if hasattr(client, "_client") else client
        chromadb_client.heartbeat()

    def count(self):
        return self.session().count()

    def searcher(self, section=None):
        include = ["distances", "metadatas"] if section is not None else ["distances"]
        where = {"section": section} if section is not None else None

        def search(coll, q):
            r = coll.query(query_embeddings=[q], n_results=K, where=where, include=include)
            ids = [int(x) for x in r["ids"][0]]
            sections = [m["section"] for m in r["metadatas"][0]] if section is not None else None
            return ids, sections

        return search


def exact_filtered_truth(base_n, queries_n, mask):
    rows = np.nonzero(mask)[0]
    scores = queries_n @ base_n[rows].T
    top = np.argsort(-scores, axis=1)[:, :K]
    return [rows[t].tolist() for t in top]


def bench(system, pid, data, args):
    base, queries, gt, payloads, base_n, queries_n = data
    out = {"system": system.name}
    system.create(base.shape[1])

    client = system.session()
    n = base.shape[0]
    log(f"{system.name}: ingest {n} points in batches of {BATCH}")
    start = time.perf_counter()
    for lo in range(0, n, BATCH):
        hi = min(lo + BATCH, n)
        system.ingest_batch(client, range(lo, hi), base[lo:hi], payloads[lo:hi])
    ingest_s = time.perf_counter() - start
    out["ingest_points_per_s"] = n / ingest_s
    out["ingest_s"] = ingest_s
    count = system.count()
    if count != n:
        raise RuntimeError(f"{system.name}: {count} points after ingest, expected {n}")
    out["settle_s"] = wait_idle(pid, system.name)
    out["rss_mib_after_load"] = rss_mib(pid)
    log(f"{system.name}: {out['ingest_points_per_s']:.0f} points/s, idle after {out['settle_s']:.1f} s, "
        f"RSS {out['rss_mib_after_load']:.0f} MiB")

    qs = [queries[i] for i in range(min(args.queries, len(queries)))]
    truth = [gt[i, :K].tolist() for i in range(len(qs))]
    run_clients(1, system.session, system.searcher(), qs[: args.warmup])

    # The cheapest ef whose recall@10 reaches the target; AkiDB's default first.
    for ef in ([None] + args.ef if system.name == "AkiDB" else [None]):
        system.ef = ef
        qps, lat, res = run_clients(1, system.session, system.searcher(), qs)
        r = recall([ids for ids, _ in res], truth)
        log(f"{system.name}: ef={ef or 'default'} 1 client {qps:.0f} QPS recall@10 {r:.4f}")
        if r >= args.min_recall:
            break
    out["ef"] = system.ef
    out["recall_at_10"] = r
    out["qps_1"] = qps
    out["p50_ms_1"], out["p99_ms_1"] = percentiles(lat)
    qps2, lat2, res2 = run_clients(2, system.session, system.searcher(), qs)
    out["qps_2"] = qps2
    out["p50_ms_2"], out["p99_ms_2"] = percentiles(lat2)
    out["recall_at_10_2"] = recall([ids for ids, _ in res2], truth)
    log(f"{system.name}: 2 clients {qps2:.0f} QPS")

    fq = qs[: args.filtered_queries]
    sections = np.array([p["section"] for p in payloads])
    for value, label in FILTERS:
        mask = sections == value
        ftruth = exact_filtered_truth(base_n, queries_n[: len(fq)], mask)
        qps, lat, res = run_clients(1, system.session, system.searcher(value), fq)
        outside = sum(1 for _, secs in res for s in secs if s != value)
        short = sum(1 for ids, _ in res if len(ids) < K)
        out[f"filter_{label}"] = {
            "section": value,
            "matching": float(mask.mean()),
            "qps": qps,
            "p50_ms": percentiles(lat)[0],
            "p99_ms": percentiles(lat)[1],
            "recall_at_10": recall([ids for ids, _ in res], ftruth),
            "hits_outside_filter": outside,
            "short_answers": short,
            "queries": len(fq),
        }
        log(f"{system.name}: filter section={value} {qps:.1f} QPS, {outside} hits outside the filter")
    # The client's own floor: a no-op round trip (AkiDB GET /health, Chroma heartbeat).
    client = system.session()
    start = time.perf_counter()
    for _ in range(500):
        system.noop(client)
    out["noop_qps"] = 500 / (time.perf_counter() - start)
    out["rss_mib_end"] = rss_mib(pid)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--akidb-url", required=True)
    ap.add_argument("--akidb-pid", type=int, required=True)
    ap.add_argument("--chroma-port", type=int, required=True)
    ap.add_argument("--chroma-pid", type=int, required=True)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--filtered-queries", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--min-recall", type=float, default=0.99)
    ap.add_argument("--ef", type=lambda s: [int(x) for x in s.split(",") if x], default=[96, 128, 192])
    ap.add_argument("--only", choices=["akidb", "chroma"], default=None)
    args = ap.parse_args()

    d = args.dataset
    base = np.load(f"{d}/base.f32.npy")
    queries = np.load(f"{d}/queries.f32.npy")
    gt = np.load(f"{d}/gt_cosine_top100.npy")
    with open(f"{d}/base.jsonl") as f:
        payloads = []
        for line in f:
            row = json.loads(line)
            payloads.append({"section": row["section"], "page": row["page"]})
    if len(payloads) != base.shape[0]:
        raise SystemExit(f"base.jsonl has {len(payloads)} rows, base.f32.npy {base.shape[0]}")
    base_n = base / np.linalg.norm(base, axis=1, keepdims=True)
    queries_n = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    # Plain lists so both clients serialise the same Python objects.
    query_lists = [q.tolist() for q in queries]
    data = (base, query_lists, gt, payloads, base_n, queries_n)

    systems = []
    if args.only in (None, "akidb"):
        systems.append((AkiDB(args.akidb_url, "bench"), args.akidb_pid))
    if args.only in (None, "chroma"):
        systems.append((Chroma(args.chroma_port, "bench"), args.chroma_pid))
    for system, pid in systems:
        wait_ready(system.ready_url(), pid, system.name)
    for system, pid in systems:
        print(json.dumps(bench(system, pid, data, args)), flush=True)


if __name__ == "__main__":
    main()
