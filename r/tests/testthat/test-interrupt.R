# Issue 16.3: a long fit stops on Ctrl-C. An R child process starts a deliberately long fit
# (m = 10^6); 1 s in, this test sends it SIGINT, as Ctrl-C does. The fit must stop promptly as an
# ordinary R interrupt (caught by tryCatch(interrupt = )), and the session must stay usable: the
# child then fits a small model and exits normally.

test_that("SIGINT stops a long fit promptly and leaves the R session usable", {
  skip_on_os("windows")
  dir <- tempfile("mcla-interrupt")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE), add = TRUE)
  started <- file.path(dir, "started")
  script <- file.path(dir, "child.R")
  writeLines(c(
    sprintf(".libPaths(c(%s, .libPaths()))", paste(deparse(.libPaths()), collapse = "")),
    "library(mcla)",
    "set.seed(3)",
    "d <- expand.grid(fpos = 0:5, mpos = 0:5, grp = 1:2)",
    "d$female <- factor(paste0('f', 6 * (d$grp - 1) + d$fpos))",
    "d$male <- factor(paste0('m', 6 * (d$grp - 1) + d$mpos))",
    "u <- rnorm(12)[as.integer(d$female)] + rnorm(12)[as.integer(d$male)]",
    "d$y <- rbinom(nrow(d), 1, plogis(0.3 + u))",
    sprintf("writeLines(as.character(Sys.getpid()), %s)", deparse(started)),
    "res <- tryCatch(glmm(y ~ 1, random = list(~ 0 + female, ~ 0 + male),",
    "                     varcomps.names = c('F', 'M'), data = d,",
    "                     family.glmm = bernoulli.glmm, m = 10^6),",
    "                interrupt = function(e) 'interrupted')",
    "cat('STOPPED', format(as.numeric(Sys.time()), digits = 15), '\\n')",
    "cat('RESULT', if (identical(res, 'interrupted')) 'interrupted' else 'finished', '\\n')",
    "small <- glmm(y ~ 1, random = list(~ 0 + female), varcomps.names = 'F', data = d,",
    "              family.glmm = bernoulli.glmm, m = 100)",
    "cat('AFTER', isTRUE(small$trust.converged), '\\n')"
  ), script)
  out <- file.path(dir, "out.txt")
  rscript <- file.path(R.home("bin"), "Rscript")
  system2(rscript, c("--vanilla", shQuote(script)), stdout = out, stderr = out, wait = FALSE)
  t0 <- Sys.time()
  while (!file.exists(started) || !length(readLines(started, warn = FALSE))) {
    if (as.numeric(Sys.time() - t0, units = "secs") > 60) stop("the child R process did not start: ",
                                                               if (file.exists(out)) paste(readLines(out), collapse = "\n"))
    Sys.sleep(0.05)
  }
  pid <- as.integer(readLines(started, warn = FALSE)[1])
  Sys.sleep(1)
  sent <- as.numeric(Sys.time())
  tools::pskill(pid, tools::SIGINT)
  lines <- character()
  while (!any(grepl("^AFTER", lines))) {
    if (as.numeric(Sys.time()) - sent > 120) {
      tools::pskill(pid, tools::SIGKILL)
      stop(paste(c("the child did not finish after the interrupt:", lines), collapse = "\n"))
    }
    Sys.sleep(0.1)
    lines <- if (file.exists(out)) readLines(out, warn = FALSE) else character()
  }
  expect_true(any(grepl("^RESULT interrupted", lines)), info = paste(lines, collapse = "\n"))
  expect_true(any(grepl("^AFTER TRUE", lines)), info = paste(lines, collapse = "\n"))
  stopped <- as.numeric(sub("^STOPPED ", "", grep("^STOPPED", lines, value = TRUE)))
  latency <- stopped - sent
  message(sprintf("interrupt latency: %.2f s", latency))
  # the library stops within about a second of the flag; the margin is for a loaded machine
  expect_lt(latency, 3)
})
