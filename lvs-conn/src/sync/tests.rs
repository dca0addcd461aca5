//! Tests of the sync codec and policy against byte layouts written out by hand from the kernel
//! structs (net/netfilter/ipvs/ip_vs_sync.c) and against the kernel's decision rules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

const TCP: u8 = 6;
const UDP: u8 = 17;
const SCTP: u8 = 132;

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

fn decode_all(buf: &[u8]) -> Vec<Result<SyncConn<'_>, SyncError>> {
    SyncMessage::parse(buf).unwrap().conns().collect()
}

fn ok_conns(buf: &[u8]) -> Vec<SyncConn<'_>> {
    decode_all(buf).into_iter().map(|r| r.unwrap()).collect()
}

// ---------------------------------------------------------------------------------------------
// Golden layouts, version 0.

fn v0_conn_a() -> SyncConn<'static> {
    SyncConn {
        protocol: TCP,
        caddr: v4([10, 0, 0, 2]),
        cport: 50000,
        vaddr: v4([192, 168, 1, 100]),
        vport: 80,
        daddr: v4([10, 1, 1, 11]),
        dport: 80,
        // DR, plus HASHED (masked by the sender) and NFCT (bit 16: does not fit in be16).
        flags: IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_HASHED | IP_VS_CONN_F_NFCT,
        state: 1,
        fwmark: 0,
        timeout: 0,
        seq: None,
        pe_data: None,
        pe_name: None,
    }
}

fn seq_sample() -> SeqOptions {
    SeqOptions {
        in_seq: SeqInfo {
            init_seq: 0x0102_0304,
            delta: 0x10,
            previous_delta: 0x08,
        },
        out_seq: SeqInfo {
            init_seq: 0xA0B0_C0D0,
            delta: 0xFFFF_FFF0,
            previous_delta: 0xFFFF_FFF8,
        },
    }
}

fn v0_conn_b() -> SyncConn<'static> {
    SyncConn {
        protocol: TCP,
        caddr: v4([10, 0, 0, 3]),
        cport: 0x1234,
        vaddr: v4([192, 168, 1, 100]),
        vport: 21,
        daddr: v4([10, 1, 1, 12]),
        dport: 21,
        flags: IP_VS_CONN_F_MASQ | IP_VS_CONN_F_SEQ_MASK,
        state: 1,
        fwmark: 0,
        timeout: 0,
        seq: Some(seq_sample()),
        pe_data: None,
        pe_name: None,
    }
}

/// Two connections in a version 0 message, written field by field from
/// `struct ip_vs_sync_mesg_v0`, `struct ip_vs_sync_conn_v0` and
/// `struct ip_vs_sync_conn_options`.
#[rustfmt::skip]
fn v0_golden() -> Vec<u8> {
    vec![
        // struct ip_vs_sync_mesg_v0
        2,              // nr_conns
        5,              // syncid
        0x00, 0x4c,     // size = 4 + 24 + 48 = 76, be16
        // struct ip_vs_sync_conn_v0 #0
        0,              // reserved
        6,              // protocol TCP
        0xc3, 0x50,     // cport 50000
        0x00, 0x50,     // vport 80
        0x00, 0x50,     // dport 80
        10, 0, 0, 2,    // caddr
        192, 168, 1, 100, // vaddr
        10, 1, 1, 11,   // daddr
        0x00, 0x03,     // flags: htons(flags & ~HASHED) = DROUTE (NFCT cut off)
        0x00, 0x01,     // state ESTABLISHED
        // struct ip_vs_sync_conn_v0 #1
        0,
        6,
        0x12, 0x34,     // cport
        0x00, 0x15,     // vport 21
        0x00, 0x15,     // dport 21
        10, 0, 0, 3,
        192, 168, 1, 100,
        10, 1, 1, 12,
        0x06, 0x00,     // flags MASQ | IN_SEQ | OUT_SEQ: options follow
        0x00, 0x01,
        // struct ip_vs_sync_conn_options: memcpy of in_seq/out_seq, host (little-endian) order
        0x04, 0x03, 0x02, 0x01, // in_seq.init_seq 0x01020304
        0x10, 0, 0, 0,          // in_seq.delta 16
        0x08, 0, 0, 0,          // in_seq.previous_delta 8
        0xd0, 0xc0, 0xb0, 0xa0, // out_seq.init_seq 0xa0b0c0d0
        0xf0, 0xff, 0xff, 0xff, // out_seq.delta -16
        0xf8, 0xff, 0xff, 0xff, // out_seq.previous_delta -8
    ]
}

#[test]
fn v0_encoding_matches_kernel_struct_layout_byte_for_byte() {
    let mut buf = [0u8; SYNC_MAXLEN_IPV4];
    let mut w = SyncMessageWriter::new(SyncVersion::V0, &mut buf, 5).unwrap();
    w.push(&v0_conn_a()).unwrap();
    w.push(&v0_conn_b()).unwrap();
    assert_eq!(w.conn_count(), 2);
    assert_eq!(w.finish(), &v0_golden()[..]);
}

#[test]
fn v0_kernel_message_decodes_to_expected_fields() {
    let golden = v0_golden();
    let m = SyncMessage::parse(&golden).unwrap();
    assert_eq!(m.version(), SyncVersion::V0);
    assert_eq!(m.syncid(), 5);
    assert_eq!(m.nr_conns(), 2);
    let conns = ok_conns(&golden);
    let mut a = v0_conn_a();
    a.flags = IP_VS_CONN_F_DROUTE; // what the wire holds
    assert_eq!(conns, vec![a, v0_conn_b()]);
    // ip_vs_process_message_v0: flags = ntohs(flags) | SYNC, & ~HASHED.
    assert_eq!(
        conns[0].import_flags(SyncVersion::V0),
        IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_SYNC
    );
}

#[test]
fn v0_receiver_clears_hashed_and_keeps_other_low_bits() {
    let mut msg = v0_golden();
    // flags of conn #0 := HASHED | ONE_PACKET | DROUTE on the wire (0x2043).
    msg[24] = 0x20;
    msg[25] = 0x43;
    let c = ok_conns(&msg)[0];
    assert_eq!(c.flags, IP_VS_CONN_F_ONE_PACKET | IP_VS_CONN_F_DROUTE);
    assert_eq!(
        c.import_flags(SyncVersion::V0),
        IP_VS_CONN_F_ONE_PACKET | IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_SYNC
    );
}

// ---------------------------------------------------------------------------------------------
// Golden layouts, version 1.

const PE_DATA: &[u8] = &[0xaa, 0xbb, 0xcc, 0xdd, 0xee];

fn v1_conn_a() -> SyncConn<'static> {
    SyncConn {
        dport: 8080,
        flags: IP_VS_CONN_F_DROUTE,
        timeout: 900,
        ..v0_conn_a()
    }
}

fn v1_conn_b() -> SyncConn<'static> {
    SyncConn {
        protocol: UDP,
        caddr: v6("2001:db8::2"),
        cport: 5060,
        vaddr: v6("2001:db8::100"),
        vport: 5060,
        daddr: v6("2001:db8:1::11"),
        dport: 5060,
        flags: IP_VS_CONN_F_MASQ | IP_VS_CONN_F_SEQ_MASK,
        state: 0,
        fwmark: 16,
        timeout: 300,
        seq: Some(seq_sample()),
        pe_data: Some(PE_DATA),
        pe_name: Some(b"sip"),
    }
}

fn v1_conn_c() -> SyncConn<'static> {
    SyncConn {
        cport: 0,
        flags: IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_DROUTE,
        state: 0,
        timeout: 360,
        ..v1_conn_a()
    }
}

/// Three connections in a version 1 message, written field by field from
/// `struct ip_vs_sync_mesg`, `struct ip_vs_sync_v4`, `struct ip_vs_sync_v6`, the option format
/// and the 32-bit alignment rule of `ip_vs_sync_conn()`.
#[rustfmt::skip]
fn v1_golden() -> Vec<u8> {
    vec![
        // struct ip_vs_sync_mesg
        0,              // reserved (old nr_conns) = 0
        7,              // syncid
        0x00, 0xc0,     // size = 192, be16
        3,              // nr_conns
        1,              // version = SYNC_PROTO_VER
        0, 0,           // spare
        // #0 struct ip_vs_sync_v4 at offset 8
        0,              // type: IPv4
        6,              // protocol TCP
        0x00, 0x24,     // ver_size: version 0 | size 36
        0, 0, 0, 0x03,  // flags DROUTE, be32
        0x00, 0x01,     // state ESTABLISHED
        0xc3, 0x50,     // cport 50000
        0x00, 0x50,     // vport 80
        0x1f, 0x90,     // dport 8080
        0, 0, 0, 0,     // fwmark
        0, 0, 0x03, 0x84, // timeout 900 s
        10, 0, 0, 2,    // caddr
        192, 168, 1, 100, // vaddr
        10, 1, 1, 11,   // daddr
        // #1 struct ip_vs_sync_v6 at offset 44 (aligned, no pad)
        1,              // type: STYPE_F_INET6
        17,             // protocol UDP
        0x00, 0x6e,     // ver_size: size 110 = 72 + (2+24) + (2+5) + (2+3)
        0, 0, 0x06, 0x00, // flags MASQ | SEQ_MASK
        0x00, 0x00,     // state NORMAL
        0x13, 0xc4,     // cport 5060
        0x13, 0xc4,     // vport
        0x13, 0xc4,     // dport
        0, 0, 0, 0x10,  // fwmark 16
        0, 0, 0x01, 0x2c, // timeout 300 s
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, // caddr 2001:db8::2
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // vaddr 2001:db8::100
        0x20, 0x01, 0x0d, 0xb8, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11, // daddr 2001:db8:1::11
        1, 24,          // IPVS_OPT_SEQ_DATA, sizeof(struct ip_vs_sync_conn_options)
        0x01, 0x02, 0x03, 0x04, // in_seq.init_seq, hton_seq: big-endian
        0, 0, 0, 0x10,
        0, 0, 0, 0x08,
        0xa0, 0xb0, 0xc0, 0xd0, // out_seq
        0xff, 0xff, 0xff, 0xf0,
        0xff, 0xff, 0xff, 0xf8,
        2, 5,           // IPVS_OPT_PE_DATA, pe_data_len
        0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        3, 3,           // IPVS_OPT_PE_NAME, strnlen(pe->name)
        b's', b'i', b'p',
        // ends at 154: pad = (4 - 154) & 3 = 2 zero bytes before the next connection
        0, 0,
        // #2 struct ip_vs_sync_v4 at offset 156: a template
        0,
        6,
        0x00, 0x24,
        0, 0, 0x10, 0x03, // flags TEMPLATE | DROUTE
        0x00, 0x00,     // state IP_VS_CTPL_S_NONE
        0x00, 0x00,     // cport 0
        0x00, 0x50,
        0x1f, 0x90,
        0, 0, 0, 0,
        0, 0, 0x01, 0x68, // timeout 360 s
        10, 0, 0, 2,
        192, 168, 1, 100,
        10, 1, 1, 11,
        // 192 bytes; the last connection is not padded
    ]
}

#[test]
fn v1_encoding_matches_kernel_struct_layout_byte_for_byte() {
    let mut buf = [0u8; SYNC_MAXLEN_IPV4];
    let mut w = SyncMessageWriter::new(SyncVersion::V1, &mut buf, 7).unwrap();
    let mut a = v1_conn_a();
    a.flags |= IP_VS_CONN_F_HASHED; // the sender masks it off
    w.push(&a).unwrap();
    w.push(&v1_conn_b()).unwrap();
    w.push(&v1_conn_c()).unwrap();
    assert_eq!(w.message_len(), 192);
    assert_eq!(w.finish(), &v1_golden()[..]);
}

#[test]
fn v1_kernel_message_decodes_to_expected_fields() {
    let golden = v1_golden();
    let m = SyncMessage::parse(&golden).unwrap();
    assert_eq!(m.version(), SyncVersion::V1);
    assert_eq!((m.syncid(), m.nr_conns()), (7, 3));
    let conns = ok_conns(&golden);
    assert_eq!(conns, vec![v1_conn_a(), v1_conn_b(), v1_conn_c()]);
    // ip_vs_proc_sync_conn: flags & IP_VS_CONN_F_BACKUP_MASK | IP_VS_CONN_F_SYNC.
    assert_eq!(
        conns[2].import_flags(SyncVersion::V1),
        IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_SYNC
    );
    assert!(conns[2].is_template());
}

#[test]
fn v1_backup_masks_flags_outside_backup_mask() {
    let mut msg = v1_golden();
    // conn #0 flags := NFCT | ONE_PACKET | SYNC | HASHED | INACTIVE | DROUTE
    msg[12..16].copy_from_slice(&0x0001_2163u32.to_be_bytes());
    let c = ok_conns(&msg)[0];
    assert_eq!(c.flags, 0x0001_2123, "HASHED dropped, the rest as sent");
    assert_eq!(
        c.import_flags(SyncVersion::V1),
        IP_VS_CONN_F_INACTIVE | IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_SYNC
    );
}

#[test]
fn v1_option_with_param_bit_is_read_as_its_base_type() {
    // switch (ptype & ~IPVS_OPT_F_PARAM): 0x41 is sequence data.
    let mut msg = v1_golden();
    msg[44 + 72] = 0x41;
    assert_eq!(ok_conns(&msg)[1].seq, Some(seq_sample()));
}

// ---------------------------------------------------------------------------------------------
// Header checks of ip_vs_process_message().

#[test]
fn header_too_short_and_size_mismatch_are_refused() {
    for len in 0..4 {
        assert_eq!(
            SyncMessage::parse(&v1_golden()[..len]),
            Err(SyncError::HeaderTooShort { len })
        );
    }
    let mut msg = v1_golden();
    msg.push(0);
    assert_eq!(
        SyncMessage::parse(&msg),
        Err(SyncError::SizeMismatch {
            header: 192,
            actual: 193
        })
    );
}

#[test]
fn version_1_needs_reserved_zero_version_one_and_spare_zero() {
    let golden = v1_golden();
    for (byte, value) in [(0, 1u8), (5, 2), (6, 1), (7, 1)] {
        let mut m = golden.clone();
        m[byte] = value;
        assert_eq!(
            SyncMessage::parse(&m).unwrap().version(),
            SyncVersion::V0,
            "byte {byte} = {value}"
        );
    }
}

#[test]
fn backup_syncid_filter_follows_kernel() {
    let golden = v1_golden(); // syncid 7
    assert!(SyncMessage::parse_as_backup(&golden, 0).is_ok());
    assert!(SyncMessage::parse_as_backup(&golden, 7).is_ok());
    assert_eq!(
        SyncMessage::parse_as_backup(&golden, 8),
        Err(SyncError::SyncIdMismatch { got: 7, want: 8 })
    );
}

// ---------------------------------------------------------------------------------------------
// Truncation and bogus counts.

fn with_size(msg: &[u8], len: usize) -> Vec<u8> {
    let mut m = msg[..len].to_vec();
    m[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    m
}

#[test]
fn truncation_at_every_length_is_a_typed_error() {
    for (golden, version) in [
        (v0_golden(), SyncVersion::V0),
        (v1_golden(), SyncVersion::V1),
    ] {
        let full = ok_conns(&golden);
        for len in 0..golden.len() {
            // As received: the header's size no longer matches.
            let err = SyncMessage::parse(&golden[..len]).unwrap_err();
            assert!(matches!(
                err,
                SyncError::HeaderTooShort { .. } | SyncError::SizeMismatch { .. }
            ));
            assert!(err.ends_message());
            if len < 4 {
                continue;
            }
            // With a size field that agrees: the counted connections do not fit.
            let m = with_size(&golden, len);
            let parsed = SyncMessage::parse(&m).unwrap();
            let items: Vec<_> = parsed.conns().collect();
            let oks: Vec<_> = items.iter().filter_map(|r| r.ok()).collect();
            assert!(oks.len() < full.len(), "len {len}");
            assert_eq!(
                oks[..],
                full[..oks.len()],
                "len {len}: prefix decodes unchanged"
            );
            if parsed.version() == version {
                let last = items.last().unwrap();
                assert!(
                    matches!(last, Err(e) if e.ends_message()),
                    "len {len}: {last:?}"
                );
            } else {
                // A v1 message cut to 4..=7 bytes reads as v0 with reserved (= count) 0.
                assert!(version == SyncVersion::V1 && len < 8 && items.is_empty());
            }
        }
    }
}

#[test]
fn truncation_points_give_the_kernel_error_of_that_point() {
    let v1 = v1_golden();
    let errs = |len| -> Vec<SyncError> {
        let m = with_size(&v1, len);
        decode_all(&m).into_iter().filter_map(|r| r.err()).collect()
    };
    // Inside conn #0: fewer than 36 bytes ("too small").
    assert_eq!(errs(8 + 35), vec![SyncError::V1ConnTruncated { index: 0 }]);
    // 36 bytes of conn #1 present but its size (110) runs past the end ("msg > buffer").
    assert_eq!(
        errs(44 + 100),
        vec![SyncError::V1ConnBeyondMessage {
            index: 1,
            size: 110
        }]
    );
    // End of conn #1 without its padding: conn #2 has no room.
    assert_eq!(errs(154), vec![SyncError::V1ConnTruncated { index: 2 }]);
    let v0 = v0_golden();
    let m = with_size(&v0, 4 + 24 + 30);
    assert_eq!(
        decode_all(&m)
            .into_iter()
            .filter_map(|r| r.err())
            .collect::<Vec<_>>(),
        vec![SyncError::V0OptionsTruncated { index: 1 }]
    );
    let m = with_size(&v0, 4 + 20);
    assert_eq!(
        decode_all(&m),
        vec![Err(SyncError::V0ConnTruncated { index: 0 })]
    );
}

#[test]
fn bogus_counts_stop_at_the_first_missing_connection() {
    let mut v1 = v1_golden();
    v1[4] = 255;
    let items = decode_all(&v1);
    assert_eq!(items.len(), 4);
    assert!(items[..3].iter().all(|r| r.is_ok()));
    assert_eq!(items[3], Err(SyncError::V1ConnTruncated { index: 3 }));
    v1[4] = 1; // fewer counted than present: the rest is ignored
    assert_eq!(ok_conns(&v1), vec![v1_conn_a()]);
    v1[4] = 0;
    assert!(decode_all(&v1).is_empty());

    let mut v0 = v0_golden();
    v0[0] = 200;
    let items = decode_all(&v0);
    assert_eq!(items.len(), 3);
    assert_eq!(items[2], Err(SyncError::V0ConnTruncated { index: 2 }));
}

// ---------------------------------------------------------------------------------------------
// ip_vs_proc_sync_conn() refusals, one by one.

/// A v1 message around raw connection records, padded as the kernel pads.
fn v1_msg(records: &[Vec<u8>]) -> Vec<u8> {
    let mut m = vec![0, 0, 0, 0, records.len() as u8, 1, 0, 0];
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            while m.len() % 4 != 0 {
                m.push(0);
            }
        }
        m.extend_from_slice(r);
    }
    let len = m.len() as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}

/// Conn #0 of the golden v1 message (36 bytes) with `extra` appended and ver_size fixed.
fn record_a(extra: &[u8]) -> Vec<u8> {
    let mut r = v1_golden()[8..44].to_vec();
    r.extend_from_slice(extra);
    let size = r.len() as u16;
    r[2..4].copy_from_slice(&size.to_be_bytes());
    r
}

fn first_item(records: &[Vec<u8>]) -> Result<SyncConn<'static>, SyncError> {
    let m: &'static [u8] = Box::leak(v1_msg(records).into_boxed_slice());
    SyncMessage::parse(m).unwrap().conns().next().unwrap()
}

#[test]
fn v1_fatal_refusals_match_ip_vs_proc_sync_conn() {
    let mut r = record_a(&[]);
    r[0] = 2; // even, non-zero type: -10
    assert_eq!(
        first_item(&[r]),
        Err(SyncError::BadConnType {
            index: 0,
            conn_type: 2
        })
    );
    let mut r = record_a(&[]);
    r[0] = 1; // IPv6 type but only 36 bytes: -20
    assert_eq!(
        first_item(&[r]),
        Err(SyncError::ConnSizeTooSmall {
            index: 0,
            size: 36,
            needed: 72
        })
    );
    let mut r = record_a(&[0; 8]);
    r[2..4].copy_from_slice(&20u16.to_be_bytes()); // size below the fixed part: -20
    assert_eq!(
        first_item(&[r]),
        Err(SyncError::ConnSizeTooSmall {
            index: 0,
            size: 20,
            needed: 36
        })
    );
    let mut r = record_a(&[]);
    r[2] |= 0x10; // ver_size version nibble 1
    assert_eq!(
        first_item(&[r]),
        Err(SyncError::UnknownConnVersion {
            index: 0,
            version: 1
        })
    );
    assert_eq!(
        first_item(&[record_a(&[1])]),
        Err(SyncError::OptionHeaderTruncated { index: 0 })
    );
    assert_eq!(
        first_item(&[record_a(&[0x42, 0])]),
        Err(SyncError::OptionLength {
            index: 0,
            option: 0x42,
            len: 0
        })
    );
    assert_eq!(
        first_item(&[record_a(&[2, 5, 1, 2])]),
        Err(SyncError::OptionLength {
            index: 0,
            option: 2,
            len: 5
        })
    );
    assert_eq!(
        first_item(&[record_a(&[&[1u8, 23][..], &[0; 23]].concat())]),
        Err(SyncError::SeqOptionLength { index: 0, len: 23 })
    );
    let seq = [&[1u8, 24][..], &[0; 24]].concat();
    assert_eq!(
        first_item(&[record_a(&[seq.clone(), seq].concat())]),
        Err(SyncError::DuplicateOption {
            index: 0,
            option: 1
        })
    );
    let name = [&[3u8, 17][..], &[b'x'; 17]].concat();
    assert_eq!(
        first_item(&[record_a(&name)]),
        Err(SyncError::PeNameTooLong { index: 0, len: 17 })
    );
    let data = [2u8, 1, 9];
    assert_eq!(
        first_item(&[record_a(&[&data[..], &data[..]].concat())]),
        Err(SyncError::DuplicateOption {
            index: 0,
            option: 2
        })
    );
}

#[test]
fn v1_skipped_connections_do_not_stop_the_message() {
    let good = record_a(&[]);
    let mut unknown_proto = record_a(&[]);
    unknown_proto[1] = 1; // ICMP: no IPVS protocol
    let mut bad_tcp_state = record_a(&[]);
    bad_tcp_state[8..10].copy_from_slice(&11u16.to_be_bytes()); // IP_VS_TCP_S_LAST
    let mut bad_sctp_state = record_a(&[]);
    bad_sctp_state[1] = SCTP;
    bad_sctp_state[8..10].copy_from_slice(&14u16.to_be_bytes()); // IP_VS_SCTP_S_LAST
    let mut sctp_closed = bad_sctp_state.clone();
    sctp_closed[8..10].copy_from_slice(&13u16.to_be_bytes());
    let mut template_any = record_a(&[]);
    template_any[1] = 1;
    template_any[4..8].copy_from_slice(&IP_VS_CONN_F_TEMPLATE.to_be_bytes());
    template_any[8..10].copy_from_slice(&9u16.to_be_bytes());
    let records = vec![
        unknown_proto,
        bad_tcp_state,
        bad_sctp_state,
        record_a(&[5, 1, 0]),    // unknown mandatory option: code 20
        record_a(&[0x45, 1, 0]), // unknown optional option: skipped, conn kept
        record_a(&[2, 1, 9]),    // PE data without PE name: code 50
        sctp_closed,
        template_any, // templates: any protocol, state only logged
        good,
    ];
    let m = v1_msg(&records);
    let items = decode_all(&m);
    assert_eq!(items.len(), 9);
    assert_eq!(
        items[0],
        Err(SyncError::UnknownProtocol {
            index: 0,
            protocol: 1
        })
    );
    assert_eq!(
        items[1],
        Err(SyncError::InvalidState {
            index: 1,
            protocol: TCP,
            state: 11
        })
    );
    assert_eq!(
        items[2],
        Err(SyncError::InvalidState {
            index: 2,
            protocol: SCTP,
            state: 14
        })
    );
    assert_eq!(
        items[3],
        Err(SyncError::UnknownMandatoryOption {
            index: 3,
            option: 5
        })
    );
    assert_eq!(items[4], Ok(v1_conn_a()));
    assert_eq!(items[5], Err(SyncError::PeDataWithoutName { index: 5 }));
    assert_eq!(items[6].unwrap().state, 13);
    assert!(items[7].unwrap().is_template());
    assert_eq!(items[8], Ok(v1_conn_a()));
    for e in items.iter().filter_map(|r| r.err()) {
        assert!(!e.ends_message(), "{e:?}");
    }
}

#[test]
fn v1_pe_name_alone_is_accepted() {
    let c = first_item(&[record_a(&[3, 3, b's', b'i', b'p'])]).unwrap();
    assert_eq!((c.pe_name, c.pe_data), (Some(&b"sip"[..]), None));
}

#[test]
fn v0_skips_bad_protocol_and_state_but_reads_on() {
    let mut m = v0_golden();
    m[5] = 47; // GRE: not an IPVS protocol
    m[4 + 24 + 22..4 + 24 + 24].copy_from_slice(&11u16.to_be_bytes());
    let items = decode_all(&m);
    assert_eq!(
        items,
        vec![
            Err(SyncError::UnknownProtocol {
                index: 0,
                protocol: 47
            }),
            Err(SyncError::InvalidState {
                index: 1,
                protocol: TCP,
                state: 11
            }),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Writer: refusals and MTU packing.

#[test]
fn writer_refuses_what_the_wire_cannot_carry() {
    let mut buf = [0u8; 512];
    let mut w = SyncMessageWriter::new(SyncVersion::V0, &mut buf, 0).unwrap();
    assert_eq!(w.push(&v1_conn_b()), Err(SyncError::Ipv6InV0));
    let mut mixed = v1_conn_a();
    mixed.daddr = v6("::1");
    assert_eq!(w.push(&mixed), Err(SyncError::MixedAddressFamilies));
    let mut w = SyncMessageWriter::new(SyncVersion::V1, &mut buf, 0).unwrap();
    let mut c = v1_conn_a();
    c.pe_data = Some(&[]);
    assert_eq!(w.push(&c), Err(SyncError::PeDataLength { len: 0 }));
    c.pe_data = None;
    c.pe_name = Some(&[b'x'; 17]);
    assert_eq!(w.push(&c), Err(SyncError::PeNameLength { len: 17 }));
    assert_eq!(w.conn_count(), 0);
    assert_eq!(w.as_bytes(), &[0, 0, 0, 8, 0, 1, 0, 0]);
    assert_eq!(
        SyncMessageWriter::new(SyncVersion::V1, &mut [0u8; 7], 0).unwrap_err(),
        SyncError::BufferTooSmall { len: 7, min: 8 }
    );
}

/// How many connections of `len` bytes the kernel puts in a buffer of `maxlen` bytes: the
/// space check of `ip_vs_sync_conn()` (`head + len + pad > end` flushes) and of
/// `ip_vs_sync_conn_v0()` (no padding), written out independently of the writer.
fn kernel_fit(maxlen: usize, header: usize, len: usize, pad_to_4: bool) -> usize {
    let (mut head, mut n) = (header, 0);
    loop {
        let pad = if pad_to_4 { (4 - head % 4) % 4 } else { 0 };
        if head + pad + len > maxlen || n == 255 {
            return n;
        }
        head += pad + len;
        n += 1;
    }
}

#[test]
fn mtu_packing_matches_kernel_flush_rule() {
    let mut ipv4_seq = v1_conn_a();
    ipv4_seq.seq = Some(seq_sample());
    let mut v0_seq = v0_conn_b();
    v0_seq.flags |= IP_VS_CONN_F_SEQ_MASK;
    let cases = [
        (SyncVersion::V1, v1_conn_a(), SYNC_MAXLEN_IPV4, 36, 40),
        (SyncVersion::V1, ipv4_seq, SYNC_MAXLEN_IPV4, 62, 22),
        (SyncVersion::V1, v1_conn_b(), SYNC_MAXLEN_IPV6, 110, 12),
        (SyncVersion::V0, v0_conn_a(), SYNC_MAXLEN_IPV4, 24, 61),
        (SyncVersion::V0, v0_seq, SYNC_MAXLEN_IPV4, 48, 30),
    ];
    for (version, conn, maxlen, len, expected) in cases {
        let header = if version == SyncVersion::V0 { 4 } else { 8 };
        assert_eq!(
            kernel_fit(maxlen, header, len, version == SyncVersion::V1),
            expected
        );
        let mut buf = vec![0u8; maxlen];
        let mut w = SyncMessageWriter::new(version, &mut buf, 1).unwrap();
        let conns = vec![conn; 300];
        let n = w.push_many(&conns);
        assert_eq!(n, expected, "{version:?} {len}-byte conns in {maxlen}");
        assert!(matches!(w.push(&conn), Err(SyncError::MessageFull { .. })));
        let msg = w.finish();
        assert!(msg.len() <= maxlen);
        let m = SyncMessage::parse(msg).unwrap();
        assert_eq!(m.nr_conns() as usize, expected);
        assert_eq!(m.conns().filter(|r| r.is_ok()).count(), expected);
    }
}

#[test]
fn writer_stops_at_255_connections_and_resets() {
    let mut buf = vec![0u8; SYNC_MESG_MAX_LEN + 100];
    let mut w = SyncMessageWriter::new(SyncVersion::V0, &mut buf, 3).unwrap();
    let conns = vec![v0_conn_a(); 300];
    assert_eq!(w.push_many(&conns), 255);
    assert_eq!(w.push(&v0_conn_a()), Err(SyncError::TooManyConns));
    assert_eq!(w.message_len(), 4 + 255 * 24);
    w.reset();
    assert_eq!((w.conn_count(), w.as_bytes()), (0, &[0, 3, 0, 4][..]));
}

// ---------------------------------------------------------------------------------------------
// Round trips (proptest).

#[derive(Clone, Debug)]
struct Owned {
    conn: SyncConn<'static>,
    pe_data: Option<Vec<u8>>,
    pe_name: Option<Vec<u8>>,
}

impl Owned {
    fn conn(&self) -> SyncConn<'_> {
        SyncConn {
            pe_data: self.pe_data.as_deref(),
            pe_name: self.pe_name.as_deref(),
            ..self.conn
        }
    }
}

fn arb_addrs(v6_allowed: bool) -> BoxedStrategy<(IpAddr, IpAddr, IpAddr)> {
    let four = any::<[[u8; 4]; 3]>().prop_map(|[a, b, c]| (v4(a), v4(b), v4(c)));
    if !v6_allowed {
        return four.boxed();
    }
    let six = any::<[[u8; 16]; 3]>()
        .prop_map(|[a, b, c]| (IpAddr::from(a), IpAddr::from(b), IpAddr::from(c)));
    prop_oneof![four, six].boxed()
}

/// (protocol, state, template bit) accepted by a backup.
fn arb_proto_state() -> impl Strategy<Value = (u8, u16, u32)> {
    prop_oneof![
        (0..11u16).prop_map(|s| (TCP, s, 0)),
        Just((UDP, 0, 0)),
        (0..14u16).prop_map(|s| (SCTP, s, 0)),
        prop_oneof![Just(50u8), Just(51u8)].prop_map(|p| (p, 0, 0)),
        (any::<u8>(), any::<u16>()).prop_map(|(p, s)| (p, s, IP_VS_CONN_F_TEMPLATE)),
    ]
}

fn arb_seq() -> impl Strategy<Value = SeqOptions> {
    any::<[u32; 6]>().prop_map(|s| SeqOptions {
        in_seq: SeqInfo {
            init_seq: s[0],
            delta: s[1],
            previous_delta: s[2],
        },
        out_seq: SeqInfo {
            init_seq: s[3],
            delta: s[4],
            previous_delta: s[5],
        },
    })
}

fn arb_v1_conn() -> impl Strategy<Value = Owned> {
    let pe = prop_oneof![
        Just((None, None)),
        proptest::collection::vec(any::<u8>(), 1..=16).prop_map(|n| (None, Some(n))),
        (
            proptest::collection::vec(any::<u8>(), 1..=255),
            proptest::collection::vec(any::<u8>(), 1..=16)
        )
            .prop_map(|(d, n)| (Some(d), Some(n))),
    ];
    (
        arb_addrs(true),
        arb_proto_state(),
        any::<[u16; 3]>(),
        any::<u32>(),
        any::<[u32; 2]>(),
        proptest::option::of(arb_seq()),
        pe,
    )
        .prop_map(
            |(addrs, (protocol, state, tpl), ports, flags, [fwmark, timeout], seq, pe)| {
                let (pe_data, pe_name) = pe;
                let flags = (flags & !IP_VS_CONN_F_HASHED & !IP_VS_CONN_F_TEMPLATE) | tpl;
                Owned {
                    conn: SyncConn {
                        protocol,
                        caddr: addrs.0,
                        cport: ports[0],
                        vaddr: addrs.1,
                        vport: ports[1],
                        daddr: addrs.2,
                        dport: ports[2],
                        flags,
                        state,
                        fwmark,
                        timeout,
                        seq,
                        pe_data: None,
                        pe_name: None,
                    },
                    pe_data,
                    pe_name,
                }
            },
        )
}

/// Version 0 can carry: IPv4, 16-bit flags, sequence data exactly when the flags say so, no
/// fwmark, timeout or PE fields.
fn arb_v0_conn() -> impl Strategy<Value = SyncConn<'static>> {
    (
        arb_addrs(false),
        arb_proto_state(),
        any::<[u16; 3]>(),
        any::<u16>(),
        arb_seq(),
    )
        .prop_map(|(addrs, (protocol, state, tpl), ports, flags, seq)| {
            let flags = (u32::from(flags) & !IP_VS_CONN_F_HASHED & !IP_VS_CONN_F_TEMPLATE) | tpl;
            SyncConn {
                protocol,
                caddr: addrs.0,
                cport: ports[0],
                vaddr: addrs.1,
                vport: ports[1],
                daddr: addrs.2,
                dport: ports[2],
                flags,
                state,
                fwmark: 0,
                timeout: 0,
                seq: (flags & IP_VS_CONN_F_SEQ_MASK != 0).then_some(seq),
                pe_data: None,
                pe_name: None,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn v1_round_trip_preserves_every_field(
        owned in proptest::collection::vec(arb_v1_conn(), 1..12),
        syncid in any::<u8>(),
    ) {
        let conns: Vec<SyncConn<'_>> = owned.iter().map(Owned::conn).collect();
        let mut buf = vec![0u8; SYNC_MESG_MAX_LEN];
        let mut w = SyncMessageWriter::new(SyncVersion::V1, &mut buf, syncid).unwrap();
        prop_assert_eq!(w.push_many(&conns), conns.len());
        let msg = w.finish();
        let m = SyncMessage::parse_as_backup(msg, syncid).unwrap();
        prop_assert_eq!(m.version(), SyncVersion::V1);
        let back: Vec<_> = m.conns().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(back, conns);
    }

    #[test]
    fn v0_round_trip_preserves_every_carried_field(
        conns in proptest::collection::vec(arb_v0_conn(), 1..12),
        syncid in any::<u8>(),
    ) {
        let mut buf = vec![0u8; SYNC_MAXLEN_IPV4];
        let mut w = SyncMessageWriter::new(SyncVersion::V0, &mut buf, syncid).unwrap();
        prop_assert_eq!(w.push_many(&conns), conns.len());
        let msg = w.finish();
        let m = SyncMessage::parse(msg).unwrap();
        // A v0 message whose first conn count byte is 0 cannot exist here (count >= 1).
        prop_assert_eq!(m.version(), SyncVersion::V0);
        let back: Vec<_> = m.conns().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(back, conns);
    }

    #[test]
    fn corrupted_messages_never_panic_and_what_decodes_re_encodes(
        owned in proptest::collection::vec(arb_v1_conn(), 1..6),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let conns: Vec<SyncConn<'_>> = owned.iter().map(Owned::conn).collect();
        let mut buf = vec![0u8; SYNC_MESG_MAX_LEN];
        let mut w = SyncMessageWriter::new(SyncVersion::V1, &mut buf, 0).unwrap();
        w.push_many(&conns);
        let mut msg = w.finish().to_vec();
        for (i, b) in flips {
            let at = i.index(msg.len());
            msg[at] = b;
        }
        let len = cut.index(msg.len() + 1);
        msg.truncate(len);
        if msg.len() >= 4 {
            let l = msg.len() as u16;
            msg[2..4].copy_from_slice(&l.to_be_bytes());
        }
        if let Ok(m) = SyncMessage::parse(&msg) {
            let decoded: Vec<_> = m.conns().filter_map(Result::ok).collect();
            let mut out = vec![0u8; SYNC_MESG_MAX_LEN];
            let mut w = SyncMessageWriter::new(m.version(), &mut out, m.syncid()).unwrap();
            prop_assert_eq!(w.push_many(&decoded), decoded.len());
            let again = w.finish();
            let back: Vec<_> = SyncMessage::parse(again).unwrap().conns()
                .collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(back, decoded);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ip_vs_sync_conn_needed() and its callers.

fn cand(protocol: u8, old_state: u16, state: u16) -> SyncCandidate {
    SyncCandidate {
        protocol,
        state,
        old_state,
        flags: IP_VS_CONN_F_DROUTE,
        timeout_ms: 900_000,
        ..SyncCandidate::default()
    }
}

fn sends(cfg: &SyncConfig, c: &SyncCandidate, pkts: u32) -> bool {
    should_sync(cfg, c, pkts, 1_000_000).is_send()
}

#[test]
fn default_threshold_3_period_50_sends_packets_3_53_103() {
    let cfg = SyncConfig::default();
    assert_eq!((cfg.sync_threshold, cfg.sync_period), (3, 50));
    cfg.validate().unwrap();
    let es = cand(TCP, 1, 1);
    let sent: Vec<u32> = (1..=160).filter(|&p| sends(&cfg, &es, p)).collect();
    assert_eq!(sent, vec![3, 53, 103, 153]);
    // UDP: no state condition, same packet rule.
    let udp = cand(UDP, 0, 0);
    let sent: Vec<u32> = (1..=110).filter(|&p| sends(&cfg, &udp, p)).collect();
    assert_eq!(sent, vec![3, 53, 103]);
}

#[test]
fn tcp_synced_only_in_es_fw_cl_cw_tw() {
    // (1 << state) & (ES | FIN_WAIT | CLOSE | CLOSE_WAIT | TIME_WAIT), pkts = threshold.
    let cfg = SyncConfig::default();
    let synced: Vec<u16> = (0..11)
        .filter(|&s| sends(&cfg, &cand(TCP, s, s), 3))
        .collect();
    assert_eq!(synced, vec![1, 4, 5, 6, 7]);
    let synced: Vec<u16> = (0..14)
        .filter(|&s| sends(&cfg, &cand(SCTP, s, s), 3))
        .collect();
    assert_eq!(synced, vec![8, 9, 10, 11, 13]);
}

#[test]
fn state_change_forces_sync_except_into_established() {
    let cfg = SyncConfig::default();
    // ES -> FIN_WAIT at packet 7: forced.
    assert!(sends(&cfg, &cand(TCP, 1, 4), 7));
    // SYN_RECV -> ES at packet 7: not forced, packet rule applies.
    assert!(!sends(&cfg, &cand(TCP, 3, 1), 7));
    assert!(sends(&cfg, &cand(TCP, 3, 1), 3));
    // SCTP ES -> SHUTDOWN_SENT forced; COOKIE_ECHOED never synced.
    assert!(sends(&cfg, &cand(SCTP, 8, 9), 7));
    assert!(!sends(&cfg, &cand(SCTP, 6, 7), 3));
}

#[test]
fn templates_and_persist_mode() {
    let mut cfg = SyncConfig::default();
    let mut tpl = cand(TCP, 0, 0);
    tpl.flags |= IP_VS_CONN_F_TEMPLATE;
    // Templates skip the state and pkts tests when sync_period > 0.
    assert!(sends(&cfg, &tpl, 4));
    let mut ctl = cand(TCP, 1, 1);
    ctl.in_persistence = true;
    assert!(sends(&cfg, &ctl, 3));
    cfg.sync_persist_mode = true;
    assert!(!sends(&cfg, &ctl, 3));
    assert!(sends(&cfg, &tpl, 4));
}

#[test]
fn period_zero_sends_once_at_threshold() {
    let cfg = SyncConfig {
        sync_period: 0,
        ..SyncConfig::default()
    };
    let es = cand(TCP, 1, 1);
    let sent: Vec<u32> = (1..=200).filter(|&p| sends(&cfg, &es, p)).collect();
    assert_eq!(sent, vec![3]);
    let mut tpl = es;
    tpl.flags |= IP_VS_CONN_F_TEMPLATE;
    assert!(
        !sends(&cfg, &tpl, 4),
        "with period 0 templates need pkts == threshold too"
    );
}

#[test]
fn refresh_period_and_retries_follow_sync_endtime_arithmetic() {
    // sync_refresh_period 60 s, sync_retries 2, period 0 (every packet asks), timeout 900 s.
    let cfg = SyncConfig {
        sync_period: 0,
        sync_refresh_period_ms: 60_000,
        sync_retries: 2,
        ..SyncConfig::default()
    };
    let mut c = cand(UDP, 0, 0);
    let mut ask = |now: u64| match should_sync(&cfg, &c, 7, now) {
        SyncDecision::Send { sync_endtime } => {
            c.sync_endtime = sync_endtime;
            Some(sync_endtime)
        }
        SyncDecision::Skip => None,
    };
    // n = (now + timeout) & ~3; first send: far from endtime 0.
    assert_eq!(ask(1_000_000), Some(1_900_000));
    // 1 s later: |diff| = 1000 < min(60 s, max(450 s, 10 s)); retry 0 < 2 but
    // now < orig - timeout + refresh/8 = 1_007_500.
    assert_eq!(ask(1_001_000), None);
    // Past 1_007_500: retry 1, recorded in the low bits.
    assert_eq!(ask(1_008_000), Some(1_908_000 | 1));
    // Next retry allowed from 1_908_001 - 900_000 + 7_500 = 1_015_501.
    assert_eq!(ask(1_015_000), None);
    assert_eq!(ask(1_016_000), Some(1_916_000 | 2));
    // Retries exhausted (2 >= sync_retries) until the expiry moved by 60 s.
    assert_eq!(ask(1_050_000), None);
    assert_eq!(ask(1_077_000), Some(1_977_000));
}

#[test]
fn chain_steps_follow_v1_and_v0_gates() {
    let v1 = SyncConfig::default();
    let v0 = SyncConfig {
        sync_version: SyncVersion::V0,
        ..v1
    };
    let es = cand(TCP, 1, 1);
    let mut one = es;
    one.flags |= IP_VS_CONN_F_ONE_PACKET;
    // v1: one-packet entries are not sent but the chain goes on; skipped entries too.
    let s = chain_step(&v1, &one, false, 3, 0);
    assert_eq!(
        (s.decision, s.continue_to_control),
        (SyncDecision::Skip, true)
    );
    let s = chain_step(&v1, &es, true, 4, 0);
    assert_eq!(
        (s.decision, s.continue_to_control),
        (SyncDecision::Skip, true)
    );
    assert!(chain_step(&v1, &es, true, 3, 0).decision.is_send());
    // v0: IPv6, one-packet and skipped entries end the chain; sent ones continue.
    assert!(!chain_step(&v0, &es, true, 3, 0).continue_to_control);
    assert!(!chain_step(&v0, &one, false, 3, 0).continue_to_control);
    assert!(!chain_step(&v0, &es, false, 4, 0).continue_to_control);
    let s = chain_step(&v0, &es, false, 3, 0);
    assert!(s.decision.is_send() && s.continue_to_control);
}

#[test]
fn packet_and_control_pkts_count_like_ip_vs_in() {
    let cfg = SyncConfig::default();
    let mut in_pkts = 2;
    assert_eq!(packet_pkts(&cfg, IP_VS_CONN_F_DROUTE, &mut in_pkts), 3);
    assert_eq!(in_pkts, 3);
    assert_eq!(packet_pkts(&cfg, IP_VS_CONN_F_ONE_PACKET, &mut in_pkts), 3);
    assert_eq!(in_pkts, 3, "one-packet entries do not count");
    let mut tpl_pkts = u32::MAX;
    assert_eq!(control_pkts(&cfg, IP_VS_CONN_F_TEMPLATE, &mut tpl_pkts), 0);
    let mut ctl_pkts = 10;
    assert_eq!(control_pkts(&cfg, IP_VS_CONN_F_MASQ, &mut ctl_pkts), 3);
    assert_eq!(ctl_pkts, 10);
}

#[test]
fn config_validation_mirrors_sysctl_handlers() {
    let ok = SyncConfig::default();
    assert!(ok.validate().is_ok());
    let bad = SyncConfig {
        sync_threshold: 50,
        ..ok
    };
    assert_eq!(
        bad.validate(),
        Err(SyncError::InvalidSyncThreshold {
            threshold: 50,
            period: 50
        })
    );
    let zero_period = SyncConfig {
        sync_threshold: 99,
        sync_period: 0,
        ..ok
    };
    assert!(zero_period.validate().is_ok());
    let retries = SyncConfig {
        sync_retries: 4,
        ..ok
    };
    assert_eq!(
        retries.validate(),
        Err(SyncError::InvalidSyncRetries { retries: 4 })
    );
}

#[test]
fn protocol_state_counts_match_kernel_enums() {
    assert_eq!(protocol_num_states(TCP), Some(11)); // IP_VS_TCP_S_LAST
    assert_eq!(protocol_num_states(UDP), Some(1)); // IP_VS_UDP_S_LAST
    assert_eq!(protocol_num_states(SCTP), Some(14)); // IP_VS_SCTP_S_LAST
    assert_eq!(protocol_num_states(50), Some(1)); // ESP
    assert_eq!(protocol_num_states(51), Some(1)); // AH
    assert_eq!(protocol_num_states(1), None);
}
