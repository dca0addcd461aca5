//! keepalived's HTTP_GET rules (check_http.c) as pure functions, and the blocking std
//! implementation of the probes over loopback.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::Duration;

use lvs_examples::health::http::{
    HttpCheckError, digest_hex, evaluate_response, http_request, md5_digest, parse_digest,
    status_code,
};
use lvs_examples::health::probe::run_probe;
use lvs_examples::health::{CheckerConfig, Probe, ProbeResult, StatusCodes, UrlCheck};

#[test]
fn request_is_keepalived_http_1_0_template() {
    // check_http.c request_template: "GET %s HTTP/1.%d\r\nUser-Agent: KeepAliveClient\r\n%s
    // Host: %s%s\r\n\r\n" with HTTP/1.0, no Connection header, Host = IP:port or virtualhost.
    assert_eq!(
        http_request("/", "192.168.56.102:80".parse().unwrap(), None),
        "GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 192.168.56.102:80\r\n\r\n"
    );
    assert_eq!(
        http_request("/h?x=1", "[2001:db8::1]:8080".parse().unwrap(), None),
        "GET /h?x=1 HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: [2001:db8::1]:8080\r\n\r\n"
    );
    assert_eq!(
        http_request("/", "10.0.0.1:80".parse().unwrap(), Some("www.example.com")),
        "GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: www.example.com\r\n\r\n"
    );
}

#[test]
fn status_sets() {
    // No status_code: 200-299 (HTTP_DEFAULT_STATUS_CODE_MIN/MAX).
    let d = StatusCodes::default_2xx();
    let accepted: Vec<u16> = (100..=599).filter(|c| d.contains(*c)).collect();
    assert_eq!(accepted, (200..=299).collect::<Vec<_>>());
    let mut s = StatusCodes::empty();
    assert!(s.insert(200) && s.insert_range(301, 302));
    assert!(
        !s.insert(99) && !s.insert(600) && !s.insert_range(500, 600) && !s.insert_range(302, 301)
    );
    let accepted: Vec<u16> = (0..=1000).filter(|c| s.contains(*c)).collect();
    assert_eq!(accepted, vec![200, 301, 302]);
}

#[test]
fn response_evaluation_status_then_digest() {
    let body = b"<html>server02</html>\n";
    let resp = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\n".as_slice(),
        body,
    ]
    .concat();
    let mut u = UrlCheck::new("/");
    assert_eq!(status_code(&resp), Ok(200));
    assert_eq!(evaluate_response(&resp, &u), Ok(()));
    // Digest: md5 of the body, computed independently of our helper by a known vector
    // (RFC 1321 appendix A.5: MD5("abc") = 900150983cd24fb0d6963f7d28e17f72).
    assert_eq!(
        digest_hex(&md5_digest(b"abc")),
        "900150983cd24fb0d6963f7d28e17f72"
    );
    assert_eq!(
        digest_hex(&md5_digest(b"")),
        "d41d8cd98f00b204e9800998ecf8427e"
    );
    let abc = [b"HTTP/1.0 200 OK\r\n\r\n".as_slice(), b"abc"].concat();
    u.digest = parse_digest("900150983CD24FB0D6963F7D28E17F72");
    assert_eq!(evaluate_response(&abc, &u), Ok(()));
    assert!(matches!(
        evaluate_response(&resp, &u),
        Err(HttpCheckError::Digest { .. })
    ));
    // The status is checked before the digest.
    let nf = [b"HTTP/1.0 404 Not Found\r\n\r\n".as_slice(), b"abc"].concat();
    assert_eq!(evaluate_response(&nf, &u), Err(HttpCheckError::Status(404)));
    let mut only_404 = UrlCheck::new("/");
    only_404.status_codes = StatusCodes::empty();
    only_404.status_codes.insert(404);
    assert_eq!(evaluate_response(&nf, &only_404), Ok(()));
    assert_eq!(
        evaluate_response(b"garbage", &only_404),
        Err(HttpCheckError::NoStatusLine)
    );
    assert_eq!(
        evaluate_response(b"HTTP/1.0 2x0 OK\r\n\r\n", &only_404),
        Err(HttpCheckError::NoStatusLine)
    );
    assert_eq!(
        evaluate_response(b"", &only_404),
        Err(HttpCheckError::NoStatusLine)
    );
    // A digest needs a body separator.
    assert_eq!(
        evaluate_response(b"HTTP/1.0 200 OK\r\n", &u),
        Err(HttpCheckError::NoBody)
    );
    assert_eq!(parse_digest("xyz"), None);
    assert_eq!(parse_digest("900150983cd24fb0d6963f7d28e17f7g"), None);
}

/// A one-thread HTTP server on 127.0.0.1 answering `n` connections with `status` and `body`;
/// returns its address and the requests it received.
fn serve(
    n: usize,
    status: &'static str,
    body: &'static str,
) -> (SocketAddr, thread::JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = thread::spawn(move || {
        let mut reqs = Vec::new();
        for _ in 0..n {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = Vec::new();
            let mut b = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let k = s.read(&mut b).unwrap();
                if k == 0 {
                    break;
                }
                buf.extend_from_slice(&b[..k]);
            }
            reqs.push(String::from_utf8(buf).unwrap());
            write!(
                s,
                "HTTP/1.0 {status}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
        reqs
    });
    (addr, h)
}

#[test]
fn std_probes_over_loopback() {
    let mut ck = CheckerConfig::http(vec![UrlCheck::new("/"), UrlCheck::new("/health")]);
    // Two urls: two connections, both must pass.
    let (addr, h) = serve(2, "200 OK", "server02");
    let probe = ck.probe(addr);
    assert_eq!(run_probe(&probe), ProbeResult::Success);
    let reqs = h.join().unwrap();
    assert_eq!(
        reqs,
        vec![
            format!("GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: {addr}\r\n\r\n"),
            format!("GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: {addr}\r\n\r\n"),
        ]
    );
    // A 500 fails; a matching digest passes; a wrong one fails.
    let (addr, h) = serve(1, "500 Internal Server Error", "x");
    assert_eq!(
        run_probe(&CheckerConfig::http(vec![UrlCheck::new("/")]).probe(addr)),
        ProbeResult::Failure
    );
    h.join().unwrap();
    let mut u = UrlCheck::new("/");
    u.digest = Some(md5_digest(b"server02"));
    ck = CheckerConfig::http(vec![u.clone()]);
    let (addr, h) = serve(1, "200 OK", "server02");
    assert_eq!(run_probe(&ck.probe(addr)), ProbeResult::Success);
    h.join().unwrap();
    let (addr, h) = serve(1, "200 OK", "server03");
    assert_eq!(run_probe(&ck.probe(addr)), ProbeResult::Failure);
    h.join().unwrap();

    // TCP_CHECK: listening passes; once the listener is closed the connection is refused.
    // On 127.0.0.2: once freed, its port may be handed to a listener of a test running in
    // parallel, which binds 127.0.0.1 and so cannot take these connections.
    let l = TcpListener::bind("127.0.0.2:0").unwrap();
    let addr = l.local_addr().unwrap();
    let tcp = Probe::Tcp {
        addr,
        bind: None,
        timeout: Duration::from_secs(2),
    };
    assert_eq!(run_probe(&tcp), ProbeResult::Success);
    drop(l);
    assert_eq!(run_probe(&tcp), ProbeResult::Failure);
    assert_eq!(
        run_probe(&CheckerConfig::http(vec![UrlCheck::new("/")]).probe(addr)),
        ProbeResult::Failure
    );
}

#[test]
fn std_misc_probe_maps_exit_codes() {
    let p = |cmd: &str, dynamic| Probe::Misc {
        command: cmd.into(),
        timeout: Duration::from_secs(5),
        dynamic,
    };
    assert_eq!(run_probe(&p("exit 0", false)), ProbeResult::Success);
    assert_eq!(run_probe(&p("exit 1", true)), ProbeResult::Failure);
    assert_eq!(
        run_probe(&p("exit 12", true)),
        ProbeResult::SuccessWithWeight(10)
    );
    let slow = Probe::Misc {
        command: "sleep 5".into(),
        timeout: Duration::from_millis(100),
        dynamic: false,
    };
    assert_eq!(run_probe(&slow), ProbeResult::Failure);
}
