//! The real server's services on smoltcp sockets: an HTTP responder naming the server, a TCP
//! echo and a UDP echo.
//!
//! TCP services keep a fixed pool of sockets listening on their port (several listening
//! sockets on one port is how smoltcp accepts concurrent connections: each SYN goes to the
//! first one still in LISTEN). A socket is listened again once its connection is over. The
//! server closes first after an HTTP response, so its socket ends in TIME-WAIT, which smoltcp
//! holds 10 s; the responder aborts a socket in TIME-WAIT (the close handshake is complete by
//! then) so the pool serves new clients at once, as a server that set `SO_LINGER` 0 after the
//! close handshake would.

use super::{RealServerConfig, RealServerStats};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::{tcp, udp};

/// Bytes of each TCP socket's receive and transmit buffers.
const TCP_BUFFER: usize = 8192;
/// Longest HTTP request head read before answering (bytes); longer requests get a 431.
const MAX_REQUEST: usize = 2048;
/// UDP echo buffers: datagrams and bytes.
const UDP_PACKETS: usize = 32;
/// UDP echo buffer bytes.
const UDP_BYTES: usize = 65536;

/// One HTTP connection slot.
#[derive(Debug)]
struct HttpSlot {
    handle: SocketHandle,
    request: Vec<u8>,
    answered: bool,
}

/// The services' sockets and counters (built by [`super::RealServer::new`]).
#[derive(Debug)]
pub struct Services {
    http: Vec<HttpSlot>,
    echo: Vec<SocketHandle>,
    udp: Option<SocketHandle>,
    http_responses: u64,
    tcp_echo_bytes: u64,
    udp_echo_datagrams: u64,
}

fn tcp_socket() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
    );
    // Answers are written whole; no need to wait for ACKs of earlier small segments.
    s.set_nagle_enabled(false);
    s
}

/// Puts a TCP socket back into LISTEN on `port` when its connection is over.
fn relisten(s: &mut tcp::Socket<'_>, port: u16) {
    match s.state() {
        tcp::State::TimeWait => {
            s.abort();
            let _ = s.listen(port);
        }
        tcp::State::Closed => {
            let _ = s.listen(port);
        }
        _ => {}
    }
}

/// The HTTP answer for a request head: 200 with `"<name>\n"` for `GET`, 405 for another
/// method, 400 for something that is not HTTP. Always `Connection: close`.
pub fn http_response(name: &str, request: &[u8]) -> String {
    let line = request
        .split(|&b| b == b'\n')
        .next()
        .map(|l| String::from_utf8_lossy(l).trim_end().to_owned())
        .unwrap_or_default();
    let mut words = line.split(' ');
    let method = words.next().unwrap_or("");
    let version_ok = words.nth(1).is_some_and(|v| v.starts_with("HTTP/1."));
    let (status, body) = if !version_ok {
        ("400 Bad Request", "bad request\n".to_owned())
    } else if method == "GET" || method == "HEAD" {
        ("200 OK", format!("{name}\n"))
    } else {
        ("405 Method Not Allowed", "method not allowed\n".to_owned())
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nServer: lvs-realserver\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        out.push_str(&body);
    }
    out
}

impl Services {
    /// Creates the sockets of `cfg` in `sockets` and puts them in LISTEN (a port of 0 disables
    /// that service).
    pub(crate) fn new(cfg: &RealServerConfig, sockets: &mut SocketSet<'static>) -> Services {
        let mut http = Vec::new();
        if cfg.http_port != 0 {
            for _ in 0..cfg.http_sockets {
                let mut s = tcp_socket();
                let _ = s.listen(cfg.http_port);
                http.push(HttpSlot {
                    handle: sockets.add(s),
                    request: Vec::with_capacity(MAX_REQUEST),
                    answered: false,
                });
            }
        }
        let mut echo = Vec::new();
        if cfg.echo_port != 0 {
            for _ in 0..cfg.echo_sockets {
                let mut s = tcp_socket();
                let _ = s.listen(cfg.echo_port);
                echo.push(sockets.add(s));
            }
        }
        let udp = (cfg.udp_echo_port != 0).then(|| {
            let mut s = udp::Socket::new(
                udp::PacketBuffer::new(
                    vec![udp::PacketMetadata::EMPTY; UDP_PACKETS],
                    vec![0; UDP_BYTES],
                ),
                udp::PacketBuffer::new(
                    vec![udp::PacketMetadata::EMPTY; UDP_PACKETS],
                    vec![0; UDP_BYTES],
                ),
            );
            let _ = s.bind(cfg.udp_echo_port);
            sockets.add(s)
        });
        Services {
            http,
            echo,
            udp,
            http_responses: 0,
            tcp_echo_bytes: 0,
            udp_echo_datagrams: 0,
        }
    }

    /// Adds the services' counters to `stats`.
    pub(crate) fn add_stats(&self, stats: &mut RealServerStats) {
        stats.http_responses = self.http_responses;
        stats.tcp_echo_bytes = self.tcp_echo_bytes;
        stats.udp_echo_datagrams = self.udp_echo_datagrams;
    }

    /// One pass over every socket: read requests, write answers, echo, re-listen.
    pub(crate) fn serve(&mut self, cfg: &RealServerConfig, sockets: &mut SocketSet<'static>) {
        for slot in &mut self.http {
            let s = sockets.get_mut::<tcp::Socket>(slot.handle);
            if matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait) {
                relisten(s, cfg.http_port);
                slot.request.clear();
                slot.answered = false;
                continue;
            }
            if slot.answered {
                continue;
            }
            let mut buf = [0u8; 512];
            while s.can_recv() && slot.request.len() < MAX_REQUEST {
                let room = (MAX_REQUEST - slot.request.len()).min(buf.len());
                match s.recv_slice(&mut buf[..room]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => slot.request.extend_from_slice(&buf[..n]),
                }
            }
            let complete = slot.request.windows(4).any(|w| w == b"\r\n\r\n")
                || slot.request.windows(2).any(|w| w == b"\n\n");
            let too_long = slot.request.len() >= MAX_REQUEST;
            let peer_done = !s.may_recv() && !slot.request.is_empty();
            if complete || peer_done {
                let answer = http_response(&cfg.name, &slot.request);
                let _ = s.send_slice(answer.as_bytes());
                s.close();
                slot.answered = true;
                self.http_responses += 1;
            } else if too_long {
                let _ = s.send_slice(
                    b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                s.close();
                slot.answered = true;
            } else if !s.may_recv() && s.state() == tcp::State::CloseWait {
                s.close();
                slot.answered = true;
            }
        }

        for &h in &self.echo {
            let s = sockets.get_mut::<tcp::Socket>(h);
            relisten(s, cfg.echo_port);
            let mut buf = [0u8; 2048];
            while s.can_recv() && s.can_send() {
                let room = (s.send_capacity() - s.send_queue()).min(buf.len());
                match s.recv_slice(&mut buf[..room]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let sent = s.send_slice(&buf[..n]).unwrap_or(0);
                        self.tcp_echo_bytes += sent as u64;
                    }
                }
            }
            if s.state() == tcp::State::CloseWait && s.recv_queue() == 0 {
                s.close();
            }
        }

        if let Some(h) = self.udp {
            let s = sockets.get_mut::<udp::Socket>(h);
            let mut buf = [0u8; 2048];
            while s.can_recv() && s.can_send() {
                match s.recv_slice(&mut buf) {
                    Ok((n, meta)) => {
                        // `meta.local_address` is the address the datagram was sent to (the
                        // VIP): the echo leaves from it.
                        if s.send_slice(&buf[..n], meta).is_ok() {
                            self.udp_echo_datagrams += 1;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_is_answered_200_with_the_name_and_connection_close() {
        let r = http_response("rs1", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Connection: close\r\n"));
        assert!(r.contains("Content-Length: 4\r\n"));
        assert!(r.ends_with("\r\n\r\nrs1\n"));
    }

    #[test]
    fn other_methods_and_garbage_are_refused() {
        assert!(http_response("rs1", b"POST / HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 405"));
        assert!(http_response("rs1", b"\x00\x01garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
        let head = http_response("rs1", b"HEAD / HTTP/1.0\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"));
    }
}
