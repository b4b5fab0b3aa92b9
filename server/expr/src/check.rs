//! The type checker: resolves field paths against a [`Schema`] and turns the syntax tree into a
//! typed tree ([`Typed`]) that both back ends consume.
//!
//! All decisions that depend on types are made here, once: which `+` is meant (numbers, text,
//! days added to a date), which string literals are really dates, where a date must be widened
//! to a date-time. The evaluator and the SQL compiler then only translate, which is what makes
//! it practical to keep them in agreement.

use std::fmt;

use thiserror::Error;

use crate::ast::{BinaryOp, Expr, ExprKind, Span, UnaryOp};
use crate::types::{Field, Schema, Type};
use crate::value::{Value, parse_date, parse_datetime};

/// One type error, with the span of the offending sub-expression.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message} at {span}")]
pub struct TypeError {
    pub message: String,
    pub span: Span,
}

/// Every type error found in an expression (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeErrors(pub Vec<TypeError>);

impl fmt::Display for TypeErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TypeErrors {}

/// A checked expression, ready for [`crate::eval`] and [`crate::to_sql`].
#[derive(Debug, Clone)]
pub struct Typed {
    pub(crate) root: TExpr,
}

impl Typed {
    /// The type of the whole expression; a filter or condition must be [`Type::Bool`].
    pub fn ty(&self) -> Type {
        self.root.ty.clone()
    }

    /// Every field path the expression reads, without duplicates, in order of appearance.
    /// Paths through relations (`["customer", "name"]`) tell the caller which related records
    /// to load before calling [`crate::eval`].
    pub fn field_paths(&self) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = Vec::new();
        self.root.walk(&mut |e| {
            if let TKind::Field(f) = &e.kind
                && !out.contains(&f.path)
            {
                out.push(f.path.clone());
            }
        });
        out
    }
}

/// A node of the typed tree.
#[derive(Debug, Clone)]
pub(crate) struct TExpr {
    pub kind: TKind,
    pub ty: Type,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Func {
    Today,
    Now,
    Year,
    Month,
    Day,
    Lower,
    Upper,
    Len,
    /// `round(x, digits)`, with `10^digits` precomputed.
    Round(f64),
    Abs,
    Coalesce,
    If,
    Min,
    Max,
}

/// A field reached from the root form, maybe through to-one relations.
#[derive(Debug, Clone)]
pub(crate) struct FieldRef {
    pub path: Vec<String>,
    /// The relation fields followed, in order; empty for a field of the root form.
    pub hops: Vec<Hop>,
    pub key: String,
    pub field: Field,
}

#[derive(Debug, Clone)]
pub(crate) struct Hop {
    pub key: String,
    pub field: Field,
    pub target_form: i64,
}

#[derive(Debug, Clone)]
pub(crate) enum TKind {
    Lit(Value),
    Field(FieldRef),
    Neg(Box<TExpr>),
    Not(Box<TExpr>),
    And(Box<TExpr>, Box<TExpr>),
    Or(Box<TExpr>, Box<TExpr>),
    /// Arithmetic on numbers.
    Arith(ArithOp, Box<TExpr>, Box<TExpr>),
    /// Text concatenation (`+` on text).
    Concat(Box<TExpr>, Box<TExpr>),
    /// A date or date-time plus a number of days (truncated toward zero).
    AddDays(Box<TExpr>, Box<TExpr>),
    /// Whole days from the date (part) of `from` to that of `to`.
    DayDiff {
        from: Box<TExpr>,
        to: Box<TExpr>,
    },
    /// Both operands have the same comparable type.
    Compare(CmpOp, Box<TExpr>, Box<TExpr>),
    Contains(Box<TExpr>, Box<TExpr>),
    /// `needle in [literals]`; the items are literals of the needle's type.
    InList {
        needle: Box<TExpr>,
        items: Vec<TExpr>,
        negated: bool,
    },
    /// `needle in list_field`; `list` is a [`TKind::Field`] of a list type.
    InField {
        needle: Box<TExpr>,
        list: Box<TExpr>,
        negated: bool,
    },
    IsNull {
        expr: Box<TExpr>,
        negated: bool,
    },
    /// A date widened to midnight UTC so it can meet a date-time.
    ToDateTime(Box<TExpr>),
    Call(Func, Vec<TExpr>),
}

impl TExpr {
    fn new(kind: TKind, ty: Type, span: Span) -> TExpr {
        TExpr { kind, ty, span }
    }

    pub(crate) fn walk(&self, f: &mut dyn FnMut(&TExpr)) {
        f(self);
        match &self.kind {
            TKind::Lit(_) | TKind::Field(_) => {}
            TKind::Neg(a) | TKind::Not(a) | TKind::ToDateTime(a) => a.walk(f),
            TKind::IsNull { expr, .. } => expr.walk(f),
            TKind::And(a, b)
            | TKind::Or(a, b)
            | TKind::Arith(_, a, b)
            | TKind::Concat(a, b)
            | TKind::AddDays(a, b)
            | TKind::Compare(_, a, b)
            | TKind::Contains(a, b)
            | TKind::DayDiff { from: a, to: b }
            | TKind::InField { needle: a, list: b, .. } => {
                a.walk(f);
                b.walk(f);
            }
            TKind::InList { needle, items, .. } => {
                needle.walk(f);
                for i in items {
                    i.walk(f);
                }
            }
            TKind::Call(_, args) => {
                for a in args {
                    a.walk(f);
                }
            }
        }
    }

    fn is_text_literal(&self) -> bool {
        matches!(self.kind, TKind::Lit(Value::Text(_)))
    }
}

pub(crate) fn check(expr: &Expr, schema: &dyn Schema, root_form: i64) -> Result<Typed, TypeErrors> {
    let mut c = Checker { schema, root_form, errors: Vec::new() };
    match c.expr(expr) {
        Some(root) if c.errors.is_empty() => Ok(Typed { root }),
        _ => Err(TypeErrors(c.errors)),
    }
}

struct Checker<'a> {
    schema: &'a dyn Schema,
    root_form: i64,
    errors: Vec<TypeError>,
}

/// `None` means "an error was recorded"; checking goes on with the siblings so that one run
/// reports as many problems as it can.
type Checked = Option<TExpr>;

const FUNCTIONS: &[&str] = &[
    "today",
    "now",
    "year",
    "month",
    "day",
    "add_days",
    "days_between",
    "lower",
    "upper",
    "len",
    "round",
    "abs",
    "coalesce",
    "if",
    "min",
    "max",
    "date",
    "datetime",
];

impl Checker<'_> {
    fn error(&mut self, span: Span, message: impl Into<String>) -> Checked {
        self.errors.push(TypeError { message: message.into(), span });
        None
    }

    fn expr(&mut self, e: &Expr) -> Checked {
        let span = e.span;
        match &e.kind {
            ExprKind::Number(n) => Some(TExpr::new(TKind::Lit(Value::Number(*n)), Type::Number, span)),
            ExprKind::Text(s) => Some(TExpr::new(TKind::Lit(Value::Text(s.clone())), Type::Text, span)),
            ExprKind::Bool(b) => Some(TExpr::new(TKind::Lit(Value::Bool(*b)), Type::Bool, span)),
            ExprKind::Null => Some(TExpr::new(TKind::Lit(Value::Null), Type::Null, span)),
            ExprKind::List(_) => self.error(span, "a list [..] is only allowed after `in` or `not in`"),
            ExprKind::Path(path) => self.path(path, span),
            ExprKind::Call { name, args } => self.call(name, args, span),
            ExprKind::Unary { op, expr } => {
                let inner = self.expr(expr)?;
                match op {
                    UnaryOp::Neg => {
                        let inner = self.expect(inner, &[Type::Number], "unary '-'")?;
                        Some(TExpr::new(TKind::Neg(Box::new(inner)), Type::Number, span))
                    }
                    UnaryOp::Not => {
                        let inner = self.expect(inner, &[Type::Bool], "`not`")?;
                        Some(TExpr::new(TKind::Not(Box::new(inner)), Type::Bool, span))
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let l = self.expr(lhs);
                let r = self.expr(rhs);
                let (l, r) = (l?, r?);
                self.binary(*op, l, r, span)
            }
            ExprKind::In { needle, haystack, negated } => self.in_(needle, haystack, *negated, span),
            ExprKind::IsNull { expr, negated } => {
                let inner = self.expr(expr)?;
                Some(TExpr::new(TKind::IsNull { expr: Box::new(inner), negated: *negated }, Type::Bool, span))
            }
        }
    }

    fn path(&mut self, path: &[String], span: Span) -> Checked {
        let mut form = self.root_form;
        let mut hops = Vec::new();
        for (i, key) in path.iter().enumerate() {
            let Some(field) = self.schema.field(form, key) else {
                let keys = self.schema.field_keys(form);
                let hint = suggest(key, keys.iter().map(String::as_str))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                let shown = path[..=i].join(".");
                return self.error(span, format!("unknown field `{shown}`{hint}"));
            };
            if i + 1 == path.len() {
                return Some(TExpr::new(
                    TKind::Field(FieldRef { path: path.to_vec(), hops, key: key.clone(), field: field.clone() }),
                    field.ty,
                    span,
                ));
            }
            let next = &path[i + 1];
            match field.relation {
                Some(rel) if !rel.many => {
                    hops.push(Hop { key: key.clone(), field: field.clone(), target_form: rel.target_form });
                    form = rel.target_form;
                }
                Some(_) => {
                    return self.error(
                        span,
                        format!(
                            "`{key}` is a to-many relation, so `.{next}` cannot follow it; \
                             only to-one relations can be followed with '.'"
                        ),
                    );
                }
                None => {
                    return self.error(span, format!("`{key}` is not a relation, so `.{next}` cannot follow it"));
                }
            }
        }
        self.error(span, "empty field path")
    }

    /// Accepts `e` if its type is one of `allowed`; a null literal (or null-typed expression)
    /// takes the first allowed type so that SQL can give its NULL a concrete type.
    fn expect(&mut self, mut e: TExpr, allowed: &[Type], what: &str) -> Checked {
        if e.ty == Type::Null {
            settle_null(&mut e, &allowed[0]);
            return Some(e);
        }
        if allowed.contains(&e.ty) {
            return Some(e);
        }
        let names: Vec<String> = allowed.iter().map(|t| t.to_string()).collect();
        let needs = match names.as_slice() {
            [one] => format!("a {one}"),
            more => format!("a {}", more.join(" or ")),
        };
        let span = e.span;
        self.error(span, format!("{what} needs {needs}, found {}", e.ty))
    }

    fn binary(&mut self, op: BinaryOp, l: TExpr, r: TExpr, span: Span) -> Checked {
        match op {
            BinaryOp::And | BinaryOp::Or => {
                let what = format!("`{}`", op.symbol());
                let l = self.expect(l, &[Type::Bool], &what);
                let r = self.expect(r, &[Type::Bool], &what);
                let (l, r) = (Box::new(l?), Box::new(r?));
                let kind = if op == BinaryOp::And { TKind::And(l, r) } else { TKind::Or(l, r) };
                Some(TExpr::new(kind, Type::Bool, span))
            }
            BinaryOp::Contains => {
                if l.ty == Type::Null || r.ty == Type::Null {
                    return self.error(span, "`~` with null is always false; use `is null`");
                }
                let l = self.expect(l, &[Type::Text], "`~`");
                let r = self.expect(r, &[Type::Text], "`~`");
                let (l, r) = (l?, r?);
                Some(TExpr::new(TKind::Contains(Box::new(l), Box::new(r)), Type::Bool, span))
            }
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                self.compare(op, l, r, span)
            }
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => self.arith(op, l, r, span),
        }
    }

    fn compare(&mut self, op: BinaryOp, l: TExpr, r: TExpr, span: Span) -> Checked {
        if l.ty == Type::Null || r.ty == Type::Null {
            let hint = if op == BinaryOp::Ne { "is not null" } else { "is null" };
            return self.error(span, format!("comparing with null is always false; use `{hint}`"));
        }
        if matches!(l.ty, Type::List(_)) || matches!(r.ty, Type::List(_)) {
            return self.error(span, "a list cannot be compared; use `x in list` to test membership");
        }
        let (l, r) = self.unify(l, r, span, |a, b| format!("cannot compare {a} with {b}"))?;
        let ordering = !matches!(op, BinaryOp::Eq | BinaryOp::Ne);
        if ordering && l.ty == Type::Bool {
            return self.error(span, format!("booleans cannot be compared with '{}'", op.symbol()));
        }
        let cmp = match op {
            BinaryOp::Eq => CmpOp::Eq,
            BinaryOp::Ne => CmpOp::Ne,
            BinaryOp::Lt => CmpOp::Lt,
            BinaryOp::Le => CmpOp::Le,
            BinaryOp::Gt => CmpOp::Gt,
            _ => CmpOp::Ge,
        };
        Some(TExpr::new(TKind::Compare(cmp, Box::new(l), Box::new(r)), Type::Bool, span))
    }

    /// Brings two operands to one type: a null takes the other's type, a string literal meeting
    /// a date (time) is read as one, and a date meeting a date-time is widened.
    fn unify(
        &mut self,
        mut l: TExpr,
        mut r: TExpr,
        span: Span,
        mismatch: impl Fn(&Type, &Type) -> String,
    ) -> Option<(TExpr, TExpr)> {
        if matches!(l.ty, Type::List(_)) || matches!(r.ty, Type::List(_)) {
            self.error(span, "a list can only be used with `in`");
            return None;
        }
        if l.ty == Type::Null && r.ty != Type::Null {
            settle_null(&mut l, &r.ty.clone());
        } else if r.ty == Type::Null && l.ty != Type::Null {
            settle_null(&mut r, &l.ty.clone());
        }
        if l.ty == r.ty {
            return Some((l, r));
        }
        let temporal = |t: &Type| matches!(t, Type::Date | Type::DateTime);
        if temporal(&l.ty) && r.is_text_literal() {
            let ty = l.ty.clone();
            let r = self.coerce_literal(r, &ty)?;
            return self.unify(l, r, span, mismatch);
        }
        if temporal(&r.ty) && l.is_text_literal() {
            let ty = r.ty.clone();
            let l = self.coerce_literal(l, &ty)?;
            return self.unify(l, r, span, mismatch);
        }
        match (&l.ty, &r.ty) {
            (Type::Date, Type::DateTime) => Some((widen(l), r)),
            (Type::DateTime, Type::Date) => Some((l, widen(r))),
            (a, b) => {
                let message = mismatch(a, b);
                self.error(span, message);
                None
            }
        }
    }

    /// Reads a string literal as a date or date-time, at check time, so bad dates are reported
    /// to the user and never reach a database cast.
    fn coerce_literal(&mut self, e: TExpr, ty: &Type) -> Checked {
        let TKind::Lit(Value::Text(s)) = &e.kind else {
            return Some(e);
        };
        let value = match ty {
            Type::Date => parse_date(s).map(Value::Date),
            Type::DateTime => parse_datetime(s).map(Value::DateTime),
            _ => return Some(e),
        };
        match value {
            Some(v) => Some(TExpr::new(TKind::Lit(v), ty.clone(), e.span)),
            None => {
                let expected = if *ty == Type::Date { "YYYY-MM-DD" } else { "YYYY-MM-DDTHH:MM:SS.sssZ" };
                self.error(e.span, format!("\"{s}\" is not a valid {ty} (expected {expected})"))
            }
        }
    }

    fn arith(&mut self, op: BinaryOp, l: TExpr, r: TExpr, span: Span) -> Checked {
        let sym = op.symbol();
        if l.ty == Type::Null && r.ty == Type::Null {
            return self.error(span, format!("both operands of '{sym}' are null"));
        }
        let temporal = |t: &Type| matches!(t, Type::Date | Type::DateTime);
        match op {
            BinaryOp::Add if l.ty == Type::Text || r.ty == Type::Text => {
                let l = self.expect(l, &[Type::Text], "'+' on text");
                let r = self.expect(r, &[Type::Text], "'+' on text");
                let (l, r) = (l?, r?);
                Some(TExpr::new(TKind::Concat(Box::new(l), Box::new(r)), Type::Text, span))
            }
            BinaryOp::Add | BinaryOp::Sub if temporal(&l.ty) => {
                let ty = l.ty.clone();
                if op == BinaryOp::Sub && (temporal(&r.ty) || r.is_text_literal()) {
                    if ty == Type::Date {
                        let r = self.coerce_literal(r, &Type::Date)?;
                        if r.ty == Type::Date {
                            return Some(TExpr::new(
                                TKind::DayDiff { from: Box::new(r), to: Box::new(l) },
                                Type::Number,
                                span,
                            ));
                        }
                    }
                    return self.error(span, "only dates can be subtracted; use days_between(a, b) for date-times");
                }
                let r = self.expect(r, &[Type::Number], &format!("'{sym}' on a {ty}"))?;
                let r = if op == BinaryOp::Sub {
                    let rspan = r.span;
                    TExpr::new(TKind::Neg(Box::new(r)), Type::Number, rspan)
                } else {
                    r
                };
                Some(TExpr::new(TKind::AddDays(Box::new(l), Box::new(r)), ty, span))
            }
            BinaryOp::Add if temporal(&r.ty) => {
                let ty = r.ty.clone();
                let l = self.expect(l, &[Type::Number], &format!("'+' on a {ty}"))?;
                Some(TExpr::new(TKind::AddDays(Box::new(r), Box::new(l)), ty, span))
            }
            _ => {
                let what = format!("'{sym}'");
                let l = self.expect(l, &[Type::Number], &what);
                let r = self.expect(r, &[Type::Number], &what);
                let (l, r) = (l?, r?);
                let op = match op {
                    BinaryOp::Add => ArithOp::Add,
                    BinaryOp::Sub => ArithOp::Sub,
                    BinaryOp::Mul => ArithOp::Mul,
                    BinaryOp::Div => ArithOp::Div,
                    _ => ArithOp::Mod,
                };
                Some(TExpr::new(TKind::Arith(op, Box::new(l), Box::new(r)), Type::Number, span))
            }
        }
    }

    fn in_(&mut self, needle: &Expr, haystack: &Expr, negated: bool, span: Span) -> Checked {
        let needle = self.expr(needle);
        if let ExprKind::List(items) = &haystack.kind {
            let needle = needle?;
            return self.in_list(needle, items, negated, span);
        }
        let list = self.expr(haystack);
        let (needle, list) = (needle?, list?);
        let Type::List(elem) = list.ty.clone() else {
            return self.error(
                list.span,
                format!(
                    "`in` needs a list [..] or a multi-select or to-many field on its right, \
                     found {}",
                    list.ty
                ),
            );
        };
        if needle.ty == Type::Null {
            return self.error(needle.span, "`null in …` is always false; use `is null`");
        }
        let elem = *elem;
        let needle = if needle.ty == elem {
            needle
        } else {
            let nspan = needle.span;
            let found = needle.ty.clone();
            return self.error(nspan, format!("`in` looks for a {elem} in this list, found {found}"));
        };
        Some(TExpr::new(TKind::InField { needle: Box::new(needle), list: Box::new(list), negated }, Type::Bool, span))
    }

    fn in_list(&mut self, needle: TExpr, items: &[Expr], negated: bool, span: Span) -> Checked {
        if needle.ty == Type::Null {
            return self.error(needle.span, "`null in …` is always false; use `is null`");
        }
        if matches!(needle.ty, Type::List(_)) {
            return self.error(needle.span, "a list cannot be looked up in a list; write `\"x\" in field` instead");
        }
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            let Some(t) = self.expr(item) else {
                ok = false;
                continue;
            };
            if !matches!(t.kind, TKind::Lit(_)) {
                self.error(t.span, "list items must be literals");
                ok = false;
                continue;
            }
            if t.ty == Type::Null {
                self.error(t.span, "null cannot be in a list; use `is null`");
                ok = false;
                continue;
            }
            let t = if t.is_text_literal() && needle.ty != Type::Text {
                match self.coerce_literal(t, &needle.ty.clone()) {
                    Some(t) => t,
                    None => {
                        ok = false;
                        continue;
                    }
                }
            } else {
                t
            };
            if t.ty != needle.ty {
                self.error(t.span, format!("list item is a {}, but the value is a {}", t.ty, needle.ty));
                ok = false;
                continue;
            }
            out.push(t);
        }
        if !ok {
            return None;
        }
        Some(TExpr::new(TKind::InList { needle: Box::new(needle), items: out, negated }, Type::Bool, span))
    }

    fn call(&mut self, name: &str, args: &[Expr], span: Span) -> Checked {
        if !FUNCTIONS.contains(&name) {
            let hint =
                suggest(name, FUNCTIONS.iter().copied()).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
            return self.error(span, format!("unknown function `{name}`{hint}"));
        }
        let (min, max) = match name {
            "today" | "now" => (0, 0),
            "year" | "month" | "day" | "lower" | "upper" | "len" | "abs" | "date" | "datetime" => (1, 1),
            "round" => (1, 2),
            "if" => (3, 3),
            _ => (2, 2),
        };
        if args.len() < min || args.len() > max {
            let expected = if min == max {
                format!("{min} argument{}", if min == 1 { "" } else { "s" })
            } else {
                format!("{min} or {max} arguments")
            };
            return self.error(span, format!("{name}() takes {expected}, found {}", args.len()));
        }
        // Literal-only functions are settled before the arguments are checked as expressions.
        if name == "date" || name == "datetime" || name == "round" {
            return self.literal_call(name, args, span);
        }
        let mut checked = Vec::new();
        for a in args {
            checked.push(self.expr(a));
        }
        let args: Vec<TExpr> = checked.into_iter().collect::<Option<_>>()?;
        let what = format!("{name}()");
        let call = |f: Func, args: Vec<TExpr>, ty: Type| Some(TExpr::new(TKind::Call(f, args), ty, span));
        match name {
            "today" => call(Func::Today, args, Type::Date),
            "now" => call(Func::Now, args, Type::DateTime),
            "year" | "month" | "day" => {
                let a = self.temporal_arg(one(args)?, &what)?;
                let f = match name {
                    "year" => Func::Year,
                    "month" => Func::Month,
                    _ => Func::Day,
                };
                call(f, vec![a], Type::Number)
            }
            "add_days" => {
                let [d, n] = two(args)?;
                let d = self.temporal_arg(d, &what);
                let n = self.expect(n, &[Type::Number], &what);
                let (d, n) = (d?, n?);
                let ty = d.ty.clone();
                Some(TExpr::new(TKind::AddDays(Box::new(d), Box::new(n)), ty, span))
            }
            "days_between" => {
                let [a, b] = two(args)?;
                let a = self.temporal_arg(a, &what);
                let b = self.temporal_arg(b, &what);
                let (a, b) = (a?, b?);
                Some(TExpr::new(TKind::DayDiff { from: Box::new(a), to: Box::new(b) }, Type::Number, span))
            }
            "lower" | "upper" | "len" => {
                let s = self.expect(one(args)?, &[Type::Text], &what)?;
                match name {
                    "lower" => call(Func::Lower, vec![s], Type::Text),
                    "upper" => call(Func::Upper, vec![s], Type::Text),
                    _ => call(Func::Len, vec![s], Type::Number),
                }
            }
            "abs" => {
                let x = self.expect(one(args)?, &[Type::Number], &what)?;
                call(Func::Abs, vec![x], Type::Number)
            }
            "coalesce" => {
                let [a, b] = two(args)?;
                let (a, b) = self
                    .unify(a, b, span, |a, b| format!("coalesce() arguments must have one type, found {a} and {b}"))?;
                let ty = a.ty.clone();
                call(Func::Coalesce, vec![a, b], ty)
            }
            "if" => {
                let [c, a, b] = three(args)?;
                let c = self.expect(c, &[Type::Bool], "the condition of if()");
                let ab = self
                    .unify(a, b, span, |a, b| format!("both branches of if() must have one type, found {a} and {b}"));
                let (c, (a, b)) = (c?, ab?);
                let ty = a.ty.clone();
                call(Func::If, vec![c, a, b], ty)
            }
            "min" | "max" => {
                let [a, b] = two(args)?;
                let (a, b) =
                    self.unify(a, b, span, |a, b| format!("{name}() arguments must have one type, found {a} and {b}"))?;
                let ty = a.ty.clone();
                let allowed = [Type::Number, Type::Text, Type::Date, Type::DateTime, Type::Null];
                if !allowed.contains(&ty) {
                    return self.error(span, format!("{name}() cannot compare {ty} values"));
                }
                let f = if name == "min" { Func::Min } else { Func::Max };
                call(f, vec![a, b], ty)
            }
            _ => self.error(span, format!("unknown function `{name}`")),
        }
    }

    /// A date or date-time argument; a string literal is read as a date, else a date-time.
    fn temporal_arg(&mut self, e: TExpr, what: &str) -> Checked {
        if e.is_text_literal() {
            let TKind::Lit(Value::Text(s)) = &e.kind else {
                return None;
            };
            let ty = if parse_date(s).is_some() { Type::Date } else { Type::DateTime };
            return self.coerce_literal(e, &ty);
        }
        self.expect(e, &[Type::Date, Type::DateTime], what)
    }

    fn literal_call(&mut self, name: &str, args: &[Expr], span: Span) -> Checked {
        match name {
            "date" | "datetime" => {
                let ExprKind::Text(s) = &args[0].kind else {
                    return self
                        .error(args[0].span, format!("{name}() takes a string literal, like {name}(\"2026-12-01\")"));
                };
                let ty = if name == "date" { Type::Date } else { Type::DateTime };
                let lit = TExpr::new(TKind::Lit(Value::Text(s.clone())), Type::Text, args[0].span);
                let mut out = self.coerce_literal(lit, &ty)?;
                out.span = span;
                Some(out)
            }
            _ => {
                let x = self.expr(&args[0]);
                let digits = match args.get(1).map(|a| &a.kind) {
                    None => Some(0.0),
                    Some(ExprKind::Number(d)) if d.fract() == 0.0 && (0.0..=10.0).contains(d) => Some(*d),
                    Some(_) => self
                        .error(args[1].span, "the digits of round() must be a whole number from 0 to 10")
                        .map(|_| 0.0),
                };
                let x = self.expect(x?, &[Type::Number], "round()")?;
                let scale = 10f64.powi(digits? as i32);
                Some(TExpr::new(TKind::Call(Func::Round(scale), vec![x]), Type::Number, span))
            }
        }
    }
}

fn widen(e: TExpr) -> TExpr {
    let span = e.span;
    // Literals are widened right away so SQL gets a ready date-time parameter.
    if let TKind::Lit(Value::Date(d)) = e.kind {
        return TExpr::new(TKind::Lit(Value::DateTime(crate::value::midnight(d))), Type::DateTime, span);
    }
    TExpr::new(TKind::ToDateTime(Box::new(e)), Type::DateTime, span)
}

/// Gives a null-typed expression (a `null` literal, or an `if`/`coalesce`/`min`/`max` of nulls)
/// a concrete type, so PostgreSQL sees a typed NULL rather than one it must guess.
fn settle_null(e: &mut TExpr, ty: &Type) {
    if e.ty != Type::Null {
        return;
    }
    e.ty = ty.clone();
    if let TKind::Call(f, args) = &mut e.kind {
        let skip = usize::from(*f == Func::If);
        for a in args.iter_mut().skip(skip) {
            settle_null(a, ty);
        }
    }
}

fn one(args: Vec<TExpr>) -> Option<TExpr> {
    args.into_iter().next()
}

fn two(args: Vec<TExpr>) -> Option<[TExpr; 2]> {
    args.try_into().ok()
}

fn three(args: Vec<TExpr>) -> Option<[TExpr; 3]> {
    args.try_into().ok()
}

/// The closest candidate by edit distance, if it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .map(|c| (levenshtein(&word.to_ascii_lowercase(), c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

/// Edit distance counting a swap of two neighbours as one edit ("optimal string alignment"),
/// since transposed letters are the most common typo in a key.
fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}
