# Wrappers of the registered Rust functions (src/init.c, src/rust/src/lib.rs), in the form
# savvy-cli 0.11 generates. Internal: users call glmm().

mcla_fit_impl <- function(spec, options) {
  .Call(savvy_mcla_fit_impl__impl, spec, options)
}

mcla_defaults_impl <- function() {
  .Call(savvy_mcla_defaults_impl__impl)
}

mcla_sampler_known_impl <- function(name) {
  .Call(savvy_mcla_sampler_known_impl__impl, name)
}

mcla_panic_test_impl <- function() {
  .Call(savvy_mcla_panic_test_impl__impl)
}

mcla_predict_impl <- function(handle, newdata) {
  .Call(savvy_mcla_predict_impl__impl, handle, newdata)
}

mcla_anova_impl <- function(models) {
  .Call(savvy_mcla_anova_impl__impl, models)
}

mcla_expand_formula_impl <- function(text) {
  .Call(savvy_mcla_expand_formula_impl__impl, text)
}

mcla_random_intercept_message_impl <- function(formula, labels) {
  .Call(savvy_mcla_random_intercept_message_impl__impl, formula, labels)
}

mcla_bootstrap_impl <- function(spec, options, control) {
  .Call(savvy_mcla_bootstrap_impl__impl, spec, options, control)
}

mcla_power_impl <- function(spec, options, control) {
  .Call(savvy_mcla_power_impl__impl, spec, options, control)
}
