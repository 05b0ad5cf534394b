# Library errors arrive as ordinary R errors raised by glmm() after the Rust call has returned
# (class "mcla_error", with the library's message in R's words); a panic in Rust never crashes
# R; the fit's warnings arrive as R warnings (class "mcla_warning").

sim <- simulate_groups()

test_that("a model error of the library is an R error naming the problem", {
  sim$x2 <- 2 * sim$x
  err <- tryCatch(glmm(y ~ x + x2, random = ~ 0 + g, varcomps.names = "g", data = sim,
                       family.glmm = bernoulli.glmm, m = 500), error = function(e) e)
  expect_s3_class(err, "mcla_error")
  expect_identical(err$stage, "model")
  expect_match(conditionMessage(err), "rank deficient", fixed = TRUE)
  expect_match(conditionMessage(err), "x2", fixed = TRUE)
  expect_identical(conditionCall(err)[[1]], as.name("glmm"))
})

test_that("a fit error of the library is an R error worded with R's arguments", {
  err <- tryCatch(glmm(y ~ x, random = ~ 0 + g, varcomps.names = "g", data = sim,
                       family.glmm = bernoulli.glmm, m = 1e13, sampler = "factorised"),
                  error = function(e) e)
  expect_s3_class(err, "mcla_error")
  expect_identical(err$stage, "fit")
  expect_match(conditionMessage(err), "use low.memory = TRUE", fixed = TRUE)
  expect_false(grepl("--", conditionMessage(err), fixed = TRUE))
})

test_that("a panic inside Rust becomes an R error, and R carries on", {
  err <- tryCatch(mcla:::panic_test(), error = function(e) e)
  expect_s3_class(err, "mcla_error")
  expect_identical(err$stage, "panic")
  expect_match(conditionMessage(err), "deliberate test panic", fixed = TRUE)
  fit <- glmm(y ~ x, random = ~ 0 + g, varcomps.names = "g", data = sim,
              family.glmm = bernoulli.glmm, m = 500)
  expect_true(fit$trust.converged)
})

test_that("low effective sample size is an R warning", {
  r <- collect_warnings(glmm(y ~ x, random = ~ 0 + g, varcomps.names = "g", data = sim,
                             family.glmm = bernoulli.glmm, m = 50, sampler = "factorised"))
  hit <- grepl("effective sample size below 100", r$warnings, fixed = TRUE)
  expect_true(any(hit))
  expect_true(all(vapply(r$classes, function(k) "mcla_warning" %in% k, TRUE)))
  expect_identical(r$value$warnings, r$warnings)
})

test_that("non-convergence is an R warning with a ready-made par.init", {
  w <- NULL
  fit <- withCallingHandlers(
    glmm(y ~ x, random = ~ 0 + g, varcomps.names = "g", data = sim,
         family.glmm = bernoulli.glmm, m = 2000, iterlim = 1),
    warning = function(cond) {
      w <<- c(w, conditionMessage(cond))
      invokeRestart("muffleWarning")
    })
  expect_false(fit$trust.converged)
  msg <- grep("did NOT converge", w, value = TRUE)
  expect_length(msg, 1)
  expect_match(msg, "par.init = c(", fixed = TRUE)
  expect_false(grepl("--", msg, fixed = TRUE))
  # the suggested restart parses as R and is the current estimate
  restart <- eval(parse(text = regmatches(msg, regexpr("c\\([^)]*\\)", msg))))
  expect_equal(restart, unname(c(fit$beta, fit$nu)), tolerance = 1e-5)
  out <- capture.output(print(summary(fit)))
  # the library's report, in R's words: the restart as par.init = c(...) and m
  expect_true(any(grepl("WARNING: THE OPTIMISER DID NOT CONVERGE", out, fixed = TRUE)))
  expect_true(any(grepl("par.init = c(", out, fixed = TRUE)))
  expect_false(any(grepl("--par-init", out, fixed = TRUE)))
})

test_that("a variance component on the boundary is an R warning (murder data, R glmm's example)", {
  murder <- read_dataset("murder")
  r <- collect_warnings(glmm(y ~ race, random = list(~ 0 + black, ~ 0 + white),
                             varcomps.names = c("black", "white"), data = murder,
                             family.glmm = poisson.glmm, m = 10^3))
  expect_true(any(grepl("essentially zero", r$warnings, fixed = TRUE)))
  expect_true(any(r$value$nu < 1e-4))
})
