//! `lvsadm` against a control socket served in-process (no root needed): the same protocol and
//! executor the director uses ([`lvs_examples::control`]). Outputs are compared with ipvsadm
//! 1.31's formats (ipvsadm.c `print_title()`, `print_service_entry()`, `-S` lines) and its exit
//! statuses (2 for `fail()` on a bad command line, 255 when the kernel refuses).

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lvs_core::{Director, DirectorConfig};
use lvs_examples::control;

struct Server {
    path: PathBuf,
    _dir: TempPath,
}

struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A director behind a control socket, served by a thread for the life of the test process.
fn serve(tag: &str) -> Server {
    let dir = std::env::temp_dir().join(format!("lvsadm-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ctl.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let director = Arc::new(Mutex::new(Director::new(
        DirectorConfig::default(),
        Instant::now(),
    )));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { break };
            let Ok(req) = control::read_request(&conn) else {
                continue;
            };
            let resp = control::execute(&mut director.lock().unwrap(), &req, Instant::now());
            let _ = control::write_response(&conn, &resp);
        }
    });
    Server {
        path,
        _dir: TempPath(dir),
    }
}

fn lvsadm(sock: &Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lvsadm"))
        .arg("--control")
        .arg(sock)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut i = c.stdin.take().unwrap();
        if let Some(s) = stdin {
            i.write_all(s.as_bytes()).unwrap();
        }
    }
    let out = c.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn add_list_save_edit_delete_like_ipvsadm() {
    let s = serve("edit");
    let p = &s.path;
    assert_eq!(
        lvsadm(p, &["-A", "-t", "10.0.0.100:80", "-s", "wrr"], None).0,
        0
    );
    assert_eq!(
        lvsadm(
            p,
            &[
                "-a",
                "-t",
                "10.0.0.100:80",
                "-r",
                "10.0.0.11:80",
                "-m",
                "-w",
                "3"
            ],
            None
        )
        .0,
        0
    );
    assert_eq!(
        lvsadm(
            p,
            &["-a", "-t", "10.0.0.100:80", "-r", "10.0.0.12", "-g"],
            None
        )
        .0,
        0
    );
    let (st, out, err) = lvsadm(p, &["-Ln"], None);
    assert_eq!((st, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n  \
         -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         TCP  10.0.0.100:80 wrr\n  \
         -> 10.0.0.11:80                 Masq    3      0          0         \n  \
         -> 10.0.0.12:80                 Route   1      0          0         \n"
    );
    // -S prints rules that -R reads back (ipvsadm's save format).
    let (_, saved, _) = lvsadm(p, &["-S", "-n"], None);
    assert_eq!(
        saved,
        "-A -t 10.0.0.100:80 -s wrr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -m -w 3\n\
         -a -t 10.0.0.100:80 -r 10.0.0.12:80 -g -w 1\n"
    );
    assert_eq!(
        lvsadm(
            p,
            &[
                "-e",
                "-t",
                "10.0.0.100:80",
                "-r",
                "10.0.0.12:80",
                "-g",
                "-w",
                "0"
            ],
            None
        )
        .0,
        0
    );
    assert!(
        lvsadm(p, &["-S", "-n"], None)
            .1
            .contains("-r 10.0.0.12:80 -g -w 0")
    );
    assert_eq!(
        lvsadm(
            p,
            &["-d", "-t", "10.0.0.100:80", "-r", "10.0.0.12:80"],
            None
        )
        .0,
        0
    );
    // ENOENT from the kernel: "No such destination", status 255.
    let (st, _, err) = lvsadm(
        p,
        &["-d", "-t", "10.0.0.100:80", "-r", "10.0.0.12:80"],
        None,
    );
    assert_eq!((st, err.as_str()), (255, "No such destination\n"));
    // -C, then -R restores the saved rules.
    assert_eq!(lvsadm(p, &["-C"], None).0, 0);
    assert_eq!(lvsadm(p, &["-S", "-n"], None).1, "");
    assert_eq!(lvsadm(p, &["-R"], Some(&saved)).0, 0);
    assert_eq!(lvsadm(p, &["-S", "-n"], None).1, saved);
    // --set and -L --timeout (ipvsadm's list_timeout line).
    assert_eq!(lvsadm(p, &["--set", "100", "20", "30"], None).0, 0);
    assert_eq!(
        lvsadm(p, &["-L", "--timeout"], None).1,
        "Timeout (tcp tcpfin udp): 100 20 30\n"
    );
    // -Z and --stats: the header of the stats listing.
    assert_eq!(lvsadm(p, &["-Z"], None).0, 0);
    let (_, out, _) = lvsadm(p, &["-Ln", "--stats"], None);
    assert!(
        out.contains("Conns   InPkts  OutPkts  InBytes OutBytes"),
        "{out}"
    );
    // -Lnc on an empty table: the header only.
    let (_, out, _) = lvsadm(p, &["-Lnc"], None);
    assert!(
        out.starts_with("IPVS connection entries\npro expire state"),
        "{out}"
    );
}

#[test]
fn bad_command_lines_fail_locally_with_status_2() {
    // No director at this path: parse errors must not need one.
    let p = Path::new("/nonexistent/lvs.sock");
    let (st, _, err) = lvsadm(
        p,
        &[
            "-a",
            "-t",
            "10.0.0.100:80",
            "-r",
            "10.0.0.11",
            "-w",
            "70000",
        ],
        None,
    );
    assert_eq!(st, 2, "{err}");
    assert!(err.contains("-w"), "{err}");
    let (st, _, err) = lvsadm(p, &["-t", "10.0.0.100:80"], None);
    assert_eq!(st, 2, "{err}");
    // A well-formed command without a director: status 1 and a message naming the socket.
    let (st, _, err) = lvsadm(p, &["-Ln"], None);
    assert_eq!(st, 1);
    assert!(err.contains("/nonexistent/lvs.sock"), "{err}");
}

#[test]
fn refusals_have_ipvsadm_messages_and_status_255() {
    let s = serve("refuse");
    let p = &s.path;
    assert_eq!(lvsadm(p, &["-A", "-u", "10.0.0.100:53"], None).0, 0);
    let (st, _, err) = lvsadm(p, &["-A", "-u", "10.0.0.100:53"], None);
    assert_eq!((st, err.as_str()), (255, "Service already exists\n"));
    let (st, _, err) = lvsadm(p, &["-D", "-t", "10.0.0.100:53"], None);
    assert_eq!((st, err.as_str()), (255, "No such service\n"));
    // -R stops at the first refused line and names it.
    let (st, _, err) = lvsadm(p, &["-R"], Some("-A -t 1.2.3.4:80\n-A -t 1.2.3.4:80\n"));
    assert_eq!(st, 1);
    assert_eq!(err, "line 2: Service already exists\n");
}

#[test]
fn lvs_control_environment_variable_picks_the_socket() {
    let s = serve("env");
    assert_eq!(lvsadm(&s.path, &["-A", "-t", "10.0.0.1:80"], None).0, 0);
    let out = Command::new(env!("CARGO_BIN_EXE_lvsadm"))
        .env("LVS_CONTROL", &s.path)
        .args(["-S", "-n"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "-A -t 10.0.0.1:80 -s wlc\n"
    );
}
