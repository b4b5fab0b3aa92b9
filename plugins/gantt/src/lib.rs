//! `gantt`: a widget that draws tasks as a Gantt chart, a self-contained SVG.
//!
//! Dataset columns: `name`, `start`, `end` (required; dates `YYYY-MM-DD`, or date-times of
//! which the date part is taken; `end` is inclusive, so a one-day task starts and ends on the
//! same day), `progress` (optional; 0..1, or a percentage when above 1) and `group` (optional;
//! tasks are gathered under a heading per group, groups in order of first appearance).
//!
//! Config (all optional): `{"title": null, "width": 800, "row_height": 28,
//! "bar_color": "#4e79a7", "progress_color": "#1f3f66"}`.

use std::fmt::Write as _;

use plugin_sdk::{Dataset, Output, PluginError, Value, Widget};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// A heading above the chart.
    pub title: Option<String>,
    /// The SVG's width in pixels (200–20000).
    pub width: u32,
    /// The height of one row in pixels (12–200).
    pub row_height: u32,
    /// Any SVG colour.
    pub bar_color: String,
    pub progress_color: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            title: None,
            width: 800,
            row_height: 28,
            bar_color: "#4e79a7".into(),
            progress_color: "#1f3f66".into(),
        }
    }
}

pub struct Gantt;

impl Widget for Gantt {
    type Config = Config;

    fn render(config: Config, dataset: Dataset) -> Result<Output, PluginError> {
        render_svg(&config, &dataset).map(Output::Svg)
    }
}

plugin_sdk::export_widget!(Gantt);

/// One task, read from a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub name: String,
    /// Days since 1970-01-01.
    pub start: i64,
    /// Inclusive.
    pub end: i64,
    /// 0..=1.
    pub progress: Option<f64>,
    pub group: Option<String>,
}

/// Reads the tasks of a dataset.
pub fn tasks(dataset: &Dataset) -> Result<Vec<Task>, PluginError> {
    let column = |name: &str| {
        dataset.column(name).ok_or_else(|| {
            PluginError::invalid(format!(
                "the dataset has no `{name}` column (it has: {})",
                if dataset.columns.is_empty() { "none".to_owned() } else { dataset.columns.join(", ") }
            ))
        })
    };
    let (name_col, start_col, end_col) = (column("name")?, column("start")?, column("end")?);
    let (progress_col, group_col) = (dataset.column("progress"), dataset.column("group"));
    let mut tasks = Vec::with_capacity(dataset.rows.len());
    for i in 0..dataset.rows.len() {
        let name = match dataset.cell(i, name_col) {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let row = || if name.is_empty() { format!("row {}", i + 1) } else { format!("row {} (“{name}”)", i + 1) };
        let date = |col: usize, what: &str| {
            let value = dataset.cell(i, col);
            value
                .as_str()
                .and_then(parse_date)
                .ok_or_else(|| PluginError::invalid(format!("{}: `{what}` is not a date (YYYY-MM-DD): {value}", row())))
        };
        let (start, end) = (date(start_col, "start")?, date(end_col, "end")?);
        if end < start {
            return Err(PluginError::invalid(format!("{}: ends before it starts", row())));
        }
        let progress = match progress_col.map(|c| dataset.cell(i, c)) {
            None | Some(Value::Null) => None,
            Some(value) => {
                let x = match value {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().trim_end_matches('%').trim().parse().ok(),
                    _ => None,
                }
                .filter(|x: &f64| x.is_finite())
                .ok_or_else(|| PluginError::invalid(format!("{}: `progress` is not a number: {value}", row())))?;
                Some((if x > 1.0 { x / 100.0 } else { x }).clamp(0.0, 1.0))
            }
        };
        let group = match group_col.map(|c| dataset.cell(i, c)) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };
        tasks.push(Task { name, start, end, progress, group });
    }
    Ok(tasks)
}

/// Draws the chart.
pub fn render_svg(config: &Config, dataset: &Dataset) -> Result<String, PluginError> {
    if !(200..=20_000).contains(&config.width) {
        return Err(PluginError::invalid("`width` must be between 200 and 20000"));
    }
    if !(12..=200).contains(&config.row_height) {
        return Err(PluginError::invalid("`row_height` must be between 12 and 200"));
    }
    let tasks = tasks(dataset)?;

    // Rows: a heading per group (in order of first appearance), then its tasks.
    enum Row<'a> {
        Heading(&'a str),
        Task(&'a Task),
    }
    let mut groups: Vec<Option<&str>> = Vec::new();
    for t in &tasks {
        if !groups.contains(&t.group.as_deref()) {
            groups.push(t.group.as_deref());
        }
    }
    let mut rows = Vec::new();
    for g in &groups {
        if let Some(g) = g {
            rows.push(Row::Heading(g));
        }
        rows.extend(tasks.iter().filter(|t| t.group.as_deref() == *g).map(Row::Task));
    }

    let width = f64::from(config.width);
    let row_h = f64::from(config.row_height);
    let margin = 8.0;
    let title_h = if config.title.is_some() { 28.0 } else { 0.0 };
    let axis_h = 22.0;
    let longest =
        tasks.iter().map(|t| t.name.chars().count()).chain(groups.iter().flatten().map(|g| g.chars().count()));
    let label_chars = longest.max().unwrap_or(0).max(6) as f64;
    let label_w = (label_chars * 7.0 + 16.0).clamp(60.0, width * 0.35).floor();
    let max_chars = ((label_w - 12.0) / 7.0).floor().max(3.0) as usize;
    let x0 = margin + label_w;
    let x1 = width - margin;
    let chart_w = x1 - x0;
    let y0 = margin + title_h + axis_h;
    let height = y0 + row_h * rows.len().max(1) as f64 + margin;

    let mut svg = String::with_capacity(1024 + rows.len() * 400);
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"##,
        w = num(width),
        h = num(height),
    );
    let _ = write!(svg, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    if let Some(title) = &config.title {
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" font-size="16" font-weight="bold" fill="#222222">{}</text>"##,
            num(margin),
            num(margin + 18.0),
            escape(title)
        );
    }

    if tasks.is_empty() {
        let _ = write!(svg, r##"<text x="{}" y="{}" fill="#666666">no tasks</text>"##, num(x0), num(y0 + row_h * 0.65));
        svg.push_str("</svg>");
        return Ok(svg);
    }

    let first = tasks.iter().map(|t| t.start).min().unwrap_or(0);
    let last = tasks.iter().map(|t| t.end).max().unwrap_or(0) + 1; // exclusive
    let span = (last - first).max(1) as f64;
    let x = |day: i64| x0 + (day - first) as f64 / span * chart_w;

    // Stripes behind every other row.
    for i in (1..rows.len()).step_by(2) {
        let _ = write!(
            svg,
            r##"<rect x="{}" y="{}" width="{}" height="{}" fill="#f4f6f8"/>"##,
            num(margin),
            num(y0 + row_h * i as f64),
            num(width - 2.0 * margin),
            num(row_h)
        );
    }

    // Time axis: grid lines and dates.
    let bottom = y0 + row_h * rows.len() as f64;
    let _ = write!(svg, r##"<g class="axis" fill="#555555" stroke="#d8dde3">"##);
    let _ = write!(svg, r##"<line x1="{x}" y1="{y}" x2="{x2}" y2="{y}"/>"##, x = num(x0), x2 = num(x1), y = num(y0));
    for (day, label) in ticks(first, last, chart_w) {
        let tx = x(day);
        let _ =
            write!(svg, r##"<line x1="{tx}" y1="{}" x2="{tx}" y2="{}"/>"##, num(y0 - 4.0), num(bottom), tx = num(tx));
        if tx + label.len() as f64 * 6.5 <= x1 + margin {
            let _ = write!(svg, r##"<text x="{}" y="{}" stroke="none">{label}</text>"##, num(tx + 2.0), num(y0 - 7.0));
        }
    }
    svg.push_str("</g>");

    // Rows.
    let bar_color = escape(&config.bar_color);
    let progress_color = escape(&config.progress_color);
    for (i, row) in rows.iter().enumerate() {
        let top = y0 + row_h * i as f64;
        let text_y = top + row_h / 2.0 + 4.0;
        match row {
            Row::Heading(g) => {
                let _ = write!(
                    svg,
                    r##"<text class="group" x="{}" y="{}" font-weight="bold" fill="#222222">{}</text>"##,
                    num(margin + 4.0),
                    num(text_y),
                    escape(&truncate(g, max_chars + 2))
                );
            }
            Row::Task(t) => {
                let indent = if t.group.is_some() { 12.0 } else { 4.0 };
                let (bx, bw) = (x(t.start), x(t.end + 1) - x(t.start));
                let (by, bh) = (top + row_h * 0.2, row_h * 0.6);
                let mut tooltip = format!("{}: {} – {}", t.name, format_date(t.start), format_date(t.end));
                if let Some(p) = t.progress {
                    let _ = write!(tooltip, " ({}%)", num(p * 100.0));
                }
                let _ = write!(
                    svg,
                    r##"<g class="task"><title>{}</title><text x="{}" y="{}" fill="#222222">{}</text>"##,
                    escape(&tooltip),
                    num(margin + indent),
                    num(text_y),
                    escape(&truncate(&t.name, max_chars))
                );
                let _ = write!(
                    svg,
                    r##"<rect class="bar" x="{}" y="{}" width="{}" height="{}" rx="3" fill="{bar_color}"/>"##,
                    num(bx),
                    num(by),
                    num(bw),
                    num(bh)
                );
                if let Some(p) = t.progress {
                    let _ = write!(
                        svg,
                        r##"<rect class="progress" x="{}" y="{}" width="{}" height="{}" rx="3" fill="{progress_color}"/>"##,
                        num(bx),
                        num(by),
                        num(bw * p),
                        num(bh)
                    );
                }
                svg.push_str("</g>");
            }
        }
    }
    svg.push_str("</svg>");
    Ok(svg)
}

/// Tick marks for `[first, last)`: a day or week step, or a month step on the 1st of months,
/// as few as fit about one label per 80 pixels.
fn ticks(first: i64, last: i64, chart_w: f64) -> Vec<(i64, String)> {
    let max_ticks = ((chart_w / 80.0).floor() as i64).max(2);
    let span = last - first;
    for step in [1, 2, 7, 14] {
        if span / step < max_ticks {
            // Weeks start on Mondays (1970-01-05 was one).
            let mut day = if step >= 7 { first + (4 - first).rem_euclid(7) } else { first };
            let mut out = Vec::new();
            while day < last {
                out.push((day, format_date(day)));
                day += step;
            }
            return out;
        }
    }
    let (y, m, _) = civil_from_days(first);
    let first_month = y * 12 + i64::from(m) - 1;
    let (y, m, _) = civil_from_days(last);
    let months = y * 12 + i64::from(m) - first_month;
    let step =
        [1, 2, 3, 6, 12, 24, 60, 120, 600, 1200].into_iter().find(|s| months / s < max_ticks).unwrap_or(months.max(1));
    let mut out = Vec::new();
    let mut month = first_month + (step - first_month.rem_euclid(step)) % step;
    loop {
        let (y, m) = (month.div_euclid(12), (month.rem_euclid(12) + 1) as u32);
        let day = days_from_civil(y, m, 1);
        if day >= last {
            break;
        }
        if day >= first {
            out.push((day, if step >= 12 { format!("{y:04}") } else { format!("{y:04}-{m:02}") }));
        }
        month += step;
    }
    out
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The date of a day number (the inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DD`, or the date part of `YYYY-MM-DDTHH:MM…` / `YYYY-MM-DD HH:MM…`.
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 10 || (b.len() > 10 && !matches!(b[10], b'T' | b't' | b' ')) {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (i64::from(digits(0..4)?), digits(5..7)?, digits(8..10)?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

fn format_date(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// At most `max` characters, with `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 does not allow.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with at most two decimals.
fn num(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_owned() } else { s.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dataset(columns: &[&str], rows: Vec<Value>) -> Dataset {
        Dataset {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .into_iter()
                .map(|r| match r {
                    Value::Array(a) => a,
                    _ => panic!("rows are arrays"),
                })
                .collect(),
        }
    }

    fn render(config: &str, ds: Dataset) -> Result<String, PluginError> {
        match plugin_sdk::run_widget::<Gantt>(config, ds)? {
            Output::Svg(svg) => Ok(svg),
            Output::Chart(_) => panic!("an SVG"),
        }
    }

    /// The `width` attributes of the rects of `class`, in order.
    fn widths(svg: &str, class: &str) -> Vec<f64> {
        svg.split(&format!(r#"<rect class="{class}" "#))
            .skip(1)
            .map(|rest| {
                let w = rest.split("width=\"").nth(1).and_then(|w| w.split('"').next()).expect("a width");
                w.parse().expect("a number")
            })
            .collect()
    }

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        for day in -800_000..800_000 {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(parse_date("2024-02-29"), Some(days_from_civil(2024, 2, 29)));
        assert_eq!(parse_date("2024-02-29T13:45:00Z"), parse_date("2024-02-29"));
        assert_eq!(parse_date("2024-02-29 13:45"), parse_date("2024-02-29"));
        for bad in ["2023-02-29", "2024-13-01", "2024-1-01", "24-01-01", "2024-01-01x", "2024/01/01", ""] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(format_date(days_from_civil(2026, 11, 27)), "2026-11-27");
    }

    #[test]
    fn draws_tasks() {
        let ds = dataset(
            &["name", "start", "end", "progress"],
            vec![
                json!(["R&D <b>", "2026-01-05", "2026-01-06", 0.5]),
                json!(["Build \"it\"", "2026-01-07", "2026-01-10T08:00:00Z", 50]),
                json!(["Ship", "2026-01-10", "2026-01-10", null]),
            ],
        );
        let svg = render(r#"{"title": "Plan & <go>", "width": 900}"#, ds).expect("renders");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\""), "{svg}");
        assert!(svg.ends_with("</svg>"));
        for name in ["R&amp;D &lt;b&gt;", "Build &quot;it&quot;", "Ship", "Plan &amp; &lt;go&gt;"] {
            assert!(svg.contains(name), "{name} in {svg}");
        }
        assert!(!svg.contains("<b>"), "escaped");
        // 2, 4 and 1 days: bars proportional to durations.
        let bars = widths(&svg, "bar");
        assert_eq!(bars.len(), 3);
        assert!((bars[1] / bars[0] - 2.0).abs() < 0.01, "{bars:?}");
        assert!((bars[0] / bars[2] - 2.0).abs() < 0.01, "{bars:?}");
        // 0.5 and 50 both mean half; the third has no progress.
        let progress = widths(&svg, "progress");
        assert_eq!(progress.len(), 2);
        assert!((progress[0] - bars[0] / 2.0).abs() < 0.02 && (progress[1] - bars[1] / 2.0).abs() < 0.02);
        assert!(svg.contains(">2026-01-05</text>"), "a tick on the first day: {svg}");
        // Balanced tags, roughly: every opened element is closed.
        assert_eq!(svg.matches("<g").count(), svg.matches("</g>").count());
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    }

    #[test]
    fn groups_and_long_ranges() {
        let ds = dataset(
            &["group", "name", "start", "end"],
            vec![
                json!(["Phase 1", "a", "2025-01-01", "2025-03-31"]),
                json!(["Phase 2", "b", "2025-04-01", "2026-06-30"]),
                json!(["Phase 1", "c", "2025-02-01", "2025-02-28"]),
            ],
        );
        let svg = render("{}", ds).expect("renders");
        let (p1, p2, c) = (svg.find(">Phase 1<"), svg.find(">Phase 2<"), svg.find(">c</text>"));
        assert!(p1 < c && c < p2, "c is under Phase 1: {svg}");
        assert!(svg.contains(">2025-04</text>") || svg.contains(">2025-07</text>"), "month ticks: {svg}");
    }

    #[test]
    fn errors() {
        let ds = dataset(&["name", "start"], vec![json!(["a", "2026-01-01"])]);
        let err = render("{}", ds).expect_err("no end");
        assert_eq!(err.code, "invalid");
        assert!(err.message.contains("`end`"), "{err}");
        let ds = dataset(
            &["name", "start", "end"],
            vec![json!(["a", "2026-01-01", "2026-01-02"]), json!(["b", "soon", "x"])],
        );
        let err = render("{}", ds).expect_err("bad date");
        assert!(err.message.starts_with("row 2 (“b”): `start` is not a date"), "{err}");
        let ds = dataset(&["name", "start", "end"], vec![json!(["a", "2026-01-03", "2026-01-02"])]);
        assert!(render("{}", ds).expect_err("backwards").message.contains("ends before it starts"));
        let ds = dataset(&["name", "start", "end"], vec![]);
        assert!(render(r#"{"width": 10}"#, ds.clone()).is_err());
        assert!(render(r#"{"colour": "red"}"#, ds.clone()).is_err(), "unknown keys are refused");
        assert!(render("{}", ds).expect("empty is fine").contains("no tasks"));
    }

    #[test]
    fn rows_from_the_host() {
        // Rows arrive as JSON array texts; anything else is refused before rendering.
        let cols = vec!["name".to_owned(), "start".to_owned(), "end".to_owned()];
        let err = Dataset::from_json_rows(cols, &[r#"{"name": "a"}"#.to_owned()]).expect_err("an object");
        assert_eq!(err.code, "invalid");
    }
}
