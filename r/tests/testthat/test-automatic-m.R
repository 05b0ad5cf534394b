# Issue 16.2: glmm() without m (or with m = "auto") chooses m automatically, exactly as the
# command line's default (--m auto): same stages, same draws, the same fit bit for bit.

salamander_auto <- function(...) {
  salamander <- read_dataset("salamander")
  glmm(Mate ~ 0 + Cross, random = list(~ 0 + Female, ~ 0 + Male), varcomps.names = c("F", "M"),
       data = salamander, family.glmm = bernoulli.glmm, ...)
}
salamander_args <- function(...) {
  c("--data", file.path(shared_dir(), "data", "salamander.csv"), "--fixed", "Mate ~ 0 + Cross",
    "--random", "~ 0 + Female", "--random", "~ 0 + Male", "--varcomps", "F,M",
    "--family", "bernoulli", "--seed", "1234", ...)
}

cache <- new.env()
test_that("without m, glmm() is the CLI's default automatic-m fit bit for bit", {
  fit <- cache$default <- salamander_auto()
  cli <- cli_fit(salamander_args())
  expect_true(fit$m.auto)
  expect_identical(fit$m, as.numeric(cli$m))
  expect_identical(fit$beta, unlist(cli$coefficients)[names(fit$beta)])
  expect_identical(fit$nu, unlist(cli$varcomps)[names(fit$nu)])
  expect_identical(fit$mcse, unlist(cli$mcse)[cli$parameter_names])
  expect_identical(fit$loglik.mcse, cli$loglik_mcse)
  # m = "auto" says the same thing explicitly
  again <- salamander_auto(m = "auto")
  expect_identical(again$beta, fit$beta)
  expect_identical(again$m, fit$m)
  out <- capture.output(summary(fit))
  # m is the most draws of a block; automatic m allocates them between blocks (issue 17)
  m_text <- sprintf("m = ([0-9]+-)?%d per sampled block, chosen automatically", fit$m)
  expect_true(any(grepl(m_text, out)))
  expect_true(any(grepl(m_text, capture.output(print(fit)))))
})

test_that("target.mcse.ratio, target.loglik.mcse and nodes are the CLI's flags", {
  fit <- salamander_auto(target.mcse.ratio = 0.2, target.loglik.mcse = 0.2, nodes = 6)
  cli <- cli_fit(salamander_args("--target-mcse-ratio", "0.2", "--target-loglik-mcse", "0.2",
                                 "--nodes", "6"))
  expect_identical(fit$m, as.numeric(cli$m))
  expect_identical(fit$beta, unlist(cli$coefficients)[names(fit$beta)])
  expect_identical(fit$mcse, unlist(cli$mcse)[cli$parameter_names])
  # looser targets stop at a smaller m than the default's
  expect_lt(fit$m, cache$default$m)
})

test_that("a given m is fixed; fixed-sample samplers keep a fixed m without one", {
  sim <- simulate_groups(groups = 6, per = 8)
  fixed <- glmm(y ~ x, random = ~ 0 + g, varcomps.names = "g", data = sim,
                family.glmm = bernoulli.glmm, m = 300)
  expect_false(fixed$m.auto)
  expect_false(any(grepl("chosen automatically", capture.output(summary(fixed)))))
  fact <- glmm(y ~ x, random = ~ 0 + g, varcomps.names = "g", data = sim,
               family.glmm = bernoulli.glmm, sampler = "factorised")
  expect_false(fact$m.auto)
  expect_identical(fact$m, mcla:::mcla_defaults()$m)
})

test_that("the automatic-m arguments are checked", {
  sim <- simulate_groups(groups = 6, per = 8)
  call <- function(...) glmm(y ~ x, random = ~ 0 + g, varcomps.names = "g", data = sim,
                             family.glmm = bernoulli.glmm, ...)
  expect_error(call(m = 500, target.mcse.ratio = 0.05), "target of automatic m: leave m out",
               class = "mcla_error")
  expect_error(call(target.loglik.mcse = -1), "target.loglik.mcse must be a positive number",
               class = "mcla_error")
  expect_error(call(sampler = "joint", target.mcse.ratio = 0.05), "only the adaptive sampler",
               class = "mcla_error")
  expect_error(call(m = "lots"), "or \"auto\"", class = "mcla_error")
  expect_error(call(nodes = 0), "nodes must be a whole number >= 1", class = "mcla_error")
  expect_error(call(nodes = 500), "quadrature nodes", class = "mcla_error")
})
