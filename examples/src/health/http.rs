//! keepalived's HTTP_GET / SSL_GET request and response rules as pure functions
//! (keepalived/check/check_http.c): the request it sends, the status codes it accepts and the
//! MD5 digest of the body it compares.

use std::fmt::Write as _;
use std::net::SocketAddr;

use md5::{Digest, Md5};

/// Lowest status code keepalived accepts in `status_code` (`HTTP_STATUS_CODE_MIN`).
pub const STATUS_CODE_MIN: u16 = 100;
/// Highest status code keepalived accepts in `status_code` (`HTTP_STATUS_CODE_MAX`).
pub const STATUS_CODE_MAX: u16 = 599;

/// A set of accepted HTTP status codes, 100..=599, as keepalived's per-url bit array.
///
/// keepalived (check_http.c `url_check()`): a `url` block without any `status_code` accepts
/// 200..=299 (`HTTP_DEFAULT_STATUS_CODE_MIN`..`MAX`); otherwise exactly the listed codes and
/// ranges (`status_code 200 301-302`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StatusCodes {
    bits: [u64; 8],
}

impl StatusCodes {
    /// The empty set.
    pub fn empty() -> Self {
        Self::default()
    }

    /// keepalived's default set, 200..=299.
    pub fn default_2xx() -> Self {
        let mut s = Self::empty();
        s.insert_range(200, 299);
        s
    }

    /// Add one code; codes outside 100..=599 are ignored (returns false).
    pub fn insert(&mut self, code: u16) -> bool {
        if !(STATUS_CODE_MIN..=STATUS_CODE_MAX).contains(&code) {
            return false;
        }
        let i = usize::from(code - STATUS_CODE_MIN);
        if let Some(w) = self.bits.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
        true
    }

    /// Add `lo..=hi`; false (and nothing added) when the range is empty or leaves 100..=599.
    pub fn insert_range(&mut self, lo: u16, hi: u16) -> bool {
        if lo > hi || lo < STATUS_CODE_MIN || hi > STATUS_CODE_MAX {
            return false;
        }
        for c in lo..=hi {
            self.insert(c);
        }
        true
    }

    /// True when `code` is in the set.
    pub fn contains(&self, code: u16) -> bool {
        if !(STATUS_CODE_MIN..=STATUS_CODE_MAX).contains(&code) {
            return false;
        }
        let i = usize::from(code - STATUS_CODE_MIN);
        self.bits
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// True when no code is in the set.
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }
}

/// One `url { path ...; digest ...; status_code ... }` of an HTTP_GET / SSL_GET checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlCheck {
    /// `path`: the request target, sent as written (`/`, `/health?x=1`).
    pub path: String,
    /// `digest`: MD5 of the response body (16 bytes, written in the config as 32 hex digits),
    /// `None` when not configured.
    pub digest: Option<[u8; 16]>,
    /// `status_code`: accepted status codes (default 200..=299).
    pub status_codes: StatusCodes,
    /// `virtualhost` of this url (overrides the checker's).
    pub virtualhost: Option<String>,
}

impl UrlCheck {
    /// A url with keepalived's defaults: no digest, 200..=299.
    pub fn new(path: impl Into<String>) -> Self {
        UrlCheck {
            path: path.into(),
            digest: None,
            status_codes: StatusCodes::default_2xx(),
            virtualhost: None,
        }
    }
}

/// The request keepalived sends for one url (check_http.c `http_request_thread()`,
/// `request_template`), HTTP/1.0 without `Connection`:
///
/// `GET {path} HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: {host}\r\n\r\n`
///
/// where `host` is the `virtualhost` when one is given (no port), else the checked address and
/// port, `IP:PORT`, IPv6 bracketed (`[2001:db8::1]:80`, RFC 2732).
pub fn http_request(path: &str, addr: SocketAddr, virtualhost: Option<&str>) -> String {
    let mut s = String::with_capacity(64 + path.len());
    let _ = write!(
        s,
        "GET {path} HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: "
    );
    match (virtualhost, addr) {
        (Some(v), _) => s.push_str(v),
        (None, SocketAddr::V4(a)) => {
            let _ = write!(s, "{}:{}", a.ip(), a.port());
        }
        (None, SocketAddr::V6(a)) => {
            let _ = write!(s, "[{}]:{}", a.ip(), a.port());
        }
    }
    s.push_str("\r\n\r\n");
    s
}

/// Why a response fails an url check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpCheckError {
    /// The response does not start with `HTTP/x.y NNN`.
    #[error("no HTTP status line in the response")]
    NoStatusLine,
    /// The status code is not in the url's accepted set.
    #[error("HTTP status code {0} not accepted")]
    Status(u16),
    /// No end of headers (`\r\n\r\n`) while a digest is configured.
    #[error("no end of HTTP headers")]
    NoBody,
    /// The MD5 of the body differs from `digest`.
    #[error("MD5 digest {got} differs from the expected {expected}")]
    Digest {
        /// Configured digest, lowercase hex.
        expected: String,
        /// Digest of the received body, lowercase hex.
        got: String,
    },
}

/// The status code of a response: the number after `HTTP/x.y ` on the first line.
///
/// # Errors
/// [`HttpCheckError::NoStatusLine`] when the bytes do not start with such a line.
pub fn status_code(response: &[u8]) -> Result<u16, HttpCheckError> {
    let rest = response
        .strip_prefix(b"HTTP/")
        .ok_or(HttpCheckError::NoStatusLine)?;
    let sp = rest
        .iter()
        .position(|b| *b == b' ')
        .ok_or(HttpCheckError::NoStatusLine)?;
    let code = rest
        .get(sp + 1..sp + 4)
        .ok_or(HttpCheckError::NoStatusLine)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return Err(HttpCheckError::NoStatusLine);
    }
    // Matches the three ASCII digits checked above.
    Ok(code
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0')))
}

/// The body of a response: what follows the first `\r\n\r\n` (or `\n\n`), `None` without one.
pub fn response_body(response: &[u8]) -> Option<&[u8]> {
    let crlf = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4);
    let lf = response
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|p| p + 2);
    let start = match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    response.get(start..)
}

/// MD5 of `body` (RFC 1321), as keepalived's `digest` compares it.
pub fn md5_digest(body: &[u8]) -> [u8; 16] {
    Md5::digest(body).into()
}

/// Lowercase hex of a digest (as `genhash` prints it and `digest` is written).
pub fn digest_hex(d: &[u8; 16]) -> String {
    let mut s = String::with_capacity(32);
    for b in d {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parse a `digest` value: exactly 32 hex digits, either case.
pub fn parse_digest(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let hi = char::from(*pair.first()?).to_digit(16)?;
        let lo = char::from(*pair.get(1)?).to_digit(16)?;
        *o = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

/// Evaluate a complete response (read until the server closed the connection) against an url
/// check, in keepalived's order (check_http.c `http_handle_response()`): the status code must be
/// in the accepted set, then, when a digest is configured, the MD5 of the body must match.
///
/// # Errors
/// The first [`HttpCheckError`] found.
pub fn evaluate_response(response: &[u8], url: &UrlCheck) -> Result<(), HttpCheckError> {
    let code = status_code(response)?;
    if !url.status_codes.contains(code) {
        return Err(HttpCheckError::Status(code));
    }
    if let Some(expected) = &url.digest {
        let body = response_body(response).ok_or(HttpCheckError::NoBody)?;
        let got = md5_digest(body);
        if got != *expected {
            return Err(HttpCheckError::Digest {
                expected: digest_hex(expected),
                got: digest_hex(&got),
            });
        }
    }
    Ok(())
}
