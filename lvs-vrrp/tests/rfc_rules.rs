//! RFC 3768 / RFC 5798 / RFC 9568 rules and keepalived behaviours, one test each, quoting the
//! rule checked. (RFC 9568 renames Master to "Active"; the rules are otherwise the same text.)

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use common::*;
use lvs_vrrp::wire::{self, ChecksumForm, DecodeError, IpMeta, Version, auth_type};
use lvs_vrrp::{
    AuthType, Authentication, DropReason, Event, InitialState, Reason, State, TrackWeight,
    Transmit, VrrpConfig, VrrpInstance,
};

fn master(priority: u8) -> VrrpInstance {
    let mut vr = VrrpInstance::new(cfg(priority), 0).unwrap();
    let t = vr.poll_timeout().unwrap();
    vr.handle_timeout(t);
    assert_eq!(vr.state(), State::Master);
    drain(&mut vr);
    while vr.poll_event().is_some() {}
    vr
}

// ----------------------------------------------------------------------------------------------
// Receive checks (RFC 3768 section 7.1, RFC 9568 section 7.1)
// ----------------------------------------------------------------------------------------------

#[test]
fn ttl_not_255_is_discarded_on_multicast() {
    // RFC 3768 7.1: "MUST verify that the IP TTL is 255." / 5.2.3: "A VRRP router receiving a
    // packet with the TTL not equal to 255 MUST discard the packet."
    let mut vr = VrrpInstance::new(cfg(100), 0).unwrap();
    let p = advert(Version::V2, 51, 150, 1, PEER_HI);
    let m = IpMeta {
        ttl: 254,
        ..meta(PEER_HI)
    };
    assert_eq!(
        vr.handle_packet(1, &m, &p),
        Err(DropReason::Decode(DecodeError::Ttl))
    );
    assert_eq!(vr.stats().ip_ttl_err, 1);
    assert_eq!(vr.stats().advert_rcvd, 0);
    assert_eq!(vr.handle_packet(2, &meta(PEER_HI), &p), Ok(()));
    assert_eq!(vr.stats().advert_rcvd, 1);
}

#[test]
fn unicast_adverts_skip_the_ttl_check() {
    // keepalived: with unicast_peer the TTL-255 check is skipped (adverts may be routed).
    let mut c = cfg(100);
    c.unicast_peer = vec![PEER_HI];
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    let p = common::advert_with(Version::V2, 51, 150, 1, PEER_HI, LOCAL, &[VIP], 0, [0; 8]);
    let m = IpMeta {
        src: PEER_HI,
        dst: LOCAL,
        ttl: 62,
    };
    assert_eq!(vr.handle_packet(1, &m, &p), Ok(()));
}

#[test]
fn wrong_version_is_discarded() {
    // RFC 3768 7.1: "MUST verify the VRRP version is 2." (RFC 9568: "is 3").
    let mut vr = VrrpInstance::new(cfg(100), 0).unwrap();
    let v3 = advert(Version::V3, 51, 150, 100, PEER_HI);
    assert_eq!(
        vr.handle_packet(1, &meta(PEER_HI), &v3),
        Err(DropReason::Version)
    );
    let mut bad = advert(Version::V2, 51, 150, 1, PEER_HI);
    bad[0] = 0x41;
    assert_eq!(
        vr.handle_packet(1, &meta(PEER_HI), &bad),
        Err(DropReason::Decode(DecodeError::Version))
    );
    assert_eq!(vr.stats().version_err, 2);
}

#[test]
fn unknown_type_is_discarded() {
    // RFC 3768 5.3.2: "A packet with unknown type MUST be discarded."
    let mut vr = VrrpInstance::new(cfg(100), 0).unwrap();
    let mut p = advert(Version::V2, 51, 150, 1, PEER_HI);
    p[0] = 0x22;
    assert_eq!(
        vr.handle_packet(1, &meta(PEER_HI), &p),
        Err(DropReason::Decode(DecodeError::Type))
    );
    assert_eq!(vr.stats().invalid_type_rcvd, 1);
}

#[test]
fn truncated_packet_is_discarded() {
    // RFC 3768 7.1: "MUST verify that the received packet contains the complete VRRP packet
    // (including fixed fields, IP Address(es), and Authentication Data)."
    let mut vr = VrrpInstance::new(cfg(100), 0).unwrap();
    let p = advert(Version::V2, 51, 150, 1, PEER_HI);
    for cut in 0..p.len() {
        let r = vr.handle_packet(1, &meta(PEER_HI), &p[..cut]);
        assert_eq!(r, Err(DropReason::Decode(DecodeError::Length)), "cut {cut}");
    }
    assert_eq!(vr.stats().packet_len_err, p.len() as u64);
}

#[test]
fn bad_checksum_is_discarded() {
    // RFC 3768 7.1: "MUST verify the VRRP checksum."
    let mut vr = VrrpInstance::new(cfg(100), 0).unwrap();
    let mut p = advert(Version::V2, 51, 150, 1, PEER_HI);
    p[7] ^= 1;
    assert_eq!(
        vr.handle_packet(1, &meta(PEER_HI), &p),
        Err(DropReason::Decode(DecodeError::Checksum))
    );
    assert_eq!(vr.stats().checksum_err, 1);
}

#[test]
fn v3_ipv4_accepts_both_checksum_forms_and_ipv6_only_the_pseudo_header() {
    // RFC 5798 5.2.8: "the checksum ... calculated over the VRRP message ... and the IPvX
    // pseudo-header"; RFC 9568 5.2.8 drops the pseudo-header for IPv4. Deployed keepalived
    // sends the RFC 5798 form, so we accept both for IPv4 and send keepalived's by default.
    let mut c = cfg(100);
    c.version = Some(Version::V3);
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    let repr = wire::AdvertRepr {
        version: Version::V3,
        vrid: 51,
        priority: 150,
        adver_int: 100,
        auth_type: 0,
        auth_data: [0; 8],
        addrs: &[VIP],
    };
    let mut buf = [0u8; 64];
    for form in [ChecksumForm::PseudoHeader, ChecksumForm::MessageOnly] {
        let n = wire::encode_payload(&repr, PEER_HI, MCAST, form, &mut buf).unwrap();
        let adv = wire::decode_payload(&buf[..n], &meta(PEER_HI)).unwrap();
        assert_eq!(adv.checksum_form, form);
        assert_eq!(vr.handle_packet(1, &meta(PEER_HI), &buf[..n]), Ok(()));
    }
    // IPv6: only the pseudo-header form verifies.
    let ll: IpAddr = "fe80::2".parse().unwrap();
    let g = IpAddr::V6(wire::MCAST_V6);
    let v6 = [IpAddr::V6("fe80::100".parse().unwrap())];
    let repr6 = wire::AdvertRepr { addrs: &v6, ..repr };
    let n = wire::encode_payload(&repr6, ll, g, ChecksumForm::MessageOnly, &mut buf).unwrap();
    let m6 = IpMeta {
        src: ll,
        dst: g,
        ttl: 255,
    };
    let adv = wire::decode_payload(&buf[..n], &m6).unwrap();
    assert_eq!(
        adv.checksum_form,
        ChecksumForm::PseudoHeader,
        "IPv6 ignores the form"
    );
    // A message-only checksum over IPv6 is rejected.
    let sum_no_ph = {
        let mut b = buf[..n].to_vec();
        b[6] = 0;
        b[7] = 0;
        let ck = common::inet_checksum(&[&b]);
        b[6..8].copy_from_slice(&ck.to_be_bytes());
        b
    };
    assert_eq!(
        wire::decode_payload(&sum_no_ph, &m6),
        Err(DecodeError::Checksum)
    );
}

#[test]
fn unicast_pseudo_header_uses_the_real_destination() {
    // keepalived puts the packet's real destination (the unicast peer) in the pseudo-header.
    let mut c = cfg(255);
    c.version = Some(Version::V3);
    c.unicast_peer = vec![PEER_HI, PEER_LO];
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    let tx = drain(&mut vr);
    let adverts: Vec<_> = tx
        .iter()
        .filter(|(t, _)| matches!(t, Transmit::Advert { .. }))
        .collect();
    assert_eq!(adverts.len(), 2, "one advert per unicast peer");
    for ((t, f), peer) in adverts.iter().zip([PEER_HI, PEER_LO]) {
        let Transmit::Advert {
            dst,
            dst_mac,
            payload_offset,
            len,
            ..
        } = t
        else {
            unreachable!()
        };
        assert_eq!((*dst, *dst_mac), (peer, None));
        assert_eq!(&f[0..6], &[0; 6], "caller fills the peer MAC");
        let IpAddr::V4(s) = LOCAL else { unreachable!() };
        let IpAddr::V4(d) = peer else { unreachable!() };
        let msg = &f[*payload_offset..*len];
        let mut ph = Vec::new();
        ph.extend_from_slice(&s.octets());
        ph.extend_from_slice(&d.octets());
        ph.extend_from_slice(&[0, 112, 0, msg.len() as u8]);
        assert_eq!(common::inet_checksum(&[&ph, msg]), 0);
    }
    assert_eq!(vr.stats().advert_sent, 1, "one advert event");
}

#[test]
fn unconfigured_vrid_is_discarded() {
    // RFC 3768 7.1: "MUST verify that the VRID is configured on the receiving interface".
    let mut vr = VrrpInstance::new(cfg(100), 0).unwrap();
    let p = advert(Version::V2, 52, 150, 1, PEER_HI);
    assert_eq!(
        vr.handle_packet(1, &meta(PEER_HI), &p),
        Err(DropReason::Vrid)
    );
    assert_eq!(vr.stats().vrid_err, 1);
}

#[test]
fn auth_type_must_match_configuration() {
    // RFC 3768 5.3.6: "A packet with unknown authentication type or that does not match the
    // locally configured authentication method MUST be discarded."
    let mut c = cfg(100);
    c.authentication = Some(Authentication {
        auth_type: AuthType::Pass,
        auth_pass: "1111".into(),
    });
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    let good = *b"1111\0\0\0\0";
    let send = |vr: &mut VrrpInstance, at: u8, data: [u8; 8]| {
        let p = common::advert_with(Version::V2, 51, 150, 1, PEER_HI, MCAST, &[VIP], at, data);
        vr.handle_packet(1, &meta(PEER_HI), &p)
    };
    assert_eq!(send(&mut vr, 7, good), Err(DropReason::InvalidAuthType));
    assert_eq!(
        send(&mut vr, auth_type::NONE, [0; 8]),
        Err(DropReason::AuthTypeMismatch)
    );
    assert_eq!(
        send(&mut vr, auth_type::PASS, *b"1112\0\0\0\0"),
        Err(DropReason::AuthFailure)
    );
    assert_eq!(send(&mut vr, auth_type::PASS, good), Ok(()));
    let s = vr.stats();
    assert_eq!(
        (
            s.invalid_authtype,
            s.authtype_mismatch,
            s.auth_failure,
            s.advert_rcvd
        ),
        (1, 1, 1, 1)
    );
    // And our own adverts carry "1111" zero-padded with Auth Type 1.
    let mut c = cfg(255);
    c.authentication = Some(Authentication {
        auth_type: AuthType::Pass,
        auth_pass: "1111".into(),
    });
    let mut owner = VrrpInstance::new(c, 0).unwrap();
    let (_, f) = drain(&mut owner).remove(0);
    let (_, adv) = wire::decode_frame(&f).unwrap();
    assert_eq!((adv.auth_type, adv.auth_data), (1, good));
}

#[test]
fn v2_interval_mismatch_is_discarded() {
    // RFC 3768 7.1: "MUST verify that the Adver Interval in the packet is the same as the
    // locally configured for this virtual router. If the above check fails, the receiver MUST
    // discard the packet".
    let mut vr = VrrpInstance::new(cfg(100), 0).unwrap();
    let p = advert(Version::V2, 51, 150, 2, PEER_HI);
    assert_eq!(
        vr.handle_packet(1, &meta(PEER_HI), &p),
        Err(DropReason::Interval)
    );
    assert_eq!(vr.stats().advert_interval_err, 1);
}

#[test]
fn v3_learns_the_interval_instead_of_discarding() {
    // RFC 9568 6.4.2 (Backup): "Set Master_Adver_Interval to Adver Interval contained in the
    // ADVERTISEMENT. Recompute the Skew_Time. Recompute the Master_Down_Interval."
    let mut c = cfg(100);
    c.version = Some(Version::V3);
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    let p = advert(Version::V3, 51, 150, 50, PEER_HI);
    assert_eq!(vr.handle_packet(1000, &meta(PEER_HI), &p), Ok(()));
    assert_eq!(vr.master_adver_interval_cs(), 50);
    // 3 * 50 cs + (256 - 100) * 50 / 256 cs = 1.5 s + 0.3046875 s
    assert_eq!(vr.master_down_interval_us(), 1_500_000 + 304_687);
    assert_eq!(vr.poll_timeout(), Some(1000 + 1_804_687));
    // Errata: Max Adver Int 0 is invalid.
    let z = advert(Version::V3, 51, 150, 0, PEER_HI);
    assert_eq!(
        vr.handle_packet(2000, &meta(PEER_HI), &z),
        Err(DropReason::Interval)
    );
}

#[test]
fn address_list_mismatch_is_dropped_unless_owner() {
    // RFC 3768 7.1: "MAY verify that the IP address(es) associated with the VRID are valid.
    // ... If the packet was not generated by the address owner (Priority does not equal 255
    // (decimal)), the receiver MUST drop the packet, otherwise continue processing."
    let mut vr = VrrpInstance::new(cfg(100), 0).unwrap();
    let other: IpAddr = "192.168.56.201".parse().unwrap();
    let p = common::advert_with(Version::V2, 51, 150, 1, PEER_HI, MCAST, &[other], 0, [0; 8]);
    assert_eq!(
        vr.handle_packet(1, &meta(PEER_HI), &p),
        Err(DropReason::AddressList)
    );
    let two = common::advert_with(
        Version::V2,
        51,
        150,
        1,
        PEER_HI,
        MCAST,
        &[VIP, other],
        0,
        [0; 8],
    );
    assert_eq!(
        vr.handle_packet(1, &meta(PEER_HI), &two),
        Err(DropReason::AddressList)
    );
    let owner = common::advert_with(Version::V2, 51, 255, 1, PEER_HI, MCAST, &[other], 0, [0; 8]);
    assert_eq!(vr.handle_packet(1, &meta(PEER_HI), &owner), Ok(()));
    assert_eq!(vr.stats().addr_list_err, 2);
}

// ----------------------------------------------------------------------------------------------
// Timers (RFC 3768 6.1, RFC 9568 6.1)
// ----------------------------------------------------------------------------------------------

#[test]
fn v2_skew_and_master_down_interval_in_seconds() {
    // RFC 3768 6.1: "Skew_Time  Time to skew Master_Down_Interval in seconds. Calculated as:
    // ( (256 - Priority) / 256 )" and "Master_Down_Interval  Time interval for Backup to
    // declare Master down (seconds). Calculated as: (3 * Advertisement_Interval) + Skew_time"
    for (p, skew) in [
        (100u8, 609_375u64),
        (90, 648_437),
        (254, 7_812),
        (1, 996_093),
    ] {
        let vr = VrrpInstance::new(cfg(p), 0).unwrap();
        assert_eq!(vr.skew_time_us(), skew, "priority {p}");
        assert_eq!(vr.master_down_interval_us(), 3 * SEC + skew);
        assert_eq!(vr.poll_timeout(), Some(3 * SEC + skew));
    }
}

#[test]
fn v3_skew_in_centiseconds_matches_keepalived_microseconds() {
    // RFC 9568 6.1: "Skew_Time: Time to skew Master_Down_Interval in centiseconds. Calculated
    // as: (((256 - priority) * Master_Adver_Interval) / 256)"; keepalived computes it in
    // microseconds as (256 - p) * MAI_cs * 625 / 16. Reference: priority 100 at 100 cs gives
    // skew 60.94 cs, down ~360.9 cs.
    let mut c = cfg(100);
    c.version = Some(Version::V3);
    let vr = VrrpInstance::new(c.clone(), 0).unwrap();
    assert_eq!(vr.skew_time_us(), 609_375);
    assert_eq!(vr.master_down_interval_us(), 3_609_375);
    c.priority = 200;
    c.advert_int = Duration::from_millis(500);
    let vr = VrrpInstance::new(c, 0).unwrap();
    assert_eq!(vr.skew_time_us(), 56 * 50 * 625 / 16);
    assert_eq!(vr.master_down_interval_us(), 1_500_000 + 109_375);
}

// ----------------------------------------------------------------------------------------------
// Initialize (RFC 9568 6.4.1)
// ----------------------------------------------------------------------------------------------

#[test]
fn owner_goes_master_at_startup_and_announces() {
    // RFC 3768 6.4.1: "If the Priority = 255 (i.e., the router owns the IP address(es)
    // associated with the virtual router) then: o Send an ADVERTISEMENT o Broadcast a
    // gratuitous ARP request containing the virtual router MAC address for each IP address
    // associated with the virtual router. o Set the Adver_Timer to Advertisement_Interval
    // o Transition to the {Master} state"
    let mut vr = VrrpInstance::new(cfg(255), 7).unwrap();
    assert_eq!(vr.state(), State::Master);
    assert_eq!(vr.poll_timeout(), Some(7 + SEC));
    let tx = drain(&mut vr);
    assert_eq!(advert_prios(&tx), vec![255]);
    assert!(matches!(tx[0].0, Transmit::Advert { .. }), "advert first");
    // garp_master_repeat (default 5) GARPs for the one VIP.
    let garps: Vec<_> = tx
        .iter()
        .filter(|(t, _)| matches!(t, Transmit::GratuitousArp { .. }))
        .collect();
    assert_eq!(garps.len(), 5);
    assert_eq!(
        vr.poll_event(),
        Some(Event::StateChange {
            from: State::Initialize,
            to: State::Master,
            reason: Reason::Startup,
            priority: 255
        })
    );
}

#[test]
fn gratuitous_arp_is_keepalived_form() {
    // keepalived vrrp_arp.c: ARP REQUEST, broadcast, sender MAC = interface MAC, sender IP =
    // target IP = VIP, target MAC ff:ff:ff:ff:ff:ff; 42 bytes. Parsed with etherparse.
    let mut vr = VrrpInstance::new(cfg(255), 0).unwrap();
    let tx = drain(&mut vr);
    let (t, f) = tx
        .iter()
        .find(|(t, _)| matches!(t, Transmit::GratuitousArp { .. }))
        .unwrap();
    let Transmit::GratuitousArp { vip, src_mac, len } = t else {
        unreachable!()
    };
    assert_eq!((IpAddr::V4(*vip), *len), (VIP, 42));
    assert_eq!(*src_mac, cfg(255).interface_mac);
    assert_eq!(&f[0..6], &[0xff; 6]);
    assert_eq!(&f[6..12], src_mac);
    let arp = etherparse::SlicedPacket::from_ethernet(f).unwrap();
    let etherparse::NetSlice::Arp(arp) = arp.net.unwrap() else {
        panic!("not ARP")
    };
    assert_eq!(arp.operation(), etherparse::ArpOperation::REQUEST);
    assert_eq!(arp.sender_hw_addr(), src_mac);
    assert_eq!(arp.sender_protocol_addr(), &[192, 168, 56, 200]);
    assert_eq!(arp.target_protocol_addr(), &[192, 168, 56, 200]);
    assert_eq!(arp.target_hw_addr(), &[0xff; 6]);
}

#[test]
fn non_owner_starts_backup_even_with_state_master() {
    // RFC 3768 6.4.1: "else: o Set the Master_Down_Timer to Master_Down_Interval o Transition
    // to the {Backup} state". keepalived (try_up_instance) does so even with `state MASTER`.
    let mut c = cfg(100);
    c.state = InitialState::Master;
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    assert_eq!(vr.state(), State::Backup);
    assert!(drain(&mut vr).is_empty(), "a Backup sends nothing");
    assert!(!vr.answers_arp());
    assert_eq!(vr.poll_timeout(), Some(3_609_375));
}

// ----------------------------------------------------------------------------------------------
// Backup (RFC 9568 6.4.2)
// ----------------------------------------------------------------------------------------------

#[test]
fn backup_becomes_master_when_master_down_timer_fires() {
    // RFC 3768 6.4.2: "If the Master_Down_Timer fires, then: o Send an ADVERTISEMENT
    // o Broadcast a gratuitous ARP request ... o Set the Adver_Timer to Advertisement_Interval
    // o Transition to the {Master} state"
    let mut vr = VrrpInstance::new(cfg(100), 0).unwrap();
    vr.handle_timeout(3_609_374);
    assert_eq!(vr.state(), State::Backup, "not one microsecond early");
    vr.handle_timeout(3_609_375);
    assert_eq!(vr.state(), State::Master);
    let tx = drain(&mut vr);
    assert_eq!(advert_prios(&tx), vec![100]);
    assert_eq!(tx.len(), 6);
    assert_eq!(vr.poll_timeout(), Some(3_609_375 + SEC));
    assert_eq!(vr.stats().become_master, 1);
    assert!(vr.answers_arp());
}

#[test]
fn backup_priority_zero_sets_timer_to_skew_time() {
    // RFC 3768 6.4.2: "If the Priority in the ADVERTISEMENT is Zero, then: o Set the
    // Master_Down_Timer to Skew_Time"
    let mut vr = VrrpInstance::new(cfg(100), 0).unwrap();
    let p = advert(Version::V2, 51, 0, 1, PEER_HI);
    vr.handle_packet(SEC, &meta(PEER_HI), &p).unwrap();
    assert_eq!(vr.poll_timeout(), Some(SEC + 609_375));
    assert_eq!(vr.stats().pri_zero_rcvd, 1);
}

#[test]
fn backup_resets_timer_on_higher_or_equal_priority() {
    // RFC 3768 6.4.2: "If Preempt_Mode is False, or If the Priority in the ADVERTISEMENT is
    // greater than or equal to the local Priority, then: o Reset the Master_Down_Timer to
    // Master_Down_Interval"
    let mut vr = VrrpInstance::new(cfg(100), 0).unwrap();
    for (i, prio) in [150u8, 100].into_iter().enumerate() {
        let now = (i as u64 + 1) * SEC;
        vr.handle_packet(
            now,
            &meta(PEER_HI),
            &advert(Version::V2, 51, prio, 1, PEER_HI),
        )
        .unwrap();
        assert_eq!(vr.poll_timeout(), Some(now + 3_609_375));
    }
    assert_eq!(vr.master_addr(), Some(PEER_HI));
}

#[test]
fn backup_with_preempt_discards_lower_priority_and_preempts() {
    // RFC 3768 6.4.2: "else (i.e., Preempt_Mode is True and the Priority in the ADVERTISEMENT
    // is less than the local Priority): o Discard the ADVERTISEMENT"
    let mut vr = VrrpInstance::new(cfg(100), 0).unwrap();
    let low = advert(Version::V2, 51, 90, 1, PEER_HI);
    for s in 1..=3 {
        vr.handle_packet(s * SEC, &meta(PEER_HI), &low).unwrap();
        assert_eq!(vr.poll_timeout(), Some(3_609_375), "timer not reset");
    }
    vr.handle_timeout(3_609_375);
    assert_eq!(vr.state(), State::Master);
}

#[test]
fn nopreempt_backup_follows_a_lower_priority_master() {
    // RFC 3768 6.4.2: "If Preempt_Mode is False ... Reset the Master_Down_Timer". keepalived
    // `nopreempt` (the seeds: "nopreempt只加在优先级高的keepalived就可以了").
    let mut c = cfg(100);
    c.nopreempt = true;
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    let low = advert(Version::V2, 51, 90, 1, PEER_HI);
    for s in 1..=10 {
        vr.handle_packet(s * SEC, &meta(PEER_HI), &low).unwrap();
        vr.handle_timeout(s * SEC);
        assert_eq!(vr.state(), State::Backup);
        assert_eq!(vr.poll_timeout(), Some(s * SEC + 3_609_375));
    }
}

#[test]
fn preempt_delay_postpones_preemption() {
    // keepalived preempt_delay: "Seconds after startup or seeing a lower priority master until
    // preemption". The delay runs from startup (vrrp_parser.c sets preempt_time = now +
    // preempt_delay); while it runs lower-priority adverts are honoured (timer reset), after
    // it they are discarded and the Master_Down_Timer fires.
    let mut c = cfg(100);
    c.preempt_delay = Duration::from_secs(5);
    let mut vr = VrrpInstance::new(c.clone(), 0).unwrap();
    let low = advert(Version::V2, 51, 90, 1, PEER_HI);
    for s in 1..=4 {
        vr.handle_packet(s * SEC, &meta(PEER_HI), &low).unwrap();
        assert_eq!(
            vr.poll_timeout(),
            Some(s * SEC + 3_609_375),
            "honoured at {s} s"
        );
    }
    for s in 5..=7 {
        vr.handle_packet(s * SEC, &meta(PEER_HI), &low).unwrap();
        assert_eq!(
            vr.poll_timeout(),
            Some(4 * SEC + 3_609_375),
            "discarded at {s} s"
        );
    }
    vr.handle_timeout(4 * SEC + 3_609_375);
    assert_eq!(vr.state(), State::Master);

    // A higher-priority advert stops the delay; the next lower one restarts it.
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    let high = advert(Version::V2, 51, 150, 1, PEER_HI);
    vr.handle_packet(10 * SEC, &meta(PEER_HI), &high).unwrap();
    vr.handle_packet(11 * SEC, &meta(PEER_HI), &low).unwrap();
    assert_eq!(
        vr.poll_timeout(),
        Some(11 * SEC + 3_609_375),
        "delay restarted at 11 s"
    );
    vr.handle_packet(15 * SEC, &meta(PEER_HI), &low).unwrap();
    assert_eq!(
        vr.poll_timeout(),
        Some(15 * SEC + 3_609_375),
        "still within 11 s + 5 s"
    );
    vr.handle_packet(16 * SEC, &meta(PEER_HI), &low).unwrap();
    assert_eq!(
        vr.poll_timeout(),
        Some(15 * SEC + 3_609_375),
        "expired at 16 s: discarded"
    );
}

// ----------------------------------------------------------------------------------------------
// Master (RFC 9568 6.4.3)
// ----------------------------------------------------------------------------------------------

#[test]
fn master_sends_advert_every_interval() {
    // RFC 3768 6.4.3: "If the Adver_Timer fires, then: o Send an ADVERTISEMENT o Reset the
    // Adver_Timer to Advertisement_Interval"
    let mut vr = master(100);
    let t0 = vr.poll_timeout().unwrap();
    for k in 0..5 {
        vr.handle_timeout(t0 + k * SEC);
        assert_eq!(advert_prios(&drain(&mut vr)), vec![100]);
        assert_eq!(vr.poll_timeout(), Some(t0 + (k + 1) * SEC));
    }
}

#[test]
fn master_answers_priority_zero_with_an_advert() {
    // RFC 3768 6.4.3: "If the Priority in the ADVERTISEMENT is Zero, then: o Send an
    // ADVERTISEMENT o Reset the Adver_Timer to Advertisement_Interval"
    let mut vr = master(100);
    let now = 4 * SEC;
    vr.handle_packet(now, &meta(PEER_HI), &advert(Version::V2, 51, 0, 1, PEER_HI))
        .unwrap();
    assert_eq!(advert_prios(&drain(&mut vr)), vec![100]);
    assert_eq!(vr.poll_timeout(), Some(now + SEC));
    assert_eq!(vr.state(), State::Master);
}

#[test]
fn master_yields_to_higher_priority() {
    // RFC 3768 6.4.3: "If the Priority in the ADVERTISEMENT is greater than the local
    // Priority, ... then: o Cancel Adver_Timer o Set Master_Down_Timer to Master_Down_Interval
    // o Transition to the {Backup} state"
    let mut vr = master(100);
    let now = 4 * SEC;
    vr.handle_packet(
        now,
        &meta(PEER_LO),
        &advert(Version::V2, 51, 101, 1, PEER_LO),
    )
    .unwrap();
    assert_eq!(vr.state(), State::Backup);
    assert_eq!(vr.poll_timeout(), Some(now + 3_609_375));
    assert!(drain(&mut vr).is_empty(), "no advert after yielding");
    assert_eq!(vr.stats().release_master, 1);
    assert_eq!(
        vr.poll_event(),
        Some(Event::StateChange {
            from: State::Master,
            to: State::Backup,
            reason: Reason::Preempted,
            priority: 100
        })
    );
}

#[test]
fn v3_master_yielding_learns_the_interval() {
    // RFC 9568 6.4.3: "... then: Cancel Adver_Timer. Set Master_Adver_Interval to Adver
    // Interval contained in the ADVERTISEMENT. Recompute the Skew_Time. Recompute the
    // Master_Down_Interval. Set Master_Down_Timer to Master_Down_Interval."
    let mut c = cfg(255);
    c.version = Some(Version::V3);
    c.priority = 100;
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    vr.handle_timeout(vr.poll_timeout().unwrap());
    assert_eq!(vr.state(), State::Master);
    vr.handle_packet(
        5 * SEC,
        &meta(PEER_HI),
        &advert(Version::V3, 51, 200, 200, PEER_HI),
    )
    .unwrap();
    assert_eq!(vr.master_adver_interval_cs(), 200);
    assert_eq!(
        vr.poll_timeout(),
        Some(5 * SEC + 6 * SEC + 156 * 200 * 625 / 16)
    );
}

#[test]
fn equal_priority_tie_break_on_primary_address() {
    // RFC 3768 6.4.3: "... or If the Priority in the ADVERTISEMENT is equal to the local
    // Priority and the primary IP Address of the sender is greater than the local primary IP
    // Address, then: ... Transition to the {Backup} state"
    let mut vr = master(100);
    vr.handle_packet(
        4 * SEC,
        &meta(PEER_LO),
        &advert(Version::V2, 51, 100, 1, PEER_LO),
    )
    .unwrap();
    assert_eq!(vr.state(), State::Master, "192.168.56.100 < .101: we stay");
    vr.handle_packet(
        5 * SEC,
        &meta(PEER_HI),
        &advert(Version::V2, 51, 100, 1, PEER_HI),
    )
    .unwrap();
    assert_eq!(vr.state(), State::Backup, "192.168.56.102 > .101: we yield");
}

#[test]
fn master_answers_lower_priority_with_an_advert_unless_disabled() {
    // keepalived vrrp_state_master_rx: a lower-priority advert while Master is answered with
    // an immediate advert ("forcing new election") unless lower_prio_no_advert.
    let mut vr = master(100);
    vr.handle_packet(
        4 * SEC,
        &meta(PEER_HI),
        &advert(Version::V2, 51, 90, 1, PEER_HI),
    )
    .unwrap();
    assert_eq!(advert_prios(&drain(&mut vr)), vec![100]);
    assert_eq!(
        vr.poll_event(),
        Some(Event::MasterRxLowerPriority {
            src: PEER_HI,
            priority: 90
        })
    );
    let mut c = cfg(100);
    c.lower_prio_no_advert = true;
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    vr.handle_timeout(vr.poll_timeout().unwrap());
    drain(&mut vr);
    vr.handle_packet(
        4 * SEC,
        &meta(PEER_HI),
        &advert(Version::V2, 51, 90, 1, PEER_HI),
    )
    .unwrap();
    assert!(advert_prios(&drain(&mut vr)).is_empty());
}

#[test]
fn shutdown_from_master_sends_priority_zero() {
    // RFC 3768 6.4.3: "If a Shutdown event is received, then: o Cancel the Adver_Timer o Send
    // an ADVERTISEMENT with Priority = 0 o Transition to the {Initialize} state"
    let mut vr = master(100);
    vr.shutdown(9 * SEC);
    assert_eq!(vr.state(), State::Initialize);
    assert_eq!(vr.poll_timeout(), None);
    let tx = drain(&mut vr);
    assert_eq!(advert_prios(&tx), vec![0]);
    assert_eq!(vr.stats().pri_zero_sent, 1);
    let e = vr.poll_event().unwrap();
    assert_eq!(
        e.notify_args("VI_1").unwrap(),
        ["INSTANCE", "VI_1", "STOP", "100"].map(String::from)
    );
    // Shutdown in Backup: "Cancel the Master_Down_Timer ... Transition to the {Initialize}".
    let mut b = VrrpInstance::new(cfg(100), 0).unwrap();
    b.shutdown(SEC);
    assert!(drain(&mut b).is_empty());
    assert_eq!((b.state(), b.poll_timeout()), (State::Initialize, None));
}

#[test]
fn two_owners_lower_address_backs_off() {
    // keepalived vrrp.c: "local instance and a remote instance are both configured as address
    // owner, please fix - reducing local priority" (to 254); the lower address then yields.
    let mut vr = VrrpInstance::new(cfg(255), 0).unwrap();
    drain(&mut vr);
    while vr.poll_event().is_some() {}
    vr.handle_packet(
        SEC / 2,
        &meta(PEER_HI),
        &advert(Version::V2, 51, 255, 1, PEER_HI),
    )
    .unwrap();
    assert_eq!(vr.base_priority(), 254);
    assert_eq!(vr.state(), State::Backup);
    assert_eq!(vr.poll_event(), Some(Event::OwnerConflict { src: PEER_HI }));
}

#[test]
fn accept_mode_and_arp_follow_state() {
    // RFC 9568 6.4.3: the Active Router "MUST accept packets addressed to the IPvX address(es)
    // associated with the virtual router if it is the IPvX address owner or if Accept_Mode is
    // True. Otherwise, MUST NOT accept these packets."
    let vr = master(100);
    assert!(vr.answers_arp());
    assert!(!vr.accepts_vip_traffic());
    let mut c = cfg(100);
    c.accept = true;
    let mut a = VrrpInstance::new(c, 0).unwrap();
    assert!(!a.accepts_vip_traffic(), "Backup never accepts");
    a.handle_timeout(a.poll_timeout().unwrap());
    assert!(a.accepts_vip_traffic());
    let owner = VrrpInstance::new(cfg(255), 0).unwrap();
    assert!(owner.accepts_vip_traffic());
}

// ----------------------------------------------------------------------------------------------
// keepalived extras: tracking, FAULT, GARP timers
// ----------------------------------------------------------------------------------------------

#[test]
fn tracked_weights_adjust_priority_clamped() {
    // keepalived vrrp_track.c: effective = base + weights, clamped to 1..254; 255 unchanged.
    let mut c = cfg(100);
    c.track = vec![
        TrackWeight {
            name: "chk_nginx".into(),
            weight: -20,
        },
        TrackWeight {
            name: "plus".into(),
            weight: 200,
        },
    ];
    let mut vr = VrrpInstance::new(c.clone(), 0).unwrap();
    assert_eq!(vr.effective_priority(), 254, "100 + 200 clamped");
    vr.set_track(1, 1, false);
    assert_eq!(vr.effective_priority(), 100);
    assert!(vr.set_track_by_name(2, "chk_nginx", false));
    assert_eq!(vr.effective_priority(), 80, "the seeds' weight -20");
    c.priority = 10;
    c.track[0].weight = -253;
    let mut low = VrrpInstance::new(c.clone(), 0).unwrap();
    low.set_track(0, 0, false);
    low.set_track(0, 1, false);
    assert_eq!(low.effective_priority(), 1, "clamped to 1");
    c.priority = 255;
    let mut owner = VrrpInstance::new(c, 0).unwrap();
    owner.set_track(0, 0, false);
    assert_eq!(owner.effective_priority(), 255, "255 is never adjusted");
}

#[test]
fn weight_zero_track_forces_fault_and_release() {
    // keepalived: a tracked object with weight 0 puts the instance in FAULT when it fails.
    let mut c = cfg(100);
    c.track = vec![TrackWeight {
        name: "eth1".into(),
        weight: 0,
    }];
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    vr.handle_timeout(vr.poll_timeout().unwrap());
    drain(&mut vr);
    while vr.poll_event().is_some() {}
    vr.set_track(5 * SEC, 0, false);
    assert_eq!(vr.state(), State::Fault);
    assert_eq!(
        advert_prios(&drain(&mut vr)),
        vec![0],
        "release with priority 0"
    );
    assert_eq!(vr.poll_timeout(), None);
    let e = vr.poll_event().unwrap();
    assert_eq!(e.notify_args("VI_1").unwrap()[2], "FAULT");
    // Adverts are ignored in FAULT.
    vr.handle_packet(
        6 * SEC,
        &meta(PEER_HI),
        &advert(Version::V2, 51, 0, 1, PEER_HI),
    )
    .unwrap();
    assert!(drain(&mut vr).is_empty());
    vr.set_track(7 * SEC, 0, true);
    assert_eq!(vr.state(), State::Backup);
    assert_eq!(vr.poll_timeout(), Some(7 * SEC + 3_609_375));
}

#[test]
fn garp_second_burst_and_refresh() {
    // keepalived: garp_master_delay (5 s) second burst of garp_master_repeat; with
    // garp_master_refresh, garp_master_refresh_repeat GARPs every refresh period.
    let mut c = cfg(255);
    c.garp_master_repeat = 2;
    c.garp_master_refresh = Duration::from_secs(60);
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    let garps = |tx: &[(Transmit, Vec<u8>)]| {
        tx.iter()
            .filter(|(t, _)| matches!(t, Transmit::GratuitousArp { .. }))
            .count()
    };
    assert_eq!(garps(&drain(&mut vr)), 2);
    let mut n_at = Vec::new();
    let mut now = 0;
    while now < 61 * SEC {
        now = vr.poll_timeout().unwrap();
        vr.handle_timeout(now);
        let n = garps(&drain(&mut vr));
        if n > 0 {
            n_at.push((now, n));
        }
    }
    assert_eq!(n_at, vec![(5 * SEC, 2), (60 * SEC, 1)]);
}

#[test]
fn ipv6_instance_forces_v3_and_sends_link_local_adverts_and_nas() {
    // RFC 9568 5.1.2.1: "The IPv6 source address ... MUST be the link-local address of the
    // interface the packet is being sent from"; 6.4.1: "for each IPv6 address ... send an
    // Unsolicited Neighbor Advertisement with the Router Flag (R) set, the Solicited Flag (S)
    // unset, the Override flag (O) set, the target address set to the IPv6 address ... and
    // the Target Link-Layer Address set to the virtual router MAC address."
    let ll: IpAddr = "fe80::a00:27ff:fe00:1".parse().unwrap();
    let vip: Ipv6Addr = "fe80::200".parse().unwrap();
    let c = VrrpConfig {
        interface_addr: ll,
        interface_mac: [0x08, 0x00, 0x27, 0, 0, 1],
        virtual_router_id: 51,
        priority: 255,
        use_vmac: true,
        virtual_ipaddress: vec![IpAddr::V6(vip)],
        ..VrrpConfig::default()
    };
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    assert_eq!(vr.version(), Version::V3);
    let tx = drain(&mut vr);
    let (t, f) = &tx[0];
    let Transmit::Advert { dst_mac, .. } = t else {
        panic!()
    };
    assert_eq!(*dst_mac, Some(wire::MCAST_MAC_V6));
    assert_eq!(&f[6..12], &[0, 0, 0x5e, 0, 2, 51], "IPv6 virtual MAC");
    let (m, adv) = wire::decode_frame(f).unwrap();
    assert_eq!((m.src, m.dst, m.ttl), (ll, IpAddr::V6(wire::MCAST_V6), 255));
    assert_eq!(adv.address(0), Some(IpAddr::V6(vip)));
    let (t, na) = &tx[1];
    assert!(matches!(t, Transmit::UnsolicitedNa { len: 86, .. }));
    // Independent parse and checksum.
    let p = etherparse::SlicedPacket::from_ethernet(na).unwrap();
    let Some(etherparse::TransportSlice::Icmpv6(icmp)) = p.transport else {
        panic!()
    };
    assert_eq!(icmp.type_u8(), 136);
    // keepalived 2.2.7 sends the NA from the VIP itself (see tests/keepalived.rs).
    assert_eq!(&na[22..38], &vip.octets());
    let mut ph = Vec::new();
    ph.extend_from_slice(&vip.octets());
    ph.extend_from_slice(&Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).octets());
    ph.extend_from_slice(&[0, 0, 0, 32, 0, 0, 0, 58]);
    assert_eq!(common::inet_checksum(&[&ph, &na[54..]]), 0);
    assert_eq!(na[58], 0xa0, "R=1 S=0 O=1");
    assert_eq!(&na[62..78], &vip.octets());
    assert_eq!(&na[80..86], &[0, 0, 0x5e, 0, 2, 51], "TLLA = virtual MAC");
}

#[test]
fn advert_frame_verified_by_etherparse() {
    // RFC 3768 5.2.2-5.2.4: destination 224.0.0.18, TTL 255, protocol 112; Ethernet
    // destination 01:00:5e:00:00:12; IPv4 header checksum valid.
    let mut vr = master(100);
    vr.handle_timeout(vr.poll_timeout().unwrap());
    let (t, f) = drain(&mut vr).remove(0);
    let Transmit::Advert {
        payload_offset,
        len,
        ..
    } = t
    else {
        panic!()
    };
    assert_eq!(&f[0..6], &wire::MCAST_MAC_V4);
    let p = etherparse::SlicedPacket::from_ethernet(&f).unwrap();
    let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
        panic!()
    };
    let h = ip.header().to_header();
    assert_eq!(h.time_to_live, 255);
    assert_eq!(h.protocol, etherparse::IpNumber(112));
    assert_eq!(h.destination, [224, 0, 0, 18]);
    assert_eq!(h.header_checksum, h.calc_header_checksum());
    assert_eq!(ip.payload().payload, &f[payload_offset..len]);
    assert_eq!(common::inet_checksum(&[&f[payload_offset..len]]), 0);
    let _ = Ipv4Addr::LOCALHOST;
}

#[test]
fn master_hearing_lower_priority_refreshes_arp_caches() {
    // keepalived vrrp_state_master_rx: "We receive a lower prio adv we just refresh remote ARP
    // cache": garp_lower_prio_repeat GARPs now and again after garp_lower_prio_delay (both
    // default to garp_master_repeat / garp_master_delay: 5 and 5 s).
    let garps = |tx: &[(Transmit, Vec<u8>)]| {
        tx.iter()
            .filter(|(t, _)| matches!(t, Transmit::GratuitousArp { .. }))
            .count()
    };
    let mut vr = master(100);
    let t0 = 20 * SEC;
    while vr.poll_timeout().unwrap() <= t0 {
        vr.handle_timeout(vr.poll_timeout().unwrap());
        drain(&mut vr);
    }
    vr.handle_packet(t0, &meta(PEER_HI), &advert(Version::V2, 51, 90, 1, PEER_HI))
        .unwrap();
    assert_eq!(garps(&drain(&mut vr)), 5);
    let mut later = 0;
    let mut now = t0;
    while now < t0 + 6 * SEC {
        now = vr.poll_timeout().unwrap();
        vr.handle_timeout(now);
        let n = garps(&drain(&mut vr));
        if n > 0 {
            assert_eq!(now, t0 + 5 * SEC);
            later += n;
        }
    }
    assert_eq!(later, 5);
    let mut c = cfg(100);
    c.garp_lower_prio_repeat = Some(0);
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    vr.handle_timeout(vr.poll_timeout().unwrap());
    drain(&mut vr);
    vr.handle_packet(t0, &meta(PEER_HI), &advert(Version::V2, 51, 90, 1, PEER_HI))
        .unwrap();
    assert_eq!(garps(&drain(&mut vr)), 0);
}

#[test]
fn check_unicast_src_drops_strangers() {
    // keepalived check_unicast_src: adverts from a source that is not a unicast_peer are
    // discarded.
    let mut c = cfg(100);
    c.unicast_peer = vec![PEER_HI];
    c.check_unicast_src = true;
    let mut vr = VrrpInstance::new(c, 0).unwrap();
    let stranger: IpAddr = "192.168.56.50".parse().unwrap();
    let p = common::advert_with(Version::V2, 51, 150, 1, stranger, LOCAL, &[VIP], 0, [0; 8]);
    let m = IpMeta {
        src: stranger,
        dst: LOCAL,
        ttl: 255,
    };
    assert_eq!(
        vr.handle_packet(1, &m, &p),
        Err(DropReason::UnknownUnicastSource)
    );
    assert_eq!(vr.stats().unknown_unicast_src, 1);
    let p = common::advert_with(Version::V2, 51, 150, 1, PEER_HI, LOCAL, &[VIP], 0, [0; 8]);
    let m = IpMeta {
        src: PEER_HI,
        dst: LOCAL,
        ttl: 255,
    };
    assert_eq!(vr.handle_packet(1, &m, &p), Ok(()));
}
