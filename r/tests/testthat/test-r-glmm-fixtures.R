# The models of the R glmm 1.4.5 fixtures (../shared/fixtures, fitted by R glmm at m = 1000,
# seed 1234), called the R glmm way: R's model.matrix gives the parameters and random effects
# R glmm had, in its order; the fit equals the CLI's bit for bit; where R glmm's own fit is
# trustworthy (BoothHobert: its importance weights are healthy) our estimates agree with it
# within the two fits' Monte Carlo error.

fit_fixture_model <- function(fx, m = 1000, ...) {
  d <- read_dataset(fx$dataset)
  glmm(stats::as.formula(fx$model$fixed), random = lapply(fx$model$random, stats::as.formula),
       varcomps.names = fx$model$varcomps_names, data = d,
       family.glmm = paste0(fx$model$family, ".glmm"), m = m, ...)
}

cli_fixture_model <- function(fx, m = 1000) {
  cli_fit(c("--data", file.path(shared_dir(), "data", paste0(fx$dataset, ".csv")),
            "--fixed", fx$model$fixed, as.vector(rbind("--random", fx$model$random)),
            "--varcomps", paste(fx$model$varcomps_names, collapse = ","),
            "--family", fx$model$family, "--m", m, "--seed", "1234"))
}

for (name in c("BoothHobert", "salamander", "radish2")) {
  test_that(paste(name, "(R glmm fixture model): R glmm's parameters and random effects, the CLI's fit"), {
    fx <- read_fixture(name)
    fit <- suppressWarnings(fit_fixture_model(fx))
    expect_identical(c(names(fit$beta), names(fit$nu)), fx$parameter_names)
    expect_identical(unlist(lapply(fit$mod.mcml$z, colnames), use.names = FALSE),
                     fx$random_effect_names)
    expect_equal(fit$pvec, fx$p)
    cli <- cli_fixture_model(fx)
    # (JSON maps are keyed by name; the CLI's parameter_names give the order)
    expect_identical(cli$parameter_names, fx$parameter_names)
    cli_est <- c(unlist(cli$coefficients), unlist(cli$varcomps))[cli$parameter_names]
    expect_identical(c(fit$beta, fit$nu), cli_est)
    expect_identical(fit$loglik, cli$loglik)
    expect_identical(fit$nobs, cli$n)
  })
}

test_that("BoothHobert: estimates agree with R glmm's within the Monte Carlo error of both", {
  fx <- read_fixture("BoothHobert")
  fit <- fit_fixture_model(fx, m = 10^4)
  ours <- c(fit$beta, fit$nu)
  r <- c(fx$mcmle$beta, fx$mcmle$nu)
  tol <- 3 * sqrt(fit$mcse^2 + fx$mcse^2)
  expect_true(all(abs(ours - r) < tol), info = paste(format(ours - r), collapse = " "))
  # PQL start (SPEC section 3) as R glmm's pql(): beta within 0.05, nu within 10 %
  # (the tolerances of the Rust fixture test, tests/r_glmm_fixtures.rs).
  expect_lt(max(abs(fit$beta.pql - fx$pql$beta)), 0.05)
  expect_lt(abs(fit$nu.pql - fx$pql$nu) / fx$pql$nu, 0.10)
  # issue 16.4: u.pql is R glmm's u.pql, the PQL random effects u* = A* s*, in R glmm's order
  expect_identical(names(fit$u.pql), fx$random_effect_names)
  expect_lt(max(abs(fit$u.pql - fx$pql$u_star)), 0.05)
})

test_that("radish2 (poisson): loglik adds the data constant -sum(log(y!)) to R glmm's value", {
  fx <- read_fixture("radish2")
  fit <- suppressWarnings(fit_fixture_model(fx))
  expect_equal(fit$loglik - fit$loglike.value, -sum(lgamma(fit$y + 1)), tolerance = 1e-9)
  expect_equal(as.numeric(logLik(fit)), fit$loglik)
})
