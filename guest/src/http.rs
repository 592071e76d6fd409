//! The request a handler receives and the response it returns, independent of WIT.

/// One HTTP request below the SCIM base path.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The HTTP method, upper case.
    pub method: String,
    /// The path below the SCIM base, starting with `/`.
    pub path: String,
    /// The decoded query parameters, in the order sent.
    pub query: Vec<(String, String)>,
    /// The request headers a handler may read (names lower case).
    pub headers: Vec<(String, String)>,
    /// The body, as sent.
    pub body: Vec<u8>,
    /// The public URL of the SCIM base, without a trailing slash.
    pub base_url: String,
}

/// The handler's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// The media type of every SCIM body (RFC 7644 §3.1).
pub const SCIM_JSON: &str = "application/scim+json";

impl Request {
    /// The first query parameter of this name (names compared without regard to case,
    /// as clients disagree on `startIndex` vs `startindex`).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The first header of this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl Response {
    /// A SCIM JSON response.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Response::json_text(status, body.to_string())
    }

    /// A SCIM JSON response whose body is already JSON text.
    pub fn json_text(status: u16, body: String) -> Self {
        Response { status, headers: vec![("content-type".into(), SCIM_JSON.into())], body: body.into_bytes() }
    }

    /// An empty response (204 No Content, 304 Not Modified).
    pub fn empty(status: u16) -> Self {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The first header of this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}
