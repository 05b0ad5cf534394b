# Every argument check of R glmm 1.4.5's glmm() (same condition, same message), and mcla's own.
# Errors are R errors of class "mcla_error" raised by glmm() itself.

sim <- simulate_groups(groups = 6, per = 8)
# glmm(fixed = fixed, random = random, ...) evaluated where each name is bound to its value, so
# that error messages show a short call; "<drop>" leaves an argument out.
call_glmm <- function(...) {
  args <- list(fixed = y ~ x, random = list(~ 0 + g), varcomps.names = "g", data = sim,
               family.glmm = bernoulli.glmm, m = 200)
  new <- list(...)
  args[names(new)] <- new
  args <- args[!vapply(args, function(a) identical(a, "<drop>"), TRUE)]
  env <- list2env(args, parent = environment())
  eval(as.call(c(quote(glmm), stats::setNames(lapply(names(args), as.name), names(args)))), env)
}
expect_glmm_error <- function(expr, pattern) {
  expect_error(expr, pattern, fixed = TRUE, class = "mcla_error")
}

test_that("varcomps.names: required, a vector, one name per variance component", {
  expect_glmm_error(call_glmm(varcomps.names = "<drop>"),
                    "Names for the variance components must be supplied through varcomps.names")
  expect_glmm_error(call_glmm(varcomps.names = list("g")), "varcomps.names must be a vector")
  # issue 18.7: without varcomps.equal, a wrong number of names is said in terms of the names
  expect_glmm_error(call_glmm(varcomps.names = c("a", "b")),
                    "varcomps.names has 2 names but random has 1 formula: give one name per random-effects formula")
  expect_glmm_error(call_glmm(varcomps.names = c("a", "b"), varcomps.equal = 1),
                    "You must name each unique variance component. Check varcomps.names and varcomps.equal.")
})

test_that("varcomps.equal: numeric, one per formula, numbered 1, 2, ... consecutively", {
  two <- list(~ 0 + g, ~ 0 + factor(x > 0))
  expect_glmm_error(call_glmm(random = two, varcomps.equal = c("a", "b")),
                    "varcomps.equal must be a vector containing numbers")
  expect_glmm_error(call_glmm(random = two, varcomps.equal = 1),
                    "The length of varcomps.equal must be equal to the length of the random-effects call.")
  expect_glmm_error(call_glmm(random = two, varcomps.equal = c(2, 2)),
                    "must contain numbers starting at 1")
  expect_glmm_error(call_glmm(random = list(~ 0 + g, ~ 0 + factor(x > 0), ~ 0 + factor(x > 0.5)),
                              varcomps.equal = c(1, 3, 3), varcomps.names = c("a", "b")),
                    "The numbers in the vector varcomps.equal must be consecutive.")
  shared <- suppressWarnings(call_glmm(random = two, varcomps.equal = c(1, 1), varcomps.names = "shared"))
  expect_named(shared$nu, "shared")
  expect_identical(ncol(shared$mod.mcml$z$shared), ncol(shared$z[[1]]) + ncol(shared$z[[2]]))
})

test_that("fixed, random, data: formulas and a data frame", {
  expect_glmm_error(call_glmm(fixed = "y ~ x"), "fixed must be a formula")
  expect_glmm_error(call_glmm(random = "~ 0 + g"), "random must be a formula")
  expect_glmm_error(call_glmm(random = list(~ 0 + g, 3)), "random must be a formula")
  expect_glmm_error(call_glmm(data = as.list(sim)), "data must be a data frame")
  expect_glmm_error(call_glmm(fixed = ~ x), "fixed must have a response")
  expect_glmm_error(call_glmm(fixed = nosuchvariable ~ x), "nosuchvariable")
})

test_that("family.glmm: bernoulli.glmm, binomial.glmm, poisson.glmm as function, object or name", {
  f1 <- call_glmm(family.glmm = bernoulli.glmm)
  f2 <- call_glmm(family.glmm = bernoulli.glmm())
  f3 <- call_glmm(family.glmm = "bernoulli.glmm")
  expect_identical(f1$beta, f2$beta)
  expect_identical(f1$beta, f3$beta)
  expect_glmm_error(call_glmm(family.glmm = stats::binomial), "'family.glmm' not recognized")
  expect_glmm_error(call_glmm(family.glmm = "gaussian.glmm"), "'family.glmm' not recognized")
  expect_glmm_error(call_glmm(family.glmm = "<drop>"), "family.glmm must be given")
  # issue 18.7: the message starts with the argument's name (no stray leading space)
  expect_error(call_glmm(family.glmm = "gaussian.glmm"), "^'family.glmm' not recognized: use",
               class = "mcla_error")
})

test_that("the response: checked by the family as R glmm does", {
  expect_glmm_error(call_glmm(fixed = count ~ x), "response must be 0 and 1.")
  expect_glmm_error(call_glmm(fixed = cbind(s, n - s) ~ x),
                    "For the family you've specified, only a vector is appropriate as the response.")
  expect_glmm_error(call_glmm(fixed = cbind(s, n - s, n) ~ x, family.glmm = binomial.glmm),
                    "Your response must have two columns")
  expect_glmm_error(call_glmm(fixed = I(-s) ~ x, family.glmm = binomial.glmm),
                    "response must be a count (nonnegative integer).")
  expect_glmm_error(call_glmm(fixed = I(-count) ~ x, family.glmm = poisson.glmm),
                    "data must be nonnegative integers.")
  expect_glmm_error(call_glmm(fixed = I(count + 0.5) ~ x, family.glmm = poisson.glmm),
                    "data must be nonnegative integers.")
  expect_glmm_error(call_glmm(fixed = factor(y) ~ x), "the response is a factor")
  # a logical response is 0/1
  expect_identical(call_glmm(fixed = I(y == 1) ~ x)$beta, call_glmm()$beta)
})

test_that("p1, p2, p3: probabilities, p1 > 0, summing to 1", {
  expect_glmm_error(call_glmm(p1 = 1.5), "p1 must be a number between 0 and 1")
  expect_glmm_error(call_glmm(p1 = -0.1), "p1 must be a number between 0 and 1")
  expect_glmm_error(call_glmm(p1 = "a"), "p1 must be a number between 0 and 1")
  expect_glmm_error(call_glmm(p1 = 0, p2 = 0.5, p3 = 0.5), "p1 must be nonzero")
  expect_glmm_error(call_glmm(p2 = 2), "p2 must be a number between 0 and 1")
  expect_glmm_error(call_glmm(p3 = -1), "p3 must be a number between 0 and 1")
  expect_glmm_error(call_glmm(p1 = 0.5, p2 = 0.5, p3 = 0.5), "p1+p2+p3 must equal 1")
  f <- call_glmm(p1 = 0.1, p2 = 0.2, p3 = 0.7)
  expect_identical(f$pvec, c(0.1, 0.2, 0.7))
})

test_that("weights: numeric, one per observation, non-negative, not missing", {
  expect_glmm_error(call_glmm(weights = -sim$x), "Negative weights not allowed")
  expect_glmm_error(call_glmm(weights = c(NA, rep(1, nrow(sim) - 1))), "Missing weights not allowed")
  expect_glmm_error(call_glmm(weights = rep(1, 3)), "weights length must match the length of the response vector")
  expect_glmm_error(call_glmm(weights = rep("a", nrow(sim))), "weights must be a vector")
  unweighted <- call_glmm()
  ones <- call_glmm(weights = rep(1, nrow(sim)))
  expect_identical(ones$beta, unweighted$beta)
  sim$w <- rep(c(1, 2), length.out = nrow(sim))
  by_column <- glmm(y ~ x, random = list(~ 0 + g), varcomps.names = "g", data = sim,
                    family.glmm = bernoulli.glmm, m = 200, weights = w)
  by_vector <- call_glmm(weights = sim$w)
  expect_identical(by_column$beta, by_vector$beta)
  expect_false(identical(by_column$beta, unweighted$beta))
  expect_glmm_error(call_glmm(weights = rep(0, nrow(sim))), "all weights are zero")
})

test_that("par.init: one value per parameter, positive variances; skips PQL", {
  expect_glmm_error(call_glmm(par.init = c(0, 1)), "par.init is not the correct length.")
  expect_glmm_error(call_glmm(par.init = c(0, 1, 0)),
                    "Initial values for the variance components in par.init must be positive")
  f <- suppressWarnings(call_glmm(par.init = c(-0.5, 1, 1)))
  expect_identical(f$start$source, "par_init")
  expect_null(f$beta.pql)
})

test_that("m: a whole number >= 1", {
  for (bad in list(0, -5, 1.5, NA, c(100, 200), "100", Inf)) {
    expect_glmm_error(call_glmm(m = bad), "m, the Monte Carlo sample size")
  }
  # the default Sobol' draws come in whole prefixes: 16 replicates x 2^j points
  expect_identical(call_glmm(m = 1e3)$m, 1024)
})

test_that("doPQL, debug, low.memory: TRUE or FALSE", {
  expect_glmm_error(call_glmm(doPQL = "yes"), "doPQL must be TRUE or FALSE")
  expect_glmm_error(call_glmm(debug = NA), "debug must be TRUE or FALSE")
  expect_glmm_error(call_glmm(low.memory = 1), "low.memory must be TRUE or FALSE")
  nopql <- suppressWarnings(call_glmm(doPQL = FALSE))
  expect_identical(nopql$start$source, "default")
  expect_identical(unname(nopql$start$theta), c(0, 0, 1))
})

test_that("mcla's options: seed, threads, sampler, rmax, iterlim, zeta", {
  expect_glmm_error(call_glmm(seed = -1), "seed must be a whole number >= 0")
  expect_glmm_error(call_glmm(seed = 1.5), "seed must be a whole number >= 0")
  expect_glmm_error(call_glmm(threads = 0), "threads must be a whole number >= 1")
  expect_glmm_error(call_glmm(sampler = "nonsense"), "unknown sampler \"nonsense\"")
  expect_glmm_error(call_glmm(sampler = 3), "sampler must be the name of a sampler")
  expect_glmm_error(call_glmm(iterlim = 0), "iterlim must be a whole number >= 1")
  expect_glmm_error(call_glmm(rmax = "a"), "rmax must be a single number")
  # checked by the library, reported with R's argument names
  err <- tryCatch(call_glmm(zeta = -1), error = function(e) e)
  expect_s3_class(err, "mcla_error")
  expect_identical(err$stage, "options")
  expect_match(conditionMessage(err), "zeta (zeta, the t degrees of freedom) must be finite and > 0", fixed = TRUE)
  expect_false(grepl("--", conditionMessage(err), fixed = TRUE))
  expect_glmm_error(call_glmm(rmax = 1), "rmax (rmax, 1) must be >= rinit")
  expect_identical(call_glmm(seed = 99)$seed, 99)
  # the seed changes a fixed-sample fit (an exact adaptive fit of one grouping factor has no draws)
  expect_false(identical(call_glmm(seed = 99, sampler = "factorised")$beta,
                         call_glmm(sampler = "factorised")$beta))
})

test_that("unknown arguments are refused, cluster is accepted and ignored with a message", {
  expect_glmm_error(call_glmm(nsim = 3), "unknown argument: nsim")
  expect_message(f <- call_glmm(cluster = "a cluster"), "the 'cluster' argument is ignored")
  expect_identical(f$beta, call_glmm()$beta)
})

test_that("subtrees: TRUE integrates each subject and its cells given the sampled items", {
  expect_glmm_error(call_glmm(subtrees = "yes"), "subtrees must be TRUE or FALSE")
  # 8 subjects x 5 items x 2 trials with a subject:item effect (as tests/cli.rs)
  r <- 0:79
  cell <- r %/% 2; s <- r %/% 10; i <- cell %% 5
  d <- data.frame(y = as.integer((r * 7 + s * 3 + i * 5) %% 11 < 5 + s %% 3),
                  subj = factor(paste0("s", s)), item = factor(paste0("i", i)),
                  cell = factor(paste0("c", s, "_", i)), cond = (cell %% 2) - 0.5)
  with_t <- glmm(y ~ cond, list(~ 0 + subj, ~ 0 + item, ~ 0 + cell), c("subj", "item", "cell"),
                 d, bernoulli.glmm, m = 256, subtrees = TRUE)
  without <- glmm(y ~ cond, list(~ 0 + subj, ~ 0 + item, ~ 0 + cell), c("subj", "item", "cell"),
                  d, bernoulli.glmm, m = 256)
  expect_identical(with_t$blocks$method, "sampled_separator_subtrees")
  expect_identical(without$blocks$method, "sampled_separator")
  expect_lt(abs(with_t$loglik - without$loglik),
            max(1e-3, 4 * sqrt(with_t$loglik.mcse^2 + without$loglik.mcse^2)))
})
