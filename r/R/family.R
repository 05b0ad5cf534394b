# Family objects, as in R glmm 1.4.5: functions returning a list of class "glmm.family" with
# the family's name, link, cumulant and its derivatives, and the data check. mcla fits with its
# own (Rust) implementation of the same families; these objects name the family and check the
# response exactly as R glmm does, so that code written for R glmm runs unchanged.

#' @export
bernoulli.glmm <- function() {
  cum <- function(eta) ifelse(eta > 0, eta + log1p(exp(-eta)), log1p(exp(eta)))
  cp <- function(eta) 1 / (1 + exp(-eta))
  cpp <- function(eta) (1 / (1 + exp(-eta))) * (1 / (1 + exp(eta)))
  checkData <- function(x) {
    if (sum(x != 1 & x != 0) > 0) stop("response must be 0 and 1.", call. = FALSE)
    NULL
  }
  structure(list(family.glmm = "bernoulli.glmm", link = "logit (log odds)", cum = cum,
                 cp = cp, cpp = cpp, checkData = checkData), class = "glmm.family")
}

#' @export
binomial.glmm <- function() {
  cum <- function(eta, ntrials) ntrials * ifelse(eta > 0, eta + log1p(exp(-eta)), log1p(exp(eta)))
  cp <- function(eta, ntrials) ntrials / (1 + exp(-eta))
  cpp <- function(eta, ntrials) (ntrials / (1 + exp(-eta))) * (1 / (1 + exp(eta)))
  checkData <- function(x) {
    if (sum(x < 0) > 0) stop("response must be a count (nonnegative integer).", call. = FALSE)
    NULL
  }
  structure(list(family.glmm = "binomial.glmm", link = "logit (log odds)", cum = cum,
                 cp = cp, cpp = cpp, checkData = checkData), class = "glmm.family")
}

#' @export
poisson.glmm <- function() {
  checkData <- function(x) {
    # R glmm also insists on storage mode integer (is.integer), which rejects counts stored as
    # doubles (e.g. after arithmetic); mcla checks the values instead.
    if (sum(x < 0) > 0 || any(x != round(x))) {
      stop("data must be nonnegative integers.", call. = FALSE)
    }
    NULL
  }
  structure(list(family.glmm = "poisson.glmm", link = "log", cum = function(eta) exp(eta),
                 cp = function(eta) exp(eta), cpp = function(eta) exp(eta),
                 checkData = checkData), class = "glmm.family")
}

# R glmm's getFamily(): a name, a function or a "glmm.family" object.
get_family <- function(family.glmm, env) {
  if (is.character(family.glmm)) {
    family.glmm <- tryCatch(get(family.glmm, mode = "function", envir = env),
                            error = function(e) NULL)
  }
  if (is.function(family.glmm)) family.glmm <- family.glmm()
  if (!inherits(family.glmm, "glmm.family") ||
      !(family.glmm$family.glmm %in% c("bernoulli.glmm", "binomial.glmm", "poisson.glmm"))) {
    stop("'family.glmm' not recognized: use bernoulli.glmm, binomial.glmm or poisson.glmm",
         call. = FALSE)
  }
  family.glmm
}
