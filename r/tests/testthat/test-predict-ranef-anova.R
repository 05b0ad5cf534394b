# Issue 18.5: predict(), ranef() and anova() with lme4's argument names, every number from the
# library (the fit's predictions and random-effect predictions, compare::anova); checked here
# against hand computations from the fit's own estimates.

sim <- simulate_groups(groups = 10, per = 8)
# a second, crossed grouping factor with a real effect on y2
set.seed(7)
sim$h <- factor(rep(paste0("h", 1:8), length.out = nrow(sim)))
sim$y2 <- stats::rbinom(nrow(sim), 1, stats::plogis(-0.5 + sim$x + stats::rnorm(10)[sim$g] +
                                                     stats::rnorm(8, 0, 1.5)[sim$h]))
fit <- glmm(y ~ x + (1 | g), data = sim, family.glmm = bernoulli.glmm, m = 500)
u <- ranef(fit)$g[["(Intercept)"]]

test_that("ranef(): one data frame per variance component, lme4's shape", {
  re <- ranef(fit)
  expect_named(re, "g")
  expect_identical(rownames(re$g), levels(sim$g))
  expect_identical(names(re$g), "(Intercept)")
  expect_identical(u, fit$ranef$mean)
  expect_identical(dim(attr(re$g, "postVar")), c(1L, 1L, nlevels(sim$g)))
  expect_identical(attr(re$g, "postVar")[1, 1, ], fit$ranef$sd^2)
  expect_true(all(attr(re$g, "mcse") == 0))  # one effect per block: quadrature, exact
  # the predictions shrink toward 0 and follow the groups' raw log odds
  raw <- tapply(sim$y, sim$g, mean)
  expect_gt(stats::cor(u, raw), 0.8)
})

test_that("predict(): link scale with the random effects by default, as lme4", {
  eta <- unname(drop(fit$x %*% fit$beta)) + u[as.integer(sim$g)]
  expect_equal(unname(predict(fit)), eta, tolerance = 1e-12)
  expect_named(predict(fit), rownames(sim))
  expect_equal(unname(predict(fit, type = "response")), stats::plogis(eta), tolerance = 1e-12)
  # population level: re.form = NA or ~0
  xb <- unname(drop(fit$x %*% fit$beta))
  expect_equal(unname(predict(fit, re.form = NA)), xb, tolerance = 1e-12)
  expect_equal(unname(predict(fit, re.form = ~0)), xb, tolerance = 1e-12)
})

test_that("predict(newdata): the fit's terms and levels; new levels as lme4", {
  nd <- data.frame(x = c(0.5, -0.2, 0), g = factor(c("3", "7", "1"), levels = levels(sim$g)))
  eta <- fit$beta[[1]] + fit$beta[[2]] * nd$x + u[c(3, 7, 1)]
  expect_equal(unname(predict(fit, newdata = nd)), eta, tolerance = 1e-12)
  # a character or numeric grouping column works too
  nd$g <- as.character(nd$g)
  expect_equal(unname(predict(fit, newdata = nd)), eta, tolerance = 1e-12)
  nd$g <- as.numeric(nd$g)
  expect_equal(unname(predict(fit, newdata = nd)), eta, tolerance = 1e-12)
  new <- data.frame(x = 0.5, g = "99")
  expect_error(predict(fit, newdata = new), "allow.new.levels = TRUE", class = "mcla_error")
  expect_equal(unname(predict(fit, newdata = new, allow.new.levels = TRUE)),
               fit$beta[[1]] + 0.5 * fit$beta[[2]], tolerance = 1e-12)
  # a missing grouping value: random effect 0; a missing covariate: NA
  gap <- data.frame(x = c(0.5, NA), g = c(NA, "3"))
  p <- predict(fit, newdata = gap)
  expect_equal(p[[1]], fit$beta[[1]] + 0.5 * fit$beta[[2]], tolerance = 1e-12)
  expect_true(is.na(p[[2]]))
  expect_error(predict(fit, newdata = data.frame(x = 1)), "re.form = NA", class = "mcla_error")
  expect_equal(unname(predict(fit, newdata = data.frame(x = 1), re.form = NA)), sum(fit$beta),
               tolerance = 1e-12)
  expect_error(predict(fit, re.form = ~ (1 | g)), "re.form must be NULL", class = "mcla_error")
})

test_that("predict(se.fit = TRUE): delta-method SEs from vcov (beta block), MCSEs from mcvcov", {
  nd <- data.frame(x = c(0.5, -1), g = "2")
  p <- predict(fit, newdata = nd, se.fit = TRUE)
  X <- cbind(1, nd$x)
  V <- vcov(fit)[1:2, 1:2]
  expect_equal(unname(p$se.fit), sqrt(rowSums((X %*% V) * X)), tolerance = 1e-10)
  expect_true(all(p$mcse >= 0))
  expect_true(all(p$conf.low < p$fit & p$fit < p$conf.high))
  r <- predict(fit, newdata = nd, type = "response", se.fit = TRUE)
  expect_equal(unname(r$se.fit), unname(p$se.fit * stats::dlogis(p$fit)), tolerance = 1e-10)
})

test_that("anova(fit0, fit1): the likelihood-ratio test with the boundary mixture", {
  fit1 <- glmm(y2 ~ x + (1 | g), data = sim, family.glmm = bernoulli.glmm, m = 500)
  fit2 <- glmm(y2 ~ x + (1 | g) + (1 | h), data = sim, family.glmm = bernoulli.glmm, m = 500)
  a <- anova(fit1, fit2)
  expect_s3_class(a, "anova")
  expect_identical(rownames(a), c("fit1", "fit2"))
  expect_identical(a$npar, c(3, 4))
  expect_identical(a$logLik, c(fit1$loglik, fit2$loglik))
  chisq <- 2 * (fit2$loglik - fit1$loglik)
  expect_gt(chisq, 4)
  expect_equal(a$Chisq[2], chisq, tolerance = 1e-12)
  expect_equal(a[["Chisq MCSE"]][2], 2 * sqrt(fit1$loglik.mcse^2 + fit2$loglik.mcse^2),
               tolerance = 1e-12)
  # one variance on the boundary under H0: 50:50 mixture of chi-square(0) and chi-square(1)
  expect_equal(a[["Pr(>Chisq)"]][2], 0.5 * stats::pchisq(chisq, 1, lower.tail = FALSE),
               tolerance = 1e-8)
  expect_equal(a$AIC, -2 * a$logLik + 2 * a$npar, tolerance = 1e-12)
  expect_true(is.na(a$Chisq[1]) && !is.nan(a$Chisq[1]))
  expect_true(any(grepl("Self & Liang", attr(a, "heading"))))
  # the order of the arguments does not matter (sorted by npar, as lme4)
  expect_identical(rownames(anova(fit2, fit1)), c("fit1", "fit2"))
})

test_that("anova() refuses one fit, other objects, and fits to different rows", {
  expect_error(anova(fit), "compare nested fits")
  expect_error(anova(fit, stats::glm(y ~ x, binomial, sim)), "is not a fit of mcla::glmm")
  holes <- sim
  holes$x[1] <- NA
  fewer <- suppressMessages(glmm(y ~ x + (1 | g), data = holes, family.glmm = bernoulli.glmm,
                                 m = 500))
  expect_error(anova(fit, fewer), "fitted to different data", class = "mcla_error")
})

test_that("a fit restored from a file keeps ranef and anova; predict says to refit", {
  path <- tempfile(fileext = ".rds")
  on.exit(unlink(path))
  saveRDS(fit, path)
  back <- readRDS(path)
  expect_identical(ranef(back), ranef(fit))
  expect_identical(anova(back, fit)$logLik, c(fit$loglik, fit$loglik))
  expect_error(predict(back), "restored from a file", class = "mcla_error")
})

test_that("lme4's ranef() (nlme's generic) dispatches to mcla fits", {
  skip_if_not_installed("nlme")
  expect_identical(nlme::ranef(fit), ranef(fit))
})
