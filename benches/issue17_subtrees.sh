#!/usr/bin/env bash
# Issue 17, subtrees given a sampled separator: a subjects x items x trials bernoulli design
# (random subject, item and subject:item effects), fitted by lme4's glmer (Laplace) and by
# `mcla fit` with the default split (subjects and items sampled, cells integrated in 1-D) and
# with --subtrees (items sampled, each subject and its cells integrated by the nested
# recursion), at automatic m and at m = 256, in the same run.
# Usage: benches/issue17_subtrees.sh [OUTDIR]  (needs R with lme4 for the lme4 line; release build)
set -euo pipefail
out=${1:-/tmp/issue17_subtrees}
mkdir -p "$out"
bin=${MCLA:-target/release/mcla}
python3 - "$out" <<'PY'
import math, random, sys
random.seed(17)
ns, ni, reps = 30, 20, 3
us = [random.gauss(0, math.sqrt(0.8)) for _ in range(ns)]
ui = [random.gauss(0, math.sqrt(0.4)) for _ in range(ni)]
uc = [random.gauss(0, math.sqrt(0.3)) for _ in range(ns * ni)]
with open(f"{sys.argv[1]}/subjects_items.csv", "w") as f:
    f.write("y,subj,item,cell,cond\n")
    for r in range(ns * ni * reps):
        c = r // reps; s = c // ni; i = c % ni
        cond = -0.5 if c % 2 == 0 else 0.5
        eta = -0.3 + 0.6 * cond + us[s] + ui[i] + uc[c]
        y = 1 if random.random() < 1 / (1 + math.exp(-eta)) else 0
        f.write(f"{y},s{s},i{i},c{s}_{i},{cond}\n")
PY
if command -v Rscript >/dev/null; then
Rscript - "$out" <<'R'
args <- commandArgs(TRUE); d <- read.csv(file.path(args[1], "subjects_items.csv"))
suppressMessages(library(lme4))
t <- system.time(g <- glmer(y ~ cond + (1 | subj) + (1 | item) + (1 | cell), family = binomial, data = d))
cat(sprintf("lme4: %.2f s elapsed, logLik %.4f, variances %s\n", t[["elapsed"]], logLik(g),
            paste(sprintf("%.4f", unlist(lapply(VarCorr(g), c))), collapse = " ")))
R
fi
formula="y ~ cond + (1 | subj) + (1 | item) + (1 | cell)"
for variant in "default:" "subtrees:--subtrees"; do
  name=${variant%%:*}; flag=${variant#*:}
  for m in auto 256; do
    /usr/bin/time -f "mcla $name m=$m: %e s elapsed, %M KB peak" "$bin" fit --data "$out/subjects_items.csv" \
      --formula "$formula" --m "$m" $flag --format json > "$out/$name-$m.json"
    python3 - "$out/$name-$m.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
b = j["block_sizes"][0]
print("   ", b["method"], "m", b["draws"], "iterations", j["iterations"], "logLik", round(j["loglik"], 4),
      "MCSE", round(j["loglik_mcse"], 4), "max MCSE/SE",
      round(max(j["mcse"][k] / j["se"][k] for k in j["mcse"]), 4),
      "variances", {k: round(v, 4) for k, v in j["varcomps"].items()})
PY
  done
done
