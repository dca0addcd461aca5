//! `lvs-demo`: the README's first command. Runs DR, NAT, TUN and FULLNAT in turn with real
//! HTTP requests through the director: in Linux network namespaces when run as root, on an
//! in-process virtual LAN otherwise. Exit status 0 only if every mode passed.
//!
//! Options: `--vlan` forces the virtual LAN, `--netns` forces namespaces (root), `--requests N`
//! sets the requests per mode (default 200). Hidden subcommands used inside namespaces:
//! `__http-server --name NAME --port PORT`, `__http-client --target IP:PORT --from IP
//! --requests N --concurrency C`.

use std::process::ExitCode;

fn main() -> ExitCode {
    lvs_examples::demo::main(std::env::args().skip(1).collect())
}
