//! R-style model formulas, CSV data frames and model matrices for `mcla`.
//!
//! * [`grammar`] parses formula text (`Mate ~ 0 + Cross`, `cbind(s, f) ~ x * g`,
//!   `~ 0 + Female`) into a [`Formula`] with R's term algebra; it never panics.
//! * [`frame`] reads a CSV file into a typed [`DataFrame`] (numeric / logical / categorical).
//! * [`design`] builds the response, the dense fixed-effects matrix X and sparse random-effect
//!   matrices Z with R's `model.matrix` semantics ([`build_design`]).
//!
//! Numbers in a CSV are numeric even when quoted (as in R's `read.csv`), so ID columns coded as
//! numbers must be declared categorical with [`FrameOptions::factor_columns`] or
//! [`FrameOptions::levels`], or written as `factor(id)` in the formula.
//!
//! ```
//! use mcla_formula::{build_design, DataFrame, FrameOptions};
//!
//! let csv = "y,dose,group\n1,0.5,a\n0,1.5,b\n1,2.0,a\n0,,b\n1,3.0,c\n";
//! let frame = DataFrame::from_reader(csv.as_bytes(), &FrameOptions::default()).unwrap();
//! let d = build_design(&frame, "y ~ dose + group", &["~ 0 + group"], None).unwrap();
//! assert_eq!(d.x_names, ["(Intercept)", "dose", "groupb", "groupc"]);
//! assert_eq!(d.dropped_rows, 1); // row 4 has no dose
//! assert_eq!(d.kept_rows, [0, 1, 2, 4]);
//! // X is column-major: the `dose` column
//! assert_eq!(&d.x[4..8], &[0.5, 1.5, 2.0, 3.0]);
//! let z = &d.random[0];
//! assert_eq!(z.col_names, ["groupa", "groupb", "groupc"]);
//! assert_eq!(z.col_idx, [0, 1, 0, 2]);
//! ```
#![deny(missing_docs)]

pub mod design;
pub mod frame;
pub mod grammar;
pub mod mixed;

pub use design::{build_design, build_design_from_formulas, Design, DesignError, RandomDesign};
pub use frame::{Categorical, Column, ColumnData, DataFrame, FrameError, FrameOptions, RawColumn};
pub use grammar::{parse_formula, Formula, ParseError, ParseErrorKind, Response, Term, Variable};
pub use mixed::{expand_mixed_formula, MixedFormula, MixedFormulaError};
