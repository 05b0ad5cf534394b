# Formulas are evaluated the R way: model.frame / model.matrix build X and Z, so factor(), I(),
# poly(), interactions, contrasts, `.` and NA handling behave as in lm() and R glmm.

sim <- simulate_groups()
sim$f <- factor(rep(c("a", "b", "c"), length.out = nrow(sim)))

test_that("X is R's model.matrix: factor(), I(), poly(), interactions", {
  fixed <- y ~ poly(x, 2) + f * I(x > 0)
  fit <- suppressWarnings(glmm(fixed, random = list(~ 0 + g), varcomps.names = "g", data = sim,
                               family.glmm = bernoulli.glmm, m = 500))
  expect_identical(fit$x, stats::model.matrix(fixed, data = sim))
  expect_identical(names(fit$beta), colnames(stats::model.matrix(fixed, data = sim)))
  expect_true("fb:I(x > 0)TRUE" %in% names(fit$beta))
})

test_that("contrasts follow options(contrasts)", {
  old <- options(contrasts = c("contr.sum", "contr.poly"))
  on.exit(options(old))
  fit <- glmm(y ~ f, random = ~ 0 + g, varcomps.names = "g", data = sim,
              family.glmm = bernoulli.glmm, m = 500)
  expect_identical(names(fit$beta), c("(Intercept)", "f1", "f2"))
  expect_identical(fit$x, stats::model.matrix(y ~ f, data = sim))
})

test_that("random formulas: R glmm's two-sided form, factor() and interactions", {
  a <- glmm(y ~ x, random = list(y ~ 0 + g), varcomps.names = "g", data = sim,
            family.glmm = bernoulli.glmm, m = 500)
  b <- glmm(y ~ x, random = list(~ 0 + g), varcomps.names = "g", data = sim,
            family.glmm = bernoulli.glmm, m = 500)
  expect_identical(a$beta, b$beta)
  sim$gi <- as.integer(sim$g)
  c <- glmm(y ~ x, random = list(~ 0 + factor(gi)), varcomps.names = "g", data = sim,
            family.glmm = bernoulli.glmm, m = 500)
  expect_identical(c$beta, b$beta)
  expect_identical(colnames(c$z[[1]]), paste0("factor(gi)", 1:12))
})

test_that("rows with missing values are dropped once, for every part of the model", {
  holes <- sim
  holes$x[3] <- NA
  holes$g[10] <- NA
  expect_message(
    fit <- glmm(y ~ x, random = ~ 0 + g, varcomps.names = "g", data = holes,
                family.glmm = bernoulli.glmm, m = 500),
    "2 rows with missing values in the model's variables dropped (118 used)", fixed = TRUE)
  complete <- glmm(y ~ x, random = ~ 0 + g, varcomps.names = "g", data = sim[-c(3, 10), ],
                   family.glmm = bernoulli.glmm, m = 500)
  expect_identical(fit$beta, complete$beta)
  expect_identical(fit$nu, complete$nu)
  expect_identical(nobs(fit), 118L)
  expect_identical(as.integer(fit$na.action), c(3L, 10L))
  expect_identical(names(fitted(fit)), rownames(sim)[-c(3, 10)])
  # a variable the model does not use may have missing values
  sim$unused <- NA
  expect_silent(glmm(y ~ x, random = ~ 0 + g, varcomps.names = "g", data = sim,
                     family.glmm = bernoulli.glmm, m = 500))
})

test_that("`.` and variables from the calling environment work as in lm()", {
  d <- sim[, c("y", "x")]
  d$g <- sim$g
  a <- glmm(y ~ . - g, random = ~ 0 + g, varcomps.names = "g", data = d,
            family.glmm = bernoulli.glmm, m = 500)
  expect_identical(names(a$beta), c("(Intercept)", "x"))
  yy <- sim$y
  xx <- sim$x
  gg <- sim$g
  b <- glmm(yy ~ xx, random = ~ 0 + gg, varcomps.names = "g", family.glmm = bernoulli.glmm,
            m = 500)
  expect_identical(unname(a$beta), unname(b$beta))
})
