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
    let e = read("a,b\n1,2\nNaN,3\n").unwrap_err();
    assert!(
        matches!(e, FrameError::NonFiniteValue { row: 2, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("'a'"));
    let e = read("a,b\n1,2\n3,-Inf\n").unwrap_err();
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
