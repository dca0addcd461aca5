//! Arbitrary bytes into the IPVS sync message decoder (versions 0 and 1, auto-detected as the
//! kernel does): it must never panic, and every connection that decodes must re-encode in the
//! same version and decode again to the same `SyncConn` values. The first input byte also
//! drives the master's send rule with arbitrary values (must never panic).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_conn::sync::{
    SYNC_MESG_MAX_LEN, SyncCandidate, SyncConfig, SyncMessage, SyncMessageWriter, SyncVersion,
    chain_step,
};

fn round_trip(msg: &[u8]) {
    let Ok(m) = SyncMessage::parse(msg) else {
        return;
    };
    let decoded: Vec<_> = m.conns().filter_map(Result::ok).collect();
    let mut out = vec![0u8; SYNC_MESG_MAX_LEN];
    let mut w = SyncMessageWriter::new(m.version(), &mut out, m.syncid()).expect("header fits");
    assert_eq!(w.push_many(&decoded), decoded.len(), "decoded conns re-encode");
    let again = w.finish();
    let back = SyncMessage::parse(again).expect("our own message parses");
    assert_eq!(back.version(), m.version());
    let back: Vec<_> = back.conns().collect::<Result<_, _>>().expect("re-decodes");
    assert_eq!(back, decoded);
}

fuzz_target!(|data: &[u8]| {
    // As received.
    round_trip(data);
    // With the size field forced to agree, so that connection parsing is reached.
    if data.len() >= 4 && data.len() <= SYNC_MESG_MAX_LEN {
        let mut m = data.to_vec();
        m[2..4].copy_from_slice(&(data.len() as u16).to_be_bytes());
        round_trip(&m);
    }
    // The send rule on arbitrary values.
    if let Some(words) = data.get(..40) {
        let u = |i: usize| u32::from_le_bytes(words[i * 4..i * 4 + 4].try_into().unwrap());
        let cfg = SyncConfig {
            sync_threshold: u(0),
            sync_period: u(1),
            sync_refresh_period_ms: u64::from(u(2)),
            sync_retries: words[12] & 3,
            sync_persist_mode: words[13] & 1 != 0,
            sync_version: if words[13] & 2 != 0 { SyncVersion::V0 } else { SyncVersion::V1 },
        };
        let c = SyncCandidate {
            protocol: words[14],
            state: u(4) as u16,
            old_state: (u(4) >> 16) as u16,
            flags: u(5),
            in_persistence: words[15] & 1 != 0,
            timeout_ms: u64::from(u(6)) << 8,
            sync_endtime: u64::from(u(7)) << 12,
        };
        let _ = chain_step(&cfg, &c, words[15] & 2 != 0, u(8), u64::from(u(9)) << 10);
    }
});
