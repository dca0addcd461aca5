//! The layering rule of ARCHITECTURE.md, checked against `cargo metadata`.
//!
//! - lvs-sched, lvs-conn, lvs-fwd, lvs-arp and lvs-vrrp must not depend on one another (any
//!   dependency kind);
//! - no workspace crate but lvs-examples may depend, directly or through its normal and build
//!   dependencies, on a crate that does I/O (sockets, TAP devices, pcap files, signals, async
//!   runtimes, raw syscalls), nor enable smoltcp's `phy-*` device features.
//!
//! The checker is exercised twice: on the real workspace (must be clean) and on synthetic
//! metadata that breaks each rule (must report it), so the test is known to be able to fail.

use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::process::Command;

/// The sans-IO lower crates that must not depend on one another.
const LOWER: [&str; 5] = ["lvs-sched", "lvs-conn", "lvs-fwd", "lvs-arp", "lvs-vrrp"];

/// The only workspace package allowed to do I/O.
const IO_ALLOWED: &str = "lvs-examples";

/// Crates that do I/O (or exist to do it). A non-examples crate may not reach any of them
/// through normal or build dependencies.
const IO_CRATES: [&str; 22] = [
    "tokio",
    "mio",
    "async-std",
    "async-io",
    "smol",
    "socket2",
    "nix",
    "libc",
    "rustix",
    "pcap-file",
    "pcap",
    "tun-tap",
    "tun",
    "tokio-tun",
    "ctrlc",
    "signal-hook",
    "signal-hook-registry",
    "tracing-subscriber",
    "tracing-appender",
    "reqwest",
    "hyper",
    "ureq",
];

/// Crates that pull an I/O crate in for reasons unrelated to I/O (libc for parking_lot's futex
/// and getrandom; rustix for tempfile in dev-only tools). Their subtree is not searched.
const IO_TRANSITIVE_OK: [&str; 4] = ["parking_lot_core", "getrandom", "num_cpus", "errno"];

fn name_of(id: &str, pkgs: &HashMap<String, String>) -> String {
    pkgs.get(id).cloned().unwrap_or_else(|| id.to_string())
}

/// Every violation of the layering rules in a `cargo metadata --format-version 1` document.
fn violations(meta: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let members: BTreeSet<String> = meta["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let mut names = HashMap::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        if let (Some(id), Some(name)) = (p["id"].as_str(), p["name"].as_str()) {
            names.insert(id.to_string(), name.to_string());
        }
    }

    // Rule 1 and the smoltcp feature rule, on declared dependencies.
    for p in meta["packages"].as_array().into_iter().flatten() {
        let Some(id) = p["id"].as_str() else { continue };
        if !members.contains(id) {
            continue;
        }
        let pname = p["name"].as_str().unwrap_or("");
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dname = d["name"].as_str().unwrap_or("");
            let kind = d["kind"].as_str().unwrap_or("normal");
            if LOWER.contains(&pname) && LOWER.contains(&dname) && pname != dname {
                out.push(format!("{pname} depends on {dname} ({kind}): lower crates must not depend on one another"));
            }
            if pname != IO_ALLOWED && dname == "smoltcp" {
                for f in d["features"].as_array().into_iter().flatten() {
                    if f.as_str().is_some_and(|f| f.starts_with("phy-")) {
                        out.push(format!("{pname} enables smoltcp feature {f} ({kind}): only {IO_ALLOWED} may touch devices"));
                    }
                }
            }
        }
    }

    // Rule 2 on the resolved graph: normal and build edges only.
    let mut edges: HashMap<String, Vec<String>> = HashMap::new();
    for n in meta["resolve"]["nodes"].as_array().into_iter().flatten() {
        let Some(id) = n["id"].as_str() else { continue };
        let mut next = Vec::new();
        for d in n["deps"].as_array().into_iter().flatten() {
            let runtime = d["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| matches!(k["kind"].as_str(), None | Some("build")));
            if runtime && let Some(pkg) = d["pkg"].as_str() {
                next.push(pkg.to_string());
            }
        }
        edges.insert(id.to_string(), next);
    }
    for m in &members {
        let mname = name_of(m, &names);
        if mname == IO_ALLOWED {
            continue;
        }
        let mut seen = BTreeSet::new();
        let mut stack = vec![(m.clone(), vec![mname.clone()])];
        while let Some((id, path)) = stack.pop() {
            for next in edges.get(&id).into_iter().flatten() {
                let nname = name_of(next, &names);
                if !seen.insert(next.clone()) || IO_TRANSITIVE_OK.contains(&nname.as_str()) {
                    continue;
                }
                let mut p = path.clone();
                p.push(nname.clone());
                if nname == IO_ALLOWED || IO_CRATES.contains(&nname.as_str()) {
                    out.push(format!(
                        "{mname} reaches I/O crate {nname} via {}",
                        p.join(" -> ")
                    ));
                } else {
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    out
}

fn workspace_metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--manifest-path",
            manifest,
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn the_workspace_respects_the_layering() {
    let meta = workspace_metadata();
    let members = meta["workspace_members"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    assert_eq!(
        members, 8,
        "the workspace has exactly the eight designed members"
    );
    let v = violations(&meta);
    assert!(v.is_empty(), "layering violations:\n{}", v.join("\n"));
}

/// Synthetic metadata: `from` depends on `to` with the given kind and features.
fn synthetic(from: &str, to: &str, kind: Option<&str>, features: &[&str]) -> Value {
    let id = |n: &str| format!("path+file:///ws/{n}#0.1.0");
    json!({
        "workspace_members": [id(from), id("lvs-examples")],
        "packages": [
            {"id": id(from), "name": from, "dependencies": [
                {"name": to, "kind": kind, "features": features}
            ]},
            {"id": id(to), "name": to, "dependencies": []},
            {"id": id("lvs-examples"), "name": "lvs-examples", "dependencies": [
                {"name": "tokio", "kind": null, "features": []}
            ]},
        ],
        "resolve": {"nodes": [
            {"id": id(from), "deps": [{"pkg": id(to), "dep_kinds": [{"kind": kind}]}]},
            {"id": id(to), "deps": []},
            {"id": id("lvs-examples"), "deps": [{"pkg": id("tokio"), "dep_kinds": [{"kind": null}]}]},
        ]}
    })
}

#[test]
fn a_lower_crate_depending_on_another_is_reported() {
    let v = violations(&synthetic("lvs-sched", "lvs-conn", None, &[]));
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("lvs-sched depends on lvs-conn"));
    // Dev-dependencies between lower crates are forbidden too.
    assert_eq!(
        violations(&synthetic("lvs-arp", "lvs-vrrp", Some("dev"), &[])).len(),
        1
    );
}

#[test]
fn a_library_reaching_an_io_crate_is_reported() {
    let v = violations(&synthetic("lvs-core", "tokio", None, &[]));
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("lvs-core reaches I/O crate tokio"));
    // The same crate as a dev-dependency is not a runtime dependency.
    assert!(violations(&synthetic("lvs-core", "tokio", Some("dev"), &[])).is_empty());
    // Depending on the examples package is depending on I/O.
    assert_eq!(
        violations(&synthetic("lvs-benches", "lvs-examples", None, &[])).len(),
        1
    );
}

#[test]
fn smoltcp_devices_outside_examples_are_reported() {
    let v = violations(&synthetic(
        "lvs-fwd",
        "smoltcp",
        Some("dev"),
        &["phy-tuntap_interface"],
    ));
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        violations(&synthetic(
            "lvs-fwd",
            "smoltcp",
            Some("dev"),
            &["proto-ipv4"]
        ))
        .is_empty()
    );
}
