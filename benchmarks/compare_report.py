#!/usr/bin/env python3
"""Turns compare.sh's per-run TSV into the Markdown report (printed and written to a file).

Usage: compare_report.py FACTS.tsv RUNS.tsv OUT.md
Round 0 of every variant is the warm-up and is left out of the medians.
"""
import statistics
import sys
from collections import defaultdict

# The targets (README "Performance", "ratio (target)"): rootfsforge wall time as a fraction of the pipeline's.
TAR_TARGET = {"deflate": 0.5, "zstd": 0.5, "raw": 1.0}
DIR_TARGET = {"deflate": 0.6, "zstd": 0.6}
RSS_TARGET_MB = 300


def main(facts_path, runs_path, out_path):
    facts = [line.rstrip("\n").split("\t", 1) for line in open(facts_path) if line.strip()]
    runs = defaultdict(list)  # (image, group, variant) -> [row]
    with open(runs_path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            if row["round"] == "0":
                continue
            runs[(row["image"], row["group"], row["variant"])].append(row)

    def med_s(key):
        rows = runs.get(key)
        return statistics.median(int(r["wall_ms"]) for r in rows) / 1000 if rows else None

    def cpu(key):
        rows = runs.get(key)
        if not rows:
            return None
        return statistics.median((float(r["user_s"]) + float(r["sys_s"])) / (int(r["wall_ms"]) / 1000) for r in rows)

    def rss_mb(key):
        rows = runs.get(key)
        return max(int(r["maxrss_kb"]) for r in rows) / 1024 if rows else None

    def fmt_s(v):
        return "n/a" if v is None else f"{v:.2f} s"

    def fmt_x(v):
        return "n/a" if v is None else f"{v:.2f}"

    def fmt_mb(v):
        return "n/a" if v is None else f"{v:.0f} MB"

    def ratio(a, b):
        return None if a is None or b is None else a / b

    images = []
    for (image, _, _) in runs:
        if not image.startswith("x2-") and image not in images:
            images.append(image)

    out = ["# Extraction throughput: rootfsforge vs. the loop-mount pipeline", ""]
    out += ["| machine | |", "| --- | --- |"] + [f"| {k} | {v} |" for k, v in facts] + [""]
    if not any(v == "rootfsforge" for (_, _, v) in runs):
        out += ["**`rootfsforge extract` was not available in this build: only the reference pipelines were measured.**", ""]

    if any(g == "tar" and not i.startswith("x2-") for (i, g, _) in runs):
        out += ["## Extract to a tar stream (`-o - | wc -c` vs. `qemu-img convert` + loop mount + `tar -cf - . | wc -c`)", ""]
        out += ["| image | rootfsforge | pipeline | ratio (target) | qemu-img convert alone | rootfsforge peak RSS | "
                "rootfsforge CPU (user+sys)/wall | pipeline CPU |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for image in images if any(g == "tar" and not i.startswith("x2-") for (i, g, _) in runs) else []:
        rf, pipe = med_s((image, "tar", "rootfsforge")), med_s((image, "tar", "pipeline"))
        target = TAR_TARGET.get(image)
        out.append(f"| {image} | {fmt_s(rf)} | {fmt_s(pipe)} | {fmt_x(ratio(rf, pipe))} ({'≤ ' + str(target) if target else '-'}) | "
                   f"{fmt_s(med_s((image, 'tar', 'convert')))} | {fmt_mb(rss_mb((image, 'tar', 'rootfsforge')))} | "
                   f"{fmt_x(cpu((image, 'tar', 'rootfsforge')))} | {fmt_x(cpu((image, 'tar', 'pipeline')))} |")
    out.append("")

    if any(g == "dir" for (_, g, _) in runs):
        out += ["## Extract to a directory (`-o DIR` vs. `qemu-img convert` + loop mount + `cp -a`)", ""]
        out += ["| image | rootfsforge | pipeline | ratio (target) | debugfs rdump (raw given) | rootfsforge peak RSS | "
                "rootfsforge CPU (user+sys)/wall | pipeline CPU |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for image in images:
            rf, pipe = med_s((image, "dir", "rootfsforge")), med_s((image, "dir", "pipeline"))
            target = DIR_TARGET.get(image)
            out.append(f"| {image} | {fmt_s(rf)} | {fmt_s(pipe)} | {fmt_x(ratio(rf, pipe))} ({'≤ ' + str(target) if target else '-'}) | "
                       f"{fmt_s(med_s((image, 'dir', 'debugfs')))} | {fmt_mb(rss_mb((image, 'dir', 'rootfsforge')))} | "
                       f"{fmt_x(cpu((image, 'dir', 'rootfsforge')))} | {fmt_x(cpu((image, 'dir', 'pipeline')))} |")
        out.append("")

    doubled = [k for k in runs if k[0].startswith("x2-")]
    if doubled:
        out += [f"## Memory does not grow with image size (target: peak RSS ≤ {RSS_TARGET_MB} MB)", "",
                "| image | rootfsforge wall | peak RSS | peak RSS on debian12 |", "| --- | ---: | ---: | ---: |"]
        for key in doubled:
            base = key[0][3:]
            out.append(f"| debian12x2 {base} | {fmt_s(med_s(key))} | {fmt_mb(rss_mb(key))} | "
                       f"{fmt_mb(rss_mb((base, 'tar', 'rootfsforge')))} |")
        out.append("")

    out += ["## Every variant", "",
            "| image | group | variant | n | median | min | max | median user+sys | peak RSS (max) | output bytes |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for key, rows in runs.items():
        walls = [int(r["wall_ms"]) / 1000 for r in rows]
        cpu_s = statistics.median(float(r["user_s"]) + float(r["sys_s"]) for r in rows)
        sizes = sorted({r["bytes"] for r in rows})
        out.append(f"| {key[0]} | {key[1]} | {key[2]} | {len(rows)} | {statistics.median(walls):.2f} s | "
                   f"{min(walls):.2f} s | {max(walls):.2f} s | {cpu_s:.2f} s | {fmt_mb(rss_mb(key))} | "
                   f"{', '.join(sizes)} |")
    out.append("")
    out.append("Ratios are rootfsforge's median wall time over the pipeline's. CPU is (user+sys)/wall: 2.0 means both "
               "cores busy. Pipeline CPU counts its processes only, not the kernel's loop worker threads.")

    text = "\n".join(out) + "\n"
    with open(out_path, "w") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main(*sys.argv[1:4])
