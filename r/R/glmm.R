# glmm(): R glmm 1.4.5's call, fitted by the mcla Rust library.
#
# R does what R does best -- evaluating formulas against data (model.frame / model.matrix,
# factors, contrasts, I(), poly(), interactions, NA handling) -- and hands the numeric design to
# Rust, which validates the model and fits it. No statistics are computed here.

#' @export
glmm <- function(fixed, random, varcomps.names, data, family.glmm, m, varcomps.equal,
                 weights = NULL, doPQL = TRUE, debug = FALSE, p1 = 1/3, p2 = 1/3, p3 = 1/3,
                 rmax = 1000, iterlim = 1000, par.init = NULL, zeta = 5, cluster = NULL,
                 seed = NULL, sampler = NULL, threads = NULL, low.memory = FALSE,
                 target.mcse.ratio = NULL, target.loglik.mcse = NULL, nodes = NULL,
                 subtrees = FALSE, ...) {
  call <- match.call()
  fail <- function(...) stop_mcla(paste0(...), call)
  if (...length()) {
    nm <- names(as.list(substitute(list(...)))[-1])  # names only: the values are not evaluated
    if (is.null(nm)) nm <- rep("", ...length())
    nm[nm == ""] <- "(unnamed)"
    fail("unknown argument", if (length(nm) > 1) "s", ": ", paste(nm, collapse = ", "),
         ". glmm() takes R glmm's arguments plus seed, sampler, threads, low.memory, ",
         "target.mcse.ratio, target.loglik.mcse, nodes and subtrees; see ?glmm")
  }

  # --- lme4-style random-effect terms, (1 | g), split by the library's formula crate exactly as
  # the command line's --formula does (no formula parsing of mcla's own here) ------------------
  if (!missing(fixed) && inherits(fixed, "formula") && any(all.names(fixed) %in% c("|", "||"))) {
    if (!missing(random)) {
      fail("give the random effects either as (1 | g) terms in the formula or as random = ",
           "list(~ 0 + g), not both")
    }
    text <- paste(deparse(fixed, width.cutoff = 500L), collapse = " ")
    mixed <- mcla_expand_formula_impl(text)
    if (!is.null(mixed$error)) fail(mixed$error)
    env <- environment(fixed)
    fixed <- stats::as.formula(mixed$fixed, env = env)
    random <- lapply(mixed$random, stats::as.formula, env = env)
    if (missing(varcomps.names)) varcomps.names <- mixed$names
  }

  # --- R glmm's checks, in R glmm's order and with its messages ------------------------------
  if (missing(varcomps.names)) {
    fail("Names for the variance components must be supplied through varcomps.names")
  }
  if (!is.vector(varcomps.names) || is.list(varcomps.names)) fail("varcomps.names must be a vector")
  equal_given <- !missing(varcomps.equal)
  if (!equal_given) varcomps.equal <- seq_along(varcomps.names)
  if (!is.null(cluster)) {
    message("mcla: the 'cluster' argument is ignored: mcla runs on all cores by itself ",
            "(set threads = n to limit it), and its results do not depend on the number of threads")
  }
  if (missing(fixed) || !inherits(fixed, "formula")) {
    fail("fixed must be a formula for the fixed effects, such as y ~ x")
  }
  has_data <- !missing(data)
  if (has_data && !inherits(data, "data.frame")) fail("data must be a data frame")
  if (missing(family.glmm)) {
    fail("family.glmm must be given: bernoulli.glmm, binomial.glmm or poisson.glmm")
  }
  family <- tryCatch(get_family(family.glmm, parent.frame()),
                     error = function(e) fail(conditionMessage(e)))
  if (missing(random)) {
    fail("random must be a formula for the random effects, or a list of them, e.g. list(~ 0 + g)")
  }
  randcall <- random
  if (!is.list(random)) random <- list(random)
  if (length(random) == 0) fail("random must contain at least one random-effects formula")
  for (r in random) {
    if (!inherits(r, "formula")) {
      fail("random must be a formula for the random effects, or a list of them, e.g. list(~ 0 + g)")
    }
    # the command line's rule and message: `~ g` (with an intercept) is a random intercept plus
    # contrasts of the levels in one block, a different model from one effect per level
    rt <- stats::terms(r)
    if (attr(rt, "intercept") == 1) {
      fail(mcla_random_intercept_message_impl(paste(deparse(r, width.cutoff = 500L), collapse = " "),
                                              attr(rt, "term.labels")))
    }
  }
  check_flag(doPQL, "doPQL", fail)
  check_flag(debug, "debug", fail)
  check_flag(low.memory, "low.memory", fail)
  check_flag(subtrees, "subtrees", fail)

  # --- the model frame: one set of complete rows for every variable the model uses ------------
  if (has_data && "." %in% all.vars(fixed)) fixed <- stats::formula(stats::terms(fixed, data = data))
  vars <- unique(c(all.vars(fixed), unlist(lapply(random, all.vars))))
  all_formula <- stats::as.formula(
    paste("~", paste0("`", gsub("`", "\\\\`", vars), "`", collapse = " + ")),
    env = environment(fixed))
  mf_call <- call("model.frame", formula = all_formula, drop.unused.levels = TRUE)
  mf_call[[1]] <- quote(stats::model.frame)
  if (has_data) mf_call$data <- substitute(data)
  weights_given <- !missing(weights) && !is.null(substitute(weights))
  if (weights_given) {
    wts <- eval(substitute(weights), if (has_data) data else NULL, parent.frame())
    if (!is.null(wts)) {
      if (!is.numeric(wts) || !is.null(dim(wts)) && length(dim(wts)) > 1) {
        fail("weights must be a vector")
      }
      if (anyNA(wts)) fail("Missing weights not allowed")
      if (has_data && length(wts) != nrow(data)) {
        fail("weights length must match the length of the response vector")
      }
      # the evaluated vector (not the expression): model.frame would look an expression up in
      # the formula's environment, not the caller's
      mf_call$weights <- wts
    }
  }
  mf <- tryCatch(eval(mf_call, parent.frame()), error = function(e) fail(conditionMessage(e)))
  na_action <- attr(mf, "na.action")
  if (!is.null(na_action) && length(na_action)) {
    message(sprintf("mcla: %d row%s with missing values in the model's variables dropped (%d used)",
                    length(na_action), if (length(na_action) == 1) "" else "s", nrow(mf)))
  }
  wts <- stats::model.weights(mf)

  fixed_frame <- stats::model.frame(fixed, data = mf, drop.unused.levels = TRUE)
  x <- stats::model.matrix(fixed, data = fixed_frame)
  y <- stats::model.response(fixed_frame)
  if (is.null(y)) fail("fixed must have a response on its left-hand side, such as y ~ x")
  if (is.factor(y) || is.character(y)) {
    fail("the response is a ", if (is.factor(y)) "factor" else "character vector",
         ": recode it as numbers, e.g. as.numeric(", deparse(fixed[[2]]), " == \"yes\")")
  }
  if (is.logical(y)) y <- y + 0
  ntrials <- NULL
  if (length(dim(y)) == 2) {
    if (family$family.glmm != "binomial.glmm") {
      fail("For the family you've specified, only a vector is appropriate as the response. ",
           "Binomial is the only family that allows you to specify the response as a matrix.")
    }
    if (ncol(y) != 2) {
      fail("Your response must have two columns: the first column reports the number of ",
           "successes and the second column reports the number of failures.")
    }
    ntrials <- rowSums(y)
    y <- y[, 1]
  }
  y <- as.vector(y)
  names(y) <- rownames(fixed_frame)
  tryCatch(family$checkData(y), error = function(e) fail(conditionMessage(e)))

  for (r in random) check_numeric_ids(r, mf, fail)
  z <- lapply(random, function(r) {
    rf <- stats::model.frame(r, data = mf, drop.unused.levels = TRUE)
    zk <- stats::model.matrix(r, data = rf)
    # columns no observation uses (empty cells of an interaction such as a:b with b nested in
    # a) carry no data: dropped, as the command line and lme4 do
    used <- colSums(zk != 0) > 0
    if (!all(used)) {
      message(sprintf("mcla: %d column%s of the random effects %s used by no observation dropped",
                      sum(!used), if (sum(!used) == 1) "" else "s",
                      paste(deparse(r, width.cutoff = 500L), collapse = " ")))
      zk <- zk[, used, drop = FALSE]
    }
    zk
  })
  for (zk in z) {
    if (length(y) != nrow(zk)) {
      fail("Fixed and random effect model matrices should have same number of rows. ",
           "This problem sometimes arises due to NAs (missing data).")
    }
  }

  if (!is.numeric(varcomps.equal)) {
    fail("varcomps.equal must be a vector containing numbers to indicate which variance ",
         "components are equal.")
  }
  if (!equal_given && length(varcomps.names) != length(random)) {
    fail("varcomps.names has ", length(varcomps.names), " name", if (length(varcomps.names) != 1) "s",
         " but random has ", length(random), " formula", if (length(random) != 1) "s",
         ": give one name per random-effects formula (or varcomps.equal, to let formulas share ",
         "a variance component)")
  }
  if (length(varcomps.equal) != length(random)) {
    fail("The length of varcomps.equal must be equal to the length of the random-effects call.")
  }
  if (length(unique(varcomps.equal)) != length(varcomps.names)) {
    fail("You must name each unique variance component. Check varcomps.names and varcomps.equal.")
  }
  if (min(varcomps.equal) != 1) {
    fail("The vector varcomps.equal must contain numbers starting at 1 to denote which ",
         "variance components are equal.")
  }
  if (!all(sort(unique(varcomps.equal)) == seq_along(unique(varcomps.equal)))) {
    fail("The numbers in the vector varcomps.equal must be consecutive. You must start at 1 and ",
         "then each entry must be the next consecutive number or a repeat of a previous number.")
  }

  for (p in list(list(p1, "p1"), list(p2, "p2"), list(p3, "p3"))) {
    if (!is.numeric(p[[1]]) || length(p[[1]]) != 1 || is.na(p[[1]]) || p[[1]] > 1 || p[[1]] < 0) {
      fail(p[[2]], " must be a number between 0 and 1")
    }
  }
  if (p1 == 0) fail("p1 must be nonzero")
  # R glmm tests p1 + p2 + p3 != 1 exactly, which rejects e.g. 0.1, 0.2, 0.7; mcla allows rounding.
  if (abs(p1 + p2 + p3 - 1) > 1e-8) fail("p1+p2+p3 must equal 1")

  if (!is.null(wts)) {
    if (length(wts) != length(y)) {
      fail("weights length must match the length of the response vector")
    }
    if (any(wts < 0)) fail("Negative weights not allowed")
  }

  nbeta <- ncol(x)
  if (!is.null(par.init)) {
    if (!is.numeric(par.init) || length(par.init) != nbeta + length(varcomps.names)) {
      fail("par.init is not the correct length. It should contain initial values for the fixed ",
           "effects and variance components.")
    }
    if (any(par.init[-seq_len(nbeta)] <= 1e-9)) {
      fail("Initial values for the variance components in par.init must be positive and ",
           "sufficiently large (greater than 10^-9).")
    }
    doPQL <- FALSE
  }

  # --- mcla's own options ---------------------------------------------------------------------
  # no m (or m = "auto"): automatic m, as the command line's default
  if (missing(m) || is.null(m) || identical(m, "auto")) {
    m <- NULL
  } else if (!is.numeric(m) || length(m) != 1 || !is.finite(m) || m < 1 || m != round(m)) {
    fail("m, the Monte Carlo sample size (per independent block), must be a whole number >= 1, ",
         "e.g. m = 10^4, or \"auto\" (the default: chosen automatically)")
  }
  for (t in list(list(target.mcse.ratio, "target.mcse.ratio"),
                 list(target.loglik.mcse, "target.loglik.mcse"))) {
    if (is.null(t[[1]])) next
    if (!is.numeric(t[[1]]) || length(t[[1]]) != 1 || !is.finite(t[[1]]) || t[[1]] <= 0) {
      fail(t[[2]], " must be a positive number (or NULL for the default)")
    }
    if (!is.null(m)) {
      fail(t[[2]], " is a target of automatic m: leave m out (or m = \"auto\") to use it, or drop it")
    }
    if (!is.null(sampler) && !identical(sampler, mcla_defaults()$sampler)) {
      fail(t[[2]], " is a target of automatic m, which only the adaptive sampler has (sampler = \"",
           sampler, "\" uses a fixed m)")
    }
  }
  check_count(nodes, "nodes", 1, fail)
  check_count(seed, "seed", 0, fail)
  check_count(threads, "threads", 1, fail)
  check_number(rmax, "rmax", fail)
  check_number(zeta, "zeta", fail)
  check_count(iterlim, "iterlim", 1, fail)
  if (!is.null(sampler)) {
    if (!is.character(sampler) || length(sampler) != 1 || is.na(sampler)) {
      fail("sampler must be the name of a sampler, e.g. \"joint\" (R glmm's), or NULL for ",
           "mcla's default")
    }
    if (!mcla_sampler_known_impl(sampler)) {
      fail("unknown sampler \"", sampler, "\": use NULL (mcla's default, currently \"",
           mcla_defaults()$sampler, "\") or one of the samplers listed in ?glmm")
    }
  }

  # --- hand the numeric model to Rust ---------------------------------------------------------
  blocks <- lapply(z, function(zk) {
    nz <- which(zk != 0, arr.ind = TRUE)
    list(i = as.double(nz[, 1] - 1), j = as.double(nz[, 2] - 1), x = as.double(zk[nz]),
         nrow = as.double(nrow(zk)), ncol = as.double(ncol(zk)), names = colnames(zk))
  })
  spec <- list(
    y = as.double(y), trials = if (!is.null(ntrials)) as.double(ntrials),
    x = as.double(x), x_names = colnames(x), random = blocks,
    varcomps_equal = as.double(varcomps.equal), varcomps_names = as.character(varcomps.names),
    family = sub("\\.glmm$", "", family$family.glmm),
    weights = if (!is.null(wts)) as.double(wts))
  options <- list(
    m = if (!is.null(m)) as.double(m), seed = if (!is.null(seed)) as.double(seed),
    mixture = as.double(c(p1, p2, p3)), zeta = as.double(zeta), do_pql = isTRUE(doPQL),
    par_init = if (!is.null(par.init)) as.double(par.init), rmax = as.double(rmax),
    iterlim = as.double(iterlim), threads = if (!is.null(threads)) as.double(threads),
    sampler = sampler, low_memory = isTRUE(low.memory),
    target_mcse_ratio = if (!is.null(target.mcse.ratio)) as.double(target.mcse.ratio),
    target_loglik_mcse = if (!is.null(target.loglik.mcse)) as.double(target.loglik.mcse),
    nodes = if (!is.null(nodes)) as.double(nodes), subtrees = isTRUE(subtrees),
    # for the library's text report (summary())
    call = deparse(call), rows_read = as.double(nrow(mf) + length(na_action)),
    dropped_rows = as.double(length(na_action)))
  out <- mcla_fit_impl(spec, options)
  # The Rust frame has returned: errors are raised here, from R.
  if (!is.null(out$error)) stop_mcla(r_wording(out$error), call, stage = out$stage)
  f <- out$fit
  for (w in f$warnings) warn_mcla(r_wording(w), call)

  # --- the result: R glmm's fields plus mcla's ------------------------------------------------
  pnames <- f$parameter_names
  d <- length(pnames)
  mat <- function(v) matrix(v, d, d, byrow = TRUE, dimnames = list(pnames, pnames))
  named <- function(v) stats::setNames(v, pnames)
  beta <- stats::setNames(f$theta[seq_len(nbeta)], colnames(x))
  nu <- stats::setNames(f$theta[-seq_len(nbeta)], varcomps.names)
  z_grouped <- lapply(seq_along(varcomps.names), function(t) do.call(cbind, z[varcomps.equal == t]))
  names(z_grouped) <- varcomps.names
  start_theta <- f$start_theta
  pql <- f$start_source == "pql"
  path_theta <- matrix(f$path$theta, ncol = d, byrow = TRUE, dimnames = list(NULL, pnames))
  dbg <- if (isTRUE(debug)) {
    list(beta.pql = if (pql) start_theta[seq_len(nbeta)], nu.pql = if (pql) start_theta[-seq_len(nbeta)],
         trust.argpath = path_theta, trust.valpath = f$path$value, trust.r = f$path$radius,
         trust.rho = f$path$rho, trust.accept = f$path$accepted, start = start_theta,
         start.source = f$start_source)
  } else {
    FALSE
  }
  fitted_values <- f$fitted
  names(fitted_values) <- names(y)
  u_start <- stats::setNames(f$start_u, f$effect_names)
  fixed_terms <- stats::terms(fixed_frame)
  structure(list(
    beta = beta, nu = nu,
    loglike.value = f$loglik_glmm, loglike.gradient = named(f$gradient),
    loglike.hessian = mat(f$hessian), trust.converged = f$converged,
    mod.mcml = list(x = x, y = y, z = z_grouped, ntrials = if (is.null(ntrials)) rep(1, length(y)) else ntrials),
    fixedcall = fixed, randcall = randcall, x = x, y = y, z = z, weights = wts,
    family.glmm = family, call = call, varcomps.names = varcomps.names,
    varcomps.equal = varcomps.equal, umat = NULL, pvec = c(p1, p2, p3),
    beta.pql = if (pql) start_theta[seq_len(nbeta)], nu.pql = if (pql) start_theta[-seq_len(nbeta)],
    u.pql = if (pql) u_start, zeta = zeta, cluster = NULL, cores = f$threads, debug = dbg,
    # mcla's fields
    m = f$m, m.auto = f$m_auto, seed = f$seed, sampler = f$sampler, threads = f$threads, low.memory = f$low_memory,
    se = named(f$se), mcse = named(f$mcse), vcov = mat(f$vcov), mcvcov = mat(f$mcvcov),
    z.values = named(f$z_values), p.values = named(f$p_values),
    ess = f$blocks$ess, blocks = data.frame(q = f$blocks$q, n = f$blocks$n, ess = f$blocks$ess,
                                            draws = f$blocks$draws, method = f$blocks$method,
                                            stringsAsFactors = FALSE),
    loglik = f$loglik, loglik.mcse = f$loglik_mcse, iterations = f$iterations,
    start = list(source = f$start_source, theta = named(start_theta)),
    trust.path = list(theta = path_theta, value = f$path$value, radius = f$path$radius,
                      rho = f$path$rho, accepted = f$path$accepted),
    warnings = vapply(f$warnings, r_wording, "", USE.NAMES = FALSE),
    timings = f$timings, nobs = as.integer(f$n), ntrials = ntrials,
    linear.predictors = stats::setNames(f$linear_predictor, names(y)),
    fitted.values = fitted_values, na.action = na_action,
    family.name = f$family, link.name = f$link,
    ranef = as.data.frame(f$ranef, stringsAsFactors = FALSE),
    report = r_wording(f$report),
    # what predict() and anova() need: the formulas as fitted (after splitting (1 | g) terms),
    # the fixed terms with their factor levels and contrasts, the rows used, and the library's
    # fit itself (an external pointer; NULL after saveRDS/readRDS)
    random.formulas = random, effect.names = f$effect_names, terms = fixed_terms,
    random.frame = mf[intersect(unlist(lapply(random, all.vars)), names(mf))],
    xlevels = stats::.getXlevels(fixed_terms, fixed_frame), contrasts = attr(x, "contrasts"),
    rows.used = if (is.null(na_action)) seq_len(nrow(mf)) else
      seq_len(nrow(mf) + length(na_action))[-as.integer(na_action)],
    handle = out$handle,
    mcla.version = mcla_defaults()$version,
    # the numeric model and options as handed to the library (bootstrap(), power())
    mcla.spec = spec, mcla.options = options
  ), class = c("mcla", "glmm"))
}

# --- helpers --------------------------------------------------------------------------------

#' The library's default options (m, seed, mixture, zeta, rmax, iterlim, sampler, ...)
#' @noRd
mcla_defaults <- function() mcla_defaults_impl()

stop_mcla <- function(message, call = NULL, stage = "input") {
  stop(structure(class = c("mcla_error", "error", "condition"),
                 list(message = message, call = call, stage = stage)))
}

warn_mcla <- function(message, call = NULL) {
  warning(structure(class = c("mcla_warning", "warning", "condition"),
                    list(message = message, call = call)))
}

# Integer grouping IDs (read.csv makes `Female` an integer column): in a random formula they give
# one random slope on the ID numbers, not one random effect per level -- a different model with
# no error. Refused, naming the column and the fix; a numeric covariate that is not whole numbers
# is a deliberate slope, with the command line's warning (issued before the fit's own warnings).
check_numeric_ids <- function(r, mf, fail) {
  labels <- attr(stats::terms(r), "term.labels")
  if (any(grepl(":", labels, fixed = TRUE))) return(invisible())  # slopes per level, (0 + x | g)
  rtext <- paste(deparse(r, width.cutoff = 500L), collapse = " ")
  for (v in all.vars(r)) {
    if (!v %in% names(mf) || !v %in% labels) next
    col <- mf[[v]]
    if (!is.numeric(col) || inherits(col, "AsIs")) next
    vals <- col[!is.na(col)]
    if (all(vals %in% c(0, 1))) next  # an indicator
    if (all(vals == round(vals))) {
      fail("random formula '", rtext, "' uses the numeric column '", v, "' (whole numbers, ",
           length(unique(vals)), " distinct values from ", min(vals), " to ", max(vals),
           "): that is one random slope on the ID numbers, not one random effect per level. If '",
           v, "' identifies groups, write factor(", v, ") in the formula or convert the column ",
           "first (data$", v, " <- factor(data$", v, ")); for a deliberate slope on these values, ",
           "write I(", v, ")")
    }
    warn_mcla(paste0("random formula '", rtext, "' gives numeric column '", v, "': one random ",
                     "slope on the values, not one random effect per level; if the column ",
                     "identifies groups, write factor(", v, ")"), NULL)
  }
  invisible()
}

check_flag <- function(v, name, fail) {
  if (!is.logical(v) || length(v) != 1 || is.na(v)) fail(name, " must be TRUE or FALSE")
}

check_number <- function(v, name, fail) {
  if (!is.numeric(v) || length(v) != 1 || is.na(v)) fail(name, " must be a single number")
}

check_count <- function(v, name, lowest, fail) {
  if (is.null(v)) return(invisible())
  if (!is.numeric(v) || length(v) != 1 || !is.finite(v) || v < lowest || v != round(v) ||
      v > 2^53) {
    fail(name, " must be a whole number >= ", lowest, if (name != "iterlim") " (or NULL for the default)")
  }
}

# The library words its messages for the command line; name R's arguments instead.
r_wording <- function(msg) {
  # "--par-init 1.2,0.5" (a ready-made restart) -> "par.init = c(1.2, 0.5)"
  hits <- gregexpr("--par-init -?[0-9][-0-9eE.+,]*[0-9]", msg)
  regmatches(msg, hits) <- lapply(regmatches(msg, hits), function(h) {
    paste0("par.init = c(", gsub(",", ", ", sub("--par-init ", "", h, fixed = TRUE), fixed = TRUE), ")")
  })
  flags <- c("--m auto" = "m = \"auto\"", "--target-mcse-ratio" = "target.mcse.ratio",
             "--target-loglik-mcse" = "target.loglik.mcse", "--nodes" = "nodes",
             "--low-memory" = "low.memory = TRUE", "--subtrees" = "subtrees = TRUE", "--no-pql" = "doPQL = FALSE",
             "--par-init" = "par.init", "--mixture" = "p1, p2, p3", "--zeta" = "zeta",
             "--rmax" = "rmax", "--iterlim" = "iterlim", "--threads" = "threads",
             "--sampler" = "sampler", "--weights" = "weights", "--varcomps-equal" = "varcomps.equal",
             "--varcomps" = "varcomps.names", "--family binomial" = "family.glmm = binomial.glmm",
             "--family" = "family.glmm", "--seed" = "seed")
  for (f in names(flags)) msg <- gsub(f, flags[[f]], msg, fixed = TRUE)
  gsub("--m\\b", "m", msg, perl = TRUE)
}

# A deliberate panic inside the Rust binding, raised the way glmm() raises library errors
# (for the tests: a panic must arrive as an ordinary R error, never crash R).
panic_test <- function() {
  out <- mcla_panic_test_impl()
  if (!is.null(out$error)) stop_mcla(out$error, sys.call(), stage = out$stage)
  out
}
