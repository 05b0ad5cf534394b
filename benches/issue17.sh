#!/usr/bin/env bash
# Issue 17 benchmarks: nested designs, mcla (exact nested quadrature) against lme4 (Laplace)
# in the same run.  Usage: benches/issue17.sh [OUTDIR]  (needs R with lme4; release build)
set -euo pipefail
out=${1:-/tmp/issue17}
mkdir -p "$out"
bin=${MCLA:-target/release/mcla}
Rscript - "$out" <<'R'
args <- commandArgs(TRUE); out <- args[1]
set.seed(17)
# grouse-ticks shape: 63 locations, 118 broods within locations, 403 individuals (one count each)
nloc <- 63; nbrood <- 118; n <- 403
brood_loc <- c(1:nloc, sample(nloc, nbrood - nloc, replace = TRUE))
ind_brood <- c(1:nbrood, sample(nbrood, n - nbrood, replace = TRUE))
d <- data.frame(INDEX = factor(seq_len(n)), BROOD = factor(ind_brood),
                LOCATION = factor(brood_loc[ind_brood]), YEAR = rnorm(n), HEIGHT = rnorm(n))
eta <- 0.5 + 0.3 * d$YEAR - 0.4 * d$HEIGHT + rnorm(nloc, 0, sqrt(0.6))[brood_loc[ind_brood]] +
  rnorm(nbrood, 0, sqrt(0.4))[ind_brood] + rnorm(n, 0, sqrt(0.3))
d$TICKS <- rpois(n, exp(eta))
write.csv(d, file.path(out, "grouse_like.csv"), row.names = FALSE)
# school / class / pupil: 200 schools x 10 classes x 10 pupils = 20,000 pupils
ns <- 200; nc <- 10; np <- 10
s <- rep(1:ns, each = nc * np); cl <- rep(1:(ns * nc), each = np)
e <- data.frame(school = factor(s), class = factor(cl), x = rnorm(ns * nc * np))
e$pass <- rbinom(nrow(e), 1, plogis(-0.3 + 0.5 * e$x + rnorm(ns, 0, 0.8)[s] + rnorm(ns * nc, 0, 0.5)[cl]))
write.csv(e, file.path(out, "school_class.csv"), row.names = FALSE)
suppressMessages(library(lme4))
t1 <- system.time(g1 <- glmer(TICKS ~ YEAR + HEIGHT + (1 | LOCATION) + (1 | BROOD) + (1 | INDEX),
                              family = poisson, data = d))
t2 <- system.time(g2 <- glmer(pass ~ x + (1 | school) + (1 | class), family = binomial, data = e))
cat(sprintf("lme4 grouse_like: %.2f s elapsed, logLik %.4f, variances %s\n", t1[["elapsed"]],
            logLik(g1), paste(sprintf("%.4f", unlist(lapply(VarCorr(g1), c))), collapse = " ")))
cat(sprintf("lme4 school_class: %.2f s elapsed, logLik %.4f, variances %s\n", t2[["elapsed"]],
            logLik(g2), paste(sprintf("%.4f", unlist(lapply(VarCorr(g2), c))), collapse = " ")))
R
/usr/bin/time -f "mcla grouse_like: %e s elapsed, %M KB peak" "$bin" fit --data "$out/grouse_like.csv" \
  --fixed "TICKS ~ YEAR + HEIGHT" --random "~ 0 + LOCATION" --random "~ 0 + BROOD" \
  --random "~ 0 + INDEX" --varcomps LOCATION,BROOD,INDEX --family poisson --format json > "$out/grouse_like.json"
/usr/bin/time -f "mcla school_class: %e s elapsed, %M KB peak" "$bin" fit --data "$out/school_class.csv" \
  --fixed "pass ~ x" --random "~ 0 + school" --random "~ 0 + class" --varcomps school,class \
  --family bernoulli --format json > "$out/school_class.json"
python3 - "$out" <<'PY'
import json, sys
for name in ["grouse_like", "school_class"]:
    j = json.load(open(f"{sys.argv[1]}/{name}.json"))
    methods = sorted({b["method"] for b in j["block_sizes"]})
    print(f"mcla {name}: logLik {j['loglik']:.4f} (MCSE {j['loglik_mcse']}), variances",
          {k: round(v, 4) for k, v in j["varcomps"].items()}, "blocks", len(j["block_sizes"]),
          methods, "iterations", j["iterations"], "fit", round(j["timings"]["fit"], 2), "s")
PY
