# Parametric bootstrap and power by simulation on an mcla fit. The statistics are the
# library's (mcla::infer::bootstrap, through src/rust/src/bootstrap.rs); this file checks the
# arguments and shapes the results.

#' Parametric bootstrap of an mcla fit
#'
#' Simulates `nsim` responses from the fitted model and refits each with the fit's own
#' options, started at the estimate (replicate r draws from its own seed stream, derived from
#' `seed` and r, so results do not depend on `threads`). Returns the replicates and their
#' bootstrap standard errors, percentile and basic intervals, and the share of replicates with
#' a variance component on the boundary.
#'
#' @param object an `mcla` fit from [glmm()].
#' @param nsim number of simulations.
#' @param seed seed of the simulations (default: the fit's seed).
#' @param level confidence level of the intervals.
#' @param threads worker threads (default: the fit's setting); never changes the result.
#' @param ... unused.
#' @return an object of class `mcla_bootstrap`: `t` (nsim x parameters, as boot's `t`), `t0`,
#'   `replicates` (a data frame), `table`, `quantiles`, `nsim`, `used`, `failed`, `level`, `seed`.
#' @export
bootstrap <- function(object, ...) UseMethod("bootstrap")

#' @rdname bootstrap
#' @export
bootstrap.mcla <- function(object, nsim = 1000, seed = object$seed, level = 0.95,
                           threads = NULL, ...) {
  call <- sys.call()
  fail <- function(...) stop_mcla(paste0(...), call)
  unknown_args(list(...), fail)
  check_count(nsim, "nsim", 1, fail)
  if (is.null(nsim)) fail("nsim must be a whole number >= 1")
  check_count(seed, "seed", 0, fail)
  if (is.null(seed)) fail("seed must be a whole number >= 0")
  check_level(level, fail)
  check_count(threads, "threads", 1, fail)
  opts <- fit_options_of(object, threads, fail)
  out <- mcla_bootstrap_impl(object$mcla.spec, opts,
                             list(nsim = as.double(nsim), seed = as.double(seed),
                                  level = as.double(level)))
  if (!is.null(out$error)) stop_mcla(r_wording(out$error), call, stage = out$stage)
  pnames <- out$parameter_names
  d <- length(pnames)
  r <- out$replicates
  t <- matrix(r$theta, ncol = d, byrow = TRUE, dimnames = list(NULL, pnames))
  se <- matrix(r$se, ncol = d, byrow = TRUE, dimnames = list(NULL, paste0("se_", pnames)))
  err <- ifelse(nzchar(r$error), r$error, NA_character_)
  s <- out$summary
  na <- function(v) ifelse(is.nan(v), NA_real_, v)
  table <- data.frame(estimate = s$estimate, wald.se = s$wald_se, boot.se = s$se,
                      bias = s$bias, perc.lower = s$perc_lower, perc.upper = s$perc_upper,
                      basic.lower = s$basic_lower, basic.upper = s$basic_upper,
                      boundary.share = na(s$boundary_share), row.names = pnames)
  quantiles <- matrix(s$quantiles, nrow = d, byrow = TRUE,
                      dimnames = list(pnames, paste0(format(100 * s$quantile_probs, trim = TRUE), "%")))
  structure(list(
    t = t, t0 = stats::setNames(out$fit_theta, pnames),
    replicates = data.frame(replicate = r$index, t, se, loglik = r$loglik,
                            converged = r$converged, error = err, check.names = FALSE),
    table = table, quantiles = quantiles, nsim = as.integer(s$nsim), used = as.integer(s$used),
    failed = as.integer(s$failed), not.converged = as.integer(s$not_converged),
    level = s$level, seed = seed, call = call
  ), class = "mcla_bootstrap")
}

#' @export
print.mcla_bootstrap <- function(x, digits = 4, ...) {
  cat("Parametric bootstrap of an mcla fit: ", x$nsim, " simulations (seed ", x$seed, "), ",
      x$used, " used, ", x$failed, " failed, ", x$not.converged, " not converged\n\n", sep = "")
  print(signif(as.matrix(x$table[, c("estimate", "wald.se", "boot.se", "bias", "perc.lower",
                                     "perc.upper", "basic.lower", "basic.upper")]), digits))
  b <- x$table$boundary.share
  if (any(!is.na(b))) {
    cat("\nShare of replicates with the variance component on the boundary:",
        paste0(rownames(x$table)[!is.na(b)], " ", signif(100 * b[!is.na(b)], 3), "%",
               collapse = ", "), "\n")
  }
  invisible(x)
}

#' Bootstrap confidence intervals
#'
#' @param object an `mcla_bootstrap` from [bootstrap()].
#' @param parm parameter names or indices (default: all).
#' @param level the level the bootstrap was summarised at.
#' @param type `"percentile"` or `"basic"`.
#' @param ... unused.
#' @export
confint.mcla_bootstrap <- function(object, parm, level = object$level,
                                   type = c("percentile", "basic"), ...) {
  type <- match.arg(type)
  if (!isTRUE(all.equal(level, object$level))) {
    stop_mcla(paste0("the bootstrap was summarised at level ", object$level,
                     "; rerun bootstrap(fit, level = ", level, ") for other intervals"), sys.call())
  }
  tab <- object$table
  ci <- if (type == "percentile") cbind(tab$perc.lower, tab$perc.upper) else
    cbind(tab$basic.lower, tab$basic.upper)
  a <- (1 - level) / 2
  dimnames(ci) <- list(rownames(tab), paste(format(100 * c(a, 1 - a), trim = TRUE, digits = 3), "%"))
  if (!missing(parm)) ci <- ci[parm, , drop = FALSE]
  ci
}

#' Power of a test of a fixed effect by simulation
#'
#' For the design of the fitted data (its covariates and groups), simulates `nsim` responses
#' at the true parameters (the fit's estimates, with `effect` set to `value` when given, or
#' `beta` and `nu`), refits each and tests `effect = 0` (Wald z, or likelihood ratio against
#' the model without it), as `simr::powerSim` does. The power is reported with its
#' Clopper-Pearson interval.
#'
#' `power()` is generic here; `power(lambda)` without an mcla fit is `stats::power()`.
#'
#' @param object an `mcla` fit from [glmm()].
#' @param effect name of the fixed effect tested.
#' @param value its true value (default: the estimate).
#' @param nsim number of simulated studies.
#' @param alpha significance level.
#' @param test `"wald"` or `"lrt"`.
#' @param beta,nu the true parameters (default: the fit's estimates).
#' @param seed seed (default: the fit's).
#' @param level level of the interval for the power.
#' @param threads worker threads; never changes the result.
#' @param ... unused.
#' @return an object of class `mcla_power`.
#' @export
power <- function(object, ...) UseMethod("power")

#' @export
power.default <- function(object, ...) {
  if (missing(object)) stats::power(...) else stats::power(object, ...)
}

#' @rdname power
#' @export
power.mcla <- function(object, effect, value = NULL, nsim = 1000, alpha = 0.05,
                       test = c("wald", "lrt"), beta = NULL, nu = NULL, seed = object$seed,
                       level = 0.95, threads = NULL, ...) {
  call <- sys.call()
  fail <- function(...) stop_mcla(paste0(...), call)
  unknown_args(list(...), fail)
  test <- match.arg(test)
  if (missing(effect) || !is.character(effect) || length(effect) != 1 ||
      !(effect %in% names(object$beta))) {
    fail("effect must name one fixed effect of the fit: ", paste(names(object$beta), collapse = ", "))
  }
  check_count(nsim, "nsim", 1, fail)
  if (is.null(nsim)) fail("nsim must be a whole number >= 1")
  check_count(seed, "seed", 0, fail)
  if (is.null(seed)) fail("seed must be a whole number >= 0")
  check_count(threads, "threads", 1, fail)
  if (!is.numeric(alpha) || length(alpha) != 1 || !(alpha > 0 && alpha < 1)) {
    fail("alpha must be a number strictly between 0 and 1, e.g. 0.05")
  }
  check_level(level, fail)
  b <- if (is.null(beta)) object$beta else beta
  v <- if (is.null(nu)) object$nu else nu
  if (!is.numeric(b) || length(b) != length(object$beta) || any(!is.finite(b))) {
    fail("beta must have one finite value per fixed effect (", length(object$beta), ")")
  }
  if (!is.numeric(v) || length(v) != length(object$nu) || any(!is.finite(v)) || any(v < 0)) {
    fail("nu must have one variance >= 0 per variance component (", length(object$nu), ")")
  }
  b <- stats::setNames(as.double(b), names(object$beta))
  if (!is.null(value)) {
    if (!is.numeric(value) || length(value) != 1 || !is.finite(value)) {
      fail("value must be one finite number (the true value of ", effect, ")")
    }
    b[[effect]] <- value
  }
  opts <- fit_options_of(object, threads, fail)
  out <- mcla_power_impl(object$mcla.spec, opts,
                         list(beta = unname(b), nu = as.double(v), parameter = effect,
                              test = test, alpha = as.double(alpha), nsim = as.double(nsim),
                              seed = as.double(seed), level = as.double(level)))
  if (!is.null(out$error)) stop_mcla(r_wording(out$error), call, stage = out$stage)
  r <- out$replicates
  structure(list(
    power = out$power, conf.int = stats::setNames(out$ci, c("lower", "upper")),
    rejections = as.integer(out$rejections), used = as.integer(out$used),
    nsim = as.integer(out$nsim), alpha = out$alpha, level = out$level, test = out$test,
    effect = effect, beta = b, nu = stats::setNames(as.double(v), names(object$nu)),
    replicates = data.frame(replicate = r$index, estimate = r$estimate, se = r$se,
                            statistic = r$statistic, p.value = r$p_value, reject = r$reject,
                            converged = r$converged,
                            error = ifelse(nzchar(r$error), r$error, NA_character_)),
    seed = seed, call = call
  ), class = "mcla_power")
}

#' @export
print.mcla_power <- function(x, ...) {
  cat(sprintf("Power for %s (%s test, alpha = %g), (%g%% confidence interval):\n      %.2f%% (%.2f, %.2f)\n",
              x$effect, if (x$test == "wald") "Wald z" else "likelihood-ratio", x$alpha,
              100 * x$level, 100 * x$power, 100 * x$conf.int[[1]], 100 * x$conf.int[[2]]))
  cat(sprintf("Based on %d simulations (%d rejections); %d without a converged refit.\n",
              x$used, x$rejections, x$nsim - x$used))
  invisible(x)
}

# --- helpers --------------------------------------------------------------------------------

unknown_args <- function(dots, fail) {
  if (length(dots) > 0) {
    nm <- names(dots)
    fail("unknown argument", if (length(dots) > 1) "s", ": ",
         paste(ifelse(is.null(nm) | nm == "", "(unnamed)", nm), collapse = ", "))
  }
}

check_level <- function(level, fail) {
  if (!is.numeric(level) || length(level) != 1 || !(level > 0 && level < 1)) {
    fail("level must be a number strictly between 0 and 1, e.g. 0.95")
  }
}

# The options the fit was made with, with `threads` replaced when given.
fit_options_of <- function(object, threads, fail) {
  if (is.null(object$mcla.spec) || is.null(object$mcla.options)) {
    fail("this mcla object has no stored model (made by an older version of mcla?): refit it with glmm()")
  }
  opts <- object$mcla.options
  if (!is.null(threads)) opts$threads <- as.double(threads)
  opts
}
