/* Registration of the Rust functions, in the form savvy-cli 0.11 generates.
 *
 * The Rust side never raises an R error itself: it returns either a value or a tagged pointer
 * (low bit set) to an error message (or an unwind token, if an R API call inside Rust failed),
 * and handle_result() raises the error here, in C, after the Rust frame has returned. mcla's own
 * failures do not even take this path: they come back as list(error = ...) and R calls stop(). */

// clang-format off
#include <stdint.h>
#include <Rinternals.h>
#include <R_ext/Parse.h>
// clang-format on

#include "rust/api.h"

static uintptr_t TAGGED_POINTER_MASK = (uintptr_t)1;

SEXP handle_result(SEXP res_) {
    uintptr_t res = (uintptr_t)res_;
    if ((res & TAGGED_POINTER_MASK) == 1) {
        SEXP res_aligned = (SEXP)(res & ~TAGGED_POINTER_MASK);
        if (TYPEOF(res_aligned) == CHARSXP) {
            Rf_errorcall(R_NilValue, "%s", CHAR(res_aligned));
        } else {
            R_ContinueUnwind(res_aligned);
        }
    }
    return (SEXP)res;
}

SEXP savvy_mcla_fit_impl__impl(SEXP c_arg__spec, SEXP c_arg__options) {
    SEXP res = savvy_mcla_fit_impl__ffi(c_arg__spec, c_arg__options);
    return handle_result(res);
}

SEXP savvy_mcla_defaults_impl__impl(void) {
    SEXP res = savvy_mcla_defaults_impl__ffi();
    return handle_result(res);
}

SEXP savvy_mcla_sampler_known_impl__impl(SEXP c_arg__name) {
    SEXP res = savvy_mcla_sampler_known_impl__ffi(c_arg__name);
    return handle_result(res);
}

SEXP savvy_mcla_panic_test_impl__impl(void) {
    SEXP res = savvy_mcla_panic_test_impl__ffi();
    return handle_result(res);
}

SEXP savvy_mcla_predict_impl__impl(SEXP c_arg__handle, SEXP c_arg__newdata) {
    SEXP res = savvy_mcla_predict_impl__ffi(c_arg__handle, c_arg__newdata);
    return handle_result(res);
}

SEXP savvy_mcla_anova_impl__impl(SEXP c_arg__models) {
    SEXP res = savvy_mcla_anova_impl__ffi(c_arg__models);
    return handle_result(res);
}

SEXP savvy_mcla_expand_formula_impl__impl(SEXP c_arg__text) {
    SEXP res = savvy_mcla_expand_formula_impl__ffi(c_arg__text);
    return handle_result(res);
}

SEXP savvy_mcla_random_intercept_message_impl__impl(SEXP c_arg__formula, SEXP c_arg__labels) {
    SEXP res = savvy_mcla_random_intercept_message_impl__ffi(c_arg__formula, c_arg__labels);
    return handle_result(res);
}

SEXP savvy_mcla_bootstrap_impl__impl(SEXP c_arg__spec, SEXP c_arg__options, SEXP c_arg__control) {
    SEXP res = savvy_mcla_bootstrap_impl__ffi(c_arg__spec, c_arg__options, c_arg__control);
    return handle_result(res);
}

SEXP savvy_mcla_power_impl__impl(SEXP c_arg__spec, SEXP c_arg__options, SEXP c_arg__control) {
    SEXP res = savvy_mcla_power_impl__ffi(c_arg__spec, c_arg__options, c_arg__control);
    return handle_result(res);
}

static const R_CallMethodDef CallEntries[] = {
    {"savvy_mcla_fit_impl__impl", (DL_FUNC) &savvy_mcla_fit_impl__impl, 2},
    {"savvy_mcla_defaults_impl__impl", (DL_FUNC) &savvy_mcla_defaults_impl__impl, 0},
    {"savvy_mcla_sampler_known_impl__impl", (DL_FUNC) &savvy_mcla_sampler_known_impl__impl, 1},
    {"savvy_mcla_panic_test_impl__impl", (DL_FUNC) &savvy_mcla_panic_test_impl__impl, 0},
    {"savvy_mcla_predict_impl__impl", (DL_FUNC) &savvy_mcla_predict_impl__impl, 2},
    {"savvy_mcla_anova_impl__impl", (DL_FUNC) &savvy_mcla_anova_impl__impl, 1},
    {"savvy_mcla_expand_formula_impl__impl", (DL_FUNC) &savvy_mcla_expand_formula_impl__impl, 1},
    {"savvy_mcla_random_intercept_message_impl__impl", (DL_FUNC) &savvy_mcla_random_intercept_message_impl__impl, 2},
    {"savvy_mcla_bootstrap_impl__impl", (DL_FUNC) &savvy_mcla_bootstrap_impl__impl, 3},
    {"savvy_mcla_power_impl__impl", (DL_FUNC) &savvy_mcla_power_impl__impl, 3},
    {NULL, NULL, 0}
};

void R_init_mcla(DllInfo *dll) {
    R_registerRoutines(dll, NULL, CallEntries, NULL, NULL);
    R_useDynamicSymbols(dll, FALSE);
}
