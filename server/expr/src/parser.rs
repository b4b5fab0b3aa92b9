//! Lexer and recursive-descent parser: source text to [`Expr`].
//!
//! One function per precedence level keeps the grammar in `lib.rs` and the code in lock-step.
//! Errors stop at the first problem: after a syntax error the rest of the input rarely means
//! anything, and users fix one typo at a time.

use crate::ast::{BinaryOp, Expr, ExprKind, Span, UnaryOp};
use thiserror::Error;

/// A lexical or syntax error, with the place it was found.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message} at {span}")]
pub struct ParseError {
    pub message: String,
    /// Where the problem is; `span.start` is the byte position.
    pub span: Span,
}

impl ParseError {
    /// Byte offset of the problem in the source.
    pub fn position(&self) -> usize {
        self.span.start
    }

    /// 1-based column (in characters) of the problem.
    pub fn column(&self) -> u32 {
        self.span.column
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Number(f64),
    Str(String),
    /// A field key or function name; `quoted` when written in backticks, which makes it a key
    /// even if it spells a keyword.
    Ident {
        name: String,
        quoted: bool,
    },
    Kw(Kw),
    Sym(&'static str),
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kw {
    And,
    Or,
    Not,
    In,
    Is,
    Null,
    True,
    False,
}

impl Kw {
    fn from_word(word: &str) -> Option<Kw> {
        // Keywords are case-insensitive so that `AND` from SQL habits works too.
        Some(match word.to_ascii_lowercase().as_str() {
            "and" => Kw::And,
            "or" => Kw::Or,
            "not" => Kw::Not,
            "in" => Kw::In,
            "is" => Kw::Is,
            "null" => Kw::Null,
            "true" => Kw::True,
            "false" => Kw::False,
            _ => return None,
        })
    }

    fn text(self) -> &'static str {
        match self {
            Kw::And => "and",
            Kw::Or => "or",
            Kw::Not => "not",
            Kw::In => "in",
            Kw::Is => "is",
            Kw::Null => "null",
            Kw::True => "true",
            Kw::False => "false",
        }
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Number(n) => format!("number {n}"),
        Tok::Str(_) => "a string".to_string(),
        Tok::Ident { name, .. } => format!("`{name}`"),
        Tok::Kw(k) => format!("`{}`", k.text()),
        Tok::Sym(s) => format!("'{s}'"),
        Tok::Eof => "end of input".to_string(),
    }
}

/// Computes spans from byte offsets.
struct Source<'a> {
    src: &'a str,
}

impl Source<'_> {
    fn span(&self, start: usize, end: usize) -> Span {
        let before = &self.src[..start.min(self.src.len())];
        let line = before.matches('\n').count() as u32 + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() as u32 + 1;
        Span { start, end, line, column }
    }

    fn error(&self, start: usize, end: usize, message: impl Into<String>) -> ParseError {
        ParseError { message: message.into(), span: self.span(start, end) }
    }
}

fn lex(source: &Source<'_>) -> Result<Vec<(Tok, usize, usize)>, ParseError> {
    let src = source.src;
    let bytes = src.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < bytes.len() && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_') {
                return Err(source.error(start, i + 1, "invalid number"));
            }
            let n: f64 = src[start..i].parse().map_err(|_| source.error(start, i, "invalid number"))?;
            toks.push((Tok::Number(n), start, i));
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &src[start..i];
            let tok = match Kw::from_word(word) {
                Some(kw) => Tok::Kw(kw),
                None => Tok::Ident { name: word.to_string(), quoted: false },
            };
            toks.push((tok, start, i));
            continue;
        }
        if c == b'`' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'`' {
                i += 1;
            }
            if i >= bytes.len() {
                return Err(source.error(start, i, "unterminated `quoted` field key"));
            }
            let name = &src[start + 1..i];
            // Keys go into SQL inline, so only the identifier alphabet is accepted even here.
            let valid = name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return Err(source.error(start, i + 1, "a field key may only contain letters, digits and '_'"));
            }
            i += 1;
            toks.push((Tok::Ident { name: name.to_string(), quoted: true }, start, i));
            continue;
        }
        if c == b'"' || c == b'\'' {
            let (text, end) = lex_string(source, start)?;
            toks.push((Tok::Str(text), start, end));
            i = end;
            continue;
        }
        let two = src.get(i..i + 2).unwrap_or("");
        let sym: &'static str = match two {
            "!=" => "!=",
            "<>" => "!=",
            "<=" => "<=",
            ">=" => ">=",
            "==" => "=",
            _ => match c {
                b'(' => "(",
                b')' => ")",
                b'[' => "[",
                b']' => "]",
                b',' => ",",
                b'.' => ".",
                b'=' => "=",
                b'<' => "<",
                b'>' => ">",
                b'~' => "~",
                b'+' => "+",
                b'-' => "-",
                b'*' => "*",
                b'/' => "/",
                b'%' => "%",
                _ => {
                    let ch = src[i..].chars().next().unwrap_or('?');
                    return Err(source.error(start, start + ch.len_utf8(), format!("unexpected character '{ch}'")));
                }
            },
        };
        let len = if matches!(two, "!=" | "<>" | "<=" | ">=" | "==") { 2 } else { 1 };
        i += len;
        toks.push((Tok::Sym(sym), start, i));
    }
    toks.push((Tok::Eof, bytes.len(), bytes.len()));
    Ok(toks)
}

/// Lexes a string literal starting at the quote at `start`; returns its value and the offset
/// just past the closing quote.
fn lex_string(source: &Source<'_>, start: usize) -> Result<(String, usize), ParseError> {
    let src = source.src;
    let quote = src[start..].chars().next().unwrap_or('"');
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices().peekable();
    while let Some((off, ch)) = chars.next() {
        let at = start + 1 + off;
        if ch == quote {
            return Ok((out, at + 1));
        }
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        let Some((_, esc)) = chars.next() else {
            break;
        };
        match esc {
            '"' => out.push('"'),
            '\'' => out.push('\''),
            '\\' => out.push('\\'),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'u' => {
                if chars.next().map(|(_, c)| c) != Some('{') {
                    return Err(source.error(at, at + 2, "expected '{' after \\u"));
                }
                let mut hex = String::new();
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    hex.push(c);
                }
                let code = u32::from_str_radix(&hex, 16).ok().filter(|_| closed);
                match code.and_then(char::from_u32) {
                    // NUL cannot be stored in PostgreSQL text, so it is refused up front.
                    Some(c) if c != '\0' => out.push(c),
                    _ => {
                        return Err(source.error(at, at + 2, format!("invalid unicode escape \\u{{{hex}}}")));
                    }
                }
            }
            other => {
                return Err(source.error(at, at + 1 + other.len_utf8(), format!("unknown escape \\{other}")));
            }
        }
    }
    Err(source.error(start, src.len(), "unterminated string"))
}

struct Parser<'a> {
    source: Source<'a>,
    toks: Vec<(Tok, usize, usize)>,
    pos: usize,
    /// Nesting depth, bounded so a hostile input cannot overflow the stack.
    depth: usize,
}

const MAX_DEPTH: usize = 64;

pub(crate) fn parse(src: &str) -> Result<Expr, ParseError> {
    let source = Source { src };
    let toks = lex(&source)?;
    let mut p = Parser { source, toks, pos: 0, depth: 0 };
    let expr = p.expr()?;
    if p.peek() != &Tok::Eof {
        let (tok, s, e) = p.toks[p.pos].clone();
        let message = if matches!(tok, Tok::Sym(")")) {
            "unmatched ')'".to_string()
        } else {
            format!("unexpected {}; expected an operator", describe(&tok))
        };
        return Err(p.source.error(s, e, message));
    }
    Ok(expr)
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        let i = (self.pos + ahead).min(self.toks.len() - 1);
        &self.toks[i].0
    }

    fn start(&self) -> usize {
        self.toks[self.pos].1
    }

    fn prev_end(&self) -> usize {
        if self.pos == 0 { 0 } else { self.toks[self.pos - 1].2 }
    }

    fn bump(&mut self) -> Tok {
        let tok = self.toks[self.pos].0.clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        tok
    }

    fn eat_sym(&mut self, sym: &'static str) -> bool {
        if self.peek() == &Tok::Sym(sym) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn eat_kw(&mut self, kw: Kw) -> bool {
        if self.peek() == &Tok::Kw(kw) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, sym: &'static str) -> Result<(), ParseError> {
        if self.eat_sym(sym) {
            return Ok(());
        }
        let (tok, s, e) = self.toks[self.pos].clone();
        Err(self.source.error(s, e, format!("expected '{sym}', found {}", describe(&tok))))
    }

    fn node(&self, kind: ExprKind, start: usize) -> Expr {
        Expr { kind, span: self.source.span(start, self.prev_end()) }
    }

    fn binary(&self, op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
        let mut span = lhs.span;
        span.end = rhs.span.end;
        Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let s = self.start();
            return Err(self.source.error(s, s, "expression is nested too deeply"));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let e = self.or();
        self.depth -= 1;
        e
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.and()?;
        while self.eat_kw(Kw::Or) {
            let rhs = self.and()?;
            lhs = self.binary(BinaryOp::Or, lhs, rhs);
        }
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.not()?;
        while self.eat_kw(Kw::And) {
            let rhs = self.not()?;
            lhs = self.binary(BinaryOp::And, lhs, rhs);
        }
        Ok(lhs)
    }

    fn not(&mut self) -> Result<Expr, ParseError> {
        let start = self.start();
        if self.eat_kw(Kw::Not) {
            self.enter()?;
            let inner = self.not();
            self.depth -= 1;
            let inner = inner?;
            return Ok(self.node(ExprKind::Unary { op: UnaryOp::Not, expr: Box::new(inner) }, start));
        }
        self.comparison()
    }

    fn comparison_op(&self) -> Option<BinaryOp> {
        Some(match self.peek() {
            Tok::Sym("=") => BinaryOp::Eq,
            Tok::Sym("!=") => BinaryOp::Ne,
            Tok::Sym("<") => BinaryOp::Lt,
            Tok::Sym("<=") => BinaryOp::Le,
            Tok::Sym(">") => BinaryOp::Gt,
            Tok::Sym(">=") => BinaryOp::Ge,
            Tok::Sym("~") => BinaryOp::Contains,
            _ => return None,
        })
    }

    /// At most one comparison per level: `a < b < c` is almost always a mistake for
    /// `a < b and b < c`, so it is rejected with that hint instead of parsed oddly.
    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let lhs = self.additive()?;
        let start = lhs.span.start;
        let result = if let Some(op) = self.comparison_op() {
            self.bump();
            let rhs = self.additive()?;
            self.binary(op, lhs, rhs)
        } else if self.peek() == &Tok::Kw(Kw::In)
            || (self.peek() == &Tok::Kw(Kw::Not) && self.peek_at(1) == &Tok::Kw(Kw::In))
        {
            let negated = self.eat_kw(Kw::Not);
            self.bump();
            let haystack = if self.peek() == &Tok::Sym("[") { self.list()? } else { self.additive()? };
            self.node(ExprKind::In { needle: Box::new(lhs), haystack: Box::new(haystack), negated }, start)
        } else if self.eat_kw(Kw::Is) {
            let negated = self.eat_kw(Kw::Not);
            if !self.eat_kw(Kw::Null) {
                let (tok, s, e) = self.toks[self.pos].clone();
                return Err(self.source.error(s, e, format!("expected `null` after `is`, found {}", describe(&tok))));
            }
            self.node(ExprKind::IsNull { expr: Box::new(lhs), negated }, start)
        } else {
            return Ok(lhs);
        };
        if self.comparison_op().is_some() || matches!(self.peek(), Tok::Kw(Kw::In) | Tok::Kw(Kw::Is)) {
            let (_, s, e) = self.toks[self.pos].clone();
            return Err(self.source.error(s, e, "comparisons cannot be chained; combine them with `and`"));
        }
        Ok(result)
    }

    fn list(&mut self) -> Result<Expr, ParseError> {
        let start = self.start();
        self.expect_sym("[")?;
        let mut items = Vec::new();
        if !self.eat_sym("]") {
            loop {
                items.push(self.expr()?);
                if self.eat_sym("]") {
                    break;
                }
                self.expect_sym(",")?;
                // A trailing comma is harmless and common when lists are edited by hand.
                if self.eat_sym("]") {
                    break;
                }
            }
        }
        Ok(self.node(ExprKind::List(items), start))
    }

    fn additive(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Tok::Sym("+") => BinaryOp::Add,
                Tok::Sym("-") => BinaryOp::Sub,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.multiplicative()?;
            lhs = self.binary(op, lhs, rhs);
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Sym("*") => BinaryOp::Mul,
                Tok::Sym("/") => BinaryOp::Div,
                Tok::Sym("%") => BinaryOp::Mod,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.unary()?;
            lhs = self.binary(op, lhs, rhs);
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let start = self.start();
        if self.eat_sym("-") {
            self.enter()?;
            let inner = self.unary();
            self.depth -= 1;
            let inner = inner?;
            // Fold `-3` into a literal so lists like `[-1, 2]` stay lists of literals.
            if let ExprKind::Number(n) = inner.kind {
                return Ok(self.node(ExprKind::Number(-n), start));
            }
            return Ok(self.node(ExprKind::Unary { op: UnaryOp::Neg, expr: Box::new(inner) }, start));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let (tok, s, e) = self.toks[self.pos].clone();
        match tok {
            Tok::Number(n) => {
                self.bump();
                Ok(self.node(ExprKind::Number(n), s))
            }
            Tok::Str(text) => {
                self.bump();
                Ok(self.node(ExprKind::Text(text), s))
            }
            Tok::Kw(Kw::True) => {
                self.bump();
                Ok(self.node(ExprKind::Bool(true), s))
            }
            Tok::Kw(Kw::False) => {
                self.bump();
                Ok(self.node(ExprKind::Bool(false), s))
            }
            Tok::Kw(Kw::Null) => {
                self.bump();
                Ok(self.node(ExprKind::Null, s))
            }
            Tok::Sym("(") => {
                self.bump();
                let mut inner = self.expr()?;
                self.expect_sym(")")?;
                // The parenthesised span includes the parentheses, which reads better in
                // error messages ("(a + b) …" rather than "a + b) …").
                inner.span = self.source.span(s, self.prev_end());
                Ok(inner)
            }
            Tok::Sym("[") => Err(self.source.error(s, e, "a list [..] is only allowed after `in` or `not in`")),
            Tok::Ident { name, quoted } => {
                self.bump();
                if !quoted && self.peek() == &Tok::Sym("(") {
                    return self.call(name.to_ascii_lowercase(), s);
                }
                let mut path = vec![name];
                while self.eat_sym(".") {
                    let (tok, s2, e2) = self.toks[self.pos].clone();
                    match tok {
                        Tok::Ident { name, .. } => {
                            self.bump();
                            path.push(name);
                        }
                        // `customer.in` etc.: a key that spells a keyword is still a key here.
                        Tok::Kw(kw) => {
                            self.bump();
                            path.push(kw.text().to_string());
                        }
                        other => {
                            return Err(self.source.error(
                                s2,
                                e2,
                                format!("expected a field key after '.', found {}", describe(&other)),
                            ));
                        }
                    }
                }
                Ok(self.node(ExprKind::Path(path), s))
            }
            Tok::Eof => Err(self.source.error(s, e, "unexpected end of input")),
            other => Err(self.source.error(s, e, format!("unexpected {}", describe(&other)))),
        }
    }

    fn call(&mut self, name: String, start: usize) -> Result<Expr, ParseError> {
        self.expect_sym("(")?;
        let mut args = Vec::new();
        if !self.eat_sym(")") {
            loop {
                args.push(self.expr()?);
                if self.eat_sym(")") {
                    break;
                }
                if self.peek() != &Tok::Sym(",") {
                    let (tok, s, e) = self.toks[self.pos].clone();
                    return Err(self.source.error(s, e, format!("expected ',' or ')', found {}", describe(&tok))));
                }
                self.bump();
            }
        }
        Ok(self.node(ExprKind::Call { name, args }, start))
    }
}
