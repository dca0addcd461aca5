//! The namespace demo's HTTP endpoints over the kernel's TCP (std::net): a tiny HTTP/1.0
//! server naming itself (`lvs-demo __http-server`) and a client sending N requests to the VIP
//! (`lvs-demo __http-client`), each run inside a network namespace by `ip netns exec`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{ClientReport, HTTP_REQUEST, parse_response};
use crate::realserver::services::http_response;

/// Serve `name` over HTTP on `0.0.0.0:port` until killed: every request head (up to the empty
/// line) gets lvs-realserver's answer ([`http_response`]: 200 with `"<name>\n"` for `GET`) and
/// the connection is closed. One thread per connection.
///
/// # Errors
/// The bind error.
pub fn serve(name: &str, port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))?;
    let name: Arc<str> = Arc::from(name);
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { continue };
        let name = Arc::clone(&name);
        std::thread::spawn(move || {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => req.extend_from_slice(buf.get(..n).unwrap_or(&[])),
                }
            }
            let _ = s.write_all(http_response(&name, &req).as_bytes());
        });
    }
    Ok(())
}

/// Time budget of one [`run_clients`] call: requests not started by then fail unsent, so a
/// broken mode costs at most this (plus one request's timeouts).
pub const RUN_BUDGET: Duration = Duration::from_secs(20);

/// A TCP connection from `client`:`port` (bound as the source; port 0: the kernel's choice;
/// std::net cannot bind before connecting, so the socket is made with nix and handed to std)
/// to `target`, the connect bounded by `timeout` (SO_SNDTIMEO bounds a blocking connect on
/// Linux).
fn connect_from(
    client: SocketAddrV4,
    target: SocketAddrV4,
    timeout: Duration,
) -> Result<TcpStream, String> {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, setsockopt, socket, sockopt,
    };
    use nix::sys::time::TimeVal;
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| format!("socket: {e}"))?;
    let tv = TimeVal::new(timeout.as_secs() as i64, 0);
    setsockopt(&fd, sockopt::SendTimeout, &tv).map_err(|e| format!("SO_SNDTIMEO: {e}"))?;
    setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(|e| format!("SO_REUSEADDR: {e}"))?;
    bind(fd.as_raw_fd(), &SockaddrIn::from(client)).map_err(|e| format!("bind {client}: {e}"))?;
    connect(fd.as_raw_fd(), &SockaddrIn::from(target)).map_err(|e| format!("connect: {e}"))?;
    Ok(TcpStream::from(fd))
}

/// One request from `client` to `target`: `Ok(body)`.
fn one_request(
    client: SocketAddrV4,
    target: SocketAddrV4,
    timeout: Duration,
) -> Result<String, String> {
    let mut s = connect_from(client, target, timeout)?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.write_all(HTTP_REQUEST.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)
        .map_err(|e| format!("receive: {e}"))?;
    parse_response(&resp).ok_or_else(|| format!("bad response ({} bytes)", resp.len()))
}

/// Send `requests` HTTP requests to `target`, `concurrency` at a time, request i from source
/// address `clients[i % clients.len()]` (the kernel's choice when `clients` is empty) and,
/// with `port_base`, from source port `port_base + i`: every request then is a new
/// connection for the director too (a kernel-chosen port may come back while the director
/// still holds the previous connection's entry, which IPVS reuses unless
/// `conn_reuse_mode` says otherwise, and the spread would no longer be the scheduler's).
pub fn run_clients(
    clients: &[Ipv4Addr],
    target: SocketAddrV4,
    requests: usize,
    concurrency: usize,
    port_base: Option<u16>,
) -> ClientReport {
    let start = Instant::now();
    let clients: Arc<[Ipv4Addr]> = if clients.is_empty() {
        Arc::from([Ipv4Addr::UNSPECIFIED])
    } else {
        Arc::from(clients)
    };
    let report = Arc::new(Mutex::new(ClientReport {
        requests: requests as u64,
        ..ClientReport::default()
    }));
    let next = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for _ in 0..concurrency.max(1) {
        let report = Arc::clone(&report);
        let next = Arc::clone(&next);
        let clients = Arc::clone(&clients);
        threads.push(std::thread::spawn(move || {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return;
                }
                if start.elapsed() > RUN_BUDGET {
                    if let Ok(mut rep) = report.lock() {
                        rep.failure(format!("request {i} not sent: {RUN_BUDGET:?} budget spent"));
                    }
                    continue;
                }
                let client = clients
                    .get(i % clients.len())
                    .copied()
                    .unwrap_or(Ipv4Addr::UNSPECIFIED);
                let port = port_base.map_or(0, |b| {
                    b.wrapping_add(u16::try_from(i % 20_000).unwrap_or(0))
                });
                let from = SocketAddrV4::new(client, port);
                let r = one_request(from, target, Duration::from_secs(3));
                let Ok(mut rep) = report.lock() else { return };
                match r {
                    Ok(name) => rep.success(client, &name),
                    Err(e) => rep.failure(format!("from {client}: {e}")),
                }
            }
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    let mut rep = report.lock().map(|r| r.clone()).unwrap_or_default();
    rep.elapsed_s = start.elapsed().as_secs_f64();
    rep
}

/// `lvs-demo __http-client --target IP:PORT --from IP[,IP...] --requests N --concurrency C
/// [--port-base P]`:
/// [`run_clients`] (request i from the i-th source address, in turn) and print the
/// [`ClientReport`] as one JSON line.
pub fn client_main(args: &[String]) -> std::process::ExitCode {
    let get = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let target: Option<SocketAddrV4> = get("--target").and_then(|t| t.parse().ok());
    let Some(target) = target else {
        eprintln!("lvs-demo __http-client: --target IP:PORT needed");
        return std::process::ExitCode::FAILURE;
    };
    let from: Vec<Ipv4Addr> = get("--from")
        .map(|f| f.split(',').filter_map(|a| a.parse().ok()).collect())
        .unwrap_or_default();
    let requests: usize = get("--requests")
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    let concurrency: usize = get("--concurrency")
        .and_then(|n| n.parse().ok())
        .unwrap_or(8);
    let port_base: Option<u16> = get("--port-base").and_then(|n| n.parse().ok());
    let report = run_clients(&from, target, requests, concurrency, port_base);
    match serde_json::to_string(&report) {
        Ok(j) => {
            println!("{j}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lvs-demo __http-client: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
