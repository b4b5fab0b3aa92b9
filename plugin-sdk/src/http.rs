//! Outbound HTTP for actions, only to hosts the tenant admin granted when installing the
//! plugin (capability `http:<host>`). Private, loopback and link-local addresses are refused
//! unless granted by name. The whole answer is read within the call's deadline.
//!
//! Write the logic over `&impl HttpApi` and hand it [`HostHttp`] in
//! [`Action::run`](crate::Action::run) to test it with a fake. Outside wasm32, [`send`]
//! returns an `unavailable` error.

use crate::{PluginError, Value};

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// An `https://` or `http://` URL.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// A request without headers or body.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Request {
        Request { method: method.into(), url: url.into(), headers: Vec::new(), body: None }
    }
    /// `GET url`.
    pub fn get(url: impl Into<String>) -> Request {
        Request::new("GET", url)
    }
    /// `POST url` with a JSON body (and `content-type: application/json`).
    pub fn post_json(url: impl Into<String>, body: &Value) -> Request {
        Request::new("POST", url).header("content-type", "application/json").body(body.to_string().into_bytes())
    }
    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = Some(body.into());
        self
    }
}

/// One answer (any status: a 404 is a response, not an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (ignoring ASCII case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body parsed as JSON; an `invalid` error when it is not.
    pub fn json(&self) -> Result<Value, PluginError> {
        serde_json::from_slice(&self.body).map_err(|e| PluginError::invalid(format!("the response is not JSON: {e}")))
    }
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The http host interface as a trait, so that action logic can be tested with a fake.
pub trait HttpApi {
    /// Sends one request and waits for the whole answer.
    fn send(&self, request: Request) -> Result<Response, PluginError>;
}

/// The real host: calls `tessera:plugin/http` (only in the `action` world).
#[derive(Debug, Clone, Copy, Default)]
pub struct HostHttp;

/// See [`HttpApi::send`].
pub fn send(request: Request) -> Result<Response, PluginError> {
    HostHttp.send(request)
}

#[cfg(target_arch = "wasm32")]
impl HttpApi for HostHttp {
    fn send(&self, request: Request) -> Result<Response, PluginError> {
        use crate::bindings::host::tessera::plugin::http as wit;
        let request =
            wit::Request { method: request.method, url: request.url, headers: request.headers, body: request.body };
        let response = wit::send(&request).map_err(crate::glue::error_from_wit)?;
        Ok(Response { status: response.status, headers: response.headers, body: response.body })
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl HttpApi for HostHttp {
    fn send(&self, _request: Request) -> Result<Response, PluginError> {
        Err(PluginError::unavailable("http is only available inside the Tessera host (use a fake HttpApi in tests)"))
    }
}
