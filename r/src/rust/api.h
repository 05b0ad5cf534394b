/* Declarations of the functions exported by the Rust binding crate (src/rust/src/lib.rs),
 * as savvy 0.11 names them: `savvy_<name>__ffi`. Keep in sync with the #[savvy] functions. */
SEXP savvy_mcla_fit_impl__ffi(SEXP c_arg__spec, SEXP c_arg__options);
SEXP savvy_mcla_defaults_impl__ffi(void);
SEXP savvy_mcla_sampler_known_impl__ffi(SEXP c_arg__name);
SEXP savvy_mcla_panic_test_impl__ffi(void);
SEXP savvy_mcla_predict_impl__ffi(SEXP c_arg__handle, SEXP c_arg__newdata);
SEXP savvy_mcla_anova_impl__ffi(SEXP c_arg__models);
SEXP savvy_mcla_expand_formula_impl__ffi(SEXP c_arg__text);
SEXP savvy_mcla_random_intercept_message_impl__ffi(SEXP c_arg__formula, SEXP c_arg__labels);
SEXP savvy_mcla_bootstrap_impl__ffi(SEXP c_arg__spec, SEXP c_arg__options, SEXP c_arg__control);
SEXP savvy_mcla_power_impl__ffi(SEXP c_arg__spec, SEXP c_arg__options, SEXP c_arg__control);
