# Run by `R CMD check` and by .ci/run (testthat::test_local / test_dir on the installed package).
library(testthat)
library(mcla)
test_check("mcla")
