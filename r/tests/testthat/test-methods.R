# Every S3 method on a fit of simulated data (no reference data needed).

sim <- simulate_groups()
fit <- glmm(y ~ x, random = list(~ 0 + g), varcomps.names = "g", data = sim,
            family.glmm = bernoulli.glmm, m = 2000)
pn <- c("(Intercept)", "x", "g")

test_that("the result has class c('mcla', 'glmm') and R glmm's fields", {
  expect_s3_class(fit, c("mcla", "glmm"), exact = TRUE)
  for (f in c("beta", "nu", "loglike.value", "loglike.gradient", "loglike.hessian",
              "trust.converged", "mod.mcml", "fixedcall", "randcall", "x", "y", "z", "weights",
              "family.glmm", "call", "varcomps.names", "varcomps.equal", "pvec", "beta.pql",
              "nu.pql", "zeta", "cores", "debug")) {
    expect_true(f %in% names(fit), info = f)
  }
  for (f in c("m", "seed", "sampler", "threads", "ess", "loglik", "loglik.mcse", "timings",
              "se", "mcse", "vcov", "mcvcov", "blocks", "warnings", "nobs")) {
    expect_true(f %in% names(fit), info = f)
  }
  expect_identical(fit$x, stats::model.matrix(y ~ x, data = sim))
  expect_equal(unname(fit$y), sim$y)
  expect_identical(fit$z[[1]], stats::model.matrix(~ 0 + g, data = sim))
  expect_identical(fit$mod.mcml$z$g, fit$z[[1]][, , drop = FALSE])
  expect_identical(fit$family.glmm$family.glmm, "bernoulli.glmm")
  expect_identical(fit$m, 2048) # m = 2000 asked, rounded up to whole Sobol' prefixes
  expect_identical(dim(fit$loglike.hessian), c(3L, 3L))
  expect_true(fit$trust.converged)
  expect_lt(max(abs(fit$loglike.gradient)), 1e-4)
  expect_named(fit$timings, c("start", "sampling", "optimisation", "mcse", "total"))
  expect_length(fit$ess, nlevels(sim$g))  # one likelihood block per group
})

test_that("coef, varcomps: the estimates, named as R glmm names them", {
  expect_identical(coef(fit), fit$beta)
  expect_named(coef(fit), c("(Intercept)", "x"))
  expect_identical(varcomps(fit), fit$nu)
  expect_named(varcomps(fit), "g")
  expect_gt(varcomps(fit), 0)
})

test_that("vcov is the inverse of the negative Hessian; se its root diagonal", {
  v <- vcov(fit)
  expect_identical(dimnames(v), list(pn, pn))
  expect_equal(v, solve(-fit$loglike.hessian), tolerance = 1e-8)
  expect_equal(se(fit), stats::setNames(sqrt(diag(v)), pn), tolerance = 1e-12)
  expect_true(all(se(fit) > 0))
})

test_that("mcse and mcvcov: Monte Carlo errors, small beside the standard errors", {
  mv <- mcvcov(fit)
  expect_identical(dimnames(mv), list(pn, pn))
  expect_equal(mcse(fit), stats::setNames(sqrt(diag(mv)), pn), tolerance = 1e-12)
  expect_true(all(mcse(fit) >= 0 & mcse(fit) < se(fit)))
})

test_that("confint: Wald intervals with R glmm's interface", {
  ci <- confint(fit)
  expect_identical(dimnames(ci), list(pn, c("0.025", "0.975")))
  est <- c(coef(fit), varcomps(fit))
  expect_equal(ci[, 1], est - stats::qnorm(0.975) * se(fit), tolerance = 1e-12)
  expect_equal(ci[, 2], est + stats::qnorm(0.975) * se(fit), tolerance = 1e-12)
  ci90 <- confint(fit, "x", level = 0.9)
  expect_identical(dimnames(ci90), list("x", c("0.05", "0.95")))
  expect_equal(unname(ci90[1, 2] - ci90[1, 1]), unname(2 * stats::qnorm(0.95) * se(fit)["x"]))
  expect_identical(confint(fit, 2:3), ci[2:3, , drop = FALSE])
  expect_error(confint(fit, "nope"), "unknown parameter")
  expect_error(confint(fit, 7), "between 1 and 3")
  expect_error(confint(fit, level = 1.5), "strictly between 0 and 1")
  expect_error(confint(fit, method = "profile"), "not available")
})

test_that("logLik is a logLik object (df, nobs), so AIC and BIC work", {
  ll <- logLik(fit)
  expect_s3_class(ll, "logLik")
  expect_identical(attr(ll, "df"), 3L)
  expect_identical(attr(ll, "nobs"), nrow(sim))
  expect_identical(as.numeric(ll), fit$loglik)
  expect_identical(attr(ll, "mcse"), fit$loglik.mcse)
  # bernoulli: the data constant is 0, so R glmm's value equals the true log-likelihood
  expect_identical(fit$loglik, fit$loglike.value)
  expect_equal(AIC(fit), -2 * fit$loglik + 2 * 3)
  expect_equal(BIC(fit), -2 * fit$loglik + log(nrow(sim)) * 3)
  expect_identical(nobs(fit), nrow(sim))
})

test_that("fitted and residuals: population level (random effects at 0)", {
  eta <- unname(drop(fit$x %*% coef(fit)))
  expect_equal(unname(fitted(fit, type = "link")), eta, tolerance = 1e-12)
  expect_equal(unname(fitted(fit)), stats::plogis(eta), tolerance = 1e-12)
  expect_equal(unname(residuals(fit)), sim$y - stats::plogis(eta), tolerance = 1e-12)
  mu <- stats::plogis(eta)
  expect_equal(unname(residuals(fit, type = "pearson")), (sim$y - mu) / sqrt(mu * (1 - mu)),
               tolerance = 1e-12)
  pois <- glmm(count ~ x, random = ~ 0 + g, varcomps.names = "g", data = sim,
               family.glmm = poisson.glmm, m = 1000)
  mu <- exp(unname(drop(pois$x %*% coef(pois))))
  expect_equal(unname(fitted(pois)), mu, tolerance = 1e-12)
  expect_equal(unname(residuals(pois, "pearson")), (sim$count - mu) / sqrt(mu), tolerance = 1e-12)
  bin <- glmm(cbind(s, n - s) ~ x, random = ~ 0 + g, varcomps.names = "g", data = sim,
              family.glmm = binomial.glmm, m = 1000)
  p <- stats::plogis(unname(drop(bin$x %*% coef(bin))))
  expect_equal(unname(fitted(bin)), sim$n * p, tolerance = 1e-12)
  expect_identical(unname(bin$y), as.numeric(sim$s))
  expect_identical(unname(bin$mod.mcml$ntrials), as.numeric(sim$n))
  expect_equal(bin$loglik - bin$loglike.value, sum(lchoose(sim$n, sim$s)), tolerance = 1e-9)
})

test_that("print shows the call, estimates and log-likelihood", {
  out <- capture.output(print(fit))
  expect_true(any(grepl("glmm(fixed = y ~ x", out, fixed = TRUE)))
  expect_true(any(grepl("Fixed effects:", out)))
  expect_true(any(grepl("Variance components:", out)))
  expect_true(any(grepl(sprintf("Log-likelihood: %s", format(fit$loglik, digits = 7)), out, fixed = TRUE)))
  # issue 18.7: one likelihood block per group, each integrated exactly: no m to speak of
  expect_true(all(fit$blocks$draws == 0))
  expect_true(any(grepl("exact, no draws", out, fixed = TRUE)))
  expect_false(any(grepl("per sampled block", out, fixed = TRUE)))
})

test_that("summary is laid out as R glmm's, plus the Monte Carlo section", {
  s <- summary(fit)
  expect_s3_class(s, c("summary.mcla", "summary.glmm"), exact = TRUE)
  expect_identical(colnames(s$coefmat), c("Estimate", "Std. Error", "z value", "Pr(>|z|)"))
  expect_identical(colnames(s$nucoefmat), c("Estimate", "Std. Error", "z value", "Pr(>|z|)/2"))
  expect_identical(rownames(s$coefmat), c("(Intercept)", "x"))
  # z values from the unrounded estimates, p-values as R glmm's
  z <- coef(fit) / se(fit)[1:2]
  expect_equal(s$coefmat[, "z value"], z, tolerance = 1e-12)
  # (the library's normal tail, statrs' erfc, agrees with R's pnorm to about 1e-10)
  expect_equal(s$coefmat[, "Pr(>|z|)"], 2 * stats::pnorm(-abs(z)), tolerance = 1e-8)
  znu <- varcomps(fit) / se(fit)[3]
  expect_equal(unname(s$nucoefmat[, "Pr(>|z|)/2"]), unname(stats::pnorm(-abs(znu))), tolerance = 1e-8)
  # estimates rounded at the first significant digit of their MCSE
  d <- -floor(log10(mcse(fit)[1]))
  expect_identical(unname(s$coefmat[1, "Estimate"]), round(unname(coef(fit)[1]), d))
  out <- capture.output(print(s))
  # the library's text report (one likelihood block per group, each integrated exactly)
  for (line in c("Call:", "glmm(fixed = y ~ x", "Link is: \"logit (log odds)\"", "Fixed Effects:",
                 "Variance Components for Random Effects (P-values are one-tailed):",
                 "Monte Carlo error: none. Every block (12) is integrated exactly",
                 "Wald 95% confidence intervals:", "Log-likelihood:", "Converged: yes", "Elapsed:")) {
    expect_true(any(grepl(line, out, fixed = TRUE)), info = line)
  }
})

test_that("methods refuse objects that are not mcla fits", {
  expect_error(mcse(list()), "needs a fit returned by mcla::glmm")
  expect_error(se(1), "needs a fit returned by mcla::glmm")
  expect_error(varcomps(lm(y ~ x, data = sim)), "needs a fit returned by mcla::glmm")
  expect_error(mcvcov(NULL), "needs a fit returned by mcla::glmm")
})

test_that("debug = TRUE returns the optimiser path as R glmm's debug list", {
  dfit <- glmm(y ~ x, random = list(~ 0 + g), varcomps.names = "g", data = sim,
               family.glmm = bernoulli.glmm, m = 2000, debug = TRUE)
  dbg <- dfit$debug
  expect_identical(dbg$beta.pql, fit$beta.pql)
  expect_identical(ncol(dbg$trust.argpath), 3L)
  expect_identical(nrow(dbg$trust.argpath), length(dbg$trust.valpath))
  # the path ends at the estimate, where the objective is R glmm's loglike.value
  last <- nrow(dbg$trust.argpath)
  expect_identical(unname(dbg$trust.argpath[last, ]), unname(c(dfit$beta, dfit$nu)))
  expect_identical(dbg$trust.valpath[last], dfit$loglike.value)
  expect_identical(dfit$beta, fit$beta)
  expect_false(fit$debug)
})

test_that("u.pql: the PQL random effects of the start, one per column of Z; umat NULL", {
  expect_identical(names(fit$u.pql), colnames(fit$z[[1]]))
  expect_true(all(is.finite(fit$u.pql)) && any(fit$u.pql != 0))
  # PQL's predictions and the MCMLE's order the groups alike (both shrink their log odds)
  expect_gt(stats::cor(fit$u.pql, ranef(fit)$g[[1]]), 0.9)
  expect_null(fit$umat)
  nopql <- glmm(y ~ x, random = list(~ 0 + g), varcomps.names = "g", data = sim,
                family.glmm = bernoulli.glmm, m = 2000, doPQL = FALSE)
  expect_null(nopql$u.pql)
})
