"""Plots `cargo xtask soak`'s per-minute samples (CSV) into one PNG with four panels."""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(csv_path: str, png_path: str) -> None:
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    minutes = [float(r["minute"]) for r in rows]
    panels = [
        ("rss_mib", "RSS (MiB)"),
        ("open_files", "open files"),
        ("wal_mib", "WAL (MiB)"),
        ("disk_mib", "data directory (MiB)"),
        ("searches_per_s", "searches/s"),
        ("search_p99_ms", "search p99 (ms)"),
    ]
    fig, axes = plt.subplots(3, 2, figsize=(11, 9), sharex=True)
    for ax, (key, label) in zip(axes.flat, panels):
        ax.plot(minutes, [float(r[key]) for r in rows], marker=".")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        for m, r in zip(minutes, rows):
            if "kill" in r["event"] or "restart" in r["event"]:
                ax.axvline(m, color="red", alpha=0.25, linewidth=1)
    for ax in axes[-1]:
        ax.set_xlabel("minute (red lines: restarts)")
    fig.suptitle("cargo xtask soak: akidb under mixed load")
    fig.tight_layout()
    fig.savefig(png_path, dpi=80)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
