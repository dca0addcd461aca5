//! The protocol state machines against the reference text, row by row.

use lvs_conn::proto::{
    SctpEvent, SctpState, TableDir, TcpState, Timeouts, sctp_next_state, tcp_flags, tcp_next_state,
};

/// `tcp_states`, transcribed from shared/reference/ipvs.md section 2 (columns sNO sES sSS
/// sSR sFW sTW sCL sCW sLA sLI sSA).
const REF_TCP_STATES: &str = "
IN   syn SR ES ES SR SR SR SR SR SR SR SR | fin CL CW SS TW TW TW CL CW LA LI TW
     ack ES ES SS ES FW TW CL CW CL LI ES | rst CL CL CL SR CL CL CL CL LA LI SR
OUT  syn SS ES SS SR SS SS SS SS SS LI SR | fin TW FW SS TW FW TW CL TW LA LI TW
     ack ES ES SS ES FW TW CL CW LA ES ES | rst CL CL SS CL CL TW CL CL CL CL CL
INO  syn SR ES ES SR SR SR SR SR SR SR SR | fin CL FW SS TW FW TW CL CW LA LI TW
     ack ES ES SS ES FW TW CL CW CL LI ES | rst CL CL CL SR CL CL CL CL LA LI CL
";

/// Kernel state numbers of the reference's abbreviations (IP_VS_TCP_S_* index order:
/// NONE, ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK,
/// LISTEN, SYNACK).
fn tcp_abbrev(s: &str) -> u8 {
    [
        "NO", "ES", "SS", "SR", "FW", "TW", "CL", "CW", "LA", "LI", "SA",
    ]
    .iter()
    .position(|x| *x == s)
    .unwrap_or_else(|| panic!("bad abbreviation {s}")) as u8
}

fn flag_byte(name: &str) -> u8 {
    match name {
        "syn" => tcp_flags::SYN,
        "fin" => tcp_flags::FIN,
        "ack" => tcp_flags::ACK,
        "rst" => tcp_flags::RST,
        _ => panic!("{name}"),
    }
}

/// Parse the reference block into (dir, flag, [11 next states]).
fn parse_tcp(text: &str) -> Vec<(TableDir, &'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dir = TableDir::Input;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut toks: Vec<&str> = line.split_whitespace().collect();
        match toks[0] {
            "IN" => {
                dir = TableDir::Input;
                toks.remove(0);
            }
            "OUT" => {
                dir = TableDir::Output;
                toks.remove(0);
            }
            "INO" => {
                dir = TableDir::InputOnly;
                toks.remove(0);
            }
            _ => {}
        }
        for half in toks.split(|t| *t == "|") {
            let flag: &'static str = match half[0] {
                "syn" => "syn",
                "fin" => "fin",
                "ack" => "ack",
                "rst" => "rst",
                f => panic!("{f}"),
            };
            let states: Vec<u8> = half[1..].iter().map(|s| tcp_abbrev(s)).collect();
            assert_eq!(states.len(), 11);
            out.push((dir, flag, states));
        }
    }
    out
}

fn all_tcp_states() -> Vec<TcpState> {
    (0..11).map(|n| TcpState::from_u8(n).unwrap()).collect()
}

#[test]
fn tcp_states_match_reference_row_by_row() {
    let rows = parse_tcp(REF_TCP_STATES);
    assert_eq!(rows.len(), 12, "3 directions x 4 flags");
    for (dir, flag, expect) in rows {
        for (cur, want) in all_tcp_states().into_iter().zip(expect) {
            let got = tcp_next_state(false, dir, flag_byte(flag), cur);
            assert_eq!(got as u8, want, "{dir:?} {flag} from {cur:?}");
        }
    }
}

#[test]
fn tcp_states_dos_differs_only_where_reference_says() {
    // "tcp_states_dos (secure_tcp on) differs: IN syn[sSA]=SA, fin[sSA]=SA, ack[sSR]=SR,
    // ack[sSA]=SA, rst[sSA]=CL; OUT syn[sSR]=SA, syn[sSA]=SA; INPUT_ONLY syn = SA ES ES SR
    // SA SA SA SA SA SA SA."
    let mut rows = parse_tcp(REF_TCP_STATES);
    let sa = tcp_abbrev("SA");
    let set = |rows: &mut Vec<(TableDir, &'static str, Vec<u8>)>, d, f: &str, col: &str, v| {
        let r = rows.iter_mut().find(|r| r.0 == d && r.1 == f).unwrap();
        r.2[tcp_abbrev(col) as usize] = v;
    };
    set(&mut rows, TableDir::Input, "syn", "SA", sa);
    set(&mut rows, TableDir::Input, "fin", "SA", sa);
    set(&mut rows, TableDir::Input, "ack", "SR", tcp_abbrev("SR"));
    set(&mut rows, TableDir::Input, "ack", "SA", sa);
    set(&mut rows, TableDir::Input, "rst", "SA", tcp_abbrev("CL"));
    set(&mut rows, TableDir::Output, "syn", "SR", sa);
    set(&mut rows, TableDir::Output, "syn", "SA", sa);
    let ino: Vec<u8> = "SA ES ES SR SA SA SA SA SA SA SA"
        .split(' ')
        .map(tcp_abbrev)
        .collect();
    rows.iter_mut()
        .find(|r| r.0 == TableDir::InputOnly && r.1 == "syn")
        .unwrap()
        .2 = ino;
    for (dir, flag, expect) in rows {
        for (cur, want) in all_tcp_states().into_iter().zip(expect) {
            let got = tcp_next_state(true, dir, flag_byte(flag), cur);
            assert_eq!(got as u8, want, "dos {dir:?} {flag} from {cur:?}");
        }
    }
}

#[test]
fn tcp_flag_priority_rst_syn_fin_ack_and_none_closes() {
    // "flag priority rst > syn > fin > ack (a packet with none of them -> CLOSE)"
    let all = tcp_flags::RST | tcp_flags::SYN | tcp_flags::FIN | tcp_flags::ACK;
    for cur in all_tcp_states() {
        for dir in [TableDir::Input, TableDir::Output, TableDir::InputOnly] {
            assert_eq!(
                tcp_next_state(false, dir, all, cur),
                tcp_next_state(false, dir, tcp_flags::RST, cur)
            );
            assert_eq!(
                tcp_next_state(
                    false,
                    dir,
                    tcp_flags::SYN | tcp_flags::FIN | tcp_flags::ACK,
                    cur
                ),
                tcp_next_state(false, dir, tcp_flags::SYN, cur)
            );
            assert_eq!(
                tcp_next_state(false, dir, tcp_flags::FIN | tcp_flags::ACK, cur),
                tcp_next_state(false, dir, tcp_flags::FIN, cur)
            );
            // PSH (0x08) and URG (0x20) alone: none of the four -> CLOSE.
            assert_eq!(tcp_next_state(false, dir, 0x28, cur), TcpState::Close);
        }
    }
}

#[test]
fn tcp_active_states_are_es_ss_sr_sa() {
    // "active states are ES, SYN_SENT, SYN_RECV, SYNACK"
    let active: Vec<&str> = all_tcp_states()
        .into_iter()
        .filter(|s| s.is_active())
        .map(|s| s.name())
        .collect();
    assert_eq!(active, ["ESTABLISHED", "SYN_SENT", "SYN_RECV", "SYNACK"]);
}

#[test]
fn default_timeouts_match_reference() {
    // "Default timeouts: 2 s, 15 min, 2 min, 60 s, 2 min, 2 min, 10 s, 60 s, 30 s, 2 min,
    // 120 s." / "UDP: one state, timeout 5 min." / SCTP list.
    let t = Timeouts::default();
    assert_eq!(t.tcp, [2, 15 * 60, 120, 60, 120, 120, 10, 60, 30, 120, 120]);
    assert_eq!(t.udp, 5 * 60);
    assert_eq!(
        t.sctp,
        [2, 4, 61, 61, 61, 61, 61, 61, 15 * 60, 61, 61, 61, 4, 61]
    );
}

#[test]
fn ipvsadm_set_changes_established_finwait_udp_and_zero_keeps() {
    let mut t = Timeouts::default();
    t.set_ipvsadm(3600, 0, 10).unwrap();
    assert_eq!(t.ipvsadm_triple(), (3600, 120, 10));
    t.set_ipvsadm(0, 30, 0).unwrap();
    assert_eq!(t.ipvsadm_triple(), (3600, 30, 10));
    assert!(t.set_ipvsadm(u32::MAX, 0, 0).is_err());
    assert_eq!(t.ipvsadm_triple(), (3600, 30, 10));
}

/// `sctp_states` transcribed from net/netfilter/ipvs/ip_vs_proto_sctp.c (the reference
/// lists the states and events; the table is the kernel's).
const REF_SCTP: &str = "
INPUT
d   ES I1 IN CS CR CW CO CE ES SS SR SA RJ CL
i   I1 IN IN CS CR CW CO CE ES SS SR SA IN IN
i_a CW CW CW CS CR CO CO CE ES SS SR SA RJ CL
c_e CR IN IN CR CR CW CO CE ES SS SR SA RJ CL
c_a ES I1 IN CS CR CW CO ES ES SS SR SA RJ CL
s   SR I1 IN CS CR CW CO CE SR SS SR SA RJ CL
s_a CL IN IN CS CR CW CO CE ES CL SR CL RJ CL
s_c CL CL CL CS CR CW CO CE ES SS SR CL RJ CL
err CL I1 IN CS CR CW CO CL ES SS SR SA RJ CL
ab  CL CL CL CL CL RJ CL CL CL CL CL CL CL CL
OUTPUT
d   ES I1 IN CS CR CW CO CE ES SS SR SA RJ CL
i   CW CW CW CW CW CW CW CW ES CW CW CW CW CW
i_a CS CS CS CS CR CW CO CE ES SS SR SA RJ CL
c_e CE CE CE CE CE CE CE CE ES SS SR SA RJ CL
c_a ES ES ES ES ES ES ES ES ES SS SR SA RJ CL
s   SS SS SS SS SS SS SS SS SS SS SR SA RJ CL
s_a SA SA SA SA SA CW CO CE ES SA SA SA RJ CL
s_c CL I1 IN CS CR CW CO CE ES SS SR SA RJ CL
err CL CL CL CL CL CW CO CE ES SS SR SA RJ CL
ab  CL RJ CL CL CL CL CL CL CL CL CL CL CL CL
INPUT_ONLY
d   ES I1 IN CS CR ES CO CE ES SS SR SA RJ CL
i   I1 IN IN IN IN IN CO CE ES SS SR SA IN IN
i_a CE CE CE CE CE CE CO CE ES SS SR SA RJ CL
c_e ES ES ES ES ES ES CO CE ES SS SR SA RJ CL
c_a ES I1 IN ES ES CW ES ES ES SS SR SA RJ CL
s   SR I1 IN CS CR CW CO CE SR SS SR SA RJ CL
s_a CL IN IN CS CR CW CO CE CL CL SR CL RJ CL
s_c CL CL CL CL CL CW CO CE ES SS CL CL RJ CL
err CL I1 IN CS CR CW CO CE ES SS SR SA RJ CL
ab  CL CL CL CL CL RJ CL CL CL CL CL CL CL CL
";

#[test]
fn sctp_states_match_kernel_table_row_by_row() {
    let abbrev = [
        "NO", "I1", "IN", "CS", "CR", "CW", "CO", "CE", "ES", "SS", "SR", "SA", "RJ", "CL",
    ];
    // Chunk type (RFC 9260 section 3.2) producing each event row.
    let events = [
        ("d", 0u8),
        ("i", 1),
        ("i_a", 2),
        ("c_e", 10),
        ("c_a", 11),
        ("s", 7),
        ("s_a", 8),
        ("s_c", 14),
        ("err", 9),
        ("ab", 6),
    ];
    let mut dir = TableDir::Input;
    let mut rows = 0;
    for line in REF_SCTP.lines().filter(|l| !l.trim().is_empty()) {
        match line.trim() {
            "INPUT" => dir = TableDir::Input,
            "OUTPUT" => dir = TableDir::Output,
            "INPUT_ONLY" => dir = TableDir::InputOnly,
            _ => {
                let toks: Vec<&str> = line.split_whitespace().collect();
                let chunk = events.iter().find(|e| e.0 == toks[0]).unwrap().1;
                let ev = SctpEvent::from_chunks(chunk, None);
                for (n, want) in toks[1..].iter().enumerate() {
                    let cur = SctpState::from_u8(n as u8).unwrap();
                    let want = abbrev.iter().position(|a| a == want).unwrap() as u8;
                    assert_eq!(
                        sctp_next_state(dir, ev, cur) as u8,
                        want,
                        "{dir:?} {} from {cur:?}",
                        toks[0]
                    );
                }
                rows += 1;
            }
        }
    }
    assert_eq!(rows, 30);
}

#[test]
fn sctp_chunk_mapping_and_abort_after_cookie() {
    // sctp_events[]: SACK (3), HEARTBEAT (4, 5), ECNE (12), CWR (13) are DATA; types past
    // 14 are DATA; COOKIE ECHO / COOKIE ACK followed by ABORT count as ABORT.
    for t in [0u8, 3, 4, 5, 12, 13, 15, 200, 255] {
        assert_eq!(SctpEvent::from_chunks(t, None), SctpEvent::Data);
    }
    assert_eq!(SctpEvent::from_chunks(10, Some(6)), SctpEvent::Abort);
    assert_eq!(SctpEvent::from_chunks(11, Some(6)), SctpEvent::Abort);
    assert_eq!(SctpEvent::from_chunks(1, Some(6)), SctpEvent::Init);
    assert_eq!(SctpEvent::from_chunks(10, Some(0)), SctpEvent::CookieEcho);
}
