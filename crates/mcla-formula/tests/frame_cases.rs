//! Data-frame reading: type inference, levels, and typed errors.

use mcla_formula::{ColumnData, DataFrame, FrameError, FrameOptions};

fn read(csv: &str) -> Result<DataFrame, FrameError> {
    DataFrame::from_reader(csv.as_bytes(), &FrameOptions::default())
}

#[test]
fn type_inference() {
    let f = read("n,l,c,m\n1,TRUE,x,\n2.5,F,NA,NA\nNA,true,y,\n").unwrap();
    assert_eq!(f.n_rows(), 3);
    assert_eq!(f.column_names(), ["n", "l", "c", "m"]);
    assert_eq!(
        f.column("n").unwrap().data,
        ColumnData::Numeric(vec![Some(1.0), Some(2.5), None])
    );
    assert_eq!(
        f.column("l").unwrap().data,
        ColumnData::Logical(vec![Some(true), Some(false), Some(true)])
    );
    match &f.column("c").unwrap().data {
        ColumnData::Categorical(c) => {
            assert_eq!(c.levels, ["x", "y"]);
            assert_eq!(c.codes, [Some(0), None, Some(1)]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn level_orders() {
    let f = read("s\nb\nB\na\n_\n").unwrap();
    match &f.column("s").unwrap().data {
        ColumnData::Categorical(c) => assert_eq!(c.levels, ["B", "_", "a", "b"]),
        other => panic!("{other:?}"),
    }
    let opts = FrameOptions {
        factor_columns: vec!["id".into()],
        ..Default::default()
    };
    let f = DataFrame::from_reader("id\n10\n2\n1\n2.5\n100000\n".as_bytes(), &opts).unwrap();
    match &f.column("id").unwrap().data {
        ColumnData::Categorical(c) => {
            assert_eq!(c.levels, ["1", "2", "2.5", "10", "1e+05"]);
            assert_eq!(c.codes, [Some(3), Some(1), Some(0), Some(2), Some(4)]);
        }
        other => panic!("{other:?}"),
    }
    // Given levels on a numeric column match by value.
    let opts = FrameOptions {
        levels: vec![("id".into(), vec!["2".into(), "1".into()])],
        ..Default::default()
    };
    let f = DataFrame::from_reader("id\n1.0\n2\n".as_bytes(), &opts).unwrap();
    match &f.column("id").unwrap().data {
        ColumnData::Categorical(c) => assert_eq!(c.codes, [Some(1), Some(0)]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors() {
    let e = DataFrame::from_csv_path("/no/such/file.csv", &FrameOptions::default()).unwrap_err();
    assert!(matches!(e, FrameError::Io { .. }));
    assert!(e.to_string().contains("/no/such/file.csv"), "{e}");

    assert!(matches!(read("").unwrap_err(), FrameError::EmptyFile));
    assert!(matches!(
        read("a,b\n").unwrap_err(),
        FrameError::NoDataRows { columns: 2 }
    ));
    let e = read("a,b\n1,2\n3\n").unwrap_err();
    assert!(matches!(
        e,
        FrameError::RaggedRow {
            row: 2,
            line: 3,
            expected: 2,
            found: 1
        }
    ));
    let e = read("a,b,a\n1,2,3\n").unwrap_err();
    assert!(matches!(
        e,
        FrameError::DuplicateColumn {
            first: 1,
            second: 3,
            ..
        }
    ));
    let e = read("a,b\n1,2\n3,-Inf\n").unwrap_err();
    assert!(e.to_string().contains("'b'"), "{e}");
    assert!(matches!(e, FrameError::NonFiniteValue { .. }), "{e}");
    let f = read("Female,Male\n1,2\n").unwrap();
    let e = f.column("Femal").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown column 'Femal'; did you mean 'Female'?"
    );
    let e = f.column("zzzzzz").unwrap_err();
    assert!(e.to_string().contains("Female, Male"), "{e}");
    let opts = FrameOptions {
        factor_columns: vec!["male".into()],
        ..Default::default()
    };
    let e = DataFrame::from_reader("Female,Male\n1,2\n".as_bytes(), &opts).unwrap_err();
    assert!(e.to_string().contains("did you mean 'Male'"), "{e}");
    let opts = FrameOptions {
        levels: vec![("Male".into(), vec!["2".into(), "2".into()])],
        ..Default::default()
    };
    let e = DataFrame::from_reader("Female,Male\n1,2\n".as_bytes(), &opts).unwrap_err();
    assert!(matches!(e, FrameError::DuplicateLevel { .. }));
    let e = DataFrame::from_reader(&b"a\n\xff\n"[..], &FrameOptions::default()).unwrap_err();
    assert!(
        matches!(e, FrameError::InvalidUtf8 { line: 2, column: 1 }),
        "{e}"
    );
}

#[test]
fn the_usual_missing_value_spellings_are_missing_in_numeric_columns() {
    for tok in ["NA", "N/A", "na", "NaN", "NULL", "null", ".", "-", "?", ""] {
        let f = read(&format!("x,g\n1,a\n{tok},b\n2.5,c\n")).unwrap();
        assert_eq!(
            f.column("x").unwrap().data,
            ColumnData::Numeric(vec![Some(1.0), None, Some(2.5)]),
            "token {tok:?}"
        );
    }
    // a custom list replaces the default one
    let opts = FrameOptions {
        na_strings: Some(vec!["-99".into()]),
        ..Default::default()
    };
    let f = DataFrame::from_reader("x\n1\n-99\n".as_bytes(), &opts).unwrap();
    assert_eq!(
        f.column("x").unwrap().data,
        ColumnData::Numeric(vec![Some(1.0), None])
    );
}

#[test]
fn a_mostly_numeric_column_with_stray_tokens_names_them_with_lines() {
    let f = read("x,g\n1,a\n2,b\nmissing,a\n4,b\n").unwrap();
    assert_eq!(f.column("x").unwrap().data.type_name(), "categorical");
    let e = f.mostly_numeric_problem("x").expect("flagged");
    let msg = e.to_string();
    assert!(msg.contains("'missing' (line 4)"), "{msg}");
    assert!(
        msg.contains("--factor x") && msg.contains("--na-strings"),
        "{msg}"
    );
    assert!(f.mostly_numeric_problem("g").is_none());
    // a genuinely categorical column is not flagged
    let f = read("g\na\nb\n3\n").unwrap();
    assert!(f.mostly_numeric_problem("g").is_none());
}

#[test]
fn malformed_quoting_is_an_error_with_its_line() {
    let e = read("a,b\n1,\"x\n2,3\n").unwrap_err();
    assert!(
        matches!(e, FrameError::UnterminatedQuote { line: 2 }),
        "{e}"
    );
    let e = read("a,b\n1,\"x\n2,\"y\"\n").unwrap_err();
    assert!(
        matches!(
            e,
            FrameError::StrayQuote {
                opened: 2,
                line: 3,
                next: 'y'
            }
        ),
        "{e}"
    );
    let e = read("a,b\n1,x\"y\n").unwrap_err();
    assert!(matches!(e, FrameError::QuoteInField { line: 2, .. }), "{e}");
    // escaped quotes and quoted commas/newlines are fine
    let f = read("a,b\n1,\"x\"\"y, z\"\n2,\"p\nq\"\n").unwrap();
    assert_eq!(f.n_rows(), 2);
}

#[test]
fn other_separators_empty_names_and_level_problems_are_named() {
    let e = read("a;b\n1;2\n").unwrap_err();
    assert!(e.to_string().contains("semicolons"), "{e}");
    let e = read("a\tb\n1\t2\n").unwrap_err();
    assert!(e.to_string().contains("tabs"), "{e}");
    let e = read("a,,b\n1,2,3\n").unwrap_err();
    assert!(
        matches!(e, FrameError::EmptyColumnName { position: 2 }),
        "{e}"
    );
    // R's unnamed row-names column is X
    assert_eq!(read(",a\n1,2\n").unwrap().column_names(), ["X", "a"]);
    let opts = FrameOptions {
        levels: vec![("g".into(), vec!["a".into(), "b".into(), "c".into()])],
        ..Default::default()
    };
    // R allows unused levels; a command line asks for them to occur
    let f = DataFrame::from_reader("g\na\nb\n".as_bytes(), &opts).unwrap();
    let e = f.check_levels_occur(&opts).unwrap_err();
    assert!(
        matches!(&e, FrameError::LevelAbsent { level, .. } if level == "c"),
        "{e}"
    );
    let opts = FrameOptions {
        levels: vec![
            ("g".into(), vec!["a".into(), "b".into()]),
            ("g".into(), vec!["b".into(), "a".into()]),
        ],
        ..Default::default()
    };
    let e = DataFrame::from_reader("g\na\nb\n".as_bytes(), &opts).unwrap_err();
    assert!(matches!(e, FrameError::LevelsTwice { .. }), "{e}");
    let e = DataFrame::from_csv_path(std::env::temp_dir(), &FrameOptions::default()).unwrap_err();
    assert!(matches!(e, FrameError::Directory { .. }), "{e}");
}

/// Typed columns (as a pandas data frame holds them) give the frame the CSV reader gives for the
/// same table, with the same options and the same errors.
#[test]
fn raw_columns_read_like_the_csv_reader() {
    use mcla_formula::{Categorical, RawColumn};
    let csv = "y,x,id,g,l\n1,0.5,10,b,TRUE\n0,1.5,2,a,FALSE\n1,NA,10,NA,TRUE\n";
    let opts = FrameOptions {
        factor_columns: vec!["id".into()],
        levels: vec![("g".into(), vec!["b".into(), "a".into()])],
        ..Default::default()
    };
    let from_csv = DataFrame::from_reader(csv.as_bytes(), &opts).unwrap();
    let raw = vec![
        (
            "y".to_string(),
            RawColumn::Numeric(vec![Some(1.0), Some(0.0), Some(1.0)]),
        ),
        (
            "x".to_string(),
            RawColumn::Numeric(vec![Some(0.5), Some(1.5), Some(f64::NAN)]),
        ),
        (
            "id".to_string(),
            RawColumn::Numeric(vec![Some(10.0), Some(2.0), Some(10.0)]),
        ),
        (
            "g".to_string(),
            RawColumn::Text(vec![Some("b".into()), Some("a".into()), None]),
        ),
        (
            "l".to_string(),
            RawColumn::Logical(vec![Some(true), Some(false), Some(true)]),
        ),
    ];
    let from_raw = DataFrame::from_raw_columns(raw, &opts).unwrap();
    assert_eq!(from_raw.columns(), from_csv.columns());
    // id is a factor with numerically sorted levels, g keeps the given order
    match &from_raw.column("id").unwrap().data {
        ColumnData::Categorical(c) => assert_eq!(c.levels, ["2", "10"]),
        other => panic!("{other:?}"),
    }
    // strings are read as a quoted CSV column: numbers sort numerically, other text by bytes
    let quoted = DataFrame::from_reader(
        "s,t\n\"10\",b\n\"2\",B\n".as_bytes(),
        &FrameOptions {
            quoted_as_categorical: true,
            ..Default::default()
        },
    )
    .unwrap();
    let text = DataFrame::from_raw_columns(
        vec![
            (
                "s".into(),
                RawColumn::Text(vec![Some("10".into()), Some("2".into())]),
            ),
            (
                "t".into(),
                RawColumn::Text(vec![Some("b".into()), Some("B".into())]),
            ),
        ],
        &FrameOptions::default(),
    )
    .unwrap();
    assert_eq!(text.columns(), quoted.columns());
    match &text.column("s").unwrap().data {
        ColumnData::Categorical(c) => assert_eq!(c.levels, ["2", "10"]),
        other => panic!("{other:?}"),
    }
    // a host factor keeps its own level order; given levels reorder it
    let cat = || {
        RawColumn::Categorical(Categorical {
            levels: vec!["W".into(), "R".into()],
            codes: vec![Some(0), Some(1), None],
        })
    };
    let f =
        DataFrame::from_raw_columns(vec![("c".into(), cat())], &FrameOptions::default()).unwrap();
    match &f.column("c").unwrap().data {
        ColumnData::Categorical(c) => {
            assert_eq!(c.levels, ["W", "R"]);
            assert_eq!(c.codes, [Some(0), Some(1), None]);
        }
        other => panic!("{other:?}"),
    }
    let given = FrameOptions {
        levels: vec![("c".into(), vec!["R".into(), "W".into()])],
        ..Default::default()
    };
    let f = DataFrame::from_raw_columns(vec![("c".into(), cat())], &given).unwrap();
    match &f.column("c").unwrap().data {
        ColumnData::Categorical(c) => assert_eq!(c.codes, [Some(1), Some(0), None]),
        other => panic!("{other:?}"),
    }
    // the reader's errors: an unknown option column, an infinite number
    let bad = FrameOptions {
        factor_columns: vec!["nope".into()],
        ..Default::default()
    };
    let e = DataFrame::from_raw_columns(vec![("c".into(), cat())], &bad).unwrap_err();
    assert!(matches!(e, FrameError::UnknownColumn { .. }), "{e}");
    let e = DataFrame::from_raw_columns(
        vec![(
            "x".into(),
            RawColumn::Numeric(vec![Some(1.0), Some(f64::INFINITY)]),
        )],
        &FrameOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, FrameError::NonFiniteValue { row: 2, .. }),
        "{e}"
    );
}
