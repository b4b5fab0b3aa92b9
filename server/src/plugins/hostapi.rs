//! The host interfaces an action reaches, bound to the tenant and install that invoked it:
//! `records` runs as the invoking actor through the same code as the HTTP API (validation,
//! permissions, history, events) and needs the granted `records:read` / `records:write`;
//! `http` reaches only hosts granted by name.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::host::{HostApi, http, types};
use crate::error::Error;
use crate::records::{self, ListQuery, Record};
use crate::store::Scoped;
use crate::tenants::Actor;

/// Rows `records.query` returns at most.
const QUERY_LIMIT: u32 = 1000;
/// Largest HTTP response body handed to a plugin.
const HTTP_BODY_LIMIT: usize = 4 << 20;

pub(crate) struct TenantApi {
    scoped: Scoped,
    actor: Actor,
    grants: Vec<String>,
    until: Instant,
    roots: Vec<reqwest::Certificate>,
}

impl TenantApi {
    pub fn new(
        scoped: Scoped,
        actor: Actor,
        grants: Vec<String>,
        deadline: Duration,
        roots: Vec<reqwest::Certificate>,
    ) -> TenantApi {
        TenantApi { scoped, actor, grants, until: Instant::now() + deadline, roots }
    }

    fn require(&self, grant: &str) -> Result<(), types::PluginError> {
        if self.grants.iter().any(|g| g == grant) {
            Ok(())
        } else {
            Err(err("forbidden", format!("the tenant admin has not granted `{grant}` to this plugin")))
        }
    }
}

fn err(code: &str, message: impl Into<String>) -> types::PluginError {
    types::PluginError { code: code.into(), message: message.into() }
}

fn from_error(e: Error) -> types::PluginError {
    match e {
        Error::NotFound(what) => err("not-found", format!("{what} not found")),
        Error::Forbidden(m) => err("forbidden", m),
        Error::Invalid(errors) | Error::Conflict(errors) if errors.is_empty() => err("invalid", "invalid"),
        Error::Invalid(errors) => {
            err("invalid", errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))
        }
        Error::Conflict(errors) => {
            err("conflict", errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))
        }
        Error::VersionConflict { current } => err("conflict", format!("the record is now at version {current}")),
        Error::Plugin { plugin, code, message } => err(&code, format!("{plugin}: {message}")),
        other => {
            tracing::warn!(error = ?other, "host call failed");
            err("internal", "the host could not complete the call")
        }
    }
}

fn stored(r: Record) -> types::StoredRecord {
    types::StoredRecord { id: Some(r.id), form: r.form, version: r.version, data: Value::Object(r.data).to_string() }
}

fn object(data: &str) -> Result<Map<String, Value>, types::PluginError> {
    match serde_json::from_str(data) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(err("invalid", "data must be a JSON object")),
        Err(e) => Err(err("invalid", format!("data is not JSON: {e}"))),
    }
}

#[async_trait::async_trait]
impl HostApi for TenantApi {
    async fn records_get(&mut self, form: &str, id: i64) -> Result<Option<types::StoredRecord>, types::PluginError> {
        self.require("records:read")?;
        match records::get_record(&self.scoped, &self.actor, form, id).await {
            Ok((_, r)) => Ok(Some(stored(r))),
            Err(Error::NotFound("record")) => Ok(None),
            Err(e) => Err(from_error(e)),
        }
    }

    async fn records_query(
        &mut self,
        form: &str,
        filter: &str,
        limit: u32,
    ) -> Result<Vec<types::StoredRecord>, types::PluginError> {
        self.require("records:read")?;
        let q = ListQuery {
            filter: (!filter.trim().is_empty()).then(|| filter.to_owned()),
            limit: Some(limit.clamp(1, QUERY_LIMIT)),
            ..Default::default()
        };
        let page = records::list_records(&self.scoped, &self.actor, form, &q).await.map_err(from_error)?;
        Ok(page.items.into_iter().map(stored).collect())
    }

    async fn records_create(&mut self, form: &str, data: &str) -> Result<types::StoredRecord, types::PluginError> {
        self.require("records:write")?;
        let input = object(data)?;
        let (_, r) = records::create_record(&self.scoped, &self.actor, form, input, None).await.map_err(from_error)?;
        Ok(stored(r))
    }

    async fn records_update(
        &mut self,
        form: &str,
        id: i64,
        data: &str,
        if_version: Option<i64>,
    ) -> Result<types::StoredRecord, types::PluginError> {
        self.require("records:write")?;
        let input = object(data)?;
        let (_, r) =
            records::update_record(&self.scoped, &self.actor, form, id, input, if_version).await.map_err(from_error)?;
        Ok(stored(r))
    }

    async fn http_send(&mut self, request: http::Request) -> Result<http::Response, types::PluginError> {
        let url = reqwest::Url::parse(&request.url).map_err(|e| err("invalid", format!("not a URL: {e}")))?;
        let host = url.host_str().ok_or_else(|| err("invalid", "the URL has no host"))?.to_ascii_lowercase();
        let by_name = self.grants.iter().any(|g| g.strip_prefix("http:") == Some(host.as_str()));
        let by_wildcard = self.grants.iter().filter_map(|g| g.strip_prefix("http:*.")).any(|suffix| {
            host.len() > suffix.len() + 1
                && host.ends_with(suffix)
                && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
        });
        if !by_name && !by_wildcard {
            return Err(err("forbidden", format!("the tenant admin has not granted `http:{host}` to this plugin")));
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(err("invalid", format!("unsupported scheme `{}`", url.scheme())));
        }
        let method = reqwest::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
            .ok()
            .filter(|m| ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()))
            .ok_or_else(|| err("invalid", format!("unsupported method `{}`", request.method)))?;
        let remaining = self.until.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(err("timeout", "the call's deadline has passed"));
        }
        let port = url.port_or_known_default().unwrap_or(80);
        {
            // Resolve once, check every address, and pin the connection to the checked ones
            // (no second lookup an attacker's DNS could answer differently).
            let addrs: Vec<std::net::SocketAddr> =
                tokio::time::timeout(remaining, tokio::net::lookup_host((host.as_str(), port)))
                    .await
                    .map_err(|_| err("timeout", "resolving the host took too long"))?
                    .map_err(|e| err("unavailable", format!("cannot resolve {host}: {e}")))?
                    .collect();
            if addrs.is_empty() {
                return Err(err("unavailable", format!("{host} has no address")));
            }
            if !by_name && let Some(a) = addrs.iter().find(|a| is_internal(a.ip())) {
                return Err(err(
                    "forbidden",
                    format!("{host} resolves to the internal address {}; grant it by name to allow it", a.ip()),
                ));
            }
            let mut builder = reqwest::Client::builder().use_rustls_tls();
            for root in &self.roots {
                builder = builder.add_root_certificate(root.clone());
            }
            let client = builder
                .redirect(reqwest::redirect::Policy::none())
                .timeout(remaining)
                .resolve_to_addrs(&host, &addrs)
                .build()
                .map_err(|e| err("internal", e.to_string()))?;
            let mut outgoing = client.request(method, url);
            for (k, v) in &request.headers {
                outgoing = outgoing.header(k.as_str(), v.as_str());
            }
            if let Some(body) = request.body {
                outgoing = outgoing.body(body);
            }
            let response = outgoing.send().await.map_err(|e| {
                if e.is_timeout() {
                    err("timeout", "the request timed out")
                } else {
                    // The chain says why (refused, certificate not trusted, …).
                    let mut text = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(s) = source {
                        text = format!("{text}: {s}");
                        source = s.source();
                    }
                    err("unavailable", text)
                }
            })?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned())))
                .collect();
            let body = response.bytes().await.map_err(|e| err("unavailable", e.to_string()))?;
            if body.len() > HTTP_BODY_LIMIT {
                return Err(err("limit", format!("the response has more than {HTTP_BODY_LIMIT} bytes")));
            }
            Ok(http::Response { status, headers, body: body.to_vec() })
        }
    }
}

/// Loopback, private, link-local, unique-local, unspecified, and the like.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// The `event` of an action's sample input.
pub(crate) fn event_from_json(v: Value) -> Result<types::Event, Error> {
    let Value::Object(mut m) = v else {
        return Err(Error::invalid("input.event", "must be an object with `kind`, `record` and `payload`"));
    };
    let kind = match m.remove("kind") {
        Some(Value::String(k)) => k,
        None => "manual".into(),
        Some(_) => return Err(Error::invalid("input.event.kind", "must be text")),
    };
    let record = match m.remove("record") {
        None | Some(Value::Null) => None,
        Some(Value::Object(mut r)) => {
            let form = match r.remove("form") {
                Some(Value::String(f)) => f,
                _ => return Err(Error::invalid("input.event.record.form", "is required (the form's key)")),
            };
            let data = match r.remove("data") {
                Some(d @ Value::Object(_)) => d,
                None => Value::Object(Map::new()),
                Some(_) => return Err(Error::invalid("input.event.record.data", "must be an object")),
            };
            Some(types::StoredRecord {
                id: r.get("id").and_then(Value::as_i64),
                form,
                version: r.get("version").and_then(Value::as_i64).unwrap_or(0),
                data: data.to_string(),
            })
        }
        Some(_) => return Err(Error::invalid("input.event.record", "must be an object")),
    };
    let payload = m.remove("payload").unwrap_or(Value::Object(Map::new()));
    if let Some(k) = m.keys().next() {
        return Err(Error::invalid(format!("input.event.{k}"), "unknown; an event has `kind`, `record`, `payload`"));
    }
    Ok(types::Event { kind, record, payload: payload.to_string() })
}

/// The `dataset` of a widget's sample input.
pub(crate) fn dataset_from_json(v: Value) -> Result<types::Dataset, Error> {
    let Value::Object(m) = v else {
        return Err(Error::invalid("input.dataset", "must be an object with `columns` and `rows`"));
    };
    let columns: Vec<String> = match m.get("columns") {
        Some(Value::Array(c)) if c.iter().all(Value::is_string) => {
            c.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect()
        }
        _ => return Err(Error::invalid("input.dataset.columns", "must be a list of column names")),
    };
    let rows = match m.get("rows") {
        Some(Value::Array(rows)) => rows,
        _ => return Err(Error::invalid("input.dataset.rows", "must be a list of rows")),
    };
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        match row {
            Value::Array(cells) if cells.len() == columns.len() => out.push(row.to_string()),
            _ => {
                return Err(Error::invalid(
                    format!("input.dataset.rows[{i}]"),
                    format!("must be a list of {} values, one per column", columns.len()),
                ));
            }
        }
    }
    Ok(types::Dataset { columns, rows: out })
}
