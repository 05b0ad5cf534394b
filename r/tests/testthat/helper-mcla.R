# Shared test support: the repository root, the reference data in ../shared (read in place,
# never copied), the mcla command-line tool, simulated data.

# The repository root: MCLA_REPO_ROOT, or the first directory above the working directory
# holding both Cargo.toml and r/DESCRIPTION.
repo_root <- function() {
  env <- Sys.getenv("MCLA_REPO_ROOT")
  if (nzchar(env)) return(normalizePath(env))
  dir <- normalizePath(getwd())
  repeat {
    if (file.exists(file.path(dir, "Cargo.toml")) && file.exists(file.path(dir, "r", "DESCRIPTION"))) {
      return(dir)
    }
    parent <- dirname(dir)
    if (parent == dir) return(NULL)
    dir <- parent
  }
}

require_reference <- function() identical(Sys.getenv("MCLA_REQUIRE_REFERENCE"), "1")

# Skip (with a notice) when a needed resource is absent -- or fail, under MCLA_REQUIRE_REFERENCE=1.
skip_or_fail <- function(what) {
  if (require_reference()) stop("MCLA_REQUIRE_REFERENCE=1 but ", what, " is missing")
  skip(paste0("NOTICE: ", what, " not found; skipping a test that needs it"))
}

# ../shared beside the repository (as the Rust tests find it), or skip.
shared_dir <- function() {
  root <- repo_root()
  dir <- if (is.null(root)) NULL else file.path(dirname(root), "shared")
  if (is.null(dir) || !file.exists(file.path(dir, "SPEC.md"))) {
    skip_or_fail(paste0("the reference directory ", if (is.null(dir)) "../shared" else dir))
  }
  normalizePath(dir)
}

# A reference data set with its factor columns as R glmm's data has them (level order from
# data/factor_levels.json).
read_dataset <- function(name) {
  dir <- shared_dir()
  levels <- jsonlite::fromJSON(file.path(dir, "data", "factor_levels.json"))[[name]]
  cls <- stats::setNames(rep("character", length(levels)), names(levels))
  d <- utils::read.csv(file.path(dir, "data", paste0(name, ".csv")), colClasses = cls)
  for (v in names(levels)) d[[v]] <- factor(d[[v]], levels = levels[[v]])
  d
}

read_fixture <- function(name) {
  jsonlite::fromJSON(file.path(shared_dir(), "fixtures", paste0(name, ".json")),
                     simplifyVector = TRUE)
}

# The mcla command-line tool built by `cargo build --release` / `cargo test --release`.
cli_path <- function() {
  env <- Sys.getenv("MCLA_CLI")
  candidates <- c(if (nzchar(env)) env,
                  if (nzchar(Sys.getenv("CARGO_TARGET_DIR")))
                    file.path(Sys.getenv("CARGO_TARGET_DIR"), "release", "mcla"),
                  if (!is.null(repo_root())) file.path(repo_root(), "target", "release", "mcla"))
  hit <- candidates[file.exists(candidates)]
  if (!length(hit)) skip_or_fail("the mcla command-line tool (cargo build --release)")
  normalizePath(hit[[1]])
}

# Run the CLI with JSON output and parse it (numbers parsed exactly: digits = NA).
cli_fit <- function(args) {
  out <- system2(cli_path(), shQuote(c("fit", args, "--format", "json", "--quiet")), stdout = TRUE,
                 stderr = FALSE)
  status <- attr(out, "status")
  if (!is.null(status) && status != 0) stop("mcla fit failed with status ", status)
  jsonlite::fromJSON(paste(out, collapse = "\n"), simplifyVector = TRUE)
}

# A small simulated data set: `groups` groups with a random intercept (variance nu), one
# covariate, bernoulli / binomial / poisson responses.
simulate_groups <- function(groups = 12, per = 10, beta = c(-0.5, 1), nu = 1.5, seed = 42) {
  set.seed(seed)
  g <- factor(rep(seq_len(groups), each = per))
  x <- round(stats::runif(groups * per, -1, 1), 3)
  u <- stats::rnorm(groups, 0, sqrt(nu))[g]
  eta <- beta[1] + beta[2] * x + u
  n <- rep(c(3, 5), length.out = groups * per)
  data.frame(g = g, x = x, y = stats::rbinom(length(eta), 1, stats::plogis(eta)),
             s = stats::rbinom(length(eta), n, stats::plogis(eta)), n = n,
             count = stats::rpois(length(eta), exp(eta)))
}

# Evaluate `expr`, collecting (and muffling) its warnings: list(value, warnings, classes).
collect_warnings <- function(expr) {
  msgs <- character()
  classes <- list()
  value <- withCallingHandlers(expr, warning = function(w) {
    msgs <<- c(msgs, conditionMessage(w))
    classes[[length(classes) + 1]] <<- class(w)
    invokeRestart("muffleWarning")
  })
  list(value = value, warnings = msgs, classes = classes)
}
