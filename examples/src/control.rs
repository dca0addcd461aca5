//! The control protocol between `lvsadm` and a running `lvs-director`, and the ipvsadm command
//! executor the director runs for it.
//!
//! Transport: a Unix stream socket; one connection carries one request and one response, each a
//! single line of JSON:
//! - request: `{"args": ["-A", "-t", "10.0.0.1:80", "-s", "rr"], "stdin": null}`: the ipvsadm
//!   argument words (without the program name) and, for `-R`, the text read from stdin;
//! - response: `{"status": 0, "stdout": "...", "stderr": "..."}`: what ipvsadm 1.31 would
//!   have printed and its exit status.
//!
//! Exit statuses follow ipvsadm 1.31: 0 success; 2 for a command line that does not parse
//! (`fail(2, ...)` in ipvsadm.c); 255 when the kernel refuses a command (ipvsadm's `main`
//! returns `process_options()`'s -1 after printing `ipvs_strerror(errno)`), e.g. "Service
//! already exists"; `-R` stops at the first bad line with status 1 and "line N: ..." (the
//! message format of lvs-core's restore).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lvs_core::ipvsadm::{Command, parse_args, parse_restore};
use lvs_core::{ApplyOutput, Director};
use serde::{Deserialize, Serialize};

/// One request: the ipvsadm words and, for `-R`, its input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// ipvsadm's argument words, without the program name.
    pub args: Vec<String>,
    /// The text `-R` reads from standard input.
    pub stdin: Option<String>,
}

/// One response: ipvsadm's exit status and output.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Response {
    /// Exit status (see the module docs).
    pub status: i32,
    /// Standard output text.
    pub stdout: String,
    /// Standard error text.
    pub stderr: String,
}

impl Response {
    fn err(status: i32, msg: impl std::fmt::Display) -> Response {
        Response {
            status,
            stdout: String::new(),
            stderr: format!("{msg}\n"),
        }
    }
}

/// The one request that is not an ipvsadm command line (an lvs-rs extension): the director's
/// drop counters, one `reason count` line each (the director's [`lvs_core::DropReason`]s in
/// lower-case words, then `engine` for frames the director's runtime dropped itself).
pub const DROPS_ARG: &str = "--lvs-drops";

/// Exit status of a command line that does not parse.
pub const EXIT_PARSE: i32 = 2;
/// Exit status of a command the director refuses.
pub const EXIT_REFUSED: i32 = 255;

/// The default control socket path: `$XDG_RUNTIME_DIR/lvs-director.sock` when that variable is
/// set, else `/run/lvs-director.sock`. `LVS_CONTROL` overrides both.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("LVS_CONTROL") {
        return PathBuf::from(p);
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) => Path::new(&d).join("lvs-director.sock"),
        None => PathBuf::from("/run/lvs-director.sock"),
    }
}

/// The text of a [`DROPS_ARG`] response (without the `engine` line).
pub fn drops_text(director: &Director) -> String {
    let mut out = String::new();
    for r in lvs_core::DropReason::ALL {
        out.push_str(&format!(
            "{} {}\n",
            crate::replay::reason_text(r),
            director.drops(r)
        ));
    }
    out
}

/// Run one ipvsadm command line on `director` at `now`.
pub fn execute(director: &mut Director, req: &Request, now: Instant) -> Response {
    let cmd = match parse_args(&req.args) {
        Ok(c) => c,
        Err(e) => return Response::err(EXIT_PARSE, e),
    };
    match cmd {
        Command::Restore => {
            let text = req.stdin.as_deref().unwrap_or("");
            let cmds = match parse_restore(text) {
                Ok(c) => c,
                Err(e) => return Response::err(1, e),
            };
            for (i, c) in cmds.iter().enumerate() {
                if let Err(e) = director.apply(c, now) {
                    return Response::err(1, format_args!("line {}: {e}", i + 1));
                }
            }
            Response::default()
        }
        cmd => match director.apply(&cmd, now) {
            Ok(ApplyOutput::Done) => Response::default(),
            Ok(ApplyOutput::Text(stdout)) => Response {
                status: 0,
                stdout,
                stderr: String::new(),
            },
            Err(e) => Response::err(EXIT_REFUSED, e),
        },
    }
}

/// Send `req` to the director listening on `path` and wait for its response.
///
/// # Errors
/// Connection or I/O failure, or a response that is not valid JSON.
pub fn call(path: &Path, req: &Request) -> std::io::Result<Response> {
    let mut s = UnixStream::connect(path)?;
    let mut line = serde_json::to_string(req).map_err(std::io::Error::other)?;
    line.push('\n');
    s.write_all(line.as_bytes())?;
    let mut r = BufReader::new(s);
    let mut resp = String::new();
    r.read_line(&mut resp)?;
    serde_json::from_str(&resp).map_err(std::io::Error::other)
}

/// Read one request line from a connection (server side).
///
/// # Errors
/// I/O failure or a line that is not a [`Request`].
pub fn read_request(s: &UnixStream) -> std::io::Result<Request> {
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    serde_json::from_str(&line).map_err(std::io::Error::other)
}

/// Write one response line (server side).
///
/// # Errors
/// I/O failure.
pub fn write_response(mut s: &UnixStream, resp: &Response) -> std::io::Result<()> {
    let mut line = serde_json::to_string(resp).map_err(std::io::Error::other)?;
    line.push('\n');
    s.write_all(line.as_bytes())
}
