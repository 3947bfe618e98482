"""Ingest and search measurement of the Python client on dev-pydoc-50k.

    PYTHONPATH=target/pydeps:clients/python/src python3 clients/python/bench/ingest.py \
        --url http://127.0.0.1:8080 [--api-key KEY] [--parallel 1] [--queries 1000]

Prints points/s of ``upload()`` (NumPy float32 input, batches of 1,000) and the mean
latency of ``client.search`` against a bare ``requests.post`` round trip (and the same
through a kept-alive ``requests.Session``), with recall@10 as a sanity check.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import time
from typing import Any, Dict, List

import numpy as np
import requests

from akidb import AkiDB, errors

DEFAULT_DATASET = pathlib.Path(__file__).resolve().parents[4] / "shared" / "datasets" / "dev-pydoc-50k"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=os.environ.get("AKIDB_URL", "http://127.0.0.1:8080"))
    ap.add_argument("--api-key", default=os.environ.get("AKIDB_API_KEY"))
    ap.add_argument("--dataset", default=os.environ.get("AKIDB_DATASET_DIR", str(DEFAULT_DATASET)))
    ap.add_argument("--collection", default="bench-pydoc")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2, help="passes over the queries")
    ap.add_argument("--grpc-url", default=None, help="use AkiDB(prefer_grpc=True) with this gRPC address")
    args = ap.parse_args()

    ds = pathlib.Path(args.dataset)
    base = np.load(ds / "base.f32.npy")
    queries = np.load(ds / "queries.f32.npy")[: args.queries]
    gt = np.load(ds / "gt_cosine_top100.npy")
    print(f"dataset {ds}: base {base.shape} {base.dtype}, queries {queries.shape}")

    client = AkiDB(
        args.url, api_key=args.api_key, timeout=120, prefer_grpc=args.grpc_url is not None, grpc_url=args.grpc_url
    )
    print(f"transport: {'gRPC ' + args.grpc_url if args.grpc_url else 'REST'}")
    try:
        client.delete_collection(args.collection)
    except errors.NotFound:
        pass
    client.create_collection(args.collection, dimension=base.shape[1], metric="cosine")

    t0 = time.perf_counter()
    n = client.upload(
        args.collection,
        ids=np.arange(len(base)),
        vectors=base,
        batch_size=args.batch_size,
        parallel=args.parallel,
    )
    dt = time.perf_counter() - t0
    print(f"upload: {n} points in {dt:.2f} s = {n / dt:,.0f} points/s "
          f"(batch {args.batch_size}, parallel {args.parallel})")
    assert client.count(args.collection) == len(base)

    # Search loop: the client vs a bare requests.post round trip, same server, same k.
    url = f"{args.url.rstrip('/')}/api/v1/collections/{args.collection}/search"
    headers: Dict[str, str] = {}
    if args.api_key:
        headers["Authorization"] = f"Bearer {args.api_key}"
    session = requests.Session()
    qlists: List[List[float]] = [q.tolist() for q in queries]
    nq = len(queries)
    got: List[List[Any]] = [[] for _ in range(nq)]

    def via_client(i: int) -> None:
        got[i] = [h.id for h in client.search(args.collection, vector=queries[i], k=10)]

    def via_post(i: int) -> None:
        r = requests.post(url, json={"vector": qlists[i], "k": 10}, headers=headers, timeout=60)
        r.raise_for_status()
        r.json()

    def via_session(i: int) -> None:
        r = session.post(url, json={"vector": qlists[i], "k": 10}, headers=headers, timeout=60)
        r.raise_for_status()
        r.json()

    # Wait until background graph builds are done, so the loop measures steady state.
    t0 = time.perf_counter()
    while client.get_collection(args.collection).status != "green":
        time.sleep(0.5)
    print(f"collection green {time.perf_counter() - t0:.1f} s after the upload returned")

    variants = [
        ("client.search (numpy query)", via_client),
        ("bare requests.post (json=list)", via_post),
        ("requests.Session().post (json=list)", via_session),
    ]
    for _, f in variants:  # warm up
        for i in range(min(20, nq)):
            f(i)
    # Interleaved: each query runs through every variant (rotating the order), so load
    # changes on this shared machine hit all variants alike. Wall time and the Python
    # thread's CPU time (the client's own overhead) per call.
    wall: Dict[str, List[float]] = {label: [] for label, _ in variants}
    cpu: Dict[str, List[float]] = {label: [] for label, _ in variants}
    for rnd in range(args.rounds):
        for i in range(nq):
            k = (i + rnd) % len(variants)
            for label, f in variants[k:] + variants[:k]:
                w0, c0 = time.perf_counter(), time.thread_time()
                f(i)
                wall[label].append(time.perf_counter() - w0)
                cpu[label].append(time.thread_time() - c0)
    c_mean = float(np.mean(wall[variants[0][0]]))
    c_med = float(np.median(wall[variants[0][0]]))
    print(f"search loop: {nq} queries x {args.rounds} rounds, k=10, interleaved")
    print(f"  {'variant':<38} {'mean ms':>8} {'median ms':>10} {'cpu ms':>7} {'client/this (mean, median)':>28}")
    for label, _ in variants:
        m, md, cp = float(np.mean(wall[label])), float(np.median(wall[label])), float(np.mean(cpu[label]))
        print(f"  {label:<38} {m * 1e3:8.3f} {md * 1e3:10.3f} {cp * 1e3:7.3f} {c_mean / m:13.2f}x {c_med / md:8.2f}x")
    recall = np.mean([len(set(got[i]) & set(gt[i, :10].tolist())) / 10 for i in range(nq)])
    print(f"recall@10 (client.search, default ef) = {recall:.4f}")


if __name__ == "__main__":
    main()
