# Issue 18.8: `R CMD INSTALL r/` must not build inside the source tree. src/Makevars builds in a
# fresh temporary directory (removed after linking) unless the caller sets CARGO_TARGET_DIR, which
# is then used and kept (.ci/run shares the repository's target/). Checked with `make -n`, which
# shows the commands without running cargo.

makevars_plan <- function(target_dir) {
  root <- repo_root()
  if (is.null(root) || Sys.which("make") == "") skip_or_fail("the repository's r/src/Makevars and make")
  src <- file.path(root, "r", "src")
  env <- if (is.null(target_dir)) "CARGO_TARGET_DIR=" else paste0("CARGO_TARGET_DIR=", target_dir)
  out <- system2("env", c(env, "make", "-n", "-C", shQuote(src), "-f", "Makevars",
                          "SHLIB=mcla.so", "cleanup"), stdout = TRUE, stderr = TRUE)
  list(src = normalizePath(src), out = out)
}

test_that("without CARGO_TARGET_DIR, cargo builds in a temporary directory that is removed", {
  plan <- makevars_plan(NULL)
  build <- grep("cargo build", plan$out, value = TRUE)
  expect_length(build, 1)
  dir <- sub('.*--target-dir "([^"]+)".*', "\\1", build)
  on.exit(unlink(dir, recursive = TRUE))  # `make -n` still ran the mktemp that names it
  expect_match(basename(dir), "^mcla-r-cargo\\.")
  expect_false(startsWith(normalizePath(dir, mustWork = FALSE), plan$src))
  expect_true(any(grepl(sprintf('rm -rf "%s"', dir), plan$out, fixed = TRUE)))
})

test_that("a CARGO_TARGET_DIR set by the caller is used and kept", {
  plan <- makevars_plan("/some/shared/target")
  expect_true(any(grepl('--target-dir "/some/shared/target"', plan$out, fixed = TRUE)))
  expect_false(any(grepl("rm -rf \"/some/shared/target\"", plan$out, fixed = TRUE)))
})
