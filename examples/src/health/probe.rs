//! A small blocking `std::net` / `std::process` implementation of [`Probe`]s, for tests and
//! simple embedders (the director runs its probes over its own smoltcp IP presence instead).
//!
//! Limits: `bind` (keepalived's `bindto`/`bind_port`) is not honoured (std cannot bind a
//! connecting socket without another crate), and `tls` (SSL_GET) probes fail: this
//! implementation speaks plain HTTP only.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::http::{evaluate_response, http_request};
use super::{Probe, ProbeResult, UrlCheck};

/// Largest response read per url (keepalived reads at most a few MB; the digest needs all).
pub const MAX_RESPONSE: usize = 4 << 20;

/// Run `probe`, blocking until it completes or times out.
pub fn run_probe(probe: &Probe) -> ProbeResult {
    match probe {
        Probe::Tcp { addr, timeout, .. } => {
            if TcpStream::connect_timeout(addr, *timeout).is_ok() {
                ProbeResult::Success
            } else {
                ProbeResult::Failure
            }
        }
        Probe::Http {
            addr,
            timeout,
            tls,
            urls,
            virtualhost,
            ..
        } => {
            if *tls {
                return ProbeResult::Failure;
            }
            let all = urls.iter().all(|u| {
                let host = u.virtualhost.as_deref().or(virtualhost.as_deref());
                http_get(*addr, *timeout, u, host)
                    .is_ok_and(|resp| evaluate_response(&resp, u).is_ok())
            });
            if all {
                ProbeResult::Success
            } else {
                ProbeResult::Failure
            }
        }
        Probe::Misc {
            command,
            timeout,
            dynamic,
        } => run_misc(command, *timeout, *dynamic),
    }
}

/// One HTTP GET of `url.path` at `addr` as keepalived sends it; returns the whole response
/// (read until the server closes, at most [`MAX_RESPONSE`] bytes).
///
/// # Errors
/// Connection, write or read errors, including timeouts (`timeout` applies to the connection
/// and to each read and write).
pub fn http_get(
    addr: SocketAddr,
    timeout: Duration,
    url: &UrlCheck,
    virtualhost: Option<&str>,
) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(http_request(&url.path, addr, virtualhost).as_bytes())?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 || out.len() >= MAX_RESPONSE {
            break;
        }
        out.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    Ok(out)
}

/// Run a MISC_CHECK command line with `sh -c`, killing it after `timeout`.
fn run_misc(command: &str, timeout: Duration, dynamic: bool) -> ProbeResult {
    let Ok(mut child) = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return ProbeResult::Failure;
    };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return status.code().map_or(ProbeResult::Failure, |c| {
                    ProbeResult::from_misc_exit(c, dynamic)
                });
            }
            Ok(None) if start.elapsed() < timeout => thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return ProbeResult::Failure;
            }
        }
    }
}
