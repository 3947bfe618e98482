#!/usr/bin/env python3
"""Helm v4 operations for AkiDB through the Helm library (PyPI `helm-python-sdk`).

There is no `helm` binary on CI machines: this script binds to Helm's Go SDK
(`libhelm_c`, shipped inside the wheel) and offers the few commands the
xtask needs. Used by `cargo xtask chart`/`release` and by xtask/tests/ops_*.rs.

    helm_tool.py lint CHART [-f values.yaml]... [--set k=v]... [--strict]
    helm_tool.py template CHART [-f values.yaml]... [--set k=v]... [--name N]
                 [--namespace NS] [--out-dir DIR] [--json]
    helm_tool.py package CHART --destination DIR [--version V] [--app-version V]
    helm_tool.py push ARCHIVE oci://HOST/PATH [--plain-http] [--username U --password P]
    helm_tool.py pull oci://HOST/PATH/CHART --version V --destination DIR [--plain-http]

Exit status: 0 success, 1 the operation reported a problem (lint error,
render error, registry error), 2 bad usage. Errors go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

try:
    import helm_python as helm
except ImportError as exc:  # pragma: no cover - environment problem
    sys.stderr.write(
        "helm_tool.py: cannot import helm_python (%s); install it with "
        "`pip install --target target/pydeps helm-python-sdk` and put that folder on "
        "PYTHONPATH (cargo xtask test does both)\n" % exc
    )
    sys.exit(2)

SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge `override` into `base` like Helm merges several -f files: maps merge, the rest is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def collect_values(files: list[str], sets: list[str]) -> dict[str, Any] | None:
    """Values from -f files then --set expressions, in command-line order of kind."""
    values: dict[str, Any] = {}
    for path in files:
        with open(path, encoding="utf-8") as fh:
            values = deep_merge(values, helm.values_from_yaml(fh.read()) or {})
    for expr in sets:
        values = deep_merge(values, helm.parse_set_string(expr))
    return values or None


def cmd_lint(args: argparse.Namespace) -> int:
    values = collect_values(args.values, args.set)
    report = helm.lint(args.chart, values, strict=args.strict, namespace=args.namespace)
    failed = bool(report.get("errors"))
    for msg in report.get("messages") or []:
        sev = int(msg.get("severity", 0))
        print("[%s] %s: %s" % (SEVERITY.get(sev, sev), msg.get("path", ""), msg.get("error", "")))
        # Helm's --strict turns warnings into failures.
        if sev >= 3 or (args.strict and sev == 2):
            failed = True
    for err in report.get("errors") or []:
        print("[ERROR] %s" % err)
    charts = report.get("total_charts_linted", 0)
    print("%d chart(s) linted, %s" % (charts, "FAILED" if failed else "no failures"))
    return 1 if failed or charts == 0 else 0


def split_documents(manifest: str) -> list[str]:
    """Split one rendered template into YAML documents, dropping empty ones."""
    docs, current = [], []
    for line in manifest.splitlines():
        if line.strip() == "---":
            docs.append("\n".join(current))
            current = []
        else:
            current.append(line)
    docs.append("\n".join(current))
    return [d for d in docs if any(l.strip() and not l.lstrip().startswith("#") for l in d.splitlines())]


def cmd_template(args: argparse.Namespace) -> int:
    values = collect_values(args.values, args.set)
    with helm.Chart.load(args.chart) as chart:
        # Helm's install/template path validates values against values.schema.json first.
        chart.validate_schema(chart.merge_values(values))
        rendered = chart.render(values, name=args.name, namespace=args.namespace, is_install=True)
    sources = sorted(k for k in rendered if not k.endswith("NOTES.txt"))
    notes = [k for k in rendered if k.endswith("NOTES.txt")]
    docs: list[tuple[str, str]] = []
    for source in sources:
        for doc in split_documents(rendered[source]):
            docs.append((source, doc))
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        for i, (source, doc) in enumerate(docs):
            base = os.path.basename(source).rsplit(".", 1)[0]
            with open(os.path.join(args.out_dir, "%02d-%s.yaml" % (i, base)), "w", encoding="utf-8") as fh:
                fh.write("# Source: %s\n%s\n" % (source, doc))
        if notes:
            with open(os.path.join(args.out_dir, "NOTES.txt"), "w", encoding="utf-8") as fh:
                fh.write(rendered[notes[0]])
    if args.json:
        import yaml  # PyYAML comes with kubernetes-validate

        objects = [{"source": s, "object": yaml.safe_load(d)} for s, d in docs]
        print(json.dumps({"objects": objects, "notes": rendered[notes[0]] if notes else ""}))
    elif not args.out_dir:
        for source, doc in docs:
            print("---\n# Source: %s\n%s" % (source, doc))
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    os.makedirs(args.destination, exist_ok=True)
    path = helm.package(
        args.chart, destination=args.destination, version=args.version, app_version=args.app_version
    )
    print(path)
    return 0


def registry_client(args: argparse.Namespace, host_ref: str) -> Any:
    if not args.username:
        return None
    client = helm.RegistryClient(plain_http=args.plain_http)
    host = host_ref.removeprefix("oci://").split("/", 1)[0]
    client.login(host, args.username, args.password or "", plain_http=args.plain_http)
    return client


def cmd_push(args: argparse.Namespace) -> int:
    client = registry_client(args, args.remote)
    result = helm.push(args.archive, args.remote, client=client, plain_http=args.plain_http)
    print(json.dumps(result))
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    os.makedirs(args.destination, exist_ok=True)
    client = registry_client(args, args.ref)
    result = helm.pull(
        args.ref,
        client=client,
        version=args.version,
        destination=args.destination,
        plain_http=args.plain_http,
    )
    print(json.dumps(result))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="helm_tool.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    def values_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("-f", "--values", action="append", default=[], help="values YAML file")
        sp.add_argument("--set", action="append", default=[], help="k=v as helm --set")
        sp.add_argument("--namespace", default="default")

    lint = sub.add_parser("lint", help="helm lint")
    lint.add_argument("chart")
    lint.add_argument("--strict", action="store_true")
    values_opts(lint)
    lint.set_defaults(func=cmd_lint)

    tpl = sub.add_parser("template", help="helm template (offline render)")
    tpl.add_argument("chart")
    tpl.add_argument("--name", default="akidb")
    tpl.add_argument("--out-dir")
    tpl.add_argument("--json", action="store_true", help="print {objects:[{source,object}],notes}")
    values_opts(tpl)
    tpl.set_defaults(func=cmd_template)

    pkg = sub.add_parser("package", help="helm package")
    pkg.add_argument("chart")
    pkg.add_argument("--destination", required=True)
    pkg.add_argument("--version")
    pkg.add_argument("--app-version")
    pkg.set_defaults(func=cmd_package)

    for name, func in (("push", cmd_push), ("pull", cmd_pull)):
        sp = sub.add_parser(name, help="helm %s (OCI)" % name)
        if name == "push":
            sp.add_argument("archive")
            sp.add_argument("remote", help="oci://host/path")
        else:
            sp.add_argument("ref", help="oci://host/path/chart")
            sp.add_argument("--version", required=True)
            sp.add_argument("--destination", required=True)
        sp.add_argument("--plain-http", action="store_true")
        sp.add_argument("--username", default=os.environ.get("HELM_REGISTRY_USERNAME"))
        sp.add_argument("--password", default=os.environ.get("HELM_REGISTRY_PASSWORD"))
        sp.set_defaults(func=func)
    return p


def main() -> int:
    args = parser().parse_args()
    try:
        return int(args.func(args))
    except helm.HelmError as exc:
        sys.stderr.write("helm_tool.py %s: %s: %s\n" % (args.command, type(exc).__name__, exc))
        return 1
    except (OSError, ValueError) as exc:
        sys.stderr.write("helm_tool.py %s: %s\n" % (args.command, exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
