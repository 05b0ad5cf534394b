//! R model-formula grammar: text → [`Formula`] (no numeric dependencies).
//!
//! Supported: a response (`y`, `I(...)`, `log(y)`, or `cbind(s, f)` for binomial successes and
//! failures), `~`, terms joined by `+`, removal with `-`, the intercept literals `0` / `-1`
//! (remove) and `1` / `+1` (add), interactions `a:b`, crossing `a*b` (= `a + b + a:b`),
//! nesting `a/b` (= `a + a:b`), powers `(a+b+c)^2`, parentheses, `I(expr)` with arithmetic
//! (`+ - * / ^`, unary minus), comparisons (`> >= < <= == !=`), `&`, `|`, `!`, numbers and quoted
//! strings inside, `log()`, `exp()`, `sqrt()`, `abs()`, `log2()`, `log10()`, `log1p()` of numeric
//! expressions, and `factor(x)` to treat a column as categorical. Column names may be
//! backquoted (`` `my col` ``). The term algebra follows R's `terms.formula`: variables are
//! numbered by first appearance, an interaction's variables are kept in that order, duplicate
//! terms are removed, and terms are stably ordered by interaction order.
//!
//! Parsing never panics: every failure is a [`ParseError`] carrying the byte position, whose
//! `Display` shows the formula with a caret under the offending position.

use std::collections::HashMap;
use std::fmt;

/// Maximum nesting depth of the expression tree (parentheses, operators); deeper input is
/// rejected with [`ParseErrorKind::TooDeep`] instead of risking a stack overflow.
pub const MAX_DEPTH: usize = 400;

/// Byte range `[start, end)` of a syntax element in the formula text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `+x`
    Plus,
    /// `!x`
    Not,
    /// `~ x` (one-sided formula)
    Tilde,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `y ~ x`
    Tilde,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `^`
    Pow,
    /// `:`
    Colon,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `&` or `&&`
    And,
    /// `|` or `||`
    Or,
}

impl BinaryOp {
    /// The operator as written in R source.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Tilde => "~",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Pow => "^",
            BinaryOp::Colon => ":",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::And => "&",
            BinaryOp::Or => "|",
        }
    }

    /// Whether R's deparser writes spaces around the operator (`a + b`, but `a/b`, `a^2`, `a:b`).
    fn spaced(self) -> bool {
        !matches!(self, BinaryOp::Div | BinaryOp::Pow | BinaryOp::Colon)
    }

    /// Whether this is a comparison operator.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Eq | BinaryOp::Ne
        )
    }
}

/// A node of the parsed expression tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What the node is.
    pub kind: ExprKind,
    /// Where it is in the formula text.
    pub span: Span,
}

/// Expression node kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A column name (backquotes removed).
    Name(String),
    /// A numeric literal.
    Number(f64),
    /// A quoted string literal (quotes and escapes removed).
    Str(String),
    /// `TRUE` or `FALSE` (bare, not backquoted).
    Logical(bool),
    /// Unary operation.
    Unary(UnaryOp, Box<Expr>),
    /// Binary operation.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// Function call `name(args)`.
    Call(String, Vec<Expr>),
    /// Parenthesised expression (kept so labels deparse as written).
    Paren(Box<Expr>),
}

/// Numeric functions allowed inside expressions (`log(x)`, `I(sqrt(x) > 1)`).
pub const NUMERIC_FUNCTIONS: &[&str] = &["log", "exp", "sqrt", "abs", "log2", "log10", "log1p"];

impl Expr {
    /// R-style deparse: the label R would print for this expression (`I(week > 2)`, `log(x)`,
    /// `` `my col` ``, `x^2`, `cbind(s, f)`).
    pub fn deparse(&self) -> String {
        let mut s = String::new();
        self.deparse_into(&mut s);
        s
    }

    fn deparse_into(&self, out: &mut String) {
        match &self.kind {
            ExprKind::Name(n) => out.push_str(&quote_name(n)),
            ExprKind::Number(x) => out.push_str(&format_r_number(*x)),
            ExprKind::Logical(b) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
            ExprKind::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\t' => out.push_str("\\t"),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            ExprKind::Unary(op, e) => {
                out.push_str(match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Plus => "+",
                    UnaryOp::Not => "!",
                    UnaryOp::Tilde => "~",
                });
                e.deparse_into(out);
            }
            ExprKind::Binary(op, l, r) => {
                l.deparse_into(out);
                if op.spaced() {
                    out.push(' ');
                    out.push_str(op.symbol());
                    out.push(' ');
                } else {
                    out.push_str(op.symbol());
                }
                r.deparse_into(out);
            }
            ExprKind::Call(f, args) => {
                out.push_str(&quote_name(f));
                out.push('(');
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    a.deparse_into(out);
                }
                out.push(')');
            }
            ExprKind::Paren(e) => {
                out.push('(');
                e.deparse_into(out);
                out.push(')');
            }
        }
    }

    /// Column names referenced anywhere in the expression, in order of first appearance.
    pub fn column_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_names(&mut out);
        out
    }

    fn collect_names(&self, out: &mut Vec<String>) {
        match &self.kind {
            ExprKind::Name(n) => {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
            ExprKind::Number(_) | ExprKind::Str(_) | ExprKind::Logical(_) => {}
            ExprKind::Unary(_, e) | ExprKind::Paren(e) => e.collect_names(out),
            ExprKind::Binary(_, l, r) => {
                l.collect_names(out);
                r.collect_names(out);
            }
            ExprKind::Call(_, args) => {
                for a in args {
                    a.collect_names(out);
                }
            }
        }
    }
}

/// Whether `name` is a syntactic R name (no backquotes needed when deparsed).
fn is_syntactic(name: &str) -> bool {
    const RESERVED: &[&str] = &[
        "if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE",
        "NULL", "Inf", "NaN", "NA", "in",
    ];
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if !(first.is_alphabetic() || first == '.') {
        return false;
    }
    if first == '.' && name.chars().nth(1).is_some_and(|c| c.is_ascii_digit()) {
        return false;
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || c == '.' || c == '_')
    {
        return false;
    }
    !RESERVED.contains(&name)
}

fn quote_name(name: &str) -> String {
    if is_syntactic(name) {
        name.to_string()
    } else {
        format!("`{name}`")
    }
}

/// Format a number the way R's `as.character` / `deparse` does: up to 15 significant digits,
/// fixed notation unless scientific is shorter (`1`, `0.5`, `10`, `1e+05`, `1e-10`).
pub fn format_r_number(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Inf".into() } else { "-Inf".into() };
    }
    if x == 0.0 {
        return "0".into();
    }
    let neg = x < 0.0;
    let sci = format!("{:.14e}", x.abs());
    let (mant, exp) = match sci.split_once('e') {
        Some(p) => p,
        None => return format!("{x}"),
    };
    let exp: i64 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let nsig = digits.len() as i64;
    let sign = if neg { "-" } else { "" };
    // Fixed-notation width.
    let fixed_width = if exp >= 0 {
        let decimals = (nsig - exp - 1).max(0);
        (exp + 1) + if decimals > 0 { 1 + decimals } else { 0 }
    } else {
        2 + (-exp - 1) + nsig
    };
    let exp_digits = if exp.abs() >= 100 { 3 } else { 2 };
    let sci_width = nsig + if nsig > 1 { 1 } else { 0 } + 2 + exp_digits;
    if fixed_width <= sci_width {
        let mut s = String::from(sign);
        if exp >= 0 {
            let int_len = (exp + 1) as usize;
            let mut int_part: String = digits.chars().take(int_len).collect();
            while int_part.len() < int_len {
                int_part.push('0');
            }
            s.push_str(&int_part);
            let frac: String = digits.chars().skip(int_len).collect();
            if !frac.is_empty() {
                s.push('.');
                s.push_str(&frac);
            }
        } else {
            s.push_str("0.");
            for _ in 0..(-exp - 1) {
                s.push('0');
            }
            s.push_str(digits);
        }
        s
    } else {
        let mut s = String::from(sign);
        let mut it = digits.chars();
        if let Some(c) = it.next() {
            s.push(c);
        }
        let rest: String = it.collect();
        if !rest.is_empty() {
            s.push('.');
            s.push_str(&rest);
        }
        s.push('e');
        s.push(if exp < 0 { '-' } else { '+' });
        s.push_str(&format!(
            "{:0width$}",
            exp.abs(),
            width = exp_digits as usize
        ));
        s
    }
}

/// The response (left-hand side) of a two-sided formula.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// A single numeric (or logical) expression, usually a column name.
    Single(Expr),
    /// `cbind(successes, failures)` for binomial data.
    Cbind(Expr, Expr),
}

impl Response {
    /// R label of the response, e.g. `Mate` or `cbind(s, f)`.
    pub fn label(&self) -> String {
        match self {
            Response::Single(e) => e.deparse(),
            Response::Cbind(a, b) => format!("cbind({}, {})", a.deparse(), b.deparse()),
        }
    }

    /// Column names the response uses.
    pub fn column_names(&self) -> Vec<String> {
        match self {
            Response::Single(e) => e.column_names(),
            Response::Cbind(a, b) => {
                let mut v = a.column_names();
                for n in b.column_names() {
                    if !v.contains(&n) {
                        v.push(n);
                    }
                }
                v
            }
        }
    }
}

/// One variable of the right-hand side: a column, `factor(x)`, `I(...)`, `log(...)`, ...
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// The expression.
    pub expr: Expr,
    /// R label (deparsed expression), used for column names.
    pub label: String,
}

impl Variable {
    /// Whether the variable is `factor(...)` (always categorical).
    pub fn is_factor_call(&self) -> bool {
        matches!(&self.expr.kind, ExprKind::Call(f, _) if f == "factor")
    }
}

/// A model term: an interaction of one or more variables (a main effect has one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Indices into [`Formula::variables`], ascending (R's variable order).
    pub vars: Vec<usize>,
}

/// A parsed model formula.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    /// The formula text as written.
    pub text: String,
    /// Left-hand side; `None` for a one-sided formula such as `~ 0 + Female`.
    pub response: Option<Response>,
    /// Whether the model has an intercept (default yes; `0` or `-1` removes it).
    pub intercept: bool,
    /// Right-hand-side variables used by the terms, in order of first appearance.
    pub variables: Vec<Variable>,
    /// Terms in R order: stably sorted by interaction order, duplicates removed.
    pub terms: Vec<Term>,
}

impl Formula {
    /// R term labels, e.g. `["Site", "Region", "Site:Region"]`.
    pub fn term_labels(&self) -> Vec<String> {
        self.terms
            .iter()
            .map(|t| {
                t.vars
                    .iter()
                    .filter_map(|&i| self.variables.get(i).map(|v| v.label.as_str()))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .collect()
    }
}

/// What went wrong while parsing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseErrorKind {
    /// Empty or blank formula text.
    #[error("empty formula; write e.g. 'y ~ x' or '~ 0 + group'")]
    Empty,
    /// A character that cannot appear in a formula.
    #[error("unexpected character '{c}'{h}", c = .0, h = char_hint(*.0))]
    UnexpectedChar(char),
    /// A quoted string without its closing quote.
    #[error("unterminated string; add the closing quote")]
    UnterminatedString,
    /// A backquoted name without its closing backquote.
    #[error("unterminated backquoted name; add the closing '`'")]
    UnterminatedBackquote,
    /// `` `` `` with nothing inside.
    #[error("empty backquoted name; put the column name between the backquotes")]
    EmptyBackquote,
    /// A malformed or out-of-range numeric literal.
    #[error("invalid number '{0}'")]
    BadNumber(String),
    /// An operator with nothing after it.
    #[error("expected a term after '{0}'")]
    ExpectedTermAfter(String),
    /// Something that cannot start a term.
    #[error("expected a term, found {0}")]
    ExpectedTerm(String),
    /// A `(` without matching `)`.
    #[error("missing ')' to close the '(' at byte {0}")]
    UnclosedParen(usize),
    /// A token where an operator or the end was expected.
    #[error("unexpected {0}; did you forget '+' between terms?")]
    UnexpectedToken(String),
    /// A `)` without an opening `(`.
    #[error("unmatched ')'; remove it or add a '('")]
    UnmatchedParen,
    /// No `~` in the formula.
    #[error("a model formula needs '~', e.g. 'y ~ x' (or '~ 0 + group' for random effects)")]
    MissingTilde,
    /// More than one `~`, or `~` inside an expression.
    #[error("only one '~' is allowed, at the top level of the formula")]
    MisplacedTilde,
    /// Comparisons chained like `a < b < c`.
    #[error("comparisons cannot be chained; combine them with '&', e.g. I(a < b & b < c)")]
    ChainedComparison,
    /// A call to a function that is not supported.
    #[error("unknown function '{0}'; supported: I(), factor(), cbind() (response only), log(), exp(), sqrt(), abs(), log2(), log10(), log1p()")]
    UnknownFunction(String),
    /// A supported function called with the wrong number of arguments.
    #[error("{name}() takes {expected} argument(s), found {found}")]
    WrongArity {
        /// Function name.
        name: String,
        /// Expected count.
        expected: usize,
        /// Found count.
        found: usize,
    },
    /// Something that is valid R but not a model term (e.g. `y ~ 2`, `y ~ a > 1`).
    #[error("{0}")]
    InvalidTerm(String),
    /// Input nested too deeply.
    #[error("formula is nested too deeply (more than {MAX_DEPTH} levels)")]
    TooDeep,
}

fn char_hint(c: char) -> &'static str {
    match c {
        '=' => " (use '==' to compare, and '~' to separate response and terms)",
        '$' => "; refer to columns by their bare name, not data$column",
        '[' | ']' => "; indexing is not supported in formulas",
        '%' => "; %...% operators are not supported",
        '{' | '}' => "; use parentheses ( ) for grouping",
        ';' => "; give one formula at a time",
        _ => "",
    }
}

/// A formula parse error: the formula, the byte position of the problem, and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// The formula text.
    pub formula: String,
    /// Byte offset of the offending position (may equal the text length: "at the end").
    pub pos: usize,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One-line rendering of the formula (control characters become spaces), caret below.
        let line: String = self
            .formula
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let col = self
            .formula
            .get(..self.pos)
            .map(|s| s.chars().count())
            .unwrap_or_else(|| self.formula.chars().count());
        writeln!(
            f,
            "cannot parse formula at byte {}: {}",
            self.pos, self.kind
        )?;
        writeln!(f, "  {line}")?;
        write!(f, "  {}^", " ".repeat(col))
    }
}

impl std::error::Error for ParseError {}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Backquoted(String),
    Num(f64),
    Str(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("name '{s}'"),
            Tok::Backquoted(s) => format!("name `{s}`"),
            Tok::Num(x) => format!("number {}", format_r_number(*x)),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::Op(o) => format!("'{o}'"),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::Eof => "end of formula".into(),
        }
    }
}

struct Lexed {
    tok: Tok,
    span: Span,
}

fn lex(text: &str) -> Result<Vec<Lexed>, (usize, ParseErrorKind)> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end = text.len();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let pos_of = |i: usize| chars.get(i).map(|&(p, _)| p).unwrap_or(end);
    let mut i = 0;
    while let Some(c) = at(i) {
        let start = pos_of(i);
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' {
            while let Some(c) = at(i) {
                if c == '\n' {
                    break;
                }
                i += 1;
            }
            continue;
        }
        let is_num_start =
            c.is_ascii_digit() || (c == '.' && at(i + 1).is_some_and(|d| d.is_ascii_digit()));
        if is_num_start {
            let s = i;
            while at(i).is_some_and(|d| d.is_ascii_digit()) {
                i += 1;
            }
            if at(i) == Some('.') {
                i += 1;
                while at(i).is_some_and(|d| d.is_ascii_digit()) {
                    i += 1;
                }
            }
            if matches!(at(i), Some('e') | Some('E')) {
                i += 1;
                if matches!(at(i), Some('+') | Some('-')) {
                    i += 1;
                }
                let ds = i;
                while at(i).is_some_and(|d| d.is_ascii_digit()) {
                    i += 1;
                }
                if i == ds {
                    let lit = text.get(pos_of(s)..pos_of(i)).unwrap_or("").to_string();
                    return Err((start, ParseErrorKind::BadNumber(lit)));
                }
            }
            let lit = text.get(pos_of(s)..pos_of(i)).unwrap_or("");
            let value: f64 = match lit.parse() {
                Ok(v) => v,
                Err(_) => return Err((start, ParseErrorKind::BadNumber(lit.to_string()))),
            };
            if !value.is_finite() {
                return Err((start, ParseErrorKind::BadNumber(lit.to_string())));
            }
            if at(i) == Some('L') {
                i += 1;
            }
            if at(i).is_some_and(|d| d.is_alphanumeric() || d == '_' || d == '.') {
                let mut j = i;
                while at(j).is_some_and(|d| d.is_alphanumeric() || d == '_' || d == '.') {
                    j += 1;
                }
                let lit = text.get(pos_of(s)..pos_of(j)).unwrap_or("").to_string();
                return Err((start, ParseErrorKind::BadNumber(lit)));
            }
            out.push(Lexed {
                tok: Tok::Num(value),
                span: Span {
                    start,
                    end: pos_of(i),
                },
            });
            continue;
        }
        if c.is_alphabetic() || c == '.' {
            let s = i;
            while at(i).is_some_and(|d| d.is_alphanumeric() || d == '.' || d == '_') {
                i += 1;
            }
            let name = text.get(pos_of(s)..pos_of(i)).unwrap_or("").to_string();
            out.push(Lexed {
                tok: Tok::Ident(name),
                span: Span {
                    start,
                    end: pos_of(i),
                },
            });
            continue;
        }
        if c == '`' || c == '"' || c == '\'' {
            let quote = c;
            i += 1;
            let mut s = String::new();
            loop {
                match at(i) {
                    None => {
                        return Err((
                            start,
                            if quote == '`' {
                                ParseErrorKind::UnterminatedBackquote
                            } else {
                                ParseErrorKind::UnterminatedString
                            },
                        ))
                    }
                    Some(d) if d == quote => {
                        i += 1;
                        break;
                    }
                    Some('\\') => {
                        i += 1;
                        match at(i) {
                            None => continue,
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some(d) => s.push(d),
                        }
                        i += 1;
                    }
                    Some(d) => {
                        s.push(d);
                        i += 1;
                    }
                }
            }
            let span = Span {
                start,
                end: pos_of(i),
            };
            if quote == '`' {
                if s.is_empty() {
                    return Err((start, ParseErrorKind::EmptyBackquote));
                }
                out.push(Lexed {
                    tok: Tok::Backquoted(s),
                    span,
                });
            } else {
                out.push(Lexed {
                    tok: Tok::Str(s),
                    span,
                });
            }
            continue;
        }
        let next = at(i + 1);
        let (tok, len): (Tok, usize) = match (c, next) {
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            (',', _) => (Tok::Comma, 1),
            ('>', Some('=')) => (Tok::Op(">="), 2),
            ('<', Some('=')) => (Tok::Op("<="), 2),
            ('=', Some('=')) => (Tok::Op("=="), 2),
            ('!', Some('=')) => (Tok::Op("!="), 2),
            ('&', Some('&')) => (Tok::Op("&"), 2),
            ('|', Some('|')) => (Tok::Op("|"), 2),
            ('*', Some('*')) => (Tok::Op("^"), 2),
            ('>', _) => (Tok::Op(">"), 1),
            ('<', _) => (Tok::Op("<"), 1),
            ('!', _) => (Tok::Op("!"), 1),
            ('&', _) => (Tok::Op("&"), 1),
            ('|', _) => (Tok::Op("|"), 1),
            ('~', _) => (Tok::Op("~"), 1),
            ('+', _) => (Tok::Op("+"), 1),
            ('-', _) => (Tok::Op("-"), 1),
            ('*', _) => (Tok::Op("*"), 1),
            ('/', _) => (Tok::Op("/"), 1),
            ('^', _) => (Tok::Op("^"), 1),
            (':', _) => (Tok::Op(":"), 1),
            (c, _) => return Err((start, ParseErrorKind::UnexpectedChar(c))),
        };
        i += len;
        out.push(Lexed {
            tok,
            span: Span {
                start,
                end: pos_of(i),
            },
        });
    }
    out.push(Lexed {
        tok: Tok::Eof,
        span: Span { start: end, end },
    });
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Parser (Pratt)

struct Parser {
    toks: Vec<Lexed>,
    i: usize,
    depth: usize,
    end: usize,
}

type PResult<T> = Result<T, (usize, ParseErrorKind)>;

fn binary_info(op: &str) -> Option<(BinaryOp, u8, u8)> {
    // (operator, left binding power, right binding power); higher binds tighter.
    Some(match op {
        "~" => (BinaryOp::Tilde, 2, 3),
        "|" => (BinaryOp::Or, 4, 5),
        "&" => (BinaryOp::And, 6, 7),
        ">" => (BinaryOp::Gt, 10, 11),
        ">=" => (BinaryOp::Ge, 10, 11),
        "<" => (BinaryOp::Lt, 10, 11),
        "<=" => (BinaryOp::Le, 10, 11),
        "==" => (BinaryOp::Eq, 10, 11),
        "!=" => (BinaryOp::Ne, 10, 11),
        "+" => (BinaryOp::Add, 12, 13),
        "-" => (BinaryOp::Sub, 12, 13),
        "*" => (BinaryOp::Mul, 14, 15),
        "/" => (BinaryOp::Div, 14, 15),
        ":" => (BinaryOp::Colon, 18, 19),
        "^" => (BinaryOp::Pow, 22, 21),
        _ => return None,
    })
}

const NOT_BP: u8 = 8;
const UNARY_BP: u8 = 20;
const TILDE_PREFIX_BP: u8 = 3;

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.i).map(|l| &l.tok).unwrap_or(&Tok::Eof)
    }

    fn peek_span(&self) -> Span {
        self.toks.get(self.i).map(|l| l.span).unwrap_or(Span {
            start: self.end,
            end: self.end,
        })
    }

    fn bump(&mut self) {
        if self.i < self.toks.len() {
            self.i += 1;
        }
    }

    fn expr(&mut self, min_bp: u8, after: Option<&str>) -> PResult<Expr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err((self.peek_span().start, ParseErrorKind::TooDeep));
        }
        let r = self.expr_inner(min_bp, after);
        self.depth -= 1;
        r
    }

    fn expr_inner(&mut self, min_bp: u8, after: Option<&str>) -> PResult<Expr> {
        let span = self.peek_span();
        let tok = self.peek().clone();
        let mut lhs = match tok {
            Tok::Ident(name) if (name == "TRUE" || name == "FALSE") => {
                self.bump();
                Expr {
                    kind: ExprKind::Logical(name == "TRUE"),
                    span,
                }
            }
            Tok::Ident(name) | Tok::Backquoted(name) => {
                self.bump();
                if *self.peek() == Tok::LParen {
                    let open = self.peek_span().start;
                    self.bump();
                    let mut args = Vec::new();
                    if *self.peek() != Tok::RParen {
                        loop {
                            args.push(self.expr(0, Some("("))?);
                            match self.peek() {
                                Tok::Comma => {
                                    self.bump();
                                }
                                Tok::RParen => break,
                                Tok::Eof => {
                                    return Err((self.end, ParseErrorKind::UnclosedParen(open)))
                                }
                                t => {
                                    let d = t.describe();
                                    return Err((
                                        self.peek_span().start,
                                        ParseErrorKind::UnexpectedToken(d),
                                    ));
                                }
                            }
                        }
                    }
                    let close = self.peek_span().end;
                    self.bump();
                    Expr {
                        kind: ExprKind::Call(name, args),
                        span: Span {
                            start: span.start,
                            end: close,
                        },
                    }
                } else {
                    Expr {
                        kind: ExprKind::Name(name),
                        span,
                    }
                }
            }
            Tok::Num(x) => {
                self.bump();
                Expr {
                    kind: ExprKind::Number(x),
                    span,
                }
            }
            Tok::Str(s) => {
                self.bump();
                Expr {
                    kind: ExprKind::Str(s),
                    span,
                }
            }
            Tok::LParen => {
                self.bump();
                let inner = self.expr(0, Some("("))?;
                match self.peek() {
                    Tok::RParen => {}
                    Tok::Eof => return Err((self.end, ParseErrorKind::UnclosedParen(span.start))),
                    t => {
                        let d = t.describe();
                        return Err((self.peek_span().start, ParseErrorKind::UnexpectedToken(d)));
                    }
                }
                let close = self.peek_span().end;
                self.bump();
                Expr {
                    kind: ExprKind::Paren(Box::new(inner)),
                    span: Span {
                        start: span.start,
                        end: close,
                    },
                }
            }
            Tok::Op(op @ ("-" | "+" | "!" | "~")) => {
                self.bump();
                let (uop, bp) = match op {
                    "-" => (UnaryOp::Neg, UNARY_BP),
                    "+" => (UnaryOp::Plus, UNARY_BP),
                    "!" => (UnaryOp::Not, NOT_BP),
                    _ => (UnaryOp::Tilde, TILDE_PREFIX_BP),
                };
                let operand = self.expr(bp, Some(op))?;
                let end = operand.span.end;
                Expr {
                    kind: ExprKind::Unary(uop, Box::new(operand)),
                    span: Span {
                        start: span.start,
                        end,
                    },
                }
            }
            Tok::Eof => {
                return Err((
                    span.start,
                    match after {
                        Some(op) => ParseErrorKind::ExpectedTermAfter(op.to_string()),
                        None => ParseErrorKind::Empty,
                    },
                ))
            }
            Tok::RParen if after == Some("(") => {
                return Err((span.start, ParseErrorKind::ExpectedTermAfter("(".into())))
            }
            other => {
                return Err((
                    span.start,
                    match after {
                        Some(op) if matches!(other, Tok::Op(_) | Tok::RParen | Tok::Comma) => {
                            ParseErrorKind::ExpectedTermAfter(op.to_string())
                        }
                        _ => ParseErrorKind::ExpectedTerm(other.describe()),
                    },
                ))
            }
        };
        let mut last_cmp = false;
        loop {
            let op_span = self.peek_span();
            let (bop, lbp, rbp, sym) = match self.peek() {
                Tok::Op(o) => match binary_info(o) {
                    Some((b, l, r)) => (b, l, r, *o),
                    None => break,
                },
                _ => break,
            };
            if lbp < min_bp {
                break;
            }
            if bop.is_comparison() && last_cmp {
                return Err((op_span.start, ParseErrorKind::ChainedComparison));
            }
            self.bump();
            let rhs = self.expr(rbp, Some(sym))?;
            last_cmp = bop.is_comparison();
            let span = Span {
                start: lhs.span.start,
                end: rhs.span.end,
            };
            lhs = Expr {
                kind: ExprKind::Binary(bop, Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
        Ok(lhs)
    }
}

/// Parse an R expression (no formula interpretation). Useful for tests and tools.
pub fn parse_expr(text: &str) -> Result<Expr, ParseError> {
    let err = |(pos, kind): (usize, ParseErrorKind)| ParseError {
        formula: text.to_string(),
        pos,
        kind,
    };
    let toks = lex(text).map_err(err)?;
    let mut p = Parser {
        toks,
        i: 0,
        depth: 0,
        end: text.len(),
    };
    let e = p.expr(0, None).map_err(err)?;
    match p.peek() {
        Tok::Eof => Ok(e),
        Tok::RParen => Err(err((p.peek_span().start, ParseErrorKind::UnmatchedParen))),
        t => {
            let d = t.describe();
            Err(err((
                p.peek_span().start,
                ParseErrorKind::UnexpectedToken(d),
            )))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Formula interpretation: the term algebra

struct TermSet {
    terms: Vec<Vec<usize>>,
    intercept: Option<bool>,
}

struct Builder<'a> {
    text: &'a str,
    vars: Vec<Variable>,
    index: HashMap<String, usize>,
}

fn invalid(pos: usize, msg: impl Into<String>) -> (usize, ParseErrorKind) {
    (pos, ParseErrorKind::InvalidTerm(msg.into()))
}

fn union(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut v: Vec<usize> = a.iter().chain(b.iter()).copied().collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn push_unique(acc: &mut Vec<Vec<usize>>, t: Vec<usize>) {
    if !acc.contains(&t) {
        acc.push(t);
    }
}

fn interact(l: &[Vec<usize>], r: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for a in l {
        for b in r {
            push_unique(&mut out, union(a, b));
        }
    }
    out
}

/// Check an expression used inside a variable (argument of I(), log(), factor(), ...).
fn check_value_expr(e: &Expr, depth: usize) -> PResult<()> {
    if depth > MAX_DEPTH {
        return Err((e.span.start, ParseErrorKind::TooDeep));
    }
    match &e.kind {
        ExprKind::Name(_) | ExprKind::Number(_) | ExprKind::Str(_) | ExprKind::Logical(_) => Ok(()),
        ExprKind::Unary(UnaryOp::Tilde, _) => Err((e.span.start, ParseErrorKind::MisplacedTilde)),
        ExprKind::Unary(_, x) | ExprKind::Paren(x) => check_value_expr(x, depth + 1),
        ExprKind::Binary(BinaryOp::Tilde, _, r) => Err((
            r.span.start.saturating_sub(1),
            ParseErrorKind::MisplacedTilde,
        )),
        ExprKind::Binary(BinaryOp::Colon, l, _) => Err(invalid(
            l.span.end,
            "':' (sequence) is not supported inside expressions",
        )),
        ExprKind::Binary(_, l, r) => {
            check_value_expr(l, depth + 1)?;
            check_value_expr(r, depth + 1)
        }
        ExprKind::Call(f, args) => {
            if f == "I" || NUMERIC_FUNCTIONS.contains(&f.as_str()) {
                if args.len() != 1 {
                    return Err((
                        e.span.start,
                        ParseErrorKind::WrongArity {
                            name: f.clone(),
                            expected: 1,
                            found: args.len(),
                        },
                    ));
                }
                for a in args {
                    check_value_expr(a, depth + 1)?;
                }
                Ok(())
            } else if f == "factor" {
                Err(invalid(
                    e.span.start,
                    "factor() can only be used as a whole term, e.g. '~ 0 + factor(x)'",
                ))
            } else if f == "cbind" {
                Err(invalid(
                    e.span.start,
                    "cbind() is only allowed as the response, e.g. 'cbind(s, f) ~ x'",
                ))
            } else {
                Err((e.span.start, ParseErrorKind::UnknownFunction(f.clone())))
            }
        }
    }
}

impl Builder<'_> {
    fn variable(&mut self, e: &Expr) -> PResult<usize> {
        check_value_expr(e, 0).or_else(|err| {
            // factor(x) is allowed at the top of a variable
            if let ExprKind::Call(f, args) = &e.kind {
                if f == "factor" {
                    if args.len() != 1 {
                        return Err((
                            e.span.start,
                            ParseErrorKind::WrongArity {
                                name: f.clone(),
                                expected: 1,
                                found: args.len(),
                            },
                        ));
                    }
                    for a in args {
                        check_value_expr(a, 1)?;
                    }
                    return Ok(());
                }
            }
            Err(err)
        })?;
        let label = e.deparse();
        if let Some(&i) = self.index.get(&label) {
            return Ok(i);
        }
        let i = self.vars.len();
        self.vars.push(Variable {
            expr: e.clone(),
            label: label.clone(),
        });
        self.index.insert(label, i);
        Ok(i)
    }

    fn terms(&mut self, e: &Expr, depth: usize) -> PResult<TermSet> {
        if depth > MAX_DEPTH {
            return Err((e.span.start, ParseErrorKind::TooDeep));
        }
        match &e.kind {
            ExprKind::Binary(BinaryOp::Add | BinaryOp::Sub, _, _)
            | ExprKind::Unary(UnaryOp::Neg | UnaryOp::Plus, _) => self.sum(e, depth),
            ExprKind::Number(x) => {
                if *x == 0.0 || *x == 1.0 {
                    Ok(TermSet {
                        terms: vec![],
                        intercept: Some(*x == 1.0),
                    })
                } else {
                    Err(invalid(
                        e.span.start,
                        format!(
                            "the number {} is not a term; only 0 and 1 (intercept) are, wrap arithmetic in I(...)",
                            format_r_number(*x)
                        ),
                    ))
                }
            }
            ExprKind::Paren(x) => self.terms(x, depth + 1),
            ExprKind::Binary(BinaryOp::Colon, l, r) => {
                let a = self.terms(l, depth + 1)?;
                let b = self.terms(r, depth + 1)?;
                self.no_intercept_literal(&a, l)?;
                self.no_intercept_literal(&b, r)?;
                Ok(TermSet {
                    terms: interact(&a.terms, &b.terms),
                    intercept: None,
                })
            }
            ExprKind::Binary(BinaryOp::Mul, l, r) => {
                let a = self.terms(l, depth + 1)?;
                let b = self.terms(r, depth + 1)?;
                self.no_intercept_literal(&a, l)?;
                self.no_intercept_literal(&b, r)?;
                let mut out = a.terms.clone();
                for t in &b.terms {
                    push_unique(&mut out, t.clone());
                }
                for t in interact(&a.terms, &b.terms) {
                    push_unique(&mut out, t);
                }
                Ok(TermSet {
                    terms: out,
                    intercept: None,
                })
            }
            ExprKind::Binary(BinaryOp::Div, l, r) => {
                let a = self.terms(l, depth + 1)?;
                let b = self.terms(r, depth + 1)?;
                self.no_intercept_literal(&a, l)?;
                self.no_intercept_literal(&b, r)?;
                let all: Vec<usize> = a.terms.iter().fold(Vec::new(), |acc, t| union(&acc, t));
                let mut out = a.terms.clone();
                for t in &b.terms {
                    push_unique(&mut out, union(&all, t));
                }
                Ok(TermSet {
                    terms: out,
                    intercept: None,
                })
            }
            ExprKind::Binary(BinaryOp::Pow, l, r) => {
                let a = self.terms(l, depth + 1)?;
                self.no_intercept_literal(&a, l)?;
                let k = match &r.kind {
                    ExprKind::Number(k) if *k >= 1.0 && *k <= 16.0 && k.fract() == 0.0 => {
                        *k as usize
                    }
                    _ => {
                        return Err(invalid(
                            r.span.start,
                            "the power in (a + b)^k must be a whole number from 1 to 16; for arithmetic powers use I(x^2)",
                        ))
                    }
                };
                let mut out = a.terms.clone();
                for _ in 1..k {
                    let prod = interact(&out, &a.terms);
                    for t in prod {
                        push_unique(&mut out, t);
                    }
                }
                Ok(TermSet {
                    terms: out,
                    intercept: None,
                })
            }
            ExprKind::Binary(
                op @ (BinaryOp::Gt
                | BinaryOp::Ge
                | BinaryOp::Lt
                | BinaryOp::Le
                | BinaryOp::Eq
                | BinaryOp::Ne
                | BinaryOp::And),
                l,
                _,
            ) => Err(invalid(
                self.skip_space(l.span.end),
                format!(
                    "'{}' is not a formula operator; wrap the expression in I(...), e.g. I(week > 2)",
                    op.symbol()
                ),
            )),
            ExprKind::Binary(BinaryOp::Or, _, _) => Err(invalid(
                e.span.start,
                "'|' is not a formula operator here (lme4-style (1 | g) terms are not used: give random effects as separate one-sided formulas such as '~ 0 + g'); for a logical OR wrap it in I(...)",
            )),
            ExprKind::Binary(BinaryOp::Tilde, _, r) => {
                Err((r.span.start.saturating_sub(1), ParseErrorKind::MisplacedTilde))
            }
            ExprKind::Unary(UnaryOp::Tilde, _) => Err((e.span.start, ParseErrorKind::MisplacedTilde)),
            ExprKind::Unary(UnaryOp::Not, _) => Err(invalid(
                e.span.start,
                "'!' is not a formula operator; wrap it in I(...), e.g. I(!treated)",
            )),
            ExprKind::Logical(_) => Err(invalid(
                e.span.start,
                "TRUE/FALSE is not a term; use it inside I(...), or backquote a column named `TRUE`",
            )),
            ExprKind::Str(_) => Err(invalid(
                e.span.start,
                "a quoted string is not a term; column names are written bare or in backquotes, e.g. `my col`",
            )),
            ExprKind::Name(n) if n == "." => Err(invalid(
                e.span.start,
                "'.' (all other columns) is not supported; list the columns explicitly",
            )),
            ExprKind::Name(_) | ExprKind::Call(_, _) => {
                let i = self.variable(e)?;
                Ok(TermSet {
                    terms: vec![vec![i]],
                    intercept: None,
                })
            }
        }
    }

    /// First non-whitespace byte at or after `pos`.
    fn skip_space(&self, pos: usize) -> usize {
        self.text
            .get(pos..)
            .and_then(|rest| rest.char_indices().find(|(_, c)| !c.is_whitespace()))
            .map_or(pos, |(k, _)| pos + k)
    }

    fn no_intercept_literal(&self, t: &TermSet, e: &Expr) -> PResult<()> {
        if t.intercept.is_some() {
            Err(invalid(
                e.span.start,
                "the intercept literals 0 and 1 can only be added or removed with '+' and '-'",
            ))
        } else {
            Ok(())
        }
    }

    fn sum(&mut self, e: &Expr, depth: usize) -> PResult<TermSet> {
        // Flatten the left spine of +/- iteratively so long sums do not recurse deeply.
        let mut items: Vec<(bool, &Expr)> = Vec::new();
        let mut cur = e;
        loop {
            match &cur.kind {
                ExprKind::Binary(BinaryOp::Add, l, r) => {
                    items.push((true, r));
                    cur = l;
                }
                ExprKind::Binary(BinaryOp::Sub, l, r) => {
                    items.push((false, r));
                    cur = l;
                }
                _ => {
                    items.push((true, cur));
                    break;
                }
            }
        }
        items.reverse();
        let mut acc: Vec<Vec<usize>> = Vec::new();
        let mut intercept = None;
        for (mut positive, mut item) in items {
            // unary signs
            while let ExprKind::Unary(op @ (UnaryOp::Neg | UnaryOp::Plus), x) = &item.kind {
                if *op == UnaryOp::Neg {
                    positive = !positive;
                }
                item = x;
            }
            let ts = self.terms(item, depth + 1)?;
            if let Some(b) = ts.intercept {
                intercept = Some(if positive { b } else { !b });
            }
            if positive {
                for t in ts.terms {
                    push_unique(&mut acc, t);
                }
            } else {
                acc.retain(|t| !ts.terms.contains(t));
            }
        }
        Ok(TermSet {
            terms: acc,
            intercept,
        })
    }
}

fn response_of(e: &Expr) -> PResult<Response> {
    match &e.kind {
        ExprKind::Call(f, args) if f == "cbind" => {
            if args.len() != 2 {
                return Err((
                    e.span.start,
                    ParseErrorKind::WrongArity {
                        name: "cbind".into(),
                        expected: 2,
                        found: args.len(),
                    },
                ));
            }
            for a in args {
                check_value_expr(a, 1)?;
            }
            match args.as_slice() {
                [a, b] => Ok(Response::Cbind(a.clone(), b.clone())),
                _ => Err(invalid(e.span.start, "cbind() needs two arguments")),
            }
        }
        ExprKind::Number(_) | ExprKind::Str(_) | ExprKind::Logical(_) => Err(invalid(
            e.span.start,
            "the response must be a column (or an expression of columns), e.g. 'y ~ x'",
        )),
        _ => {
            check_value_expr(e, 0)?;
            Ok(Response::Single(e.clone()))
        }
    }
}

/// Parse a model formula such as `Mate ~ 0 + Cross`, `cbind(s, f) ~ x * g` or `~ 0 + Female`.
///
/// ```
/// use mcla_formula::grammar::parse_formula;
/// let f = parse_formula("resp ~ Site * Region").unwrap();
/// assert_eq!(f.term_labels(), ["Site", "Region", "Site:Region"]);
/// assert!(f.intercept);
/// let err = parse_formula("y ~ a +").unwrap_err();
/// assert_eq!(err.pos, 7);
/// ```
pub fn parse_formula(text: &str) -> Result<Formula, ParseError> {
    let err = |(pos, kind): (usize, ParseErrorKind)| ParseError {
        formula: text.to_string(),
        pos,
        kind,
    };
    if text.trim().is_empty() {
        return Err(err((0, ParseErrorKind::Empty)));
    }
    let e = parse_expr(text)?;
    let (lhs, rhs) = match &e.kind {
        ExprKind::Binary(BinaryOp::Tilde, l, r) => (Some(&**l), &**r),
        ExprKind::Unary(UnaryOp::Tilde, r) => (None, &**r),
        _ => return Err(err((0, ParseErrorKind::MissingTilde))),
    };
    let response = match lhs {
        Some(l) => Some(response_of(l).map_err(err)?),
        None => None,
    };
    let mut b = Builder {
        text,
        vars: Vec::new(),
        index: HashMap::new(),
    };
    let ts = b.terms(rhs, 0).map_err(err)?;
    let mut terms = ts.terms;
    // Stable sort by interaction order (R's terms.formula keep.order = FALSE).
    terms.sort_by_key(|t| t.len());
    // Keep only variables used by the final terms, preserving first-appearance order.
    let mut used: Vec<usize> = terms.iter().flatten().copied().collect();
    used.sort_unstable();
    used.dedup();
    let mut remap = HashMap::new();
    let mut variables = Vec::new();
    for (new, &old) in used.iter().enumerate() {
        remap.insert(old, new);
        if let Some(v) = b.vars.get(old) {
            variables.push(v.clone());
        }
    }
    let terms = terms
        .into_iter()
        .map(|t| Term {
            vars: t.iter().filter_map(|i| remap.get(i).copied()).collect(),
        })
        .collect();
    Ok(Formula {
        text: text.to_string(),
        response,
        intercept: ts.intercept.unwrap_or(true),
        variables,
        terms,
    })
}
