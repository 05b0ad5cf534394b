# predict(), ranef() and anova() for mcla fits, with lme4's argument names. R builds the design
# rows of new data (model.frame / model.matrix with the fit's terms, factor levels and
# contrasts); every number comes from the Rust library: predictions by the fit's
# `predict_level`, random effects from the fit, likelihood-ratio tests by `compare::anova`.

#' @export
predict.mcla <- function(object, newdata = NULL, type = c("link", "response"), re.form = NULL,
                         allow.new.levels = FALSE, se.fit = FALSE, level = 0.95, ...) {
  type <- match.arg(type)
  fail <- function(...) stop_mcla(paste0(...), sys.call(-1))
  if (...length()) {
    fail("unknown argument", if (...length() > 1) "s", " to predict(): ",
         paste(names(list(...)), collapse = ", "), ". predict() for mcla fits takes newdata, type, ",
         "re.form, allow.new.levels, se.fit and level")
  }
  check_flag(allow.new.levels, "allow.new.levels", fail)
  check_flag(se.fit, "se.fit", fail)
  if (!is.numeric(level) || length(level) != 1 || !(level > 0 && level < 1)) {
    fail("level must be a single number strictly between 0 and 1")
  }
  # re.form: NULL = all random effects (at their predictions E[u | y]); NA or ~0 = none (u = 0)
  with_re <- if (is.null(re.form)) {
    TRUE
  } else if (identical(re.form, NA) ||
             (inherits(re.form, "formula") && length(re.form) == 2 &&
              identical(attr(stats::terms(re.form), "term.labels"), character()) &&
              attr(stats::terms(re.form), "intercept") == 0)) {
    FALSE
  } else {
    fail("re.form must be NULL (conditional on all random effects) or NA / ~0 (population ",
         "level, random effects 0); mcla does not predict with a subset of the random effects")
  }
  random <- object$random.formulas
  if (is.null(newdata)) {
    x <- object$x
    z <- object$z
    rows <- names(object$y)
    ok <- rep(TRUE, nrow(x))
  } else {
    if (!inherits(newdata, "data.frame")) fail("newdata must be a data frame")
    tt <- stats::delete.response(object$terms)
    mfx <- tryCatch(stats::model.frame(tt, newdata, na.action = stats::na.pass, xlev = object$xlevels),
                    error = function(e) fail("newdata: ", conditionMessage(e)))
    x <- tryCatch(stats::model.matrix(tt, mfx, contrasts.arg = object$contrasts),
                  error = function(e) fail("newdata: ", conditionMessage(e)))
    if (!identical(colnames(x), colnames(object$x))) {
      fail("newdata give the fixed-effect columns ", paste(colnames(x), collapse = ", "),
           " but the fit has ", paste(colnames(object$x), collapse = ", "))
    }
    rows <- rownames(newdata)
    ok <- stats::complete.cases(x)
    z <- NULL
    if (with_re) {
      z <- lapply(random, function(r) {
        vars <- all.vars(r)
        absent <- setdiff(vars, names(newdata))
        if (length(absent)) {
          fail("newdata have no column ", paste0("'", absent, "'", collapse = ", "), " of the ",
               "random effects ", paste(deparse(r), collapse = " "), ": add it, or use ",
               "re.form = NA for population-level predictions (random effects 0)")
        }
        # evaluated after the fitted rows, so that factors keep the fitted levels (and the
        # columns their names); only the new rows are used
        train <- object$random.frame[vars]
        both <- tryCatch(rbind(train, newdata[vars]),
                         error = function(e) fail("newdata: ", conditionMessage(e)))
        rf <- stats::model.frame(r, both, na.action = stats::na.pass)
        new_rows <- nrow(train) + seq_len(nrow(newdata))
        known <- stats::complete.cases(rf)
        known[seq_len(nrow(train))] <- FALSE
        zk <- matrix(0, nrow(newdata), 0)
        if (any(known)) {
          # rows with a missing grouping value are predicted at u = 0 for this term (a new level)
          zk_known <- stats::model.matrix(r, rbind(rf[seq_len(nrow(train)), , drop = FALSE],
                                                  rf[known, , drop = FALSE]))
          zk_known <- zk_known[-seq_len(nrow(train)), , drop = FALSE]
          zk <- matrix(0, nrow(newdata), ncol(zk_known), dimnames = list(NULL, colnames(zk_known)))
          zk[known[new_rows], ] <- zk_known
        }
        zk
      })
    }
  }
  blocks <- list()
  if (with_re) {
    fitted_effects <- object$effect.names
    for (k in seq_along(z)) {
      zk <- z[[k]][ok, , drop = FALSE]
      nz <- which(zk != 0, arr.ind = TRUE)
      new_levels <- setdiff(colnames(zk)[unique(nz[, 2])], fitted_effects)
      if (length(new_levels) && !allow.new.levels) {
        fail("newdata have level", if (length(new_levels) > 1) "s", " ",
             paste(utils::head(new_levels, 5), collapse = ", "),
             if (length(new_levels) > 5) ", ...", " of the random effects ",
             paste(deparse(random[[k]]), collapse = " "), " not in the fitted data: use ",
             "allow.new.levels = TRUE to predict them with random effect 0, or re.form = NA")
      }
      blocks[[k]] <- list(i = as.double(nz[, 1] - 1), j = as.double(nz[, 2] - 1),
                          x = as.double(zk[nz]), names = colnames(zk),
                          component = as.double(object$varcomps.equal[k] - 1))
    }
  }
  if (is.null(object$handle) || !inherits(object$handle, "externalptr")) {
    fail("this fit has no library fit attached (made by an older mcla?): run glmm() again")
  }
  out <- mcla_predict_impl(object$handle, list(
    n = as.double(sum(ok)), x = as.double(x[ok, , drop = FALSE]), blocks = blocks,
    scale = type, level = as.double(level)))
  if (!is.null(out$error)) stop_mcla(r_wording(out$error), sys.call(), stage = out$stage)
  full <- function(v) {
    r <- rep(NA_real_, length(ok))
    r[ok] <- v
    stats::setNames(r, rows)
  }
  fit <- full(out$estimate)
  if (!se.fit) return(fit)
  list(fit = fit, se.fit = full(out$std_error), mcse = full(out$mcse),
       conf.low = full(out$conf_low), conf.high = full(out$conf_high))
}

#' Random-effect predictions
#' @export
ranef <- function(object, ...) UseMethod("ranef")

#' @export
ranef.mcla <- function(object, condVar = TRUE, ...) {
  re <- object$ranef
  if (is.null(re) || !nrow(re)) {
    stop("the library could not compute the random-effect predictions of this fit (see its ",
         "warnings)", call. = FALSE)
  }
  # display names: the level, where a random formula is one factor (~ 0 + Female gives the
  # columns Female1, Female2, ...; lme4 shows 1, 2, ...)
  display <- stats::setNames(re$level, re$level)
  for (k in seq_along(object$z)) {
    labels <- attr(stats::terms(object$random.formulas[[k]]), "term.labels")
    cn <- colnames(object$z[[k]])
    if (length(labels) == 1 && all(startsWith(cn, labels))) {
      display[cn[cn %in% names(display)]] <- substring(cn[cn %in% names(display)], nchar(labels) + 1)
    }
  }
  out <- lapply(object$varcomps.names, function(v) {
    r <- re[re$component == v, , drop = FALSE]
    d <- data.frame(`(Intercept)` = r$mean, check.names = FALSE,
                    row.names = make.unique(unname(display[r$level])))
    if (isTRUE(condVar)) attr(d, "postVar") <- array(r$sd^2, c(1, 1, nrow(r)))
    attr(d, "condsd") <- r$sd
    attr(d, "mcse") <- r$mcse
    d
  })
  names(out) <- object$varcomps.names
  out
}

#' @export
anova.mcla <- function(object, ...) {
  dots <- list(...)
  exprs <- c(substitute(object), as.list(substitute(list(...)))[-1])
  labels <- vapply(exprs, function(e) paste(deparse(e), collapse = " "), "")
  models <- c(list(object), dots)
  if (length(models) < 2) {
    stop("anova() of a single mcla fit is not available: compare nested fits, e.g. ",
         "anova(fit0, fit1), by likelihood-ratio tests", call. = FALSE)
  }
  for (k in seq_along(models)) {
    if (!inherits(models[[k]], "mcla")) {
      stop("anova(): '", labels[k], "' is not a fit of mcla::glmm(); every model must be one ",
           "(for a model without random effects, use the command line's `mcla compare`)",
           call. = FALSE)
    }
  }
  summaries <- lapply(seq_along(models), function(k) {
    m <- models[[k]]
    list(label = labels[k], loglik = m$loglik, loglik_mcse = m$loglik.mcse, n = as.double(m$nobs),
         fixed_names = names(m$beta), varcomp_names = names(m$nu),
         rows = if (!is.null(m$rows.used)) as.double(m$rows.used - 1))
  })
  out <- mcla_anova_impl(summaries)
  if (!is.null(out$error)) stop_mcla(out$error, sys.call(), stage = out$stage)
  # the first row has no test: NA (printed blank), not the library's NaN placeholder
  for (k in c("chisq", "chisq_mcse", "df", "p_value")) out[[k]][is.nan(out[[k]])] <- NA_real_
  tab <- data.frame(npar = out$npar, AIC = out$aic, BIC = out$bic, logLik = out$loglik,
                    `logLik MCSE` = out$loglik_mcse, deviance = out$deviance, Chisq = out$chisq,
                    `Chisq MCSE` = out$chisq_mcse, Df = out$df, `Pr(>Chisq)` = out$p_value,
                    check.names = FALSE, row.names = make.unique(out$label))
  notes <- out$note[nzchar(out$note)]
  structure(tab, heading = c("Likelihood-ratio tests of mcla fits (Monte Carlo standard errors of logLik and Chisq beside them)\n",
                             if (length(notes)) paste0("p-values: ", paste(unique(notes), collapse = "; "), "\n")),
            class = c("anova", "data.frame"))
}
