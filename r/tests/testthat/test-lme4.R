# Against lme4 where it is installed: on BoothHobert (one random intercept, so lme4's adaptive
# Gauss-Hermite quadrature with 25 points is the exact likelihood) the MCMLE equals glmer's
# estimates within its Monte Carlo error, and the log-likelihoods agree (both include the data
# constants).

test_that("BoothHobert: mcla's MCMLE equals glmer(nAGQ = 25) within Monte Carlo error", {
  skip_if_not_installed("lme4")
  bh <- read_dataset("BoothHobert")
  fit <- glmm(y ~ 0 + x1, list(y ~ 0 + z1), varcomps.names = "z1", data = bh,
              family.glmm = bernoulli.glmm, m = 10^5)
  gm <- lme4::glmer(y ~ 0 + x1 + (1 | z1), data = bh, family = stats::binomial, nAGQ = 25)
  exact <- c(lme4::fixef(gm), z1 = as.numeric(lme4::VarCorr(gm)$z1))
  ours <- c(fit$beta, fit$nu)
  # ../shared/data/README.md: exact MLE beta = 6.132, nu = 1.766, log-likelihood -44.056
  expect_equal(unname(exact), c(6.132, 1.766), tolerance = 1e-3)
  # (2e-3: glmer's own optimiser tolerance, for estimators whose MCSE is close to 0)
  expect_true(all(abs(ours - exact) < 4 * fit$mcse + 2e-3),
              info = paste("ours - glmer:", paste(format(ours - exact), collapse = ", "),
                           "MCSE:", paste(format(fit$mcse), collapse = ", ")))
  expect_lt(abs(fit$loglik - as.numeric(logLik(gm))), 4 * fit$loglik.mcse + 2e-3)
  # lme4's Wald standard errors are computed differently (Laplace curvature) but close
  expect_equal(unname(fit$se["x1"]), unname(sqrt(diag(as.matrix(vcov(gm))))), tolerance = 0.05)
})
