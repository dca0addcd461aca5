//! The virtual-LAN demo (no root): every forwarding method carries real HTTP over smoltcp TCP
//! through the director, and the spread follows the scheduler.

use lvs_examples::demo::{self, ClientReport, Mode, Scenario, SpreadRule, check_spread, vlan};
use lvs_examples::realserver::services::http_response;
use std::process::Command;

/// The `OutPkts` column of the service line of `ipvsadm -Ln --stats` (the third number after
/// the address: Conns, InPkts, OutPkts).
fn service_outpkts(stats: &str) -> u64 {
    let line = stats
        .lines()
        .find(|l| l.starts_with("TCP  192.168.56.200:80"))
        .unwrap_or_else(|| panic!("no service line in\n{stats}"));
    line.split_whitespace().nth(4).unwrap().parse().unwrap()
}

/// Every mode passes: all requests answered with a real server's name, and the director's
/// counters agree with the forwarding method: DR and TUN replies go from the real server
/// straight to the client (OutPkts 0, ip_vs_out never sees them), NAT and FULLNAT replies
/// come back through the director (OutPkts > 0).
#[test]
fn virtual_lan_every_mode_carries_http_and_replies_take_the_methods_path() {
    for sc in Scenario::all(60) {
        let r = vlan::run_scenario(&sc);
        assert!(r.passed(), "{}", r.render());
        assert_eq!(r.client.successes, 60, "{}", r.render());
        let served: u64 = r.client.by_server.values().sum();
        assert_eq!(served, 60);
        let out = service_outpkts(&r.stats);
        match sc.mode {
            Mode::Dr | Mode::Tun => assert_eq!(out, 0, "{}", r.render()),
            Mode::Nat | Mode::FullNat => assert!(out > 0, "{}", r.render()),
        }
    }
}

/// rr gives exactly a third each (ip_vs_rr.c walks the list in order), wrr 3:2:1 gives
/// 30/20/10 of 60 (ip_vs_wrr.c: one full cycle of the weights per 6 connections).
#[test]
fn virtual_lan_rr_even_and_wrr_by_weight_counts() {
    let all = Scenario::all(60);
    let rr = vlan::run_scenario(&all[0]);
    assert_eq!(all[0].scheduler, "rr");
    for n in ["rs1", "rs2", "rs3"] {
        assert_eq!(rr.client.by_server[n], 20, "{}", rr.render());
    }
    let wrr = vlan::run_scenario(&all[1]);
    assert_eq!(all[1].scheduler, "wrr");
    assert_eq!(
        [
            wrr.client.by_server["rs1"],
            wrr.client.by_server["rs2"],
            wrr.client.by_server["rs3"]
        ],
        [30, 20, 10],
        "{}",
        wrr.render()
    );
}

/// The spread judgement fails where it must: an uneven rr split, a client of a source-hashed
/// service answered by two real servers.
#[test]
fn spread_check_rejects_uneven_rr_and_non_sticky_sh() {
    let all = Scenario::all(6);
    let c = "192.168.56.10".parse().unwrap();
    let mut uneven = ClientReport::default();
    for name in ["rs1", "rs1", "rs1", "rs1", "rs2", "rs3"] {
        uneven.success(c, name);
    }
    assert_eq!(all[0].spread, SpreadRule::Even);
    assert!(check_spread(&all[0], &uneven).is_err());
    let mut split = ClientReport::default();
    split.success(c, "rs1");
    split.success(c, "rs2");
    assert_eq!(all[3].spread, SpreadRule::StickyPerClient);
    assert!(check_spread(&all[3], &split).is_err());
    let mut sticky = ClientReport::default();
    sticky.success(c, "rs2");
    sticky.success(c, "rs2");
    assert!(check_spread(&all[3], &sticky).is_ok());
}

/// The client's response parser accepts lvs-realserver's 200 with a body and refuses other
/// statuses.
#[test]
fn http_response_round_trip() {
    assert_eq!(
        demo::parse_response(http_response("rs2", b"GET / HTTP/1.0\r\n\r\n").as_bytes()).as_deref(),
        Some("rs2")
    );
    assert_eq!(
        demo::parse_response(b"HTTP/1.0 503 Busy\r\n\r\nrs1\n"),
        None
    );
    assert_eq!(demo::parse_response(b"HTTP/1.0 200 OK\r\n"), None);
}

/// The binary itself (the README's command, forced onto the virtual LAN) exits 0 and prints
/// the summary with every mode passed.
#[test]
fn lvs_demo_binary_on_the_virtual_lan_exits_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_lvs-demo"))
        .args(["--vlan", "--requests", "30"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("all modes passed: yes"), "{text}");
    for m in ["DR", "NAT", "TUN", "FULLNAT"] {
        assert!(text.contains(&format!("== {m} (")), "{text}");
    }
    assert_eq!(text.matches("result: PASS").count(), 5, "{text}");
}
