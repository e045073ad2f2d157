"""Decode-rate table for bench/qr-bent.sh.

Reads DIR/cases.tsv (what each photo holds) and Atelier's TSV (examples/bent.rs `read`: 1 when
the plain or the bent-grid decoder read the exact text), decodes every photo with zxing-cpp
(try_rotate and try_downscale on, as its defaults), and prints one Markdown row per warp and
strength: photos, Atelier before (no bent-grid stage), Atelier after, zxing-cpp; then the
same for the photos with a dark surface one module from the symbol.
"""

import csv
import sys
from collections import defaultdict

import zxingcpp
from PIL import Image


def main(directory: str, atelier_tsv: str) -> None:
    with open(f"{directory}/cases.tsv", newline="") as f:
        cases = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    with open(atelier_tsv, newline="") as f:
        atelier = {r["file"]: r for r in csv.DictReader(f, delimiter="\t")}
    rows = defaultdict(lambda: [0, 0, 0, 0])
    for case in cases:
        image = Image.open(f"{directory}/{case['file']}")
        texts = [
            b.text
            for b in zxingcpp.read_barcodes(
                image, formats=zxingcpp.BarcodeFormat.QRCode, try_rotate=True, try_downscale=True
            )
        ]
        result = atelier[case["file"]]
        for key in [(case["warp"], float(case["strength"]), "all"), (case["warp"], float(case["strength"]), f"{case['surround']} {case['border']}")]:
            row = rows[key]
            row[0] += 1
            row[1] += int(result["plain"])
            row[2] += int(result["bent"])
            row[3] += int(case["text"] in texts)
    order = {"flat": 0, "cylinder": 1, "wave": 2, "crumple": 3}
    for surround, title in [("all", "every photo"), ("paper 4", "paper, 4-module border"), ("dark 1", "dark surface, 1-module border"), ("dark 0.25", "dark surface, quarter-module border")]:
        print(f"\n{title}:\n")
        print("| warp | strength | photos | Atelier before | Atelier after | zxing-cpp |")
        print("|---|---|---|---|---|---|")
        totals = [0, 0, 0, 0]
        keys = sorted(
            (k for k in rows if k[2] == surround),
            key=lambda k: (order[k[0]], -k[1] if k[0] == "cylinder" else k[1]),
        )
        for warp, strength, _ in keys:
            n, before, after, zx = rows[(warp, strength, surround)]
            totals = [a + b for a, b in zip(totals, [n, before, after, zx])]
            pct = lambda x: f"{100 * x / n:.0f}%"
            print(f"| {warp} | {strength:g} | {n} | {pct(before)} | {pct(after)} | {pct(zx)} |")
        n, before, after, zx = totals
        print(f"| **all** | | {n} | {100 * before / n:.1f}% | {100 * after / n:.1f}% | {100 * zx / n:.1f}% |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
