//! `lvsadm`: the ipvsadm 1.31 command line against a running `lvs-director`.
//!
//! ```text
//! lvsadm [--control PATH] -A -t 10.0.0.100:80 -s rr
//! lvsadm -a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1
//! lvsadm -Ln --stats
//! lvsadm -R < rules.txt
//! ```
//!
//! The words are parsed here first with lvs-core's ipvsadm parser, so a bad command line fails
//! at once with ipvsadm's message and exit status 2, without a director; then they are sent to
//! the director's control socket (`--control PATH`, else `$LVS_CONTROL`, else
//! `$XDG_RUNTIME_DIR/lvs-director.sock`, else `/run/lvs-director.sock`), which executes them and
//! returns ipvsadm's output and exit status. `-h` and `-v` are answered locally.

use std::io::{Read, Write};
use std::path::PathBuf;

use lvs_core::ipvsadm::{Command, parse_args};
use lvs_examples::control::{self, EXIT_PARSE, Request};

fn main() {
    let mut words: Vec<String> = std::env::args().skip(1).collect();
    let mut path: Option<PathBuf> = None;
    // `--control PATH` / `--control=PATH` anywhere on the line is ours, not ipvsadm's.
    let mut i = 0;
    while i < words.len() {
        if words[i] == "--control" && i + 1 < words.len() {
            path = Some(PathBuf::from(words.remove(i + 1)));
            words.remove(i);
        } else if let Some(p) = words[i].strip_prefix("--control=") {
            path = Some(PathBuf::from(p));
            words.remove(i);
        } else {
            i += 1;
        }
    }
    let drops = words.len() == 1 && words[0] == control::DROPS_ARG;
    let cmd = match parse_args(&words) {
        _ if drops => Command::List(Default::default()),
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(EXIT_PARSE);
        }
    };
    let stdin = match cmd {
        Command::Help => {
            println!("Usage: lvsadm [--control PATH] <ipvsadm 1.31 command line>");
            println!("See ipvsadm(8); the FULLNAT extension adds --fullnat and --laddr IP.");
            return;
        }
        Command::Version => {
            println!("ipvsadm v1.31 2019/12/24 (compiled with lvs-rs, control socket)");
            return;
        }
        Command::Restore => {
            let mut s = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut s) {
                eprintln!("lvsadm: reading stdin: {e}");
                std::process::exit(1);
            }
            Some(s)
        }
        _ => None,
    };
    let path = path.unwrap_or_else(control::default_path);
    let resp = match control::call(&path, &Request { args: words, stdin }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lvsadm: control socket {}: {e}", path.display());
            eprintln!("Can't initialize ipvs: is lvs-director running?");
            std::process::exit(1);
        }
    };
    let _ = std::io::stdout().write_all(resp.stdout.as_bytes());
    let _ = std::io::stderr().write_all(resp.stderr.as_bytes());
    std::process::exit(resp.status);
}
