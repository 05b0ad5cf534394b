//! Hand-derived model matrices (R's `model.matrix` rules) on a small data set.

use mcla_formula::{
    build_design, parse_formula, DataFrame, Design, DesignError, FrameError, FrameOptions,
};

/// Six rows. a: p q r p q r (levels p, q, r); b: u u v v u v (levels u, v).
const CSV: &str = "\
y,x,a,b,s,f,w,week,id,lg
1,1,p,u,2,1,1,0,3,TRUE
0,2,q,u,0,3,2,2,1,FALSE
1,3,r,v,1,1,1,4,10,TRUE
0,4,p,v,3,0,0.5,6,2,TRUE
1,5,q,u,2,2,1,11,10,FALSE
0,6,r,v,1,2,1,2,3,FALSE
";

fn frame() -> DataFrame {
    DataFrame::from_reader(CSV.as_bytes(), &FrameOptions::default()).unwrap()
}

fn design(fixed: &str, random: &[&str]) -> Design {
    build_design(&frame(), fixed, random, None).unwrap()
}

fn col<'a>(d: &'a Design, name: &str) -> &'a [f64] {
    let j = d
        .x_names
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", d.x_names));
    &d.x[j * d.n()..(j + 1) * d.n()]
}

/// Dense copy of a CSR block, row-major rows.
fn dense_z(d: &Design, k: usize) -> Vec<Vec<f64>> {
    let z = &d.random[k];
    let mut out = vec![vec![0.0; z.col_names.len()]; z.row_ptr.len() - 1];
    for (i, row) in out.iter_mut().enumerate() {
        for p in z.row_ptr[i]..z.row_ptr[i + 1] {
            row[z.col_idx[p]] = z.values[p];
        }
    }
    out
}

#[test]
fn one_factor_with_intercept_uses_treatment_contrasts() {
    let d = design("y ~ a", &[]);
    assert_eq!(d.x_names, ["(Intercept)", "aq", "ar"]);
    #[rustfmt::skip]
    let expected = [
        1., 1., 1., 1., 1., 1.,
        0., 1., 0., 0., 1., 0.,
        0., 0., 1., 0., 0., 1.,
    ];
    assert_eq!(d.x, expected);
    assert_eq!(d.y, [1., 0., 1., 0., 1., 0.]);
    assert_eq!(d.response_name, "y");
    assert_eq!(d.trials, None);
    assert_eq!(d.dropped_rows, 0);
    assert_eq!(d.kept_rows, [0, 1, 2, 3, 4, 5]);
    assert_eq!(d.n_rows_read, 6);
}

#[test]
fn one_factor_without_intercept_is_full_indicator_coding() {
    for f in ["y ~ 0 + a", "y ~ a - 1", "y ~ -1 + a", "y ~ a + 0"] {
        let d = design(f, &[]);
        assert_eq!(d.x_names, ["ap", "aq", "ar"], "{f}");
        #[rustfmt::skip]
        let expected = [
            1., 0., 0., 1., 0., 0.,
            0., 1., 0., 0., 1., 0.,
            0., 0., 1., 0., 0., 1.,
        ];
        assert_eq!(d.x, expected, "{f}");
    }
    // `+ 1` puts the intercept back.
    let d = design("y ~ 0 + a + 1", &[]);
    assert_eq!(d.x_names, ["(Intercept)", "aq", "ar"]);
}

#[test]
fn two_factors_without_intercept_first_full_second_contrasts() {
    let d = design("y ~ 0 + a + b", &[]);
    assert_eq!(d.x_names, ["ap", "aq", "ar", "bv"]);
    assert_eq!(col(&d, "bv"), [0., 0., 1., 1., 0., 1.]);
    let d = design("y ~ a + b", &[]);
    assert_eq!(d.x_names, ["(Intercept)", "aq", "ar", "bv"]);
}

#[test]
fn crossing_expands_to_main_effects_and_interaction() {
    let d = design("y ~ a * b", &[]);
    assert_eq!(
        d.x_names,
        ["(Intercept)", "aq", "ar", "bv", "aq:bv", "ar:bv"]
    );
    // rows: (p,u) (q,u) (r,v) (p,v) (q,u) (r,v)
    assert_eq!(col(&d, "aq:bv"), [0.; 6]);
    assert_eq!(col(&d, "ar:bv"), [0., 0., 1., 0., 0., 1.]);
    // Same as writing the terms out.
    let e = design("y ~ a + b + a:b", &[]);
    assert_eq!(e.x_names, d.x_names);
    assert_eq!(e.x, d.x);
    // Within an order, terms keep their order of appearance (R): b before a here.
    let e = design("y ~ a:b + b + a", &[]);
    assert_eq!(
        e.x_names,
        ["(Intercept)", "bv", "aq", "ar", "aq:bv", "ar:bv"]
    );
}

#[test]
fn interaction_without_main_effects_follows_termcode() {
    // R's TermCode for the term a:b with an intercept and no main effects: dropping a leaves
    // {b}, which is neither empty nor contained in an earlier term, so a gets full indicator
    // coding; likewise b. model.matrix(~ a:b) therefore has the intercept plus all 6
    // combinations (rank deficient, as in R), with the first variable varying fastest.
    let d = design("y ~ a:b", &[]);
    assert_eq!(
        d.x_names,
        [
            "(Intercept)",
            "ap:bu",
            "aq:bu",
            "ar:bu",
            "ap:bv",
            "aq:bv",
            "ar:bv"
        ]
    );
    assert_eq!(col(&d, "ap:bu"), [1., 0., 0., 0., 0., 0.]);
    assert_eq!(col(&d, "aq:bu"), [0., 1., 0., 0., 1., 0.]);
    assert_eq!(col(&d, "ar:bu"), [0.; 6]);
    assert_eq!(col(&d, "ap:bv"), [0., 0., 0., 1., 0., 0.]);
    assert_eq!(col(&d, "ar:bv"), [0., 0., 1., 0., 0., 1.]);
}

#[test]
fn termcode_uses_containment_in_an_earlier_term() {
    // ~ a:b + a:factor(week): in the second term, dropping factor(week) leaves {a}, which is
    // contained in the earlier term a:b, so factor(week) is contrast coded; dropping a leaves
    // {factor(week)}, not in any earlier term, so a is fully coded.
    let d = design("y ~ a:b + a:factor(week)", &[]);
    let weeks = ["2", "4", "6", "11"]; // levels 0 2 4 6 11, first dropped
    let mut expected: Vec<String> = vec!["(Intercept)".into()];
    for b in ["u", "v"] {
        for a in ["p", "q", "r"] {
            expected.push(format!("a{a}:b{b}"));
        }
    }
    for w in weeks {
        for a in ["p", "q", "r"] {
            expected.push(format!("a{a}:factor(week){w}"));
        }
    }
    assert_eq!(d.x_names, expected);
}

#[test]
fn numeric_by_factor() {
    // x:a with intercept: dropping a leaves {x}, not an earlier term -> a full.
    let d = design("y ~ x:a", &[]);
    assert_eq!(d.x_names, ["(Intercept)", "x:ap", "x:aq", "x:ar"]);
    assert_eq!(col(&d, "x:ap"), [1., 0., 0., 4., 0., 0.]);
    assert_eq!(col(&d, "x:aq"), [0., 2., 0., 0., 5., 0.]);
    assert_eq!(col(&d, "x:ar"), [0., 0., 3., 0., 0., 6.]);
    // Variables are ordered by first appearance: here a comes first.
    let d = design("y ~ a:x", &[]);
    assert_eq!(d.x_names, ["(Intercept)", "ap:x", "aq:x", "ar:x"]);
    // With x as a main effect first, a:x is written x:a and a uses contrasts.
    let d = design("y ~ x + a:x", &[]);
    assert_eq!(d.x_names, ["(Intercept)", "x", "x:aq", "x:ar"]);
    assert_eq!(col(&d, "x:ar"), [0., 0., 3., 0., 0., 6.]);
    // No intercept: first factor of the first term with a factor is fully coded.
    let d = design("y ~ 0 + x + a", &[]);
    assert_eq!(d.x_names, ["x", "ap", "aq", "ar"]);
    assert_eq!(col(&d, "x"), [1., 2., 3., 4., 5., 6.]);
}

#[test]
fn term_ordering_and_duplicates() {
    let d = design("y ~ a*b*x", &[]);
    assert_eq!(
        d.x_names,
        [
            "(Intercept)",
            "aq",
            "ar",
            "bv",
            "x",
            "aq:bv",
            "ar:bv",
            "aq:x",
            "ar:x",
            "bv:x",
            "aq:bv:x",
            "ar:bv:x"
        ]
    );
    let f = parse_formula("y ~ a + a + b:a + a:b + x:a").unwrap();
    assert_eq!(f.term_labels(), ["a", "a:b", "a:x"]);
    let f = parse_formula("y ~ (a + b + x)^2").unwrap();
    assert_eq!(f.term_labels(), ["a", "b", "x", "a:b", "a:x", "b:x"]);
    let f = parse_formula("y ~ a/b").unwrap();
    assert_eq!(f.term_labels(), ["a", "a:b"]);
    let f = parse_formula("y ~ (a + b):x").unwrap();
    assert_eq!(f.term_labels(), ["a:x", "b:x"]);
    let f = parse_formula("y ~ a*b - a:b").unwrap();
    assert_eq!(f.term_labels(), ["a", "b"]);
}

#[test]
fn i_and_functions() {
    let d = design("y ~ x + I(x^2) + log(x) + I(x/2 - 1)", &[]);
    assert_eq!(
        d.x_names,
        ["(Intercept)", "x", "I(x^2)", "log(x)", "I(x/2 - 1)"]
    );
    assert_eq!(col(&d, "I(x^2)"), [1., 4., 9., 16., 25., 36.]);
    assert_eq!(col(&d, "log(x)")[1], 2f64.ln());
    assert_eq!(col(&d, "I(x/2 - 1)"), [-0.5, 0., 0.5, 1., 1.5, 2.]);
    // Logical I() is a factor with levels FALSE, TRUE. week: 0 2 4 6 11 2.
    let d = design("y ~ I(week>2)", &[]);
    assert_eq!(d.x_names, ["(Intercept)", "I(week > 2)TRUE"]);
    assert_eq!(col(&d, "I(week > 2)TRUE"), [0., 0., 1., 1., 1., 0.]);
    let d = design("y ~ 0 + I(week >= 2 & x < 5)", &[]);
    assert_eq!(
        d.x_names,
        ["I(week >= 2 & x < 5)FALSE", "I(week >= 2 & x < 5)TRUE"]
    );
    assert_eq!(
        col(&d, "I(week >= 2 & x < 5)TRUE"),
        [0., 1., 1., 1., 0., 0.]
    );
    // Categorical compared with a quoted level.
    let d = design("y ~ I(a == 'q')", &[]);
    assert_eq!(d.x_names, ["(Intercept)", "I(a == \"q\")TRUE"]);
    assert_eq!(col(&d, "I(a == \"q\")TRUE"), [0., 1., 0., 0., 1., 0.]);
    // Logical literals.
    let d = design("y ~ I(lg == FALSE)", &[]);
    assert_eq!(d.x_names, ["(Intercept)", "I(lg == FALSE)TRUE"]);
    assert_eq!(col(&d, "I(lg == FALSE)TRUE"), [0., 1., 0., 0., 1., 1.]);
    // Logical column.
    let d = design("y ~ lg", &[]);
    assert_eq!(d.x_names, ["(Intercept)", "lgTRUE"]);
    assert_eq!(col(&d, "lgTRUE"), [1., 0., 1., 1., 0., 0.]);
    // Unary minus, exp, sqrt.
    let d = design("y ~ 0 + I(-x) + exp(x) + sqrt(x)", &[]);
    assert_eq!(d.x_names, ["I(-x)", "exp(x)", "sqrt(x)"]);
    assert_eq!(col(&d, "sqrt(x)")[3], 2.0);
}

#[test]
fn cbind_response() {
    let d = design("cbind(s, f) ~ x", &[]);
    assert_eq!(d.response_name, "cbind(s, f)");
    assert_eq!(d.y, [2., 0., 1., 3., 2., 1.]);
    assert_eq!(d.trials, Some(vec![3., 3., 2., 3., 4., 3.]));
    assert_eq!(d.x_names, ["(Intercept)", "x"]);
    // Logical response -> 0/1.
    let d = design("lg ~ x", &[]);
    assert_eq!(d.y, [1., 0., 1., 1., 0., 0.]);
}

#[test]
fn explicit_level_order() {
    let opts = FrameOptions {
        levels: vec![("a".into(), vec!["r".into(), "p".into(), "q".into()])],
        ..Default::default()
    };
    let frame = DataFrame::from_reader(CSV.as_bytes(), &opts).unwrap();
    let d = build_design(&frame, "y ~ a", &["~ 0 + a"], None).unwrap();
    assert_eq!(d.x_names, ["(Intercept)", "ap", "aq"]);
    assert_eq!(col(&d, "ap"), [1., 0., 0., 1., 0., 0.]);
    assert_eq!(d.random[0].col_names, ["ar", "ap", "aq"]);
    // A value outside the given levels is an error naming it.
    let opts = FrameOptions {
        levels: vec![("a".into(), vec!["p".into(), "q".into()])],
        ..Default::default()
    };
    let err = DataFrame::from_reader(CSV.as_bytes(), &opts).unwrap_err();
    assert!(matches!(err, FrameError::ValueNotInLevels { ref value, row: 3, .. } if value == "r"));
    assert!(err.to_string().contains("'r'"), "{err}");
}

#[test]
fn numeric_ids_as_factors_sort_numerically() {
    // id: 3 1 10 2 10 3
    let d = design("y ~ 0 + x", &["~ 0 + factor(id)"]);
    let z = &d.random[0];
    assert_eq!(
        z.col_names,
        ["factor(id)1", "factor(id)2", "factor(id)3", "factor(id)10"]
    );
    assert_eq!(z.row_ptr, [0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(z.col_idx, [2, 0, 3, 1, 3, 2]);
    assert_eq!(z.values, [1.; 6]);
    let opts = FrameOptions {
        factor_columns: vec!["id".into()],
        ..Default::default()
    };
    let frame = DataFrame::from_reader(CSV.as_bytes(), &opts).unwrap();
    let d = build_design(&frame, "y ~ x", &["~ 0 + id", "~ 0 + a + x"], Some("w")).unwrap();
    assert_eq!(d.random[0].col_names, ["id1", "id2", "id3", "id10"]);
    assert_eq!(d.weights, Some(vec![1., 2., 1., 0.5, 1., 1.]));
    // A random block with a numeric variable stores its values.
    assert_eq!(d.random[1].col_names, ["ap", "aq", "ar", "x"]);
    assert_eq!(dense_z(&d, 1)[3], [1., 0., 0., 4.], "row 4: a = p, x = 4");
}

#[test]
fn random_interaction_and_explicit_zeros_not_stored() {
    let csv = "y,g,h,t\n1,a,u,0\n0,b,u,2\n1,a,v,1\n0,b,v,0\n";
    let frame = DataFrame::from_reader(csv.as_bytes(), &FrameOptions::default()).unwrap();
    let d = build_design(&frame, "y ~ 1", &["~ 0 + g:h", "~ 0 + t"], None).unwrap();
    assert_eq!(d.x_names, ["(Intercept)"]);
    assert_eq!(d.random[0].col_names, ["ga:hu", "gb:hu", "ga:hv", "gb:hv"]);
    assert_eq!(d.random[0].col_idx, [0, 1, 2, 3]);
    assert_eq!(d.random[1].col_names, ["t"]);
    assert_eq!(d.random[1].row_ptr, [0, 0, 1, 2, 2]);
    assert_eq!(d.random[1].values, [2., 1.]);
}

#[test]
fn na_rows_are_dropped_and_counted() {
    let csv = "\
y,x,g,w,unused
1,1,a,1,
0,NA,b,1,
1,3,,1,z
0,4,b,,z
1,5,a,2,z
NA,6,b,1,z
0,7,b,1,z
";
    let frame = DataFrame::from_reader(csv.as_bytes(), &FrameOptions::default()).unwrap();
    // x missing in row 2, g (random only) in row 3, w (weights) in row 4, y in row 6.
    let d = build_design(&frame, "y ~ x", &["~ 0 + g"], Some("w")).unwrap();
    assert_eq!(d.n_rows_read, 7);
    assert_eq!(d.kept_rows, [0, 4, 6]);
    assert_eq!(d.dropped_rows, 4);
    assert_eq!(d.y, [1., 1., 0.]);
    assert_eq!(d.x, [1., 1., 1., 1., 5., 7.]);
    assert_eq!(d.weights, Some(vec![1., 2., 1.]));
    // The level set comes from all rows (as in R), so both a and b stay.
    assert_eq!(d.random[0].col_names, ["ga", "gb"]);
    assert_eq!(d.random[0].col_idx, [0, 0, 1]);
    // Without the weights and the random formula, fewer rows are dropped.
    let d = build_design(&frame, "y ~ x", &[], None).unwrap();
    assert_eq!(d.dropped_rows, 2);
    // Every row missing -> error.
    let csv = "y,x\n1,\n0,NA\n";
    let frame = DataFrame::from_reader(csv.as_bytes(), &FrameOptions::default()).unwrap();
    let err = build_design(&frame, "y ~ x", &[], None).unwrap_err();
    assert!(
        matches!(err, DesignError::NoRowsLeft { n_rows: 2, .. }),
        "{err}"
    );
}

#[test]
fn design_errors_are_typed_and_helpful() {
    let f = frame();
    let err = build_design(&f, "a ~ x", &[], None).unwrap_err();
    assert!(matches!(err, DesignError::CategoricalResponse { .. }));
    assert!(err.to_string().contains("0/1"), "{err}");

    let err = build_design(&f, "y ~ x", &["y ~ 0 + a"], None).unwrap_err();
    assert!(matches!(err, DesignError::RandomHasResponse { .. }));
    assert!(err.to_string().contains("'~ 0 + a'"), "{err}");

    let err = build_design(&f, "~ x", &[], None).unwrap_err();
    assert!(matches!(err, DesignError::MissingResponse { .. }));

    let err = build_design(&f, "y ~ xx + a", &[], None).unwrap_err();
    assert!(err.to_string().contains("did you mean 'x'?"), "{err}");

    let err = build_design(&f, "y ~ I(a + 1)", &[], None).unwrap_err();
    assert!(matches!(err, DesignError::Type { .. }), "{err}");

    let err = build_design(&f, "y ~ log(x - 3)", &[], None).unwrap_err();
    assert!(
        matches!(err, DesignError::NonFinite { row: 1, .. }),
        "{err}"
    );

    let err = build_design(&f, "y ~ x +", &[], None).unwrap_err();
    assert!(matches!(err, DesignError::Parse { .. }));
    assert!(
        err.to_string().contains("expected a term after '+'"),
        "{err}"
    );

    let err = build_design(&f, "y ~ x", &["~ 0 + a"], Some("a")).unwrap_err();
    assert!(matches!(err, DesignError::BadWeightsType { .. }), "{err}");

    let err = build_design(&f, "y ~ x", &["~ 0"], None).unwrap_err();
    assert!(matches!(err, DesignError::EmptyRandom { .. }), "{err}");

    let csv = "y,g,x\n1,a,1\n0,a,2\n";
    let one = DataFrame::from_reader(csv.as_bytes(), &FrameOptions::default()).unwrap();
    let err = build_design(&one, "y ~ g", &[], None).unwrap_err();
    assert!(
        matches!(err, DesignError::TooFewLevels { levels: 1, .. }),
        "{err}"
    );
    // Full coding of a one-level factor is fine.
    assert!(build_design(&one, "y ~ 0 + g", &[], None).is_ok());
}

#[test]
fn backquoted_names() {
    let csv = "y,my col,dot.name_x\n1,1,a\n0,2,b\n1,3,a\n";
    let frame = DataFrame::from_reader(csv.as_bytes(), &FrameOptions::default()).unwrap();
    let d = build_design(&frame, "y ~ `my col` + dot.name_x", &[], None).unwrap();
    assert_eq!(d.x_names, ["(Intercept)", "`my col`", "dot.name_xb"]);
    assert_eq!(col(&d, "`my col`"), [1., 2., 3.]);
}
