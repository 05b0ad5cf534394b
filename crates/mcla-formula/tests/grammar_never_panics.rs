//! The formula parser must never panic, whatever the input; errors carry a valid position.

use mcla_formula::grammar::{parse_expr, parse_formula, ParseErrorKind};
use mcla_formula::{build_design, DataFrame, FrameOptions};
use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "y", "x", "a", "b", "Cross", "`my col`", "`", "\"", "'", "0", "1", "-1", "2.5", "1e3", ".5",
    "~", "+", "-", "*", "/", "^", ":", "(", ")", ",", ">", ">=", "<", "<=", "==", "!=", "&", "|",
    "!", "I(", "log(", "exp(", "sqrt(", "factor(", "cbind(", "foo(", " ", "\n", "=", "$", "[",
    "%in%", "é", "∑", "\u{0}", "1e", "1e999", "..", ".", "_x", "#",
];

fn check(text: &str) {
    match parse_formula(text) {
        Ok(f) => {
            // Labels and display must not panic either.
            let _ = f.term_labels();
            if let Some(r) = &f.response {
                let _ = r.label();
            }
        }
        Err(e) => {
            assert!(
                e.pos <= text.len(),
                "position {} beyond {}",
                e.pos,
                text.len()
            );
            assert!(text.is_char_boundary(e.pos));
            let shown = e.to_string();
            assert!(shown.contains('^'));
        }
    }
    let _ = parse_expr(text);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(s in "\\PC{0,60}") {
        check(&s);
    }

    #[test]
    fn arbitrary_bytes_as_text_never_panic(v in proptest::collection::vec(any::<char>(), 0..40)) {
        let s: String = v.into_iter().collect();
        check(&s);
    }

    #[test]
    fn token_soups_never_panic(idx in proptest::collection::vec(0..TOKENS.len(), 0..30)) {
        let s: String = idx.iter().map(|&i| TOKENS[i]).collect::<Vec<_>>().join(" ");
        check(&s);
        let s: String = idx.iter().map(|&i| TOKENS[i]).collect();
        check(&s);
    }

    #[test]
    fn token_soups_through_design_never_panic(idx in proptest::collection::vec(0..TOKENS.len(), 0..16)) {
        let csv = "y,x,a,b,Cross,my col\n1,1,p,u,R,2\n0,2,q,v,W,0\n1,,q,u,R,-1\n";
        let frame = DataFrame::from_reader(csv.as_bytes(), &FrameOptions::default()).unwrap();
        let rhs: String = idx.iter().map(|&i| TOKENS[i]).collect::<Vec<_>>().join(" ");
        let _ = build_design(&frame, &format!("y ~ {rhs}"), &[&format!("~ {rhs}")], None);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("y ~ {}x{}", "(".repeat(100_000), ")".repeat(100_000));
    let err = parse_formula(&deep).unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::TooDeep);
    let deep = format!("y ~ {}x", "-".repeat(100_000));
    assert!(parse_formula(&deep).is_err());
    let deep = format!("y ~ I(x{})", "^x".repeat(100_000));
    assert!(parse_formula(&deep).is_err());
    // A long flat sum is fine.
    let long = format!(
        "y ~ {}",
        (0..300)
            .map(|i| format!("x{i}"))
            .collect::<Vec<_>>()
            .join(" + ")
    );
    assert_eq!(parse_formula(&long).unwrap().terms.len(), 300);
}

#[test]
fn error_positions_and_caret() {
    let e = parse_formula("y ~ a +").unwrap_err();
    assert_eq!(e.pos, 7);
    assert_eq!(e.kind, ParseErrorKind::ExpectedTermAfter("+".into()));
    assert_eq!(
        e.to_string(),
        "cannot parse formula at byte 7: expected a term after '+'\n  y ~ a +\n         ^"
    );
    let e = parse_formula("y ~ a + * b").unwrap_err();
    assert_eq!(e.pos, 8);
    let e = parse_formula("y ~ (a + b").unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::UnclosedParen(4));
    assert_eq!(e.pos, 10);
    let e = parse_formula("y ~ a b").unwrap_err();
    assert_eq!(e.pos, 6);
    let e = parse_formula("y ~ a $ b").unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::UnexpectedChar('$'));
    let e = parse_formula("y + a").unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::MissingTilde);
    let e = parse_formula("y ~ a ~ b").unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::MisplacedTilde);
    let e = parse_formula("y ~ week > 2").unwrap_err();
    assert_eq!(e.pos, 9);
    assert!(e.to_string().contains("I(week > 2)"));
    let e = parse_formula("y ~ foo(x)").unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::UnknownFunction("foo".into()));
    let e = parse_formula("y ~ `x").unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::UnterminatedBackquote);
    let e = parse_formula("y ~ I(a < b < c)").unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::ChainedComparison);
    let e = parse_formula("").unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::Empty);
    let e = parse_formula("y ~ 2").unwrap_err();
    assert!(matches!(e.kind, ParseErrorKind::InvalidTerm(_)));
    let e = parse_formula("y ~ (1 | g)").unwrap_err();
    assert!(e.to_string().contains("one-sided"), "{e}");
    // Caret counts characters, not bytes.
    let e = parse_formula("é ~ a +").unwrap_err();
    assert_eq!(e.pos, 8);
    assert!(e.to_string().ends_with("\n  é ~ a +\n         ^"), "{e}");
}

#[test]
fn valid_formulas() {
    let f = parse_formula("Mate ~ 0 + Cross").unwrap();
    assert!(!f.intercept);
    assert_eq!(f.term_labels(), ["Cross"]);
    let f = parse_formula("~ 0 + Female").unwrap();
    assert!(f.response.is_none());
    let f = parse_formula("cbind(s,f) ~ x").unwrap();
    assert_eq!(f.response.unwrap().label(), "cbind(s, f)");
    let f = parse_formula("y2 ~ trt + I(week>2)").unwrap();
    assert_eq!(f.term_labels(), ["trt", "I(week > 2)"]);
    let f = parse_formula("y ~ I(x^2) + I(x/2) + I(-x) + log(x + 1) + I((a+b)*c)").unwrap();
    assert_eq!(
        f.term_labels(),
        ["I(x^2)", "I(x/2)", "I(-x)", "log(x + 1)", "I((a + b) * c)"]
    );
    let f = parse_formula("y ~ I(x > 100000) + I(x < 0.5) + I(x == 1e-10)").unwrap();
    assert_eq!(
        f.term_labels(),
        ["I(x > 1e+05)", "I(x < 0.5)", "I(x == 1e-10)"]
    );
    let f = parse_formula("y ~ `my col` + `a`").unwrap();
    assert_eq!(f.term_labels(), ["`my col`", "a"]);
    let f = parse_formula("y ~ a*b*c").unwrap();
    assert_eq!(
        f.term_labels(),
        ["a", "b", "c", "a:b", "a:c", "b:c", "a:b:c"]
    );
    let f = parse_formula("y ~ factor(z2) # comment\n + x").unwrap();
    assert_eq!(f.term_labels(), ["factor(z2)", "x"]);
    let f = parse_formula("y ~ 1").unwrap();
    assert!(f.intercept && f.terms.is_empty());
    let f = parse_formula("y ~ 0").unwrap();
    assert!(!f.intercept && f.terms.is_empty());
}
