# S3 methods for fits of class c("mcla", "glmm"). Every number comes from the Rust library's
# fit (stored by glmm()); these functions only select, name and format.

check_mcla <- function(object, what) {
  if (!inherits(object, "mcla")) {
    stop(what, "() needs a fit returned by mcla::glmm() (got an object of class ",
         paste(class(object), collapse = "/"), ")", call. = FALSE)
  }
}

warn_infinite_se <- function(object) {
  if (any(!is.finite(object$se))) {
    warning("estimated Fisher information matrix not positive definite, making all standard ",
            "errors infinite", call. = FALSE)
  }
}

#' @export
coef.mcla <- function(object, ...) object$beta

#' @export
varcomps <- function(object, ...) UseMethod("varcomps")

#' @export
varcomps.mcla <- function(object, ...) object$nu

#' @export
varcomps.default <- function(object, ...) check_mcla(object, "varcomps")

#' @export
vcov.mcla <- function(object, ...) {
  warn_infinite_se(object)
  object$vcov
}

#' @export
se <- function(object, ...) UseMethod("se")

#' @export
se.mcla <- function(object, ...) {
  warn_infinite_se(object)
  object$se
}

#' @export
se.default <- function(object, ...) check_mcla(object, "se")

#' @export
mcse <- function(object, ...) UseMethod("mcse")

#' @export
mcse.mcla <- function(object, ...) object$mcse

#' @export
mcse.default <- function(object, ...) check_mcla(object, "mcse")

#' @export
mcvcov <- function(object, ...) UseMethod("mcvcov")

#' @export
mcvcov.mcla <- function(object, ...) object$mcvcov

#' @export
mcvcov.default <- function(object, ...) check_mcla(object, "mcvcov")

#' @export
confint.mcla <- function(object, parm, level = 0.95, method = c("wald", "profile"), ...) {
  method <- match.arg(method)
  if (method == "profile") {
    stop("confint(method = \"profile\") is not available in this version of mcla: use the ",
         "Wald intervals (method = \"wald\", the default, as R glmm computes)", call. = FALSE)
  }
  if (!is.numeric(level) || length(level) != 1 || !(level > 0 && level < 1)) {
    stop("level must be a single number strictly between 0 and 1", call. = FALSE)
  }
  est <- c(object$beta, object$nu)
  pnames <- names(est)
  if (missing(parm)) {
    parm <- pnames
  } else if (is.numeric(parm)) {
    if (any(parm < 1 | parm > length(pnames) | parm != round(parm))) {
      stop("parm: parameter numbers must be between 1 and ", length(pnames), call. = FALSE)
    }
    parm <- pnames[parm]
  } else if (!all(parm %in% pnames)) {
    stop("unknown parameter(s) ", paste(setdiff(parm, pnames), collapse = ", "),
         "; the parameters are: ", paste(pnames, collapse = ", "), call. = FALSE)
  }
  warn_infinite_se(object)
  a <- (1 - level) / 2
  a <- c(a, 1 - a)
  ci <- cbind(est[parm] + stats::qnorm(a[1]) * object$se[parm],
              est[parm] + stats::qnorm(a[2]) * object$se[parm])
  # R glmm's column names (the probabilities, e.g. "0.025" and "0.975").
  dimnames(ci) <- list(parm, as.character(a))
  ci
}

#' @export
logLik.mcla <- function(object, ...) {
  structure(object$loglik, df = length(object$beta) + length(object$nu), nobs = object$nobs,
            mcse = object$loglik.mcse, glmm = object$loglike.value, class = "logLik")
}

#' @export
nobs.mcla <- function(object, ...) object$nobs

#' @export
fitted.mcla <- function(object, type = c("response", "link"), ...) {
  type <- match.arg(type)
  if (type == "link") object$linear.predictors else object$fitted.values
}

#' @export
residuals.mcla <- function(object, type = c("response", "pearson"), ...) {
  type <- match.arg(type)
  r <- object$y - object$fitted.values
  if (type == "pearson") {
    n <- if (is.null(object$ntrials)) rep(1, length(object$y)) else object$ntrials
    mu <- object$fitted.values
    v <- if (object$family.name == "poisson") mu else mu * (1 - mu / n)
    r <- r / sqrt(v)
  }
  r
}

#' @export
print.mcla <- function(x, digits = max(3L, getOption("digits") - 3L), ...) {
  cat("\nCall:\n", paste(deparse(x$call), sep = "\n", collapse = "\n"), "\n\n", sep = "")
  if (!isTRUE(x$trust.converged)) {
    cat("WARNING: the optimizer did not converge: these are not maximum likelihood estimates\n\n")
  }
  cat("Fixed effects:\n")
  print.default(format(x$beta, digits = digits), print.gap = 2L, quote = FALSE)
  cat("\nVariance components:\n")
  print.default(format(x$nu, digits = digits), print.gap = 2L, quote = FALSE)
  cat(sprintf("\nLog-likelihood: %s (MCSE %s)   %s, %s sampler, seed %s\n",
              format(x$loglik, digits = max(digits, 7L)), format(x$loglik.mcse, digits = 2L),
              m_text(x), x$sampler, format(x$seed, scientific = FALSE)))
  invisible(x)
}

# "m = 2000 per sampled block, chosen automatically", as the library's report says it.
# (No draws at all -- every block integrated exactly -- is said as such, not as an m.)
m_text <- function(x) {
  if (!is.null(x$blocks$draws) && all(x$blocks$draws == 0)) {
    return("exact, no draws (every block integrated by quadrature)")
  }
  sprintf("m = %s per sampled block%s", format(x$m, scientific = FALSE),
          if (isTRUE(x$m.auto)) ", chosen automatically" else "")
}

# R glmm's summary rounds each estimate and its standard error to the decimal place of the
# first significant digit of its Monte Carlo standard error (digits that Monte Carlo error makes
# meaningless are not shown). R glmm counts leading "0" and "." characters of
# as.character(mcse), which goes wrong for an MCSE >= 1 or printed in scientific notation; this
# is the same rule computed with log10 (identical for 1e-4 <= MCSE < 1).
mcse_digits <- function(mcse) {
  ifelse(is.finite(mcse) & mcse > 0, pmax(0, -floor(log10(mcse))), NA)
}

round_by_mcse <- function(v, digits) {
  ifelse(is.na(digits), v, round(v, ifelse(is.na(digits), 0, digits)))
}

#' @export
summary.mcla <- function(object, ...) {
  nbeta <- length(object$beta)
  fixed <- seq_len(nbeta)
  vc <- nbeta + seq_along(object$nu)
  digits <- mcse_digits(object$mcse)
  se <- object$se
  coefmat <- cbind(round_by_mcse(object$beta, digits[fixed]), round_by_mcse(se[fixed], digits[fixed]),
                   object$z.values[fixed], object$p.values[fixed])
  dimnames(coefmat) <- list(names(object$beta), c("Estimate", "Std. Error", "z value", "Pr(>|z|)"))
  nucoefmat <- cbind(round_by_mcse(object$nu, digits[vc]), round_by_mcse(se[vc], digits[vc]),
                     object$z.values[vc], object$p.values[vc])
  dimnames(nucoefmat) <- list(object$varcomps.names,
                              c("Estimate", "Std. Error", "z value", "Pr(>|z|)/2"))
  est <- c(object$beta, object$nu)
  mcmat <- cbind(est, se, object$mcse, object$mcse / se)
  dimnames(mcmat) <- list(names(est), c("Estimate", "Std. Error", "MCSE", "MCSE/SE"))
  structure(list(
    x = object$x, y = object$y, z = object$z, coefmat = coefmat, fixedcall = object$fixedcall,
    randcall = object$randcall, coefficients = coefmat[, 1], family.mcml = object$family.glmm,
    call = object$call, nucoefmat = nucoefmat, link = object$family.glmm$link,
    trust.converged = object$trust.converged,
    # mcla's additions
    mcmat = mcmat, blocks = object$blocks, m = object$m, seed = object$seed,
    threads = object$threads, sampler = object$sampler, loglik = object$loglik,
    loglike.value = object$loglike.value, loglik.mcse = object$loglik.mcse,
    iterations = object$iterations, timings = object$timings, warnings = object$warnings,
    nobs = object$nobs, m.auto = object$m.auto,
    # the library's text report of the fit, which print() shows (the command line's output)
    report = object$report
  ), class = c("summary.mcla", "summary.glmm"))
}

#' @export
print.summary.mcla <- function(x, ...) {
  # The library's text report, as `mcla fit` prints it (numbers formatted once, by the engine;
  # R glmm's layout: call, link, the two coefficient tables, then the Monte Carlo section, Wald
  # intervals, log-likelihood, convergence, time and the fit's warnings).
  cat("\n", x$report, "\n", sep = "")
  invisible(x)
}
