//! The SQL compiler: a checked expression to a SQL expression over the `records` table, for
//! SQLite and PostgreSQL.
//!
//! The in-memory evaluator is the reference, and this module reproduces it:
//!
//! * **Two-valued logic.** A condition compiles in "positive" form: SQL TRUE exactly when the
//!   evaluator says `true`, FALSE or NULL otherwise. `AND`/`OR` keep that property as they are
//!   (NULL behaves like FALSE under both), only negation does not, so `not e` becomes
//!   `(e) IS NOT TRUE`, and a condition used as a value becomes `(e) IS TRUE`. Plain
//!   `field op literal` comparisons therefore stay exactly `<field_sql> op <param>`, which an
//!   expression index on [`field_sql`] can serve.
//! * **Numbers are IEEE doubles everywhere.** SQLite reads JSON numbers as `REAL` when computing
//!   with them (its integers would divide and overflow differently), PostgreSQL casts to
//!   `float8`. `%` and `round` are spelled out as the same IEEE operations the evaluator does.
//! * **Text compares by bytes.** SQLite's BINARY does; PostgreSQL text fields are read with
//!   `COLLATE "C"` and ordering comparisons force it. `~`, `lower`, `upper` fold ASCII only.
//! * **Dates are canonical text.** Comparisons are text comparisons; arithmetic goes through
//!   the database's date functions, guarded so that results outside 0001–9999 are NULL, like
//!   the evaluator's, instead of errors or odd strings.
//! * **The clock comes from the caller** (`today()`, `now()` are parameters).
//!
//! Known limits, where agreement is not promised: integers beyond ±2^53 stored in records, and
//! arithmetic that overflows a double (PostgreSQL raises an error where the evaluator and SQLite
//! produce infinity).

use crate::check::{ArithOp, CmpOp, FieldRef, Func, Hop, TExpr, TKind, Typed};
use crate::eval::{Context, MAX_DAY_SHIFT, ROUND_LIMIT};
use crate::types::{Field, Storage, Type};
use crate::value::{Value, format_date, format_datetime};

/// The SQL dialects the compiler targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A bound parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

/// Collects the parameters of a statement. Placeholders are numbered from the `first` number
/// given by the caller, who may already have bound some (tenant, form, …).
#[derive(Debug, Clone, PartialEq)]
pub struct SqlParams {
    first: usize,
    values: Vec<SqlValue>,
}

impl SqlParams {
    /// Starts numbering placeholders at `first` (1-based, as both databases count).
    pub fn new(first: usize) -> SqlParams {
        SqlParams { first, values: Vec::new() }
    }

    /// The values to bind, in placeholder order starting at `first`.
    pub fn values(&self) -> &[SqlValue] {
        &self.values
    }

    pub fn into_values(self) -> Vec<SqlValue> {
        self.values
    }

    /// The number the next placeholder will get.
    pub fn next_index(&self) -> usize {
        self.first + self.values.len()
    }

    /// Adds a value and returns its placeholder: `?3` for SQLite, `$3::float8` for PostgreSQL.
    /// PostgreSQL placeholders carry a cast because its type inference guesses `text` for a
    /// parameter that only meets other parameters (`CASE WHEN … THEN $1 ELSE $2 END`).
    pub fn push(&mut self, d: Dialect, v: SqlValue) -> String {
        let n = self.next_index();
        let cast = match &v {
            SqlValue::Null => "",
            SqlValue::Bool(_) => "::boolean",
            SqlValue::Int(_) => "::bigint",
            SqlValue::Float(_) => "::float8",
            SqlValue::Text(_) => "::text",
        };
        self.values.push(v);
        match d {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}{cast}"),
        }
    }
}

/// The canonical SQL that reads a field. The compiler uses it for comparisons, and the server
/// must use it for `ORDER BY` and in `CREATE INDEX` so that an index matches the filter
/// expressions byte for byte. `table_alias: None` omits the alias (for index DDL).
///
/// SQLite: `json_extract(r.data, '$.key')`. PostgreSQL: `((r.data->>'key') COLLATE "C")` for
/// text (byte order, like SQLite and the evaluator), `((r.data->>'key')::float8)` for numbers,
/// `((r.data->>'key')::boolean)`, `(r.data->>'key')` for dates and date-times,
/// `(r.data->'key')` (jsonb) for lists. Column-stored fields read the column.
pub fn field_sql(d: Dialect, table_alias: Option<&str>, key: &str, ty: &Type, storage: &Storage) -> String {
    let prefix = table_alias.map(|a| format!("{a}.")).unwrap_or_default();
    match storage {
        Storage::Column(column) => format!("{prefix}{column}"),
        Storage::Json => match d {
            Dialect::Sqlite => format!("json_extract({prefix}data, {})", sqlite_path(key)),
            Dialect::Postgres => {
                let k = pg_key(key);
                match ty {
                    Type::Text => format!("(({prefix}data->>{k}) COLLATE \"C\")"),
                    Type::Number => format!("(({prefix}data->>{k})::float8)"),
                    Type::Bool => format!("(({prefix}data->>{k})::boolean)"),
                    Type::List(_) => format!("({prefix}data->{k})"),
                    Type::Date | Type::DateTime | Type::Null => format!("({prefix}data->>{k})"),
                }
            }
        },
    }
}

/// Compiles a checked expression. A boolean expression becomes a condition for `WHERE`
/// (TRUE exactly for the records [`crate::eval`] keeps); any other becomes a scalar.
pub fn to_sql(t: &Typed, d: Dialect, table_alias: &str, ctx: &Context, params: &mut SqlParams) -> String {
    let mut c = Compiler { d, alias: table_alias, ctx, params, next_alias: 0 };
    if t.root.ty == Type::Bool { c.cond(&t.root) } else { c.value(&t.root) }
}

/// Field keys are validated identifiers, but quoting keeps a surprising key from breaking out
/// of the literal anyway.
fn is_identifier(key: &str) -> bool {
    key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn sqlite_path(key: &str) -> String {
    if is_identifier(key) {
        format!("'$.{key}'")
    } else {
        let quoted = key.replace('\\', "\\\\").replace('"', "\\\"");
        format!("'$.\"{}\"'", quoted.replace('\'', "''"))
    }
}

fn pg_key(key: &str) -> String {
    format!("'{}'", key.replace('\'', "''"))
}

/// Days from 0001-01-01 to 9999-12-31 (the julian days 1721425.5 and 5373483.5 in SQLite).
const LAST_DAY: i64 = 3_652_058;

const UPPER: &str = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ'";
const LOWER: &str = "'abcdefghijklmnopqrstuvwxyz'";

struct Compiler<'a> {
    d: Dialect,
    alias: &'a str,
    ctx: &'a Context,
    params: &'a mut SqlParams,
    /// Suffix for the next relation alias (`r1`, `r2`, …), unique within one statement.
    next_alias: usize,
}

impl Compiler<'_> {
    fn pg(&self) -> bool {
        self.d == Dialect::Postgres
    }

    fn param(&mut self, v: SqlValue) -> String {
        self.params.push(self.d, v)
    }

    fn lit(&mut self, v: &Value, ty: &Type) -> String {
        match v {
            Value::Null => self.typed_null(ty),
            Value::Bool(b) => self.param(SqlValue::Bool(*b)),
            Value::Number(n) => self.param(SqlValue::Float(*n)),
            Value::Text(s) => self.param(SqlValue::Text(s.clone())),
            Value::Date(d) => self.param(SqlValue::Text(format_date(*d))),
            Value::DateTime(t) => self.param(SqlValue::Text(format_datetime(*t))),
            Value::List(_) => self.typed_null(ty),
        }
    }

    fn typed_null(&self, ty: &Type) -> String {
        if !self.pg() {
            return "NULL".to_string();
        }
        let t = match ty {
            Type::Number => "float8",
            Type::Bool => "boolean",
            Type::List(_) => "jsonb",
            Type::Text | Type::Date | Type::DateTime | Type::Null => "text",
        };
        format!("CAST(NULL AS {t})")
    }

    /// A condition: TRUE exactly when the evaluator yields `true`; FALSE or NULL otherwise.
    fn cond(&mut self, e: &TExpr) -> String {
        match &e.kind {
            TKind::And(a, b) => format!("({} AND {})", self.cond(a), self.cond(b)),
            TKind::Or(a, b) => format!("({} OR {})", self.cond(a), self.cond(b)),
            TKind::Not(a) => format!("(({}) IS NOT TRUE)", self.cond(a)),
            TKind::Compare(op, a, b) => self.compare(*op, a, b),
            TKind::Contains(a, b) => {
                let (a, b) = (self.value(a), self.value(b));
                if self.pg() {
                    format!("(strpos(translate({a}, {UPPER}, {LOWER}), translate({b}, {UPPER}, {LOWER})) > 0)")
                } else {
                    format!("(instr(lower({a}), lower({b})) > 0)")
                }
            }
            TKind::InList { needle, items, negated } => {
                if items.is_empty() && !*negated {
                    // `IN ()` is not valid PostgreSQL; spell out the evaluator's answer. The needle
                    // is not compiled: a parameter it bound would go unused, which PostgreSQL rejects.
                    return "(1 = 0)".to_string();
                }
                let x = self.operand(needle, None);
                if items.is_empty() {
                    return format!("({x} IS NOT NULL)");
                }
                let items: Vec<String> = items.iter().map(|i| self.operand(i, Some(needle))).collect();
                let not = if *negated { "NOT " } else { "" };
                format!("{x} {not}IN ({})", items.join(", "))
            }
            TKind::InField { needle, list, negated } => self.in_field(needle, list, *negated),
            TKind::IsNull { expr, negated } => self.is_null(expr, *negated),
            _ => self.value(e),
        }
    }

    /// A value: NULL exactly when the evaluator yields `Null`.
    fn value(&mut self, e: &TExpr) -> String {
        match &e.kind {
            TKind::Lit(v) => self.lit(v, &e.ty),
            TKind::Field(f) => self.field(f, false),
            TKind::Neg(a) => format!("(-{})", self.value(a)),
            TKind::Not(_) | TKind::IsNull { .. } => self.cond(e),
            TKind::And(..)
            | TKind::Or(..)
            | TKind::Compare(..)
            | TKind::Contains(..)
            | TKind::InList { .. }
            | TKind::InField { .. } => format!("(({}) IS TRUE)", self.cond(e)),
            TKind::Arith(op, a, b) => {
                let (a, b) = (self.value(a), self.value(b));
                self.arith(*op, &a, &b)
            }
            TKind::Concat(a, b) => format!("({} || {})", self.value(a), self.value(b)),
            TKind::AddDays(d, n) => self.add_days(d, n),
            TKind::DayDiff { from, to } => {
                let (from, to) = (self.day(from), self.day(to));
                if self.pg() {
                    format!("CAST(CAST({to} AS date) - CAST({from} AS date) AS float8)")
                } else {
                    format!("(julianday({to}) - julianday({from}))")
                }
            }
            TKind::ToDateTime(a) => format!("({} || 'T00:00:00.000Z')", self.value(a)),
            TKind::Call(f, args) => self.call(*f, args, &e.ty),
        }
    }

    /// An operand of a comparison: fields are read raw (exactly [`field_sql`]) so indexes
    /// apply; a whole-number literal meeting a PostgreSQL `bigint` column is bound as `bigint`
    /// so the column's index applies too.
    fn operand(&mut self, e: &TExpr, other: Option<&TExpr>) -> String {
        match &e.kind {
            TKind::Field(f) => self.field(f, true),
            TKind::Lit(Value::Number(n))
                if self.pg()
                    && other.is_some_and(is_column_number)
                    && n.fract() == 0.0
                    && n.abs() < 9_007_199_254_740_992.0 =>
            {
                self.param(SqlValue::Int(*n as i64))
            }
            _ => self.value(e),
        }
    }

    fn compare(&mut self, op: CmpOp, a: &TExpr, b: &TExpr) -> String {
        let l = self.operand(a, Some(b));
        let r = self.operand(b, Some(a));
        let sym = match op {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        };
        // Equality is byte equality under any deterministic collation; ordering is not, so it
        // is forced to "C". Canonical dates order the same under every collation.
        let r = if self.pg() && a.ty == Type::Text && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            format!("({r} COLLATE \"C\")")
        } else {
            r
        };
        format!("{l} {sym} {r}")
    }

    fn is_null(&mut self, e: &TExpr, negated: bool) -> String {
        if let (Type::List(_), TKind::Field(f)) = (&e.ty, &e.kind) {
            // A list is null unless it is a JSON array (JSON null and a missing key alike).
            let (data, key) = self.list_source(f);
            return match (self.d, negated) {
                (Dialect::Sqlite, false) => format!("(json_type({data}, {key}) IS NOT 'array')"),
                (Dialect::Sqlite, true) => format!("(json_type({data}, {key}) IS 'array')"),
                (Dialect::Postgres, false) => {
                    format!("(jsonb_typeof({data}->{key}) IS DISTINCT FROM 'array')")
                }
                (Dialect::Postgres, true) => {
                    format!("(jsonb_typeof({data}->{key}) IS NOT DISTINCT FROM 'array')")
                }
            };
        }
        let x = self.operand(e, None);
        let not = if negated { "NOT " } else { "" };
        format!("({x} IS {not}NULL)")
    }

    fn in_field(&mut self, needle: &TExpr, list: &TExpr, negated: bool) -> String {
        let TKind::Field(f) = &list.kind else {
            // The checker only gives list types to fields.
            return "(1 = 0)".to_string();
        };
        let x = self.value(needle);
        let (data, key) = self.list_source(f);
        if self.pg() {
            let list = format!("({data}->{key})");
            let contains = format!("({list} @> jsonb_build_array({x}))");
            if negated {
                format!("(jsonb_typeof({list}) IS NOT DISTINCT FROM 'array' AND {x} IS NOT NULL AND NOT {contains})")
            } else {
                contains
            }
        } else {
            self.next_alias += 1;
            let j = format!("j{}", self.next_alias);
            let exists = format!("EXISTS (SELECT 1 FROM json_each({data}, {key}) AS {j} WHERE {j}.value = {x})");
            if negated {
                format!("(json_type({data}, {key}) IS 'array' AND {x} IS NOT NULL AND NOT {exists})")
            } else {
                exists
            }
        }
    }

    /// Where a list field's JSON lives: the `data` of the record that holds it (a subquery when
    /// reached through relations) and the key or path literal under which it is stored.
    fn list_source(&mut self, f: &FieldRef) -> (String, String) {
        let data = self.through_hops(&f.hops, |_, alias| format!("{alias}.data"));
        let key = match self.d {
            Dialect::Sqlite => sqlite_path(&f.key),
            Dialect::Postgres => pg_key(&f.key),
        };
        (data, key)
    }

    fn field(&mut self, f: &FieldRef, raw: bool) -> String {
        let d = self.d;
        let field = f.field.clone();
        let key = f.key.clone();
        self.through_hops(&f.hops, move |_, alias| {
            let sql = field_sql(d, Some(alias), &key, &field.ty, &field.storage);
            if raw {
                return sql;
            }
            match (d, &field.ty, &field.storage) {
                // Computing with SQLite integers would divide and overflow unlike doubles.
                (Dialect::Sqlite, Type::Number, _) => format!("CAST({sql} AS REAL)"),
                (Dialect::Postgres, Type::Number, Storage::Column(_)) => {
                    format!("CAST({sql} AS float8)")
                }
                _ => sql,
            }
        })
    }

    /// Wraps what `inner` reads from the innermost record in one scalar subquery per to-one
    /// hop, each with a fresh alias, scoped to the same tenant, the target form and live records.
    fn through_hops(&mut self, hops: &[Hop], inner: impl FnOnce(&mut Self, &str) -> String) -> String {
        let mut outer = self.alias.to_string();
        let mut frames = Vec::new();
        for hop in hops {
            self.next_alias += 1;
            let alias = format!("{}{}", self.alias, self.next_alias);
            frames.push((alias.clone(), outer, hop));
            outer = alias;
        }
        let mut sql = inner(self, &outer);
        for (alias, outer, hop) in frames.into_iter().rev() {
            let id = self.relation_id(&outer, &hop.key, &hop.field);
            sql = format!(
                "(SELECT {sql} FROM records {alias} WHERE {alias}.tenant_id = {outer}.tenant_id \
                 AND {alias}.form_id = {form} AND {alias}.id = {id} AND {alias}.deleted_at IS NULL)",
                form = hop.target_form,
            );
        }
        sql
    }

    fn relation_id(&self, alias: &str, key: &str, field: &Field) -> String {
        match (field.storage, self.d) {
            (Storage::Column(c), _) => format!("{alias}.{c}"),
            (Storage::Json, Dialect::Sqlite) => {
                format!("json_extract({alias}.data, {})", sqlite_path(key))
            }
            (Storage::Json, Dialect::Postgres) => {
                format!("(({alias}.data->>{})::bigint)", pg_key(key))
            }
        }
    }

    fn arith(&self, op: ArithOp, a: &str, b: &str) -> String {
        let pg = self.pg();
        match op {
            ArithOp::Add => format!("({a} + {b})"),
            ArithOp::Sub => format!("({a} - {b})"),
            ArithOp::Mul => format!("({a} * {b})"),
            // SQLite already yields NULL for a division by zero; PostgreSQL raises an error.
            ArithOp::Div if pg => format!("({a} / NULLIF({b}, 0))"),
            ArithOp::Div => format!("({a} / {b})"),
            ArithOp::Mod if pg => format!("({a} - {b} * trunc({a} / NULLIF({b}, 0)))"),
            ArithOp::Mod => format!("({a} - {b} * CAST({a} / {b} AS INTEGER))"),
        }
    }

    /// The calendar day (as `YYYY-MM-DD` text) of a date or date-time expression.
    fn day(&mut self, e: &TExpr) -> String {
        let v = self.value(e);
        if e.ty == Type::DateTime { format!("substr({v}, 1, 10)") } else { v }
    }

    /// `d + n` days, `n` truncated toward zero; NULL when the result leaves 0001–9999. A
    /// date-time keeps its time of day, since whole UTC days never change it.
    fn add_days(&mut self, d: &TExpr, n: &TExpr) -> String {
        let v = self.value(d);
        let n = self.value(n);
        let (day, time) = if d.ty == Type::DateTime {
            (format!("substr({v}, 1, 10)"), format!(" || substr({v}, 11)"))
        } else {
            (v, String::new())
        };
        if self.pg() {
            // The range test is integer arithmetic on day numbers: a date past PostgreSQL's own
            // range would raise an error rather than fail the test. CASE (not AND) guards the
            // casts, because PostgreSQL does not promise the order in which AND evaluates.
            let k = format!("CAST(trunc({n}) AS integer)");
            format!(
                "(CASE WHEN abs({n}) >= {MAX_DAY_SHIFT:.1} THEN NULL \
                 WHEN CAST({day} AS date) - DATE '0001-01-01' + {k} BETWEEN 0 AND {LAST_DAY} \
                 THEN to_char(CAST({day} AS date) + {k}, 'YYYY-MM-DD'){time} END)"
            )
        } else {
            let shifted = format!("julianday({day}) + CAST({n} AS INTEGER)");
            format!(
                "(CASE WHEN abs({n}) >= {MAX_DAY_SHIFT:.1} THEN NULL \
                 WHEN {shifted} BETWEEN 1721425.5 AND 5373483.5 \
                 THEN date({shifted}){time} END)"
            )
        }
    }

    fn call(&mut self, f: Func, args: &[TExpr], ty: &Type) -> String {
        let pg = self.pg();
        let num = if pg { "float8" } else { "REAL" };
        match f {
            Func::Today => {
                let today = format_date(self.ctx.today);
                self.param(SqlValue::Text(today))
            }
            Func::Now => {
                let now = format_datetime(self.ctx.now_ms());
                self.param(SqlValue::Text(now))
            }
            Func::Year | Func::Month | Func::Day => {
                let v = self.value(&args[0]);
                let (from, len) = match f {
                    Func::Year => (1, 4),
                    Func::Month => (6, 2),
                    _ => (9, 2),
                };
                format!("CAST(substr({v}, {from}, {len}) AS {num})")
            }
            Func::Lower | Func::Upper => {
                let v = self.value(&args[0]);
                let (from, to) = if f == Func::Lower { (UPPER, LOWER) } else { (LOWER, UPPER) };
                match (pg, f) {
                    (true, _) => format!("translate({v}, {from}, {to})"),
                    // SQLite's built-in lower/upper fold ASCII only, as wanted.
                    (false, Func::Lower) => format!("lower({v})"),
                    (false, _) => format!("upper({v})"),
                }
            }
            Func::Len => {
                let v = self.value(&args[0]);
                format!("CAST(length({v}) AS {num})")
            }
            Func::Round(scale) => {
                let x = self.value(&args[0]);
                let p = self.param(SqlValue::Float(scale));
                let floor = |y: String| {
                    if pg {
                        format!("floor({y})")
                    } else {
                        // The argument is never negative here, so truncation is floor.
                        format!("CAST({y} AS INTEGER)")
                    }
                };
                let neg = floor(format!("-{x} * {p} + 0.5"));
                let pos = floor(format!("{x} * {p} + 0.5"));
                format!(
                    "(CASE WHEN abs({x}) * {p} >= {ROUND_LIMIT:.1} THEN {x} \
                     WHEN {x} < 0 THEN -({neg} / {p}) ELSE {pos} / {p} END)"
                )
            }
            Func::Abs => format!("abs({})", self.value(&args[0])),
            Func::Coalesce => {
                let all: Vec<String> = args.iter().map(|a| self.value(a)).collect();
                format!("COALESCE({})", all.join(", "))
            }
            Func::If => {
                let c = self.cond(&args[0]);
                let (a, b) = (self.value(&args[1]), self.value(&args[2]));
                format!("(CASE WHEN {c} THEN {a} ELSE {b} END)")
            }
            Func::Min | Func::Max => {
                let (a, b) = (self.value(&args[0]), self.value(&args[1]));
                let (sqlite, pg_name) = if f == Func::Min { ("min", "LEAST") } else { ("max", "GREATEST") };
                if pg {
                    // LEAST/GREATEST skip NULLs; the evaluator (and SQLite's min/max) do not.
                    let first = if *ty == Type::Text { format!("({a} COLLATE \"C\")") } else { a.clone() };
                    format!("(CASE WHEN {a} IS NULL OR {b} IS NULL THEN NULL ELSE {pg_name}({first}, {b}) END)")
                } else {
                    format!("{sqlite}({a}, {b})")
                }
            }
        }
    }
}

fn is_column_number(e: &TExpr) -> bool {
    matches!(&e.kind, TKind::Field(f) if f.field.ty == Type::Number && matches!(f.field.storage, Storage::Column(_)))
}
