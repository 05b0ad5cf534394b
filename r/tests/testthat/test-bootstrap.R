# bootstrap() and power() on an mcla fit: the engine's replicates through R (same bits for any
# number of threads, the CLI's numbers), intervals, and argument checks.

bh_fit <- function() {
  glmm(y ~ 0 + x1, list(y ~ 0 + z1), varcomps.names = "z1", data = read_dataset("BoothHobert"),
       family.glmm = bernoulli.glmm, m = 1000, seed = 3)
}

test_that("bootstrap() returns the replicates and statistics, identical for 1 and 2 threads", {
  fit <- bh_fit()
  b1 <- bootstrap(fit, nsim = 40, seed = 11, threads = 1)
  b2 <- bootstrap(fit, nsim = 40, seed = 11, threads = 2)
  expect_s3_class(b1, "mcla_bootstrap")
  expect_identical(b1$t, b2$t)
  expect_identical(b1$replicates, b2$replicates)
  expect_equal(dim(b1$t), c(40L, 2L))
  expect_identical(colnames(b1$t), c("x1", "z1"))
  # the library refitted the very same fit
  expect_identical(unname(b1$t0), unname(c(fit$beta, fit$nu)))
  expect_equal(b1$used, 40L)
  # the statistics are those of the replicates (R's own sd and quantile(type = 7))
  expect_equal(b1$table["x1", "boot.se"], sd(b1$t[, "x1"]), tolerance = 1e-12)
  q <- quantile(b1$t[, "x1"], c(0.025, 0.975), names = FALSE)
  expect_equal(unname(confint(b1)["x1", ]), q, tolerance = 1e-12)
  expect_equal(unname(confint(b1, type = "basic")["x1", ]), 2 * fit$beta[["x1"]] - rev(q),
               tolerance = 1e-12)
  expect_equal(b1$table["z1", "boundary.share"], mean(b1$t[, "z1"] < 1e-4))
  expect_true(is.na(b1$table["x1", "boundary.share"]))
  expect_output(print(b1), "Parametric bootstrap of an mcla fit: 40 simulations")
  # another seed, other replicates
  expect_false(identical(bootstrap(fit, nsim = 5, seed = 12)$t, b1$t[1:5, ]))
  expect_identical(bootstrap(fit, nsim = 5, seed = 11)$t, b1$t[1:5, ])
})

test_that("bootstrap() equals mcla bootstrap on the command line", {
  cli <- cli_path()
  fit <- bh_fit()
  b <- bootstrap(fit, nsim = 10, seed = 5)
  data <- file.path(shared_dir(), "data", "BoothHobert.csv")
  out <- tempfile(fileext = ".csv")
  status <- system2(cli, c("bootstrap", "--data", shQuote(data), "--formula",
                           shQuote("y ~ 0 + x1 + (1 | z1)"), "--m", "1000", "--seed", "3",
                           "--boot-seed", "5", "--nsim", "10", "--quiet", "--out", out),
                    stdout = FALSE)
  expect_equal(status, 0)
  csv <- utils::read.csv(out)
  expect_equal(csv$x1, unname(b$t[, "x1"]), tolerance = 1e-12)
  expect_equal(csv$z1, unname(b$t[, "z1"]), tolerance = 1e-12)
})

test_that("power() gives the level at beta = 0 and near 1 for a large effect", {
  d <- simulate_groups(groups = 20, per = 8)
  fit <- glmm(y ~ x, list(~ 0 + g), varcomps.names = "g", data = d,
              family.glmm = bernoulli.glmm, m = 1000)
  p0 <- power(fit, "x", value = 0, nsim = 200, seed = 1)
  expect_s3_class(p0, "mcla_power")
  expect_true(p0$conf.int[["lower"]] <= 0.05 && 0.05 <= p0$conf.int[["upper"]])
  expect_equal(unname(p0$conf.int), unname(binom.test(p0$rejections, p0$used)$conf.int[1:2]),
               tolerance = 1e-8)
  expect_equal(p0$rejections, sum(p0$replicates$reject & p0$replicates$converged))
  p1 <- power(fit, "x", value = 3, nsim = 40, seed = 1, test = "lrt")
  expect_gt(p1$power, 0.9)
  expect_output(print(p1), "Power for x")
  # stats::power() still works
  expect_s3_class(power(0.5), "link-glm")
})

test_that("bootstrap() and power() name bad arguments", {
  fit <- bh_fit()
  expect_error(bootstrap(fit, nsim = 0), "nsim")
  expect_error(bootstrap(fit, nsim = 5, level = 2), "level")
  expect_error(bootstrap(fit, nsim = 5, bogus = 1), "unknown argument: bogus")
  expect_error(power(fit, "x9", nsim = 5), "effect must name one fixed effect of the fit: x1")
  expect_error(power(fit, "x1", nsim = 5, alpha = 0), "alpha")
  expect_error(power(fit, "x1", nsim = 5, nu = -1), "nu must")
  expect_error(confint(bootstrap(fit, nsim = 5), level = 0.9), "rerun bootstrap")
})
