# lme4's parametric bootstrap (bootMer) on the models of examples/bench_bootstrap.rs, for
# BENCHMARKS.md: wall time of nsim refits (one core, parallel = "no") and the bootstrap SDs.
# Usage: Rscript examples/bootmer.R [nsim] [path to ../shared/data]
args <- commandArgs(trailingOnly = TRUE)
nsim <- if (length(args) >= 1) as.integer(args[[1]]) else 1000L
data_dir <- if (length(args) >= 2) args[[2]] else file.path("..", "shared", "data")
suppressMessages(library(lme4))
stat <- function(f) c(fixef(f), unlist(VarCorr(f)))
run <- function(name, model) {
  set.seed(1)
  t <- system.time(b <- bootMer(model, stat, nsim = nsim, parallel = "no"))
  cat(sprintf("%s: bootMer nsim = %d: %.1f s elapsed (%.1f s user)\n", name, nsim,
              t[["elapsed"]], t[["user.self"]]))
  print(rbind(estimate = stat(model), boot.sd = apply(b$t, 2, sd, na.rm = TRUE)))
}
bh <- read.csv(file.path(data_dir, "BoothHobert.csv")); bh$z1 <- factor(bh$z1)
run("BoothHobert (glmer nAGQ = 25)",
    glmer(y ~ 0 + x1 + (1 | z1), data = bh, family = binomial, nAGQ = 25))
sal <- read.csv(file.path(data_dir, "salamander.csv"))
sal$Female <- factor(sal$Female); sal$Male <- factor(sal$Male)
run("salamander (glmer Laplace)",
    glmer(Mate ~ 0 + Cross + (1 | Female) + (1 | Male), data = sal, family = binomial))
