//! `bom-explode`: an action that explodes an order through a bill of materials into purchase
//! requests.
//!
//! For the event's record (the order) it reads the order's lines (a sub-table field: a JSON
//! array of objects); for each line it queries the BOM form for the rows of the line's product
//! (`product = "X"`, at most 1000) and creates one purchase request per (line, BOM row):
//! `{component, qty: line qty × BOM qty, order: <order id>}`. The same component needed by two
//! lines gives two purchase requests — one per line, so each can be traced to its line; merge
//! them downstream if needed. Requests created before a failing call stay created; the error
//! (the host's, unchanged) fails the step.
//!
//! Config (every key optional; the defaults are shown):
//! ```json
//! {"bom_form": "bom", "bom_product": "product", "bom_component": "component", "bom_qty": "qty",
//!  "lines": "lines", "line_product": "product", "line_qty": "qty",
//!  "target_form": "purchase_request", "target_component": "component", "target_qty": "qty",
//!  "target_order": "order"}
//! ```
//! `target_order: null` leaves the order id out. Outcome data: `{"created": [ids…]}`.

use plugin_sdk::{Action, Event, HostRecords, Outcome, PluginError, RecordsApi, Value};
use serde::Deserialize;
use serde_json::{Map, json};

/// The most BOM rows read for one product.
pub const BOM_LIMIT: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The BOM form: one record per (product, component).
    pub bom_form: String,
    pub bom_product: String,
    pub bom_component: String,
    pub bom_qty: String,
    /// The order's sub-table field holding its lines.
    pub lines: String,
    pub line_product: String,
    pub line_qty: String,
    /// The form the purchase requests are created in.
    pub target_form: String,
    pub target_component: String,
    pub target_qty: String,
    /// Where the order's id goes; `None` (JSON `null`) leaves it out.
    pub target_order: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            bom_form: "bom".into(),
            bom_product: "product".into(),
            bom_component: "component".into(),
            bom_qty: "qty".into(),
            lines: "lines".into(),
            line_product: "product".into(),
            line_qty: "qty".into(),
            target_form: "purchase_request".into(),
            target_component: "component".into(),
            target_qty: "qty".into(),
            target_order: Some("order".into()),
        }
    }
}

pub struct BomExplode;

impl Action for BomExplode {
    type Config = Config;

    fn run(config: Config, event: Event) -> Result<Outcome, PluginError> {
        explode(&config, &event, &HostRecords)
    }
}

plugin_sdk::export_action!(BomExplode);

/// The whole action over any [`RecordsApi`] (the host's, or a fake in tests).
pub fn explode(config: &Config, event: &Event, records: &impl RecordsApi) -> Result<Outcome, PluginError> {
    let order = event
        .record
        .as_ref()
        .ok_or_else(|| PluginError::invalid("bom-explode runs for a record (the order), and the event has none"))?;
    let lines: &[Value] = match order.field(&config.lines) {
        Value::Null => &[],
        Value::Array(lines) => lines,
        _ => return Err(PluginError::invalid(format!("the order's `{}` field is not a list of lines", config.lines))),
    };
    let product_key = filter_key(&config.bom_product)?;
    let mut created = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        if !line.is_object() {
            return Err(PluginError::invalid(format!("line {n} of the order is not an object")));
        }
        let product = line.get(&config.line_product).unwrap_or(&Value::Null);
        let product = literal(product).ok_or_else(|| {
            PluginError::invalid(format!("line {n} has no `{}` (text or number)", config.line_product))
        })?;
        let line_qty = number(line.get(&config.line_qty).unwrap_or(&Value::Null))
            .ok_or_else(|| PluginError::invalid(format!("line {n}: `{}` is not a number", config.line_qty)))?;
        let filter = format!("{product_key} = {product}");
        let rows = records.query(&config.bom_form, &filter, BOM_LIMIT)?;
        if rows.len() >= BOM_LIMIT as usize {
            plugin_sdk::log::warn(&format!(
                "line {n}: the BOM has {BOM_LIMIT} rows or more for {product}; read the first"
            ));
        }
        for row in rows {
            let which = || row.id.map_or_else(|| "a BOM row".to_owned(), |id| format!("BOM row {id}"));
            let component = row.field(&config.bom_component);
            if component.is_null() {
                return Err(PluginError::invalid(format!("{} has no `{}`", which(), config.bom_component)));
            }
            let bom_qty = number(row.field(&config.bom_qty))
                .ok_or_else(|| PluginError::invalid(format!("{}: `{}` is not a number", which(), config.bom_qty)))?;
            let qty = quantity(line_qty * bom_qty)
                .ok_or_else(|| PluginError::invalid(format!("line {n}: the quantity is out of range")))?;
            let mut data = Map::new();
            data.insert(config.target_component.clone(), component.clone());
            data.insert(config.target_qty.clone(), qty);
            if let (Some(key), Some(id)) = (&config.target_order, order.id) {
                data.insert(key.clone(), json!(id));
            }
            let request = records.create(&config.target_form, &Value::Object(data))?;
            created.push(json!(request.id));
        }
    }
    let summary = match created.len() {
        1 => "created 1 purchase request".to_owned(),
        n => format!("created {n} purchase requests"),
    };
    Ok(Outcome::new(summary, json!({ "created": created })))
}

const KEYWORDS: [&str; 8] = ["and", "or", "not", "in", "is", "null", "true", "false"];

/// A field key as the expression language writes it: plain, or in backticks for a keyword.
fn filter_key(key: &str) -> Result<String, PluginError> {
    let mut chars = key.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(PluginError::invalid(format!("`{key}` is not a field key")));
    }
    Ok(if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(key)) { format!("`{key}`") } else { key.to_owned() })
}

/// A product value as an expression literal: a double-quoted string (`"` and `\` escaped) or a
/// number (a related record's id).
fn literal(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A quantity: a JSON number, or text holding one.
fn number(value: &Value) -> Option<f64> {
    let x = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

/// A quantity as JSON: an integer when whole.
fn quantity(x: f64) -> Option<Value> {
    if !x.is_finite() {
        return None;
    }
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        return Some(json!(x as i64));
    }
    serde_json::Number::from_f64(x).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_sdk::Record;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// A fake host: BOM rows by filter text; records created are kept.
    #[derive(Default)]
    struct Fake {
        boms: HashMap<String, Vec<Record>>,
        queries: RefCell<Vec<(String, String, u32)>>,
        created: RefCell<Vec<(String, Value)>>,
        fail_create_after: Option<usize>,
    }

    impl Fake {
        fn bom(mut self, filter: &str, rows: &[(i64, &str, Value)]) -> Fake {
            let rows = rows
                .iter()
                .map(|(id, c, q)| Record {
                    id: Some(*id),
                    form: "bom".into(),
                    version: 1,
                    data: json!({"product": "?", "component": c, "qty": q}),
                })
                .collect();
            self.boms.insert(filter.into(), rows);
            self
        }
    }

    impl RecordsApi for Fake {
        fn get(&self, _form: &str, _id: i64) -> Result<Option<Record>, PluginError> {
            Ok(None)
        }
        fn query(&self, form: &str, filter: &str, limit: u32) -> Result<Vec<Record>, PluginError> {
            self.queries.borrow_mut().push((form.into(), filter.into(), limit));
            Ok(self.boms.get(filter).cloned().unwrap_or_default())
        }
        fn create(&self, form: &str, data: &Value) -> Result<Record, PluginError> {
            let mut created = self.created.borrow_mut();
            if self.fail_create_after.is_some_and(|n| created.len() >= n) {
                return Err(PluginError::forbidden("records:write was not granted"));
            }
            created.push((form.into(), data.clone()));
            Ok(Record { id: Some(100 + created.len() as i64), form: form.into(), version: 1, data: data.clone() })
        }
        fn update(&self, _: &str, _: i64, _: &Value, _: Option<i64>) -> Result<Record, PluginError> {
            Err(PluginError::internal("not used"))
        }
    }

    fn order(lines: Value) -> Event {
        Event::new("record.created").with_record(Record {
            id: Some(7),
            form: "order".into(),
            version: 1,
            data: json!({ "lines": lines }),
        })
    }

    fn cfg(json: &str) -> Config {
        serde_json::from_str(json).expect("config parses")
    }

    #[test]
    fn defaults() {
        assert_eq!(cfg("{}"), Config::default());
        assert_eq!(cfg(r#"{"target_order": null}"#).target_order, None);
        assert!(serde_json::from_str::<Config>(r#"{"bom_from": "x"}"#).is_err(), "typos are refused");
    }

    #[test]
    fn one_request_per_line_and_component() {
        let fake = Fake::default()
            .bom(r#"product = "bike""#, &[(1, "wheel", json!(2)), (2, "frame", json!(1))])
            .bom(r#"product = "trike""#, &[(3, "wheel", json!("3")), (4, "bolt", json!(0.5))]);
        let event = order(json!([{"product": "bike", "qty": 4}, {"product": "trike", "qty": 3}]));
        let out = explode(&Config::default(), &event, &fake).expect("explodes");
        assert_eq!(out.summary, "created 4 purchase requests");
        assert_eq!(out.data, json!({"created": [101, 102, 103, 104]}));
        let created = fake.created.borrow();
        assert!(created.iter().all(|(form, _)| form == "purchase_request"));
        let data: Vec<&Value> = created.iter().map(|(_, d)| d).collect();
        assert_eq!(
            data,
            [
                &json!({"component": "wheel", "qty": 8, "order": 7}),
                &json!({"component": "frame", "qty": 4, "order": 7}),
                &json!({"component": "wheel", "qty": 9, "order": 7}),
                &json!({"component": "bolt", "qty": 1.5, "order": 7}),
            ]
        );
        assert_eq!(fake.queries.borrow()[0], ("bom".to_owned(), r#"product = "bike""#.to_owned(), 1000));
    }

    #[test]
    fn custom_names_and_escaping() {
        let config = cfg(r#"{"bom_form": "bill", "bom_product": "parent", "bom_component": "part", "bom_qty": "per",
                "lines": "items", "line_product": "sku", "line_qty": "n", "target_form": "pr",
                "target_component": "item", "target_qty": "amount", "target_order": null}"#);
        let mut fake = Fake::default();
        fake.boms.insert(
            r#"parent = "a \"b\" \\c""#.into(),
            vec![Record { id: Some(5), form: "bill".into(), version: 1, data: json!({"part": 42, "per": 2}) }],
        );
        let mut event = order(Value::Null);
        if let Some(r) = event.record.as_mut() {
            r.data = json!({"items": [{"sku": "a \"b\" \\c", "n": "1.5"}]});
        }
        let out = explode(&config, &event, &fake).expect("explodes");
        assert_eq!(out.summary, "created 1 purchase request");
        assert_eq!(fake.created.borrow()[0], ("pr".to_owned(), json!({"item": 42, "amount": 3})));
        // A keyword as field key is written in backticks.
        assert_eq!(filter_key("in").expect("key"), "`in`");
        assert!(filter_key("a-b").is_err());
    }

    #[test]
    fn no_lines_no_requests() {
        let fake = Fake::default();
        let out = explode(&Config::default(), &order(json!([])), &fake).expect("nothing to do");
        assert_eq!((out.summary.as_str(), out.data), ("created 0 purchase requests", json!({"created": []})));
        let mut event = order(Value::Null);
        if let Some(r) = event.record.as_mut() {
            r.data = json!({});
        }
        assert!(explode(&Config::default(), &event, &fake).is_ok(), "absent lines");
    }

    #[test]
    fn bad_input() {
        let fake = Fake::default();
        let err = explode(&Config::default(), &Event::new("manual"), &fake).expect_err("no record");
        assert_eq!(err.code, "invalid");
        let err = explode(&Config::default(), &order(json!([{"qty": 1}])), &fake).expect_err("no product");
        assert_eq!(err, PluginError::invalid("line 1 has no `product` (text or number)"));
        let err =
            explode(&Config::default(), &order(json!([{"product": "x", "qty": "many"}])), &fake).expect_err("qty");
        assert_eq!(err, PluginError::invalid("line 1: `qty` is not a number"));
        let err = explode(&Config::default(), &order(json!({"product": "x"})), &fake).expect_err("not a list");
        assert_eq!(err.code, "invalid");
        let fake = Fake::default().bom(r#"product = "x""#, &[(9, "c", Value::Null)]);
        let err = explode(&Config::default(), &order(json!([{"product": "x", "qty": 1}])), &fake).expect_err("bom qty");
        assert_eq!(err, PluginError::invalid("BOM row 9: `qty` is not a number"));
    }

    #[test]
    fn host_errors_pass_through() {
        let mut fake = Fake::default().bom(r#"product = "x""#, &[(1, "a", json!(1)), (2, "b", json!(1))]);
        fake.fail_create_after = Some(1);
        let err = explode(&Config::default(), &order(json!([{"product": "x", "qty": 1}])), &fake).expect_err("fails");
        assert_eq!(err, PluginError::forbidden("records:write was not granted"));
        // Through the SDK natively, the host itself is unavailable.
        let err = plugin_sdk::run_action::<BomExplode>("{}", order(json!([{"product": "x", "qty": 1}])))
            .expect_err("no host natively");
        assert_eq!(err.code, "unavailable");
    }
}
