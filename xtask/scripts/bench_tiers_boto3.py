"""Peer for `cargo xtask bench tiers`: the same object-store work as AkiDB's S3Store,
done with boto3 (the AWS SDK for Python) against the same SeaweedFS, in the same run.

Prints JSON lines shaped like the ones of `examples/tier_bench.rs` with "impl": "boto3".
"""

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config


def emit(**kv):
    print(json.dumps(kv), flush=True)


def rate(n, concurrency, op):
    started = time.perf_counter()
    if concurrency == 1:
        for i in range(n):
            op(i)
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(op, range(n)))
    return n / (time.perf_counter() - started)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--objects", type=int, default=2000)
    p.add_argument("--object-bytes", type=int, default=1024)
    p.add_argument("--concurrency", default="1,16")
    p.add_argument("--transfer-file", required=True)
    a = p.parse_args()

    session = boto3.session.Session()
    s3 = session.client(
        "s3",
        endpoint_url=a.endpoint,
        region_name="us-east-1",
        aws_access_key_id=a.access_key,
        aws_secret_access_key=a.secret_key,
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=64),
    )
    body = b"\x5a" * a.object_bytes
    for c in [int(x) for x in a.concurrency.split(",")]:
        prefix = f"bench-boto3/small-c{c}"

        def key(i):
            return f"{prefix}/obj-{i:06d}"

        results = {
            "put": rate(a.objects, c, lambda i: s3.put_object(Bucket=a.bucket, Key=key(i), Body=body)),
            "get": rate(a.objects, c, lambda i: s3.get_object(Bucket=a.bucket, Key=key(i))["Body"].read()),
            "head": rate(a.objects, c, lambda i: s3.head_object(Bucket=a.bucket, Key=key(i))),
        }
        started = time.perf_counter()
        listed = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=a.bucket, Prefix=prefix + "/"):
            listed += len(page.get("Contents", []))
        list_s = time.perf_counter() - started
        assert listed == a.objects, (listed, a.objects)
        results["delete"] = rate(a.objects, c, lambda i: s3.delete_object(Bucket=a.bucket, Key=key(i)))
        for op, ops in results.items():
            emit(what="object_ops", impl="boto3", op=op, concurrency=c, objects=a.objects,
                 bytes=a.object_bytes, ops_per_s=ops)
        emit(what="list", impl="boto3", concurrency=c, objects=a.objects, seconds=list_s)

    mb = os.path.getsize(a.transfer_file) / (1 << 20)
    # boto3's managed transfers: multipart with parallel parts, its defaults (8 MiB, 10 threads).
    transfer = TransferConfig()
    back = a.transfer_file + ".boto3"
    up, down = [], []
    for _ in range(3):
        t = time.perf_counter()
        s3.upload_file(a.transfer_file, a.bucket, "bench-boto3/transfer.bin", Config=transfer)
        up.append(mb / (time.perf_counter() - t))
        t = time.perf_counter()
        s3.download_file(a.bucket, "bench-boto3/transfer.bin", back, Config=transfer)
        down.append(mb / (time.perf_counter() - t))
    assert os.path.getsize(back) == os.path.getsize(a.transfer_file)
    os.remove(back)
    s3.delete_object(Bucket=a.bucket, Key="bench-boto3/transfer.bin")
    for op, v in (("upload", up), ("download", down)):
        emit(what="transfer", impl="boto3", op=op, mb=mb, mb_per_s=sorted(v)[len(v) // 2])


if __name__ == "__main__":
    main()
