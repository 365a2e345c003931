//! Names for bound arguments, read off the SQL: the column a placeholder is compared
//! with (`email = $1`, `t.id IN ($2)`, `lower(email) = lower($1)`) or inserted into
//! (`INSERT INTO users (email, password_hash) VALUES ($1, $2)`), else `$N`.
//!
//! A light tokenizer, not a parser: it skips string literals and comments, knows
//! PostgreSQL's `$N`, and MySQL's and SQLite's `?`, `?N`, `:name`, `@name`, `$name`.
//! A name it cannot find is only less helpful in a message; redaction still runs the
//! value detectors over every argument.
//!
//! A service sends the same few statements over and over, and reading one costs an
//! allocation a word (about 50k instructions for a join), so what a statement's text
//! says is kept per thread, for up to [`KEPT_STATEMENTS`] texts of up to
//! [`KEPT_SQL_BYTES`] bytes (the set is emptied when full, so statements built on the
//! fly cannot grow it).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Ident(String),
    /// A placeholder and the argument index it stands for.
    Param(usize),
    /// A named placeholder (`:email`) and its index in order of first appearance.
    Named(String, usize),
    Op(String),
    Open,
    Close,
    Comma,
    Other,
}

/// Statement texts whose names are kept, per thread.
const KEPT_STATEMENTS: usize = 256;

/// Longer texts are read every time rather than kept.
const KEPT_SQL_BYTES: usize = 8 * 1024;

/// The name each argument index has in a statement, `None` where the SQL gives none.
type Found = Rc<[Option<String>]>;

/// A name for each of the `count` bound arguments of `sql`.
pub(crate) fn placeholder_names(sql: &str, count: usize) -> Vec<String> {
    let found = found_names(sql);
    (0..count)
        .map(|i| match found.get(i) {
            Some(Some(name)) => name.clone(),
            _ => format!("${}", i + 1),
        })
        .collect()
}

/// What `sql` names, from this thread's kept statements or read now.
fn found_names(sql: &str) -> Found {
    thread_local! {
        static KEPT: RefCell<HashMap<Box<str>, Found, foldhash::fast::RandomState>> =
            RefCell::new(HashMap::default());
    }
    if sql.len() > KEPT_SQL_BYTES {
        return read_names(sql);
    }
    KEPT.with(|kept| {
        if let Some(found) = kept.borrow().get(sql) {
            return found.clone();
        }
        let found = read_names(sql);
        let mut kept = kept.borrow_mut();
        if kept.len() >= KEPT_STATEMENTS {
            kept.clear();
        }
        kept.insert(sql.into(), found.clone());
        found
    })
}

/// Reads the names off `sql`: by index, the first name a placeholder of that index is
/// given (compared with a column, named, or inserted into a column).
fn read_names(sql: &str) -> Found {
    let tokens = tokenize(sql);
    let mut names: Vec<Option<String>> = Vec::new();
    let mut set = |index: usize, name: String| {
        if names.len() <= index {
            names.resize(index + 1, None);
        }
        if names[index].is_none() && !name.is_empty() {
            names[index] = Some(name);
        }
    };
    for (at, token) in tokens.iter().enumerate() {
        match token {
            Token::Param(index) => {
                if let Some(name) = compared_column(&tokens, at) {
                    set(*index, name);
                }
            }
            Token::Named(name, index) => set(*index, name.clone()),
            _ => {}
        }
    }
    for (index, name) in inserted_columns(&tokens) {
        set(index, name);
    }
    names.into()
}

fn tokenize(sql: &str) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut next_positional = 0;
    let mut named: Vec<String> = Vec::new();
    let mut i = 0;
    let ident_end = |mut j: usize| {
        while j < bytes.len()
            && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] >= 0x80)
        {
            j += 1;
        }
        j
    };
    let digits_end = |mut j: usize| {
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\'' => {
                // A string literal; '' inside it is an escaped quote.
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b'\'' {
                        if bytes.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
                tokens.push(Token::Other);
            }
            b'"' | b'`' => {
                let end = sql[i + 1..]
                    .find(b as char)
                    .map_or(bytes.len(), |e| i + 1 + e);
                tokens.push(Token::Ident(sql[i + 1..end].to_owned()));
                i = end + 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |e| i + e + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |e| i + 2 + e + 2);
            }
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let end = digits_end(i + 1);
                let n: usize = sql[i + 1..end].parse().unwrap_or(0);
                tokens.push(Token::Param(n.saturating_sub(1)));
                i = end;
            }
            b'?' => {
                let end = digits_end(i + 1);
                let index = if end > i + 1 {
                    sql[i + 1..end]
                        .parse::<usize>()
                        .unwrap_or(1)
                        .saturating_sub(1)
                } else {
                    next_positional
                };
                next_positional = index + 1;
                tokens.push(Token::Param(index));
                i = end;
            }
            b':' | b'@' | b'$'
                if bytes
                    .get(i + 1)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
                    && !(b == b':' && i > 0 && bytes[i - 1] == b':') =>
            {
                let end = ident_end(i + 1);
                let name = sql[i + 1..end].to_owned();
                let index = match named.iter().position(|n| *n == name) {
                    Some(p) => p,
                    None => {
                        named.push(name.clone());
                        named.len() - 1
                    }
                };
                tokens.push(Token::Named(name, index));
                i = end;
            }
            b'(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            b')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            b',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            b'=' | b'<' | b'>' | b'!' => {
                let mut end = i + 1;
                while end < bytes.len() && matches!(bytes[end], b'=' | b'<' | b'>') {
                    end += 1;
                }
                tokens.push(Token::Op(sql[i..end].to_owned()));
                i = end;
            }
            _ if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {
                let end = ident_end(i);
                let word = &sql[i..end];
                let upper = word.to_ascii_uppercase();
                if matches!(upper.as_str(), "LIKE" | "ILIKE" | "IN" | "IS") {
                    tokens.push(Token::Op(upper));
                } else {
                    tokens.push(Token::Ident(word.to_owned()));
                }
                i = end;
            }
            _ if b.is_ascii_whitespace() => i += 1,
            b'.' => {
                // `t.col`: the column is the part after the dot; drop the table.
                if matches!(tokens.last(), Some(Token::Ident(_))) {
                    tokens.pop();
                }
                i += 1;
            }
            _ => {
                tokens.push(Token::Other);
                i += 1;
            }
        }
    }
    tokens
}

/// The column the placeholder at `at` is compared with: walk left over `(` and
/// function names to an operator, then take the column before it (inside
/// parentheses when it is a function's argument: `lower(email) = lower($1)`).
fn compared_column(tokens: &[Token], at: usize) -> Option<String> {
    let mut i = at;
    loop {
        i = i.checked_sub(1)?;
        match &tokens[i] {
            Token::Open | Token::Ident(_) | Token::Comma | Token::Param(_) => continue,
            Token::Op(_) => break,
            _ => return None,
        }
    }
    let before = i.checked_sub(1)?;
    match &tokens[before] {
        Token::Ident(name) => Some(name.clone()),
        Token::Close => tokens[..before].iter().rev().find_map(|t| match t {
            Token::Ident(name) => Some(name.clone()),
            _ => None,
        }),
        _ => None,
    }
}

/// `(index, column)` for each placeholder of an `INSERT INTO t (cols) VALUES (..), ..`.
fn inserted_columns(tokens: &[Token]) -> Vec<(usize, String)> {
    let is_word = |t: &Token, w: &str| matches!(t, Token::Ident(x) if x.eq_ignore_ascii_case(w));
    let mut found = Vec::new();
    let Some(insert) = tokens.iter().position(|t| is_word(t, "INSERT")) else {
        return found;
    };
    let Some(open) = tokens[insert..].iter().position(|t| *t == Token::Open) else {
        return found;
    };
    let mut columns = Vec::new();
    let mut i = insert + open + 1;
    while let Some(t) = tokens.get(i) {
        match t {
            Token::Ident(name) => columns.push(name.clone()),
            Token::Close => break,
            _ => {}
        }
        i += 1;
    }
    let Some(values) = tokens[i..].iter().position(|t| is_word(t, "VALUES")) else {
        return found;
    };
    let (mut depth, mut item) = (0usize, 0usize);
    for t in &tokens[i + values + 1..] {
        match t {
            Token::Open => depth += 1,
            Token::Close if depth == 0 => break,
            Token::Close => {
                depth -= 1;
                if depth == 0 {
                    item = 0;
                }
            }
            Token::Comma if depth == 1 => item += 1,
            Token::Param(index) | Token::Named(_, index) if depth >= 1 => {
                if let Some(column) = columns.get(item) {
                    found.push((*index, column.clone()));
                }
            }
            Token::Ident(w) if depth == 0 && !w.eq_ignore_ascii_case("VALUES") => break,
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::placeholder_names;

    fn names(sql: &str, n: usize) -> Vec<String> {
        placeholder_names(sql, n)
    }

    #[test]
    fn comparisons_name_their_column() {
        assert_eq!(
            names(
                "SELECT * FROM users u WHERE u.email = $1 AND id <> $2 AND name ILIKE $3",
                3
            ),
            ["email", "id", "name"]
        );
        assert_eq!(
            names("SELECT 1 WHERE lower(email) = lower($1)", 1),
            ["email"]
        );
        assert_eq!(names("SELECT 1 WHERE id = ANY($1)", 1), ["id"]);
        assert_eq!(
            names("UPDATE users SET password_hash = $2 WHERE id = $1", 2),
            ["id", "password_hash"]
        );
    }

    #[test]
    fn inserts_name_their_columns_in_every_row() {
        assert_eq!(
            names(
                "INSERT INTO users (email, password_hash, bio) VALUES ($1, $2, coalesce($3, ''))",
                3
            ),
            ["email", "password_hash", "bio"]
        );
        assert_eq!(
            names(
                "INSERT INTO tags (article, tag) VALUES (?, ?), (?, ?) ON CONFLICT DO NOTHING",
                4
            ),
            ["article", "tag", "article", "tag"]
        );
    }

    #[test]
    fn a_kept_statement_names_as_a_fresh_read_does_for_any_count() {
        let sql = "UPDATE users SET password_hash = $2 WHERE id = $1 AND note = $9";
        // Read once, then looked up: the same names, not a second reading.
        let first = super::found_names(sql);
        assert!(std::rc::Rc::ptr_eq(&first, &super::found_names(sql)));
        for _ in 0..3 {
            assert_eq!(names(sql, 2), ["id", "password_hash"]);
            assert_eq!(names(sql, 4), ["id", "password_hash", "$3", "$4"]);
            assert_eq!(names(sql, 0), Vec::<String>::new());
        }
        // Past the kept set's size, statements still name correctly.
        for n in 0..super::KEPT_STATEMENTS + 10 {
            let sql = format!("SELECT 1 WHERE c{n} = $1");
            assert_eq!(names(&sql, 1), [format!("c{n}")]);
        }
        assert_eq!(names(sql, 2), ["id", "password_hash"]);
        // A text too long to keep is read each time.
        let long = format!(
            "SELECT 1 WHERE email = $1 {}",
            " ".repeat(super::KEPT_SQL_BYTES)
        );
        assert_eq!(names(&long, 2), ["email", "$2"]);
        assert!(!std::rc::Rc::ptr_eq(
            &super::found_names(&long),
            &super::found_names(&long)
        ));
    }

    #[test]
    fn the_rest_are_numbered_and_literals_are_not_read() {
        assert_eq!(
            names("SELECT '$1 = x', $1 -- id = $2\n LIMIT $2 OFFSET $3", 3),
            ["$1", "$2", "$3"]
        );
        assert_eq!(
            names("SELECT * FROM t WHERE a = :who AND b = @who", 1),
            ["who"]
        );
        assert_eq!(names("SELECT x::text FROM t WHERE \"Key\" = ?", 1), ["Key"]);
    }
}
