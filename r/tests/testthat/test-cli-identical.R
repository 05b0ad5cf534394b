# The R call and the command-line tool fit the same model bit for bit: R's model.matrix builds
# the same design as the CLI's formula engine, and the binding adds no arithmetic of its own.

salamander_call <- function(...) {
  salamander <- read_dataset("salamander")
  glmm(Mate ~ 0 + Cross, random = list(~ 0 + Female, ~ 0 + Male),
       varcomps.names = c("F", "M"), data = salamander,
       family.glmm = bernoulli.glmm, m = 10^4, ...)
}

salamander_cli_args <- function(seed = "1234", ...) {
  c("--data", file.path(shared_dir(), "data", "salamander.csv"),
    "--fixed", "Mate ~ 0 + Cross", "--random", "~ 0 + Female", "--random", "~ 0 + Male",
    "--varcomps", "F,M", "--family", "bernoulli", "--m", "1e4", "--seed", seed, ...)
}

# JSON maps are keyed by name (sorted); arrays follow the CLI's parameter_names.
expect_same_fit <- function(fit, cli) {
  pn <- cli$parameter_names
  expect_identical(c(names(fit$beta), names(fit$nu)), pn)
  expect_identical(fit$beta, unlist(cli$coefficients)[names(fit$beta)])
  expect_identical(fit$nu, unlist(cli$varcomps)[names(fit$nu)])
  expect_identical(fit$se, unlist(cli$se)[pn])
  expect_identical(fit$mcse, unlist(cli$mcse)[pn])
  expect_identical(fit$loglik, cli$loglik)
  expect_identical(fit$loglike.value, cli$loglik_glmm)
  expect_identical(unname(fit$vcov), unname(cli$vcov))
  expect_identical(fit$ess, cli$ess)
  expect_identical(fit$trust.converged, cli$converged)
}

# The m = 10^4 fit and the CLI's, made once for the tests of this file.
cache <- new.env()
salamander_default <- function() {
  if (is.null(cache$fit)) {
    cache$fit <- salamander_call()
    cache$cli <- cli_fit(salamander_cli_args())
    cache$text <- system2(cli_path(), shQuote(c("fit", salamander_cli_args(), "--quiet")),
                          stdout = TRUE)
  }
  cache
}

test_that("the salamander call gives the CLI's estimates bit for bit (same seed)", {
  fit <- salamander_default()$fit
  cli <- salamander_default()$cli
  expect_same_fit(fit, cli)
  expect_identical(fit$seed, 1234)
  expect_identical(fit$m, 16384) # 10^4 asked: whole Sobol' prefixes, 16 x 2^10
  expect_identical(fit$sampler, cli$sampler)
})

test_that("the result does not depend on the number of threads", {
  one <- salamander_call(threads = 1)
  two <- salamander_default()$fit
  expect_identical(one$beta, two$beta)
  expect_identical(one$nu, two$nu)
  expect_identical(one$mcse, two$mcse)
  expect_identical(one$threads, 1)
  low <- salamander_call(threads = 2, low.memory = TRUE)
  expect_identical(low$beta, one$beta)
  expect_true(low$low.memory)
})

test_that("seed and sampler reach the library (joint sampler as the CLI's --sampler joint)", {
  fit <- suppressWarnings(salamander_call(seed = 7, sampler = "joint"))
  cli <- cli_fit(salamander_cli_args(seed = "7", "--sampler", "joint"))
  expect_same_fit(fit, cli)
  expect_identical(fit$sampler, "joint")
  expect_identical(fit$seed, 7)
  expect_length(fit$ess, 1)
})

# Issue 18.7: summary() printed estimates rounded twice (at the MCSE's digit, then by
# printCoefmat: F 1.383 where the CLI prints 1.384); it now prints the library's text report.
test_that("summary() prints the CLI's text report: the same tables, numbers formatted once", {
  fit <- salamander_default()$fit
  r_lines <- capture.output(print(summary(fit)))
  out <- salamander_default()$text
  from <- function(lines) {
    lines[seq(grep("^Family:", lines), grep("^Converged:", lines))]
  }
  expect_identical(from(r_lines), from(out))
  expect_true(any(grepl("^F +1\\.384 ", r_lines)))
})
