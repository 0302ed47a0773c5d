#!/usr/bin/python3
"""Builds testdata/gb_lambda/ — a small GenomicBenchmarks-style task from the
bundled lambda phage genome, in all three layouts derfseq reads:

  coords/{train,test}/{left_arm,right_arm}.csv.gz   id,region,start,end,strand (0-based, half-open)
  tree/{train,test}/{left_arm,right_arm}/<id>.txt   one sequence per file, no newline
  table/{train,test}.csv                            sequence,label

Class left_arm: 200-bp windows of [0, 20000) (the head and tail genes); class
right_arm: windows of [28500, 48502) (early/late regulatory and lysis
genes); the arms differ in base composition (GC ~54% vs ~45%), so a small
model learns the task in seconds. One window in four is taken from the
reverse strand. Deterministic: python3 testdata/make_gb.py"""
import gzip
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
COMP = str.maketrans("ACGTacgtNn", "TGCAtgcaNn")


def genome():
    with gzip.open(os.path.join(HERE, "lambda_virus.fa.gz"), "rt") as f:
        lines = f.read().split("\n")
    return lines[0][1:].split()[0], "".join(lines[1:])


def main():
    name, seq = genome()
    rng = random.Random(7)
    arms = {"left_arm": (0, 20000), "right_arm": (28500, len(seq))}
    out = os.path.join(HERE, "gb_lambda")
    rows = {"train": [], "test": []}
    for cls, (lo, hi) in sorted(arms.items()):
        starts = rng.sample(range(lo, hi - 200), 80)
        for k, s in enumerate(starts):
            split = "train" if k < 60 else "test"
            strand = "-" if k % 4 == 3 else "+"
            rows[split].append((cls, f"{cls}_{k}", s, s + 200, strand))
    for split, rs in rows.items():
        for cls in sorted(arms):
            d = os.path.join(out, "coords", split)
            os.makedirs(d, exist_ok=True)
            with gzip.GzipFile(os.path.join(d, f"{cls}.csv.gz"), "wb", mtime=0) as f:
                f.write(b"id,region,start,end,strand\n")
                for c, i, b, e, st in rs:
                    if c == cls:
                        f.write(f"{i},{name},{b},{e},{st}\n".encode())
        table = []
        for c, i, b, e, st in rs:
            s = seq[b:e]
            if st == "-":
                s = s.translate(COMP)[::-1]
            d = os.path.join(out, "tree", split, c)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"{i}.txt"), "w") as f:
                f.write(s)
            table.append(f"{s},{c}")
        os.makedirs(os.path.join(out, "table"), exist_ok=True)
        with open(os.path.join(out, "table", f"{split}.csv"), "w") as f:
            f.write("sequence,label\n" + "\n".join(table) + "\n")
    print(f"{out}: {sum(len(r) for r in rows.values())} windows")


if __name__ == "__main__":
    main()
