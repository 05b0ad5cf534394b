//! lme4-style mixed-model formulas: `y ~ x + (1 | g) + (0 + x | g) + (1 | a/b)`.
//!
//! [`expand_mixed_formula`] splits such a formula into the fixed-effects formula and one
//! one-sided random-effect formula per independent variance component, exactly as a user
//! would write them with `--fixed` / `--random`:
//!
//! | term | random formula | variance-component name |
//! |---|---|---|
//! | `(1 \| g)` | `~ 0 + g` | `g` |
//! | `(0 + x \| g)` | `~ 0 + x:g` | `x:g` |
//! | `(1 \| a/b)` | `~ 0 + a`, `~ 0 + a:b` | `a`, `a:b` |
//! | `(1 + x \|\| g)` | `~ 0 + g`, `~ 0 + x:g` | `g`, `x:g` |
//!
//! Correlated random effects `(x | g)` / `(1 + x | g)` are refused: each variance component
//! here is one independent normal variance.
//!
//! ```
//! use mcla_formula::expand_mixed_formula;
//! let m = expand_mixed_formula("Mate ~ 0 + Cross + (1 | Female) + (1 | Male)").unwrap();
//! assert_eq!(m.fixed, "Mate ~ 0 + Cross");
//! assert_eq!(m.random, ["~ 0 + Female", "~ 0 + Male"]);
//! assert_eq!(m.names, ["Female", "Male"]);
//! let n = expand_mixed_formula("y ~ x + (1 | a/b) + (0 + x | a)").unwrap();
//! assert_eq!(n.random, ["~ 0 + a", "~ 0 + a:b", "~ 0 + x:a"]);
//! assert!(expand_mixed_formula("y ~ x + (x | g)").is_err());
//! ```

/// A mixed-model formula split into fixed and random parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixedFormula {
    /// Two-sided fixed-effects formula, e.g. `Mate ~ 0 + Cross`.
    pub fixed: String,
    /// One-sided random-effect formulas, one per variance component, e.g. `~ 0 + Female`.
    pub random: Vec<String>,
    /// Default variance-component names (the grouping factors), one per random formula.
    pub names: Vec<String>,
}

/// Why a mixed-model formula cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MixedFormulaError {
    /// No `~`.
    #[error("the formula '{0}' has no '~'; write it as e.g. 'y ~ x + (1 | g)'")]
    NoTilde(String),
    /// Parentheses or quotes do not balance.
    #[error("the formula '{0}' has unbalanced parentheses or quotes")]
    Unbalanced(String),
    /// `(x | g)`: correlated intercept and slope.
    #[error("'{term}': correlated random effects are not supported; write (1 | {group}) + (0 + {slope} | {group}) for independent ones")]
    Correlated {
        /// The term as written.
        term: String,
        /// Grouping factor.
        group: String,
        /// The slope variable(s).
        slope: String,
    },
    /// A bar term whose parts are empty or not understood.
    #[error(
        "'{term}' is not a random-effect term of the form (1 | g), (0 + x | g) or (1 | a/b): {why}"
    )]
    BadTerm {
        /// The term as written.
        term: String,
        /// What is wrong.
        why: String,
    },
    /// No random-effect term at all.
    #[error("the formula '{0}' has no random-effect term such as (1 | g)")]
    NoRandom(String),
}

/// Split `text` at top-level occurrences of `sep` (outside parentheses, brackets and quotes).
fn split_top(text: &str, sep: char) -> Result<Vec<String>, ()> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut cur = String::new();
    for ch in text.chars() {
        if let Some(q) = quote {
            cur.push(ch);
            if ch == q {
                quote = None;
            }
            continue;
        }
        match ch {
            '"' | '\'' | '`' => {
                quote = Some(ch);
                cur.push(ch);
            }
            '(' | '[' => {
                depth += 1;
                cur.push(ch);
            }
            ')' | ']' => {
                depth -= 1;
                if depth < 0 {
                    return Err(());
                }
                cur.push(ch);
            }
            c if c == sep && depth == 0 => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if depth != 0 || quote.is_some() {
        return Err(());
    }
    out.push(cur);
    Ok(out)
}

/// If `piece` is `( ... | ... )` (or `||`), return the inside split at the bar and whether it
/// was a double bar.
fn bar_term(piece: &str) -> Option<(String, String, bool)> {
    let t = piece.trim();
    let inner = t.strip_prefix('(')?.strip_suffix(')')?;
    // the outer parentheses must match each other
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let chars: Vec<char> = inner.chars().collect();
    let mut bar: Option<(usize, bool)> = None;
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        if let Some(q) = quote {
            if ch == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match ch {
            '"' | '\'' | '`' => quote = Some(ch),
            '(' | '[' => depth += 1,
            ')' | ']' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            '|' if depth == 0 && bar.is_none() => {
                let double = chars.get(i + 1) == Some(&'|');
                bar = Some((i, double));
                if double {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let (at, double) = bar?;
    let lhs: String = chars[..at].iter().collect();
    let rhs: String = chars[at + if double { 2 } else { 1 }..].iter().collect();
    Some((lhs.trim().to_string(), rhs.trim().to_string(), double))
}

/// Expand an lme4-style formula (see the module docs).
pub fn expand_mixed_formula(text: &str) -> Result<MixedFormula, MixedFormulaError> {
    let (lhs, rhs) = text
        .split_once('~')
        .ok_or_else(|| MixedFormulaError::NoTilde(text.to_string()))?;
    let pieces =
        split_top(rhs, '+').map_err(|_| MixedFormulaError::Unbalanced(text.to_string()))?;
    let mut fixed_terms: Vec<String> = Vec::new();
    let mut random = Vec::new();
    let mut names = Vec::new();
    for piece in pieces {
        let Some((effects, groups, double)) = bar_term(&piece) else {
            fixed_terms.push(piece.trim().to_string());
            continue;
        };
        let term = piece.trim().to_string();
        let bad = |why: &str| MixedFormulaError::BadTerm {
            term: term.clone(),
            why: why.to_string(),
        };
        let eff: Vec<String> = split_top(&effects, '+')
            .map_err(|_| bad("unbalanced parentheses"))?
            .into_iter()
            .map(|s| s.trim().to_string())
            .collect();
        let mut intercept = true;
        let mut slopes = Vec::new();
        for e in &eff {
            match e.as_str() {
                "" => return Err(bad("an empty effect before '|'")),
                "1" => {}
                "0" | "-1" => intercept = false,
                s if s.starts_with('-') => {
                    return Err(bad("only '0 +' or '- 1' may remove the intercept"))
                }
                s => {
                    // "x - 1" written without '+'
                    if let Some(x) = s.strip_suffix("- 1").or_else(|| s.strip_suffix("-1")) {
                        intercept = false;
                        slopes.push(x.trim().to_string());
                    } else {
                        slopes.push(s.to_string());
                    }
                }
            }
        }
        if eff.contains(&"1".to_string()) && !intercept {
            return Err(bad("both '1' and '0' before '|'"));
        }
        // Grouping factors: g, a:b, a/b (nested: a, a:b), a/b/c.
        if groups.is_empty() {
            return Err(bad("no grouping factor after '|'"));
        }
        if groups.contains('+') || groups.contains('(') {
            return Err(bad("the grouping factor must be a column or a nesting a/b"));
        }
        let parts: Vec<String> = groups.split('/').map(|s| s.trim().to_string()).collect();
        if parts.iter().any(String::is_empty) {
            return Err(bad("an empty grouping factor in a nesting a/b"));
        }
        let mut group_list = Vec::new();
        for k in 1..=parts.len() {
            group_list.push(parts[..k].join(":"));
        }
        if intercept && !slopes.is_empty() && !double {
            return Err(MixedFormulaError::Correlated {
                term,
                group: group_list.last().cloned().unwrap_or_default(),
                slope: slopes.join(" + "),
            });
        }
        if !intercept && slopes.is_empty() {
            return Err(bad(
                "no random effect before '|' ('0' alone removes everything)",
            ));
        }
        for g in &group_list {
            if intercept {
                random.push(format!("~ 0 + {g}"));
                names.push(g.clone());
            }
            for x in &slopes {
                random.push(format!("~ 0 + {x}:{g}"));
                names.push(format!("{x}:{g}"));
            }
        }
    }
    if random.is_empty() {
        return Err(MixedFormulaError::NoRandom(text.to_string()));
    }
    let fixed_rhs = if fixed_terms.iter().all(String::is_empty) {
        "1".to_string()
    } else {
        fixed_terms
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" + ")
    };
    Ok(MixedFormula {
        fixed: format!("{} ~ {}", lhs.trim(), fixed_rhs),
        random,
        names,
    })
}

/// Split a formula that may have no random-effect term: `Ok(None)` when it has none (a GLM).
pub fn expand_optional(text: &str) -> Result<Option<MixedFormula>, MixedFormulaError> {
    match expand_mixed_formula(text) {
        Ok(m) => Ok(Some(m)),
        Err(MixedFormulaError::NoRandom(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_the_lme4_spellings() {
        let m = expand_mixed_formula("Mate ~ 0 + Cross + (1|Female) + (1 | Male)").unwrap();
        assert_eq!(m.fixed, "Mate ~ 0 + Cross");
        assert_eq!(m.names, ["Female", "Male"]);
        let m = expand_mixed_formula("y ~ (1 | g)").unwrap();
        assert_eq!(m.fixed, "y ~ 1");
        let m = expand_mixed_formula("cbind(s, f) ~ x * h + (0 + x | g)").unwrap();
        assert_eq!(m.fixed, "cbind(s, f) ~ x * h");
        assert_eq!(m.random, ["~ 0 + x:g"]);
        assert_eq!(m.names, ["x:g"]);
        let m = expand_mixed_formula("y ~ x + (x - 1 | g) + (1 | a/b/c)").unwrap();
        assert_eq!(
            m.random,
            ["~ 0 + x:g", "~ 0 + a", "~ 0 + a:b", "~ 0 + a:b:c"]
        );
        let m = expand_mixed_formula("y ~ x + (1 + x || g)").unwrap();
        assert_eq!(m.random, ["~ 0 + g", "~ 0 + x:g"]);
        let m = expand_mixed_formula("y ~ I(x > 1) + (1 | g)").unwrap();
        assert_eq!(m.fixed, "y ~ I(x > 1)");
    }

    #[test]
    fn refuses_correlated_and_malformed_terms() {
        let e = expand_mixed_formula("y ~ x + (x | g)")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("correlated random effects are not supported; write (1 | g) + (0 + x | g) for independent ones"),
            "{e}"
        );
        assert!(expand_mixed_formula("y ~ x + (1 + x | g)").is_err());
        assert!(expand_mixed_formula("y ~ x + ( | g)").is_err());
        assert!(expand_mixed_formula("y ~ x + (1 | )").is_err());
        assert!(expand_mixed_formula("y ~ x + (0 | g)").is_err());
        assert!(expand_mixed_formula("y ~ x + (1 | g").is_err());
        assert!(matches!(
            expand_mixed_formula("y ~ x"),
            Err(MixedFormulaError::NoRandom(_))
        ));
        assert_eq!(expand_optional("y ~ x"), Ok(None));
        assert!(matches!(
            expand_mixed_formula("y x"),
            Err(MixedFormulaError::NoTilde(_))
        ));
    }
}
