# Issue 18.1-18.3: random effects spelled the ways R users spell them -- integer IDs from
# read.csv, `~ Female` with an intercept, lme4's (1 | g) -- either fit the intended model or are
# refused with the command line's rule and a message naming the fix.

sim <- simulate_groups(groups = 10, per = 12)
# a second, crossed grouping factor with a real effect
set.seed(7)
sim$h <- factor(rep(c("p", "q", "r", "s"), length.out = nrow(sim)))
sim$y <- stats::rbinom(nrow(sim), 1, stats::plogis(sim$x + stats::rnorm(10)[sim$g] +
                                                   stats::rnorm(4, 0, 1.5)[sim$h]))
sim$id <- as.integer(sim$g)  # what read.csv gives for a numerically coded grouping column

test_that("an integer grouping column in a random formula is an error naming it and factor()", {
  err <- tryCatch(glmm(y ~ x, random = list(~ 0 + id), varcomps.names = "g", data = sim,
                       family.glmm = bernoulli.glmm, m = 200),
                  mcla_error = function(e) e)
  expect_s3_class(err, "mcla_error")
  msg <- conditionMessage(err)
  expect_match(msg, "numeric column 'id'", fixed = TRUE)
  expect_match(msg, "factor(id)", fixed = TRUE)
  expect_match(msg, "10 distinct values from 1 to 10", fixed = TRUE)
  # the fix fits the model of one effect per level
  ok <- glmm(y ~ x, random = list(~ 0 + factor(id)), varcomps.names = "g", data = sim,
             family.glmm = bernoulli.glmm, m = 200)
  ref <- glmm(y ~ x, random = list(~ 0 + g), varcomps.names = "g", data = sim,
              family.glmm = bernoulli.glmm, m = 200)
  expect_identical(ok$beta, ref$beta)
  # a deliberate slope on the values is written I(id)
  expect_no_error(suppressWarnings(glmm(y ~ x, random = list(~ 0 + I(id)), varcomps.names = "s",
                                        data = sim, family.glmm = bernoulli.glmm, m = 200)))
})

test_that("a non-integer numeric random slope gives the CLI's warning, before the fit's own", {
  res <- collect_warnings(glmm(y ~ x, random = list(~ 0 + x), varcomps.names = "s", data = sim,
                               family.glmm = bernoulli.glmm, m = 200))
  expect_match(res$warnings[1], "gives numeric column 'x': one random slope on the values",
               fixed = TRUE)
})

test_that("`~ g` (with an intercept) is refused with the CLI's rule and message", {
  err <- tryCatch(glmm(y ~ x, random = list(~ g), varcomps.names = "g", data = sim,
                       family.glmm = bernoulli.glmm, m = 200),
                  mcla_error = function(e) conditionMessage(e))
  expect_match(err, "the random-effect formula '~g' has an intercept", fixed = TRUE)
  expect_match(err, "write '~ 0 + g'", fixed = TRUE)
  expect_error(glmm(y ~ x, random = list(~ 1 + g), varcomps.names = "g", data = sim,
                    family.glmm = bernoulli.glmm, m = 200), "has an intercept", class = "mcla_error")
  # the command line's message for the same formula, word for word
  path <- tempfile(fileext = ".csv")
  on.exit(unlink(path))
  utils::write.csv(sim[c("y", "x", "g")], path, row.names = FALSE)
  out <- suppressWarnings(system2(cli_path(), shQuote(c("fit", "--data", path, "--fixed", "y ~ x",
                                                       "--random", "~g", "--quiet")),
                                  stdout = TRUE, stderr = TRUE))
  expect_true(any(grepl(err, out, fixed = TRUE)), info = paste(out, collapse = "\n"))
})

test_that("lme4-style (1 | g) terms fit the model of random = list(~ 0 + g)", {
  a <- glmm(y ~ x + (1 | g) + (1 | h), data = sim, family.glmm = bernoulli.glmm, m = 300)
  b <- glmm(y ~ x, random = list(~ 0 + g, ~ 0 + h), varcomps.names = c("g", "h"), data = sim,
            family.glmm = bernoulli.glmm, m = 300)
  expect_identical(a$beta, b$beta)
  expect_identical(a$nu, b$nu)
  expect_named(a$nu, c("g", "h"))
  # names may still be given; nested terms expand as the CLI's --formula does
  n <- glmm(y ~ x + (1 | h/g), varcomps.names = c("H", "HG"), data = sim,
            family.glmm = bernoulli.glmm, m = 300)
  expect_named(n$nu, c("H", "HG"))
  expect_identical(colnames(n$z[[2]])[1], "hp:g1")
})

test_that("lme4-style terms with random, or correlated terms, are refused saying how", {
  expect_error(glmm(y ~ x + (1 | g), random = ~ 0 + g, varcomps.names = "g", data = sim,
                    family.glmm = bernoulli.glmm, m = 200),
               "either as (1 | g) terms in the formula or as random", fixed = TRUE,
               class = "mcla_error")
  expect_error(glmm(y ~ x + (x | g), data = sim, family.glmm = bernoulli.glmm, m = 200),
               "correlated random effects are not supported; write (1 | g) + (0 + x | g)",
               fixed = TRUE, class = "mcla_error")
})
