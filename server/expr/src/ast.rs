//! The untyped syntax tree that [`crate::parse`] produces.
//!
//! Every node carries a [`Span`] so that the type checker can point at the exact piece of the
//! source a problem comes from; line and column are computed once at parse time because the
//! checker no longer has the source text.

use std::fmt;

/// A piece of the source: byte offsets plus the 1-based line and column (in characters) of its
/// start, ready to show to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 1 {
            write!(f, "line {}, column {}", self.line, self.column)
        } else {
            write!(f, "column {}", self.column)
        }
    }
}

/// One node of the syntax tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Number(f64),
    Text(String),
    Bool(bool),
    Null,
    /// `[a, b, c]`; the parser only accepts it right after `in`.
    List(Vec<Expr>),
    /// `amount`, `customer.name`: one or more field keys.
    Path(Vec<String>),
    /// `name(args…)`; `name` is lower-cased because function names are case-insensitive.
    Call {
        name: String,
        args: Vec<Expr>,
    },
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `needle in haystack` / `needle not in haystack`; the haystack is a list literal or a
    /// list-valued field.
    In {
        needle: Box<Expr>,
        haystack: Box<Expr>,
        negated: bool,
    },
    /// `expr is null` / `expr is not null`.
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `~`: ASCII-case-insensitive "contains".
    Contains,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl BinaryOp {
    /// The operator as the user writes it, for error messages.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "=",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Contains => "~",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
        }
    }
}
