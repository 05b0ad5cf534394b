//! A column-typed data frame read from CSV (R's `read.csv` + `factor()` conventions).
//!
//! The first row is the header. Each column's type is inferred: numeric when every non-missing
//! cell parses as a finite number, logical when every non-missing cell is one of
//! `TRUE`/`FALSE`/`T`/`F`/`true`/`false`, categorical otherwise. Missing cells are empty or one
//! of [`DEFAULT_NA_STRINGS`] (`NA`, `N/A`, `na`, `NaN`, `NULL`, `null`, `.`, `-`, `?`; replace the
//! list with [`FrameOptions::na_strings`]). `Inf` in a numeric column is an error (not data). A
//! column that is mostly numbers but has a few other cells is read as categorical, but using it
//! in a formula is an error naming those cells ([`DataFrame::mostly_numeric_problem`]): one stray
//! token must not silently turn a number into a factor. Quoting follows RFC 4180 strictly: a
//! stray or unterminated quote is an error with its line number. Categorical levels are sorted by byte
//! order unless [`FrameOptions::levels`] gives the order; numeric columns listed in
//! [`FrameOptions::factor_columns`] become categorical with numerically sorted levels labelled
//! the way R prints numbers (`1`, `2`, `10`).

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::grammar::format_r_number;

/// Options for reading a data frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameOptions {
    /// Columns to treat as categorical even if numeric (IDs coded as numbers); levels are then
    /// sorted numerically.
    pub factor_columns: Vec<String>,
    /// Explicit level orders, like R's `factor(x, levels = ...)`; the column becomes categorical
    /// and a value not among the levels is an error.
    pub levels: Vec<(String, Vec<String>)>,
    /// Treat every column whose non-missing cells are all quoted as categorical (files written by
    /// R's `write.csv` quote factors: `"10"` is an ID, not the number 10).  R's `read.csv` does
    /// not do this; the `mcla` command line does.  A column of numbers quoted on some rows and
    /// not on others is then an error ([`FrameError::MixedQuoting`]) unless it is listed in
    /// `factor_columns` or `levels`.
    pub quoted_as_categorical: bool,
    /// Cell texts (after trimming) read as missing in every column; `None` gives
    /// [`DEFAULT_NA_STRINGS`].  An empty cell is always missing.
    pub na_strings: Option<Vec<String>>,
}

/// The usual spellings of a missing value, read as missing by default (with the empty cell).
pub const DEFAULT_NA_STRINGS: [&str; 9] = ["NA", "N/A", "na", "NaN", "NULL", "null", ".", "-", "?"];

impl FrameOptions {
    /// The missing-value spellings in effect (the empty cell is always missing too).
    pub fn na_list(&self) -> Vec<String> {
        match &self.na_strings {
            Some(v) => v.clone(),
            None => DEFAULT_NA_STRINGS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// A categorical column: level labels and per-row level codes (`None` = missing).
#[derive(Debug, Clone, PartialEq)]
pub struct Categorical {
    /// Level labels in level order (the first is the reference level).
    pub levels: Vec<String>,
    /// Per-row index into `levels`; `None` for a missing cell.
    pub codes: Vec<Option<usize>>,
}

/// The values of one column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// Finite numbers; `None` = missing.
    Numeric(Vec<Option<f64>>),
    /// `TRUE`/`FALSE`; `None` = missing.
    Logical(Vec<Option<bool>>),
    /// Categorical (factor).
    Categorical(Categorical),
}

impl ColumnData {
    /// Whether row `i` is missing (rows out of range count as missing).
    pub fn is_missing(&self, i: usize) -> bool {
        match self {
            ColumnData::Numeric(v) => v.get(i).is_none_or(|x| x.is_none()),
            ColumnData::Logical(v) => v.get(i).is_none_or(|x| x.is_none()),
            ColumnData::Categorical(c) => c.codes.get(i).is_none_or(|x| x.is_none()),
        }
    }

    /// A short name of the type: "numeric", "logical" or "categorical".
    pub fn type_name(&self) -> &'static str {
        match self {
            ColumnData::Numeric(_) => "numeric",
            ColumnData::Logical(_) => "logical",
            ColumnData::Categorical(_) => "categorical",
        }
    }
}

/// A column as a host language holds it (a pandas or numpy column, an R vector): typed values
/// rather than CSV text.  [`DataFrame::from_raw_columns`] reads it with the conventions of the
/// CSV reader.
#[derive(Debug, Clone, PartialEq)]
pub enum RawColumn {
    /// Numbers; `None` and NaN are missing (pandas' convention), an infinite value is an error.
    Numeric(Vec<Option<f64>>),
    /// `TRUE`/`FALSE`; `None` = missing.
    Logical(Vec<Option<bool>>),
    /// Strings: a factor, read as the CSV reader reads a quoted column: levels sorted by byte
    /// order, numerically when every string is a number (`"2"` before `"10"`); `None`, the empty
    /// string and the [`FrameOptions::na_strings`] spellings are missing.
    Text(Vec<Option<String>>),
    /// A factor with its own level order (pandas' `Categorical`, R's `factor`).
    Categorical(Categorical),
}

/// A named column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column name from the header.
    pub name: String,
    /// Values.
    pub data: ColumnData,
}

/// Errors reading or querying a data frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The file could not be opened or read.
    #[error("cannot read data file '{}': {source}; check the path and permissions", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// The CSV parser failed (e.g. an I/O error mid-file).
    #[error("malformed CSV near line {line}: {message}")]
    Csv {
        /// 1-based line in the file (0 if unknown).
        line: u64,
        /// Parser message.
        message: String,
    },
    /// A cell is not valid UTF-8.
    #[error("line {line}, column {column}: text is not valid UTF-8; save the file as UTF-8")]
    InvalidUtf8 {
        /// 1-based line in the file.
        line: u64,
        /// 1-based column number.
        column: usize,
    },
    /// The input has no header row.
    #[error("the data file is empty; it needs a header row and at least one data row")]
    EmptyFile,
    /// The input has a header but no data.
    #[error("the data file has a header ({columns} columns) but no data rows")]
    NoDataRows {
        /// Number of header columns.
        columns: usize,
    },
    /// A data row has a different number of fields than the header.
    #[error("data row {row} (line {line}) has {found} fields but the header has {expected}; check for missing or extra separators or unquoted commas")]
    RaggedRow {
        /// 1-based data row (header excluded).
        row: usize,
        /// 1-based line in the file.
        line: u64,
        /// Header field count.
        expected: usize,
        /// This row's field count.
        found: usize,
    },
    /// Two header fields have the same name.
    #[error("duplicate column name '{name}' (columns {first} and {second}); rename one of them")]
    DuplicateColumn {
        /// The name.
        name: String,
        /// 1-based position of the first occurrence.
        first: usize,
        /// 1-based position of the second occurrence.
        second: usize,
    },
    /// A column that does not exist was asked for.
    #[error("unknown column '{name}'{}", suggestion_text(.suggestion, .available))]
    UnknownColumn {
        /// The requested name.
        name: String,
        /// Closest existing name, if any is close.
        suggestion: Option<String>,
        /// All column names.
        available: Vec<String>,
    },
    /// `NaN` or `Inf` in a numeric column.
    #[error("column '{column}', data row {row}: '{value}' is not a finite number; use an empty cell or NA for a missing value")]
    NonFiniteValue {
        /// Column name.
        column: String,
        /// 1-based data row.
        row: usize,
        /// The cell text.
        value: String,
    },
    /// A value is not among the levels given for its column.
    #[error("column '{column}', data row {row}: value '{value}' is not one of the given levels [{}]; add it to the levels or fix the data", .levels.join(", "))]
    ValueNotInLevels {
        /// Column name.
        column: String,
        /// 1-based data row.
        row: usize,
        /// The offending value.
        value: String,
        /// The given levels.
        levels: Vec<String>,
    },
    /// The path is a directory.
    #[error("'{}' is a directory, not a data file; give the path of a CSV file (e.g. {}/data.csv)", path.display(), path.display())]
    Directory {
        /// The path.
        path: PathBuf,
    },
    /// A quoted field is never closed.
    #[error("line {line}: the quoted field that starts here is never closed (no matching '\"' before the end of the file); add the missing closing quote")]
    UnterminatedQuote {
        /// 1-based line where the quote opened.
        line: u64,
    },
    /// A closing quote is followed by something other than a separator or the end of the line.
    #[error("line {opened}: the quoted field that starts here ends with a quote on line {line} followed by '{next}' instead of a comma or the end of the line; a closing quote is probably missing on line {opened} (write a quote inside a quoted field as \"\")")]
    StrayQuote {
        /// Line of the opening quote.
        opened: u64,
        /// Line of the offending quote.
        line: u64,
        /// The character after it.
        next: char,
    },
    /// A quote in the middle of an unquoted field.
    #[error("line {line}: a '\"' in the middle of the unquoted field '{field}'; quote the whole field (\"...\") and double the inner quote, or remove it")]
    QuoteInField {
        /// 1-based line.
        line: u64,
        /// The field text up to the quote.
        field: String,
    },
    /// The header has no commas but another separator.
    #[error("the header line has no commas but {count} {name}: mcla reads comma-separated files (R's read.csv); the file seems to use {name} as separator; convert it, e.g. with tr '{shown}' ',' < in.csv > out.csv (check first that no value contains a comma, e.g. a decimal comma)")]
    OtherDelimiter {
        /// "semicolons" or "tabs".
        name: &'static str,
        /// How it is written in the tr command.
        shown: &'static str,
        /// How many there are.
        count: usize,
    },
    /// A header field (other than the first) is empty.
    #[error("column {position} of the header has no name; give every column a name in the first line of the file")]
    EmptyColumnName {
        /// 1-based position.
        position: usize,
    },
    /// A level given in [`FrameOptions::levels`] does not occur in the column.
    #[error("level '{level}' given for column '{column}' does not occur in the data (values present: {}); remove it from --levels or check its spelling", .present.join(", "))]
    LevelAbsent {
        /// Column name.
        column: String,
        /// The absent level.
        level: String,
        /// Values that do occur (at most 20).
        present: Vec<String>,
    },
    /// Two level orders were given for one column.
    #[error("two level orders were given for column '{column}' (--levels); give one --levels {column}=... with all its levels")]
    LevelsTwice {
        /// Column name.
        column: String,
    },
    /// A mostly numeric column has a few cells that are not numbers.
    #[error("column '{column}' has {numbers} numbers but also {count} cell(s) that are not numbers: {}; so it would be read as categorical. If these cells mean 'missing', leave them empty, write NA, or list them with --na-strings (e.g. --na-strings NA,{}); if the column really is categorical, pass --factor {column}", .shown.iter().map(|(v, l)| format!("'{v}' (line {l})")).collect::<Vec<_>>().join(", "), .shown.first().map(|(v, _)| v.as_str()).unwrap_or(""))]
    MostlyNumeric {
        /// Column name.
        column: String,
        /// Number of numeric cells.
        numbers: usize,
        /// Number of non-numeric cells.
        count: usize,
        /// Up to 5 offending values with their lines.
        shown: Vec<(String, u64)>,
    },
    /// A column of numbers is quoted on some rows and not on others, so quoting (the signal for
    /// categorical with [`FrameOptions::quoted_as_categorical`]) cannot say what it is.
    #[error("column '{column}' is quoted on {quoted} row(s) (first on line {first_quoted}) but not on {unquoted} (first on line {first_unquoted}): mcla reads a column as categorical only when every cell is quoted, so this file does not say whether '{column}' is a number or a category. If it is categorical (an ID or group code), pass --factor {column}; otherwise quote its cells consistently: all quoted for categorical, none for numeric")]
    MixedQuoting {
        /// Column name.
        column: String,
        /// Number of quoted non-missing cells.
        quoted: usize,
        /// 1-based line of the first quoted cell.
        first_quoted: u64,
        /// Number of unquoted non-missing cells.
        unquoted: usize,
        /// 1-based line of the first unquoted cell.
        first_unquoted: u64,
    },
    /// The same level was listed twice in [`FrameOptions::levels`].
    #[error("level '{level}' is listed twice for column '{column}'; give each level once")]
    DuplicateLevel {
        /// Column name.
        column: String,
        /// The repeated level.
        level: String,
    },
}

fn suggestion_text(suggestion: &Option<String>, available: &[String]) -> String {
    match suggestion {
        Some(s) => format!("; did you mean '{s}'?"),
        None => {
            let shown: Vec<&str> = available.iter().take(20).map(String::as_str).collect();
            let more = if available.len() > 20 { ", ..." } else { "" };
            format!("; the data have columns: {}{more}", shown.join(", "))
        }
    }
}

/// Levenshtein distance (by chars).
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        if let Some(c0) = cur.first_mut() {
            *c0 = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            if let Some(c) = cur.get_mut(j + 1) {
                *c = sub.min(del).min(ins);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}

/// The closest name to `name` among `candidates`, if reasonably close.
pub fn closest_name<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let lower = name.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = if c.to_lowercase() == lower {
            0
        } else {
            levenshtein(&lower, &c.to_lowercase())
        };
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    let (d, c) = best?;
    let len = name.chars().count();
    let limit = (len.max(c.chars().count()) / 3).max(1);
    (d <= limit && d < len).then(|| c.to_string())
}

/// A column read as categorical although most cells are numbers: (name, numbers, other cells,
/// up to 5 other cells with their lines).
type MostlyNumeric = (String, usize, usize, Vec<(String, u64)>);

/// An in-memory data frame.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFrame {
    columns: Vec<Column>,
    n_rows: usize,
    /// 1-based line in the file of each data row (empty when built from columns).
    lines: Vec<u64>,
    /// Columns read as categorical although most of their cells are numbers.
    mostly_numeric: Vec<MostlyNumeric>,
}

fn parse_logical(s: &str) -> Option<bool> {
    match s {
        "TRUE" | "T" | "true" => Some(true),
        "FALSE" | "F" | "false" => Some(false),
        _ => None,
    }
}

/// Strict RFC 4180 quoting check: every quoted field closes, and a closing quote is followed by
/// a comma, the end of the line or the end of the file; no quote inside an unquoted field.
fn check_quotes(text: &str) -> Result<(), FrameError> {
    let mut line: u64 = 1;
    let mut opened: u64 = 0;
    let mut in_quotes = false;
    let mut at_start = true;
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' => {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                    } else {
                        match chars.peek() {
                            None | Some(',') | Some('\n') | Some('\r') => in_quotes = false,
                            Some(&next) => {
                                return Err(FrameError::StrayQuote { opened, line, next })
                            }
                        }
                    }
                }
                '\n' => line += 1,
                _ => {}
            }
            continue;
        }
        match c {
            '"' if at_start => {
                in_quotes = true;
                opened = line;
                at_start = false;
            }
            '"' => {
                return Err(FrameError::QuoteInField {
                    line,
                    field: field.clone(),
                })
            }
            ',' | '\r' => {
                at_start = true;
                field.clear();
            }
            '\n' => {
                at_start = true;
                field.clear();
                line += 1;
            }
            _ => {
                // leading blanks before a quote are allowed (the csv crate trims nothing, R does)
                if !(at_start && (c == ' ' || c == '\t')) {
                    at_start = false;
                }
                field.push(c);
            }
        }
    }
    if in_quotes {
        return Err(FrameError::UnterminatedQuote { line: opened });
    }
    Ok(())
}

/// A header line without commas but with semicolons or tabs: the file uses another separator.
fn check_delimiter(text: &str) -> Result<(), FrameError> {
    let header = text.lines().next().unwrap_or("");
    if header.contains(',') {
        return Ok(());
    }
    for (ch, name, shown) in [(';', "semicolons", ";"), ('\t', "tabs", "\\t")] {
        let count = header.matches(ch).count();
        if count > 0 {
            return Err(FrameError::OtherDelimiter { name, shown, count });
        }
    }
    Ok(())
}

impl DataFrame {
    /// Read a CSV file.
    ///
    /// Errors name the path and the OS message if the file cannot be read.
    pub fn from_csv_path(
        path: impl AsRef<Path>,
        options: &FrameOptions,
    ) -> Result<Self, FrameError> {
        let path = path.as_ref();
        if path.is_dir() {
            return Err(FrameError::Directory {
                path: path.to_path_buf(),
            });
        }
        let file = std::fs::File::open(path).map_err(|source| FrameError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_reader(std::io::BufReader::new(file), options).map_err(|e| match e {
            FrameError::Csv { line, message } => FrameError::Csv {
                line,
                message: format!("{message} (file '{}')", path.display()),
            },
            other => other,
        })
    }

    /// Read CSV text from any reader (e.g. `"a,b\n1,2\n".as_bytes()`).
    pub fn from_reader<R: Read>(mut reader: R, options: &FrameOptions) -> Result<Self, FrameError> {
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| FrameError::Csv {
                line: 0,
                message: e.to_string(),
            })?;
        let text = String::from_utf8_lossy(&bytes);
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        check_delimiter(text)?;
        check_quotes(text)?;
        let mut opts = options.clone();
        if options.quoted_as_categorical {
            opts.quoted_as_categorical = false;
            let records = scan_quoting(text);
            let na = options.na_list();
            let exempt: Vec<&str> = options
                .factor_columns
                .iter()
                .map(String::as_str)
                .chain(options.levels.iter().map(|(c, _)| c.as_str()))
                .collect();
            if let Some(e) = mixed_quoting(&records, &na, &exempt) {
                return Err(e);
            }
            for col in quoted_columns_in(&records, &na) {
                if !opts.factor_columns.contains(&col)
                    && !opts.levels.iter().any(|(c, _)| *c == col)
                {
                    opts.factor_columns.push(col);
                }
            }
        }
        Self::parse(bytes.as_slice(), &opts)
    }

    fn parse(bytes: &[u8], options: &FrameOptions) -> Result<Self, FrameError> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        let mut header: Option<Vec<String>> = None;
        let mut cells: Vec<Vec<String>> = Vec::new();
        let mut lines: Vec<u64> = Vec::new();
        let mut record = csv::ByteRecord::new();
        let mut row = 0usize;
        loop {
            let more = rdr
                .read_byte_record(&mut record)
                .map_err(|e| FrameError::Csv {
                    line: e.position().map(|p| p.line()).unwrap_or(0),
                    message: e.to_string(),
                })?;
            if !more {
                break;
            }
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            let mut fields = Vec::with_capacity(record.len());
            for (j, f) in record.iter().enumerate() {
                let s = std::str::from_utf8(f).map_err(|_| FrameError::InvalidUtf8 {
                    line,
                    column: j + 1,
                })?;
                fields.push(s.to_string());
            }
            match &header {
                None => {
                    if let Some(first) = fields.first_mut() {
                        if let Some(stripped) = first.strip_prefix('\u{feff}') {
                            *first = stripped.to_string();
                        }
                    }
                    let n_fields = fields.len();
                    let mut names: Vec<String> = Vec::with_capacity(n_fields);
                    for (j, n) in fields.into_iter().enumerate() {
                        let t = n.trim();
                        if t.is_empty() {
                            // R's write.csv leaves the row-names column unnamed; read.csv calls it X
                            if j == 0 && n_fields > 1 {
                                names.push("X".to_string());
                            } else {
                                return Err(FrameError::EmptyColumnName { position: j + 1 });
                            }
                        } else {
                            names.push(t.to_string());
                        }
                    }
                    let mut seen: HashMap<&str, usize> = HashMap::new();
                    for (j, n) in names.iter().enumerate() {
                        if let Some(&first) = seen.get(n.as_str()) {
                            return Err(FrameError::DuplicateColumn {
                                name: n.clone(),
                                first: first + 1,
                                second: j + 1,
                            });
                        }
                        seen.insert(n, j);
                    }
                    cells = names.iter().map(|_| Vec::new()).collect();
                    header = Some(names);
                }
                Some(h) => {
                    row += 1;
                    if fields.len() != h.len() {
                        return Err(FrameError::RaggedRow {
                            row,
                            line,
                            expected: h.len(),
                            found: fields.len(),
                        });
                    }
                    for (col, f) in cells.iter_mut().zip(fields) {
                        col.push(f);
                    }
                    lines.push(line);
                }
            }
        }
        let names = header.ok_or(FrameError::EmptyFile)?;
        if names.is_empty() {
            return Err(FrameError::EmptyFile);
        }
        if row == 0 {
            return Err(FrameError::NoDataRows {
                columns: names.len(),
            });
        }
        check_option_columns(&names, options)?;
        let na = options.na_list();
        let mut columns = Vec::with_capacity(names.len());
        let mut mostly_numeric = Vec::new();
        for (name, raw) in names.into_iter().zip(cells) {
            let given = options
                .levels
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, l)| l);
            let forced = options.factor_columns.contains(&name);
            let data = build_column(&name, &raw, given, forced, &na)?;
            if given.is_none() && !forced && matches!(data, ColumnData::Categorical(_)) {
                let is_na = |t: &str| t.is_empty() || na.iter().any(|m| m == t);
                let mut numbers = 0usize;
                let mut others: Vec<(String, u64)> = Vec::new();
                let mut count = 0usize;
                for (i, r) in raw.iter().enumerate() {
                    let t = r.trim();
                    if is_na(t) {
                        continue;
                    }
                    if t.parse::<f64>().is_ok() {
                        numbers += 1;
                    } else {
                        count += 1;
                        if others.len() < 5 {
                            others.push((t.to_string(), lines.get(i).copied().unwrap_or(0)));
                        }
                    }
                }
                if numbers > count {
                    mostly_numeric.push((name.clone(), numbers, count, others));
                }
            }
            columns.push(Column { name, data });
        }
        Ok(DataFrame {
            columns,
            n_rows: row,
            lines,
            mostly_numeric,
        })
    }

    /// When column `name` was read as categorical although most of its cells are numbers (a few
    /// stray tokens such as `n/a`), the error to report if a model uses it: it names the column,
    /// the offending cells with their line numbers, and how to force either reading.
    pub fn mostly_numeric_problem(&self, name: &str) -> Option<FrameError> {
        self.mostly_numeric
            .iter()
            .find(|(n, ..)| n == name)
            .map(|(n, numbers, count, shown)| FrameError::MostlyNumeric {
                column: n.clone(),
                numbers: *numbers,
                count: *count,
                shown: shown.clone(),
            })
    }

    /// Check that every level given in `options.levels` occurs in its column.  R's
    /// `factor(levels = )` allows unused levels (and data exported from R carry them), so reading
    /// does not require it; a command line that takes the levels from the user does: a level that
    /// does not occur is a typo, and would otherwise surface as a rank-deficient design.
    pub fn check_levels_occur(&self, options: &FrameOptions) -> Result<(), FrameError> {
        for (name, levels) in &options.levels {
            let Ok(col) = self.column(name) else { continue };
            let ColumnData::Categorical(cat) = &col.data else {
                continue;
            };
            let mut seen = vec![false; cat.levels.len()];
            for c in cat.codes.iter().flatten() {
                if let Some(s) = seen.get_mut(*c) {
                    *s = true;
                }
            }
            if let Some(k) = seen.iter().position(|s| !s) {
                let present: Vec<String> = (0..cat.levels.len())
                    .filter(|&j| seen[j])
                    .take(20)
                    .map(|j| cat.levels[j].clone())
                    .collect();
                return Err(FrameError::LevelAbsent {
                    column: name.clone(),
                    level: levels.get(k).cloned().unwrap_or_default(),
                    present,
                });
            }
        }
        Ok(())
    }

    /// 1-based line in the file of data row `row` (0-based), when read from CSV.
    pub fn line_of_row(&self, row: usize) -> Option<u64> {
        self.lines.get(row).copied()
    }

    /// Build a data frame from ready-made columns (all of the same length, unique names).
    pub fn from_columns(columns: Vec<Column>) -> Result<Self, FrameError> {
        let n_rows = columns.first().map(|c| col_len(&c.data)).unwrap_or(0);
        if columns.is_empty() {
            return Err(FrameError::EmptyFile);
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (j, c) in columns.iter().enumerate() {
            if let Some(&first) = seen.get(c.name.as_str()) {
                return Err(FrameError::DuplicateColumn {
                    name: c.name.clone(),
                    first: first + 1,
                    second: j + 1,
                });
            }
            seen.insert(&c.name, j);
            let len = col_len(&c.data);
            if len != n_rows {
                return Err(FrameError::RaggedRow {
                    row: len.min(n_rows) + 1,
                    line: 0,
                    expected: n_rows,
                    found: len,
                });
            }
        }
        if n_rows == 0 {
            return Err(FrameError::NoDataRows {
                columns: columns.len(),
            });
        }
        Ok(DataFrame {
            columns,
            n_rows,
            lines: Vec::new(),
            mostly_numeric: Vec::new(),
        })
    }

    /// Build a data frame from typed columns, applying `options` as the CSV reader does:
    /// [`FrameOptions::factor_columns`] turn numeric or logical columns into factors,
    /// [`FrameOptions::levels`] set a factor's level order (a value outside them is an error),
    /// and the errors (unknown option column, infinite value, duplicate column, ...) are the
    /// reader's.  `quoted_as_categorical` has no meaning here and is ignored.
    pub fn from_raw_columns(
        columns: Vec<(String, RawColumn)>,
        options: &FrameOptions,
    ) -> Result<Self, FrameError> {
        let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
        check_option_columns(&names, options)?;
        let na = options.na_list();
        let mut out = Vec::with_capacity(columns.len());
        for (name, raw) in columns {
            let given = options
                .levels
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, l)| l);
            let forced = options.factor_columns.contains(&name);
            let data = match raw {
                RawColumn::Numeric(values) => {
                    let mut numeric = Vec::with_capacity(values.len());
                    for (i, v) in values.into_iter().enumerate() {
                        match v {
                            Some(x) if x.is_nan() => numeric.push(None),
                            Some(x) if x.is_infinite() => {
                                return Err(FrameError::NonFiniteValue {
                                    column: name.clone(),
                                    row: i + 1,
                                    value: if x > 0.0 { "Inf" } else { "-Inf" }.to_string(),
                                })
                            }
                            other => numeric.push(other),
                        }
                    }
                    match (given, forced) {
                        (Some(_), _) => {
                            let text: Vec<String> = numeric
                                .iter()
                                .map(|v| v.map(format_r_number).unwrap_or_default())
                                .collect();
                            build_column(&name, &text, given, forced, &na)?
                        }
                        (None, true) => ColumnData::Categorical(numeric_to_factor(&numeric)),
                        (None, false) => ColumnData::Numeric(numeric),
                    }
                }
                RawColumn::Logical(values) => {
                    if given.is_some() || forced {
                        let text: Vec<String> = values
                            .iter()
                            .map(|v| match v {
                                Some(true) => "TRUE".to_string(),
                                Some(false) => "FALSE".to_string(),
                                None => String::new(),
                            })
                            .collect();
                        build_column(&name, &text, given, forced, &na)?
                    } else {
                        ColumnData::Logical(values)
                    }
                }
                // strings are always a factor, read as a quoted CSV column is
                RawColumn::Text(values) => {
                    let text: Vec<String> =
                        values.into_iter().map(Option::unwrap_or_default).collect();
                    build_column(&name, &text, given, true, &na)?
                }
                RawColumn::Categorical(cat) => match given {
                    Some(_) => {
                        let text: Vec<String> = cat
                            .codes
                            .iter()
                            .map(|c| {
                                c.and_then(|k| cat.levels.get(k).cloned())
                                    .unwrap_or_default()
                            })
                            .collect();
                        build_column(&name, &text, given, forced, &[])?
                    }
                    None => ColumnData::Categorical(cat),
                },
            };
            out.push(Column { name, data });
        }
        DataFrame::from_columns(out)
    }

    /// Number of data rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.columns.len()
    }

    /// All columns in file order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Column names in file order.
    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// Look up a column by exact name; an unknown name gives an error suggesting the closest.
    pub fn column(&self, name: &str) -> Result<&Column, FrameError> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| FrameError::UnknownColumn {
                name: name.to_string(),
                suggestion: closest_name(name, self.columns.iter().map(|c| c.name.as_str())),
                available: self.columns.iter().map(|c| c.name.clone()).collect(),
            })
    }
}

fn col_len(d: &ColumnData) -> usize {
    match d {
        ColumnData::Numeric(v) => v.len(),
        ColumnData::Logical(v) => v.len(),
        ColumnData::Categorical(c) => c.codes.len(),
    }
}

fn build_column(
    name: &str,
    raw: &[String],
    given: Option<&Vec<String>>,
    forced: bool,
    na: &[String],
) -> Result<ColumnData, FrameError> {
    let is_missing_cell = |t: &str| t.is_empty() || na.iter().any(|m| m == t);
    let trimmed: Vec<&str> = raw.iter().map(|s| s.trim()).collect();
    // Numeric?
    let mut numeric: Vec<Option<f64>> = Vec::with_capacity(raw.len());
    let mut is_numeric = true;
    for s in &trimmed {
        if is_missing_cell(s) {
            numeric.push(None);
        } else if let Ok(x) = s.parse::<f64>() {
            numeric.push(Some(x));
        } else {
            is_numeric = false;
            break;
        }
    }
    let all_missing = trimmed.iter().all(|s| is_missing_cell(s));
    if is_numeric && !all_missing {
        for (i, (x, s)) in numeric.iter().zip(&trimmed).enumerate() {
            if x.is_some_and(|v| !v.is_finite()) {
                return Err(FrameError::NonFiniteValue {
                    column: name.to_string(),
                    row: i + 1,
                    value: s.to_string(),
                });
            }
        }
    }
    let is_numeric = is_numeric && !all_missing;
    let is_logical = !is_numeric
        && trimmed
            .iter()
            .all(|s| is_missing_cell(s) || parse_logical(s).is_some());

    if let Some(levels) = given {
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (k, l) in levels.iter().enumerate() {
            if index.insert(l.as_str(), k).is_some() {
                return Err(FrameError::DuplicateLevel {
                    column: name.to_string(),
                    level: l.clone(),
                });
            }
        }
        let mut codes = Vec::with_capacity(raw.len());
        for (i, (r, t)) in raw.iter().zip(&trimmed).enumerate() {
            if is_missing_cell(t) {
                codes.push(None);
                continue;
            }
            let mut code = index.get(r.as_str()).or_else(|| index.get(t)).copied();
            if code.is_none() && is_numeric {
                if let Some(Some(x)) = numeric.get(i) {
                    code = index.get(format_r_number(*x).as_str()).copied();
                }
            }
            match code {
                Some(c) => codes.push(Some(c)),
                None => {
                    return Err(FrameError::ValueNotInLevels {
                        column: name.to_string(),
                        row: i + 1,
                        value: r.clone(),
                        levels: levels.clone(),
                    })
                }
            }
        }
        return Ok(ColumnData::Categorical(Categorical {
            levels: levels.clone(),
            codes,
        }));
    }
    if is_numeric {
        if forced {
            return Ok(ColumnData::Categorical(numeric_to_factor(&numeric)));
        }
        return Ok(ColumnData::Numeric(numeric));
    }
    if is_logical {
        let vals: Vec<Option<bool>> = trimmed.iter().map(|s| parse_logical(s)).collect();
        if forced {
            let mut present: Vec<bool> = vals.iter().flatten().copied().collect();
            present.sort_unstable();
            present.dedup();
            let levels: Vec<String> = present
                .iter()
                .map(|b| if *b { "TRUE" } else { "FALSE" }.to_string())
                .collect();
            let codes = vals
                .iter()
                .map(|v| v.and_then(|b| present.iter().position(|p| *p == b)))
                .collect();
            return Ok(ColumnData::Categorical(Categorical { levels, codes }));
        }
        return Ok(ColumnData::Logical(vals));
    }
    Ok(ColumnData::Categorical(text_to_factor(raw, &trimmed, na)))
}

/// The names given in `options.factor_columns` and `options.levels` exist, and no column has
/// its levels given twice.
fn check_option_columns(names: &[String], options: &FrameOptions) -> Result<(), FrameError> {
    for name in options
        .factor_columns
        .iter()
        .chain(options.levels.iter().map(|(n, _)| n))
    {
        if !names.contains(name) {
            return Err(FrameError::UnknownColumn {
                name: name.clone(),
                suggestion: closest_name(name, names.iter().map(String::as_str)),
                available: names.to_vec(),
            });
        }
    }
    for (k, (name, _)) in options.levels.iter().enumerate() {
        if options.levels[..k].iter().any(|(n, _)| n == name) {
            return Err(FrameError::LevelsTwice {
                column: name.clone(),
            });
        }
    }
    Ok(())
}

/// Categorical: byte-order sorted levels of the raw (untrimmed) text; empty cells and the `na`
/// spellings (after trimming) are missing.
fn text_to_factor(raw: &[String], trimmed: &[&str], na: &[String]) -> Categorical {
    let is_missing_cell = |t: &str| t.is_empty() || na.iter().any(|m| m == t);
    let set: HashSet<&str> = raw
        .iter()
        .zip(trimmed)
        .filter(|(_, t)| !is_missing_cell(t))
        .map(|(r, _)| r.as_str())
        .collect();
    let mut levels: Vec<String> = set.into_iter().map(str::to_string).collect();
    levels.sort();
    let index: HashMap<&str, usize> = levels
        .iter()
        .enumerate()
        .map(|(k, l)| (l.as_str(), k))
        .collect();
    let codes = raw
        .iter()
        .zip(trimmed)
        .map(|(r, t)| {
            if is_missing_cell(t) {
                None
            } else {
                index.get(r.as_str()).copied()
            }
        })
        .collect();
    Categorical { levels, codes }
}

/// Turn numbers into a factor: levels sorted numerically, labelled like R (`1`, `2`, `10`).
pub(crate) fn numeric_to_factor(values: &[Option<f64>]) -> Categorical {
    let mut uniq: Vec<f64> = values
        .iter()
        .flatten()
        .copied()
        .filter(|x| !x.is_nan())
        .collect();
    uniq.sort_by(|a, b| a.total_cmp(b));
    uniq.dedup();
    let mut levels: Vec<String> = Vec::new();
    for x in &uniq {
        let l = format_r_number(*x);
        if levels.last() != Some(&l) {
            levels.push(l);
        }
    }
    let index: HashMap<&str, usize> = levels
        .iter()
        .enumerate()
        .map(|(k, l)| (l.as_str(), k))
        .collect();
    let codes = values
        .iter()
        .map(|v| v.and_then(|x| index.get(format_r_number(x).as_str()).copied()))
        .collect();
    Categorical { levels, codes }
}

/// One CSV record as the quote scan sees it: the 1-based line it starts on and, per field, the
/// text and whether it was quoted.
type ScannedRecord = (u64, Vec<(String, bool)>);

/// Split CSV text into records of (text, was quoted) fields, each with the line it starts on.
/// The `csv` crate does not report whether a field was quoted, so this is a small scan of its own
/// over the same text (run after [`check_quotes`], so quoting is well formed).
fn scan_quoting(text: &str) -> Vec<ScannedRecord> {
    let mut records: Vec<ScannedRecord> = Vec::new();
    let mut record: Vec<(String, bool)> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut at_start = true;
    let mut line: u64 = 1;
    let mut record_line: u64 = 1;
    let mut chars = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .chars()
        .peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if at_start => {
                in_quotes = true;
                quoted = true;
                at_start = false;
            }
            ',' => {
                record.push((std::mem::take(&mut field), quoted));
                quoted = false;
                at_start = true;
            }
            '\n' | '\r' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                record.push((std::mem::take(&mut field), quoted));
                quoted = false;
                at_start = true;
                if !(record.len() == 1 && record[0].0.is_empty() && !record[0].1) {
                    records.push((record_line, std::mem::take(&mut record)));
                } else {
                    record.clear();
                }
                line += 1;
                record_line = line;
            }
            _ => {
                field.push(c);
                at_start = false;
            }
        }
    }
    if !field.is_empty() || quoted || !record.is_empty() {
        record.push((field, quoted));
        records.push((record_line, record));
    }
    records
}

/// Columns whose every non-missing cell is quoted in the CSV text: the convention of files
/// written by R's `write.csv` (factors and strings quoted, numbers not), so quoted IDs such as
/// `"10"` are categorical.
pub fn quoted_columns(text: &str) -> Vec<String> {
    quoted_columns_in(&scan_quoting(text), &["NA".to_string()])
}

fn quoted_columns_in(records: &[ScannedRecord], na: &[String]) -> Vec<String> {
    let Some(((_, header), rows)) = records.split_first() else {
        return Vec::new();
    };
    let is_na = |v: &str| v.is_empty() || na.iter().any(|m| m == v);
    header
        .iter()
        .enumerate()
        .filter(|(j, _)| {
            let mut any = false;
            for (_, r) in rows {
                if let Some((v, q)) = r.get(*j) {
                    if is_na(v.trim()) {
                        continue;
                    }
                    if !q {
                        return false;
                    }
                    any = true;
                }
            }
            any
        })
        .map(|(_, (name, _))| name.trim().to_string())
        .collect()
}

/// The first column whose numeric cells are quoted on some rows and not on others (`1` here,
/// `"1"` there), so that quoting cannot tell whether it is categorical: every non-missing cell
/// is a number, at least one is quoted and one is not.  Columns in `exempt` (declared with
/// `--factor` or given levels) are skipped.  The error names the counts and the first line of
/// each kind.
fn mixed_quoting(records: &[ScannedRecord], na: &[String], exempt: &[&str]) -> Option<FrameError> {
    let ((_, header), rows) = records.split_first()?;
    let is_na = |v: &str| v.is_empty() || na.iter().any(|m| m == v);
    for (j, (name, _)) in header.iter().enumerate() {
        let name = name.trim();
        if exempt.contains(&name) {
            continue;
        }
        let mut quoted = (0usize, 0u64);
        let mut unquoted = (0usize, 0u64);
        let mut all_numbers = true;
        for (line, r) in rows {
            let Some((v, q)) = r.get(j) else { continue };
            let v = v.trim();
            if is_na(v) {
                continue;
            }
            if v.parse::<f64>().is_err() {
                all_numbers = false;
                break;
            }
            let kind = if *q { &mut quoted } else { &mut unquoted };
            if kind.0 == 0 {
                kind.1 = *line;
            }
            kind.0 += 1;
        }
        if all_numbers && quoted.0 > 0 && unquoted.0 > 0 {
            return Some(FrameError::MixedQuoting {
                column: name.to_string(),
                quoted: quoted.0,
                first_quoted: quoted.1,
                unquoted: unquoted.0,
                first_unquoted: unquoted.1,
            });
        }
    }
    None
}

#[cfg(test)]
mod quoted_tests {
    use super::{quoted_columns, DataFrame, FrameOptions};

    #[test]
    fn quoted_columns_are_found() {
        let csv =
            "\"y\",\"id\",x,\"g\"\n1,\"10\",2,\"a\"\n0,\"11\",3,NA\r\n1,\"1\"\"2\",\"4\",\"b,c\"\n";
        assert_eq!(quoted_columns(csv), ["id", "g"]);
        assert!(quoted_columns("").is_empty());
    }

    #[test]
    fn quoted_numbers_become_categorical_only_when_asked() {
        let csv = "y,id\n1,\"10\"\n0,\"9\"\n";
        let plain = DataFrame::from_reader(csv.as_bytes(), &FrameOptions::default()).unwrap();
        assert_eq!(plain.column("id").unwrap().data.type_name(), "numeric");
        let opts = FrameOptions {
            quoted_as_categorical: true,
            ..Default::default()
        };
        let quoted = DataFrame::from_reader(csv.as_bytes(), &opts).unwrap();
        assert_eq!(quoted.column("id").unwrap().data.type_name(), "categorical");
    }

    #[test]
    fn a_partly_quoted_number_column_is_refused_with_counts_and_lines() {
        use super::FrameError;
        // line 1 header; z quoted on lines 2 and 4, unquoted on 3, 5, 6; NA cells do not count
        let csv = "y,x,z\n1,0.5,\"1\"\n0,0.7,1\n1,0.2,\"2\"\n0,0.1,2\n1,0.3,2\n0,0.4,NA\n";
        let opts = FrameOptions {
            quoted_as_categorical: true,
            ..Default::default()
        };
        match DataFrame::from_reader(csv.as_bytes(), &opts) {
            Err(FrameError::MixedQuoting {
                column,
                quoted,
                first_quoted,
                unquoted,
                first_unquoted,
            }) => {
                assert_eq!(column, "z");
                assert_eq!((quoted, first_quoted), (2, 2));
                assert_eq!((unquoted, first_unquoted), (3, 3));
            }
            other => panic!("expected MixedQuoting, got {other:?}"),
        }
        // the two ways out: declare it a factor, or (without the quote rule) plain numbers
        let factor = FrameOptions {
            quoted_as_categorical: true,
            factor_columns: vec!["z".into()],
            ..Default::default()
        };
        let f = DataFrame::from_reader(csv.as_bytes(), &factor).unwrap();
        assert_eq!(f.column("z").unwrap().data.type_name(), "categorical");
        let f = DataFrame::from_reader(csv.replace('"', "").as_bytes(), &opts).unwrap();
        assert_eq!(f.column("z").unwrap().data.type_name(), "numeric");
        // R's read.csv convention (quote rule off) reads it as numbers, as before
        let f = DataFrame::from_reader(csv.as_bytes(), &FrameOptions::default()).unwrap();
        assert_eq!(f.column("z").unwrap().data.type_name(), "numeric");
    }

    #[test]
    fn partly_quoted_text_columns_and_multiline_fields_are_accepted() {
        // a text column quoted only where needed (QUOTE_MINIMAL writers) is categorical either
        // way, so it is not ambiguous; a quoted field spanning lines keeps line numbers right
        let csv = "g,z\na,1\n\"d\ne\",3\n\"b,c\",\"2\"\n";
        let opts = FrameOptions {
            quoted_as_categorical: true,
            ..Default::default()
        };
        match DataFrame::from_reader(csv.as_bytes(), &opts) {
            Err(super::FrameError::MixedQuoting {
                column,
                first_quoted,
                first_unquoted,
                ..
            }) => {
                assert_eq!(column, "z");
                assert_eq!((first_quoted, first_unquoted), (5, 2));
            }
            other => panic!("expected MixedQuoting on z, got {other:?}"),
        }
        let csv = "g,z\na,1\n\"b,c\",2\n\"d\ne\",3\n";
        let f = DataFrame::from_reader(csv.as_bytes(), &opts).unwrap();
        assert_eq!(f.column("g").unwrap().data.type_name(), "categorical");
        assert_eq!(f.column("z").unwrap().data.type_name(), "numeric");
    }
}
