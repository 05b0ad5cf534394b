#!/bin/sh
# Issue 14 benchmarks: whole processes, one default fit (automatic m) per design on 1 and on 2
# threads, and lme4 glmer (Laplace) on the same data in the same run (where R with lme4 is
# present).
#   sh benches/issue14.sh            (from the repository root; builds the bench binary)
#   B=/path/to/other/bench_adaptive sh benches/issue14.sh   (another build, e.g. the commit before)
set -e
if [ -z "$B" ]; then
  cargo build --release --example bench_adaptive >/dev/null 2>&1
  B=target/release/examples/bench_adaptive
fi
D=$(mktemp -d)
$B csv "$D"
cp ../shared/data/salamander.csv "$D/"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "| design | m reached | iterations | evaluations at m | start share | stages (iterations, evaluations, model Hessians, share of the fit) | ESS / m | max MCSE/SE | loglik MCSE | fit wall (s) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for t in 1 2; do
  for d in verbagg300x24 crossed1000x200 crossed100x50 salamander; do
    /usr/bin/time -f "$d, $t thread(s), process: wall %e s, user %U s, sys %S s" $B one $d $t 2>>"$D/times"
  done
done
cat "$D/times"
if command -v Rscript >/dev/null; then
  cat > "$D/lme4.R" <<'REOF'
suppressMessages(library(lme4))
args <- commandArgs(TRUE); d <- args[1]; f <- read.csv(file.path(args[2], paste0(d, ".csv")))
form <- switch(d,
  verbagg300x24 = y ~ anger + male + btype + situ + (1 | S) + (1 | I),
  salamander = Mate ~ 0 + Cross + (1 | Female) + (1 | Male),
  y ~ cond + (1 | S) + (1 | I))
t <- system.time(m <- glmer(form, data = f, family = binomial))
cat(sprintf("lme4 %s: glmer elapsed %.2f s (user %.2f), logLik %.3f\n", d, t[["elapsed"]], t[["user.self"]], logLik(m)))
REOF
  for d in verbagg300x24 crossed1000x200 crossed100x50 salamander; do
    /usr/bin/time -f "lme4 $d process: wall %e s, user %U s, sys %S s" Rscript "$D/lme4.R" $d "$D"
  done
fi
rm -rf "$D"
