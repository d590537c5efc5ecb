//! Sessions, sequence accounting and the metadata spandump keeps (issue: count every
//! loss and keep the metadata): `--stats-json` parsed key by key, `--list-sessions`,
//! GRE sequence gaps on real captures with packets removed, duplicated, swapped,
//! renumbered across 2^32 and restarted, two sessions on one counter (Open vSwitch)
//! and on two (Linux), and pcapng per-session interfaces read back by tshark.

mod common;

use common::capgen::*;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One ERSPAN II session (101), 108 packets numbered in order: a real switch's output.
const ONE_SESSION: &str = "tcpdump-erspan-type-ii-3.pcap";
/// Four ERSPAN II sessions from two senders (Suricata's test suite).
const FOUR_SESSIONS: &str = "suricata-verify-bug-5437-02-input.pcap";

/// Runs `spandump -r INPUT -w DIR/out.pcapng --stats-json DIR/stats.json ARGS` and
/// returns the JSON lines, the run and the output path.
fn stats_run(dir: &Path, input: &Path, args: &[&str]) -> (Vec<Value>, Run, PathBuf) {
    let out = dir.join("out.pcapng");
    let json = dir.join("stats.json");
    let mut argv = vec![
        "-r".to_string(),
        input.display().to_string(),
        "-w".into(),
        out.display().to_string(),
        "--stats-json".into(),
        json.display().to_string(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    let run = run(&argv);
    assert!(run.status.success(), "spandump failed: {}", run.stderr);
    let text = std::fs::read_to_string(&json).expect("stats JSON written");
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (lines, run, out)
}

/// The final JSON object of a run on `records`.
fn final_stats(records: &[(u64, Vec<u8>)], args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(
        dir.path(),
        "in.pcap",
        &pcap_bytes(PcapFormat::ethernet(), records),
    );
    let (lines, _, _) = stats_run(dir.path(), &input, args);
    lines.last().expect("a final line").clone()
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{v} is not a non-negative integer"))
}

/// The records of a real Ethernet capture: (timestamp ns, frame).
fn real_records(name: &str) -> Vec<(u64, Vec<u8>)> {
    let capture = read_capture(&testdata(name));
    assert_eq!(capture.link_type, 1, "{name} is Ethernet");
    capture
        .records
        .into_iter()
        .map(|r| (r.ts_ns, r.data))
        .collect()
}

/// Offset of the GRE header in an Ethernet / IPv4 frame (no VLAN tag).
fn gre_offset(frame: &[u8]) -> usize {
    assert_eq!(&frame[12..14], &[0x08, 0x00], "IPv4 in Ethernet");
    14 + usize::from(frame[14] & 0x0F) * 4
}

/// Offset of the GRE sequence number.
fn seq_offset(frame: &[u8]) -> usize {
    let gre = gre_offset(frame);
    let flags = frame[gre];
    assert!(flags & 0x10 != 0, "GRE S bit set");
    gre + 4 + if flags & 0x80 != 0 { 4 } else { 0 } + if flags & 0x20 != 0 { 4 } else { 0 }
}

fn seq(frame: &[u8]) -> u32 {
    let at = seq_offset(frame);
    u32::from_be_bytes(frame[at..at + 4].try_into().unwrap())
}

fn set_seq(frame: &mut [u8], n: u32) {
    let at = seq_offset(frame);
    frame[at..at + 4].copy_from_slice(&n.to_be_bytes());
}

/// Rewrites the ERSPAN II session ID (the low 10 bits of the header's second half-word).
fn set_session(frame: &mut [u8], session: u16) {
    let at = seq_offset(frame) + 4 + 2;
    let word = u16::from_be_bytes([frame[at], frame[at + 1]]);
    let word = (word & !0x03FF) | (session & 0x03FF);
    frame[at..at + 2].copy_from_slice(&word.to_be_bytes());
}

/// The one-session capture renumbered from `first`, in order.
fn renumbered(first: u32) -> Vec<(u64, Vec<u8>)> {
    let mut records = real_records(ONE_SESSION);
    for (i, (_, frame)) in records.iter_mut().enumerate() {
        set_seq(frame, first.wrapping_add(i as u32));
    }
    records
}

fn seq_counts(v: &Value) -> [u64; 4] {
    [
        u(&v["seq_lost"]),
        u(&v["seq_reordered"]),
        u(&v["seq_duplicate"]),
        u(&v["seq_restarts"]),
    ]
}

#[test]
fn the_real_one_session_capture_is_numbered_in_order() {
    let records = real_records(ONE_SESSION);
    let numbers: Vec<u32> = records.iter().map(|(_, f)| seq(f)).collect();
    assert_eq!(numbers.len(), 108);
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "{numbers:?}"
    );
    let v = final_stats(&records, &[]);
    assert_eq!(seq_counts(&v), [0, 0, 0, 0]);
    assert_eq!(u(&v["frames_written"]), 108);
}

#[test]
fn removed_packets_are_counted_exactly() {
    let mut records = real_records(ONE_SESSION);
    // Packet 11 and 12 (a run of two), and packet 51.
    records.remove(50);
    records.remove(11);
    records.remove(10);
    let v = final_stats(&records, &[]);
    assert_eq!(seq_counts(&v), [3, 0, 0, 0]);
    assert_eq!(u(&v["frames_written"]), 105);
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(u(&sessions[0]["seq_lost"]), 3);
}

#[test]
fn a_duplicated_packet_is_a_duplicate_not_a_loss() {
    let mut records = real_records(ONE_SESSION);
    let copy = records[20].clone();
    records.insert(21, copy);
    let v = final_stats(&records, &[]);
    assert_eq!(seq_counts(&v), [0, 0, 1, 0]);
    // Counted, never dropped: both copies are written.
    assert_eq!(u(&v["frames_written"]), 109);
}

#[test]
fn swapped_pairs_are_reordered_not_lost() {
    let mut records = real_records(ONE_SESSION);
    records.swap(30, 31);
    records.swap(70, 71);
    let v = final_stats(&records, &[]);
    assert_eq!(seq_counts(&v), [0, 2, 0, 0]);
}

#[test]
fn a_wrap_at_2_pow_32_is_in_order() {
    let records = renumbered(0xFFFF_FFC0);
    assert!(records.iter().any(|(_, f)| seq(f) == 0), "crosses 0");
    let v = final_stats(&records, &[]);
    assert_eq!(seq_counts(&v), [0, 0, 0, 0]);
    // And a loss across the wrap is still exact.
    let mut records = records;
    let at = records
        .iter()
        .position(|(_, f)| seq(f) == 0xFFFF_FFFF)
        .unwrap();
    records.drain(at..at + 2);
    let v = final_stats(&records, &[]);
    assert_eq!(seq_counts(&v), [2, 0, 0, 0]);
}

#[test]
fn a_restart_is_counted_and_is_no_loss() {
    let mut records = renumbered(5_000_000);
    // The sender restarts at packet 60: its counter begins again at 0.
    for (i, (_, frame)) in records.iter_mut().enumerate().skip(60) {
        set_seq(frame, (i - 60) as u32);
    }
    let v = final_stats(&records, &[]);
    assert_eq!(seq_counts(&v), [0, 0, 0, 1]);
    assert_eq!(u(&v["frames_written"]), 108);
}

/// Sessions 101 and 102 interleaved (A, B, A, A, B, ...) on one counter, as Open
/// vSwitch numbers all ERSPAN sessions of a datapath.
fn shared_counter() -> Vec<(u64, Vec<u8>)> {
    let mut records = renumbered(1000);
    for (i, (_, frame)) in records.iter_mut().enumerate() {
        if i % 3 == 1 {
            set_session(frame, 102);
        }
    }
    records
}

#[test]
fn two_sessions_on_one_counter_lose_nothing() {
    let v = final_stats(&shared_counter(), &[]);
    assert_eq!(seq_counts(&v), [0, 0, 0, 0]);
    let sessions = v["sessions"].as_array().unwrap();
    let per_session: Vec<_> = sessions
        .iter()
        .map(|s| (u(&s["session"]), u(&s["packets"]), u(&s["seq_lost"])))
        .collect();
    assert_eq!(per_session, [(101, 72, 0), (102, 36, 0)]);
}

#[test]
fn two_sessions_on_one_counter_count_removed_packets_exactly() {
    let mut records = shared_counter();
    for at in [90, 40, 39, 7] {
        records.remove(at);
    }
    let v = final_stats(&records, &[]);
    assert_eq!(seq_counts(&v)[0], 4, "{v}");
    let lost: u64 = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| u(&s["seq_lost"]))
        .sum();
    assert_eq!(lost, 4, "sessions' losses add up to the total");
}

/// Sessions 101 and 102 interleaved, each numbered from 0 by its own counter, as a
/// Linux erspan device per session does.
fn counter_per_session() -> Vec<(u64, Vec<u8>)> {
    let mut records = real_records(ONE_SESSION);
    let mut next = [0u32; 2];
    for (i, (_, frame)) in records.iter_mut().enumerate() {
        let s = usize::from(i % 3 == 1);
        set_session(frame, 101 + s as u16);
        set_seq(frame, next[s]);
        next[s] += 1;
    }
    records
}

#[test]
fn two_sessions_with_their_own_counters_lose_nothing() {
    let v = final_stats(&counter_per_session(), &[]);
    assert_eq!(seq_counts(&v), [0, 0, 0, 0], "{v}");
}

#[test]
fn two_sessions_with_their_own_counters_count_removed_packets_exactly() {
    let mut records = counter_per_session();
    // One of session 102 (index 4) and two of session 101 (indexes 60 and 63).
    for at in [63, 60, 4] {
        records.remove(at);
    }
    let v = final_stats(&records, &[]);
    assert_eq!(seq_counts(&v)[0], 3, "{v}");
    let per_session: Vec<_> = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (u(&s["session"]), u(&s["seq_lost"])))
        .collect();
    assert_eq!(per_session, [(101, 2), (102, 1)]);
}

/// Per sender and session: (packets, the ERSPAN index last seen), as tshark reads them.
fn tshark_sessions(file: &Path) -> Vec<(String, u64, u64, u64)> {
    let rows = tshark_fields(
        file,
        None,
        &["ip.src", "erspan.spanid", "erspan.index"],
        &[],
    );
    let mut sessions: Vec<(String, u64, u64, u64)> = Vec::new();
    for row in rows {
        // The outer header's fields come first (the inner IP header has an ip.src too).
        let first = |cell: &str| cell.split(',').next().unwrap().to_string();
        let src = first(&row[0]);
        let session: u64 = first(&row[1]).parse().unwrap();
        let index: u64 = first(&row[2]).parse().unwrap();
        match sessions.iter_mut().find(|s| s.0 == src && s.1 == session) {
            Some(s) => {
                s.2 += 1;
                s.3 = index;
            }
            None => sessions.push((src, session, 1, index)),
        }
    }
    sessions
}

#[test]
fn stats_json_lists_every_session_key_by_key() {
    if !have_tool("tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = testdata(FOUR_SESSIONS);
    let (lines, run, _) = stats_run(dir.path(), &input, &[]);
    assert_eq!(lines.len(), 1, "one line without --stats-interval");
    let v = &lines[0];
    let summary = parse_summary(&run.stderr).unwrap();
    assert_eq!(u(&v["outer_packets"]), summary.read);
    assert_eq!(u(&v["frames_written"]), summary.written);
    assert_eq!(u(&v["frames_written"]), 60);
    for key in [
        "filtered_out",
        "malformed",
        "unsupported",
        "kernel_drops",
        "channel_drops",
    ] {
        assert_eq!(u(&v[key]), 0, "{key}");
    }
    assert_eq!(v["final"], true);
    assert!(v["skipped"].as_object().unwrap().is_empty());
    // This sender sets the GRE S bit and sends sequence number 0 every time: not
    // numbered, so no duplicates.
    assert_eq!(seq_counts(v), [0, 0, 0, 0]);
    let want = tshark_sessions(&input);
    assert_eq!(want.len(), 4);
    let got: Vec<_> = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["encap"], "erspan-ii");
            assert_eq!(s["key"], Value::Null);
            assert_eq!(s["direction"], Value::Null);
            assert!(u(&s["bytes"]) > 60 * u(&s["packets"]), "{s}");
            (
                s["source"].as_str().unwrap().to_string(),
                u(&s["session"]),
                u(&s["packets"]),
                u(&s["index"]),
            )
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn filtered_out_sessions_are_still_listed() {
    let dir = tempfile::tempdir().unwrap();
    let (lines, _, _) = stats_run(dir.path(), &testdata(FOUR_SESSIONS), &["--session", "2"]);
    let v = lines.last().unwrap();
    assert_eq!(u(&v["frames_written"]), 34);
    assert_eq!(u(&v["filtered_out"]), 26);
    let sessions: Vec<_> = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (u(&s["session"]), u(&s["packets"]), u(&s["packets_written"])))
        .collect();
    assert_eq!(sessions, [(5, 15, 0), (2, 34, 34), (7, 10, 0), (6, 1, 0)]);
}

#[test]
fn skips_are_counted_by_class_and_cause() {
    let mut records = real_records(ONE_SESSION);
    // Cut one packet inside its GRE header (its IP header now claims more than there
    // is); make another PPTP's GRE version 1.
    let gre = gre_offset(&records[5].1);
    records[5].1.truncate(gre + 2);
    let gre = gre_offset(&records[6].1);
    records[6].1[gre + 1] = 1;
    let v = final_stats(&records, &[]);
    assert_eq!(u(&v["malformed"]), 1, "{v}");
    assert_eq!(u(&v["unsupported"]), 1, "{v}");
    assert_eq!(u(&v["skipped"]["bad-ip-header"]), 1, "{v}");
    assert_eq!(u(&v["skipped"]["gre-version"]), 1, "{v}");
    assert_eq!(u(&v["frames_written"]), 106);
    // Their sequence numbers never reached the session: a gap of two.
    assert_eq!(u(&v["seq_lost"]), 2);
}

#[test]
fn list_sessions_prints_a_table_and_writes_no_frames() {
    let run = run(&[
        "-r",
        testdata(FOUR_SESSIONS).to_str().unwrap(),
        "--list-sessions",
    ]);
    assert!(run.status.success(), "{}", run.stderr);
    let out = String::from_utf8(run.stdout.clone()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "SOURCE", "ENCAP", "KEY", "SESSION", "VNI", "INDEX", "DIR", "HWID", "VLAN", "PACKETS",
            "BYTES", "SEQ-LOST"
        ]
    );
    let sessions: Vec<(String, String)> = lines[1..]
        .iter()
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (cells[3].to_string(), cells[cells.len() - 3].to_string())
        })
        .collect();
    let want: Vec<(String, String)> = [("5", "15"), ("2", "34"), ("7", "10"), ("6", "1")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(sessions, want);
    assert!(run.stderr.contains("0 frames written"), "{}", run.stderr);
    // Frames and a table do not mix.
    let both = common::run(&["-r", "x.pcap", "--list-sessions", "-w", "out.pcap"]);
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn stats_json_to_stdout_needs_frames_elsewhere() {
    let r = run(&["-r", "x.pcap", "-w", "-", "--stats-json", "-"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(r.stderr.contains("--stats-json -"), "{}", r.stderr);
    let r = run(&["-r", "x.pcap", "--stats-interval", "1"]);
    assert_eq!(
        r.status.code(),
        Some(2),
        "--stats-interval needs --stats-json"
    );
    // With frames in a file, stdout carries the JSON.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.pcap");
    let input = testdata(ONE_SESSION);
    let r = run(&[
        "-r",
        input.to_str().unwrap(),
        "-w",
        out.to_str().unwrap(),
        "--stats-json",
        "-",
    ]);
    assert!(r.status.success(), "{}", r.stderr);
    let v: Value = serde_json::from_slice(&r.stdout).expect("one JSON object on stdout");
    assert_eq!(u(&v["frames_written"]), 108);
}

/// The Interface Statistics Blocks of a pcapng file: (interface, ifrecv, ifdrop).
fn interface_stats(file: &Path) -> Vec<(u32, u64, u64)> {
    let bytes = std::fs::read(file).unwrap();
    let mut stats = Vec::new();
    let mut at = 0;
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    while at + 12 <= bytes.len() {
        let (kind, len) = (u32_at(&bytes, at), u32_at(&bytes, at + 4) as usize);
        assert!(len >= 12 && at + len <= bytes.len(), "block at {at}");
        if kind == 5 {
            let (mut recv, mut drop) = (u64::MAX, u64::MAX);
            let mut opt = at + 20;
            while opt + 4 <= at + len - 4 {
                let code = u16::from_le_bytes([bytes[opt], bytes[opt + 1]]);
                let olen = usize::from(u16::from_le_bytes([bytes[opt + 2], bytes[opt + 3]]));
                let value = || u64::from_le_bytes(bytes[opt + 4..opt + 12].try_into().unwrap());
                match code {
                    0 => break,
                    4 => recv = value(),
                    5 => drop = value(),
                    _ => {}
                }
                opt += 4 + olen.div_ceil(4) * 4;
            }
            stats.push((u32_at(&bytes, at + 8), recv, drop));
        }
        at += len;
    }
    stats
}

#[test]
fn pcapng_has_an_interface_per_session_with_drops_and_sequence_numbers() {
    if !have_tool("tshark") || cfg!(target_endian = "big") {
        return;
    }
    let mut records = shared_counter();
    // Two packets of session 101 (indexes 9 and 10: 101, 101), then one of 102 (16).
    records.remove(16);
    records.remove(10);
    records.remove(9);
    let numbers: Vec<u32> = records.iter().map(|(_, f)| seq(f)).collect();
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(
        dir.path(),
        "in.pcap",
        &pcap_bytes(PcapFormat::ethernet(), &records),
    );
    let (_, _, out) = stats_run(dir.path(), &input, &[]);
    let rows = tshark_fields(
        &out,
        None,
        &[
            "frame.interface_name",
            "frame.interface_description",
            "frame.packet_id",
            "frame.drop_count",
        ],
        &[],
    );
    assert_eq!(rows.len(), records.len());
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    let sender = "192.168.1.172";
    let a = format!("erspan-ii {sender} sid 101");
    let b = format!("erspan-ii {sender} sid 102");
    assert!(names.iter().all(|n| *n == a || *n == b), "{names:?}");
    assert!(rows[0][1].starts_with(&format!("ERSPAN type II from {sender}, session 101, index")));
    let ids: Vec<u32> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    assert_eq!(ids, numbers, "epb_packetid is the GRE sequence number");
    // The drop counts: 2 on the first packet after the gap at 9-10, 1 after 16.
    let drops: Vec<(usize, u64)> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r[3].is_empty())
        .map(|(i, r)| (i, r[3].parse().unwrap()))
        .collect();
    assert_eq!(drops, [(9, 2), (14, 1)], "{rows:?}");
    // A statistics block per interface: frames written, sequence losses.
    let mut isb = interface_stats(&out);
    isb.sort();
    let written_a = names.iter().filter(|n| **n == a).count() as u64;
    let written_b = names.iter().filter(|n| **n == b).count() as u64;
    assert_eq!(isb.len(), 2, "{isb:?}");
    let lost: u64 = isb.iter().map(|s| s.2).sum();
    assert_eq!(lost, 3);
    let received: Vec<u64> = isb.iter().map(|s| s.1).collect();
    assert_eq!(received, [written_a, written_b]);
}

#[test]
fn pcapng_flags_direction_and_comments_sender_marks() {
    if !have_tool("tshark") {
        return;
    }
    // ERSPAN III both ways (a real Zeek capture): inbound, then outbound.
    let dir = tempfile::tempdir().unwrap();
    let (_, _, out) = stats_run(dir.path(), &testdata("zeek-erspanIII.pcap"), &[]);
    let rows = tshark_fields(
        &out,
        None,
        &["frame.interface_name", "frame.packet_flags_direction"],
        &[],
    );
    let got: Vec<(String, u32)> = rows
        .iter()
        .map(|r| {
            let flags = u32::from_str_radix(r[1].trim_start_matches("0x"), 16).unwrap();
            (r[0].clone(), flags)
        })
        .collect();
    assert_eq!(
        got,
        [
            ("erspan-iii 10.0.0.1 sid 0 ingress".to_string(), 1),
            ("erspan-iii 10.0.0.1 sid 0 egress".to_string(), 2)
        ]
    );
    // Frames the sender marked: truncated (T), and short (BSO 1).
    let mut e2 = ErspanII::new(5, 1);
    e2.truncated = true;
    let mut e3 = ErspanIII::new(6);
    e3.bso = 1;
    let inner = eth_udp_sized(100, 1);
    let records = vec![
        (1_000_000_000, erspan2(&e2, 1, &inner)),
        (2_000_000_000, erspan3(&e3, 1, &inner)),
        (3_000_000_000, gretap(Some(99), &inner)),
    ];
    let input = write_file(
        dir.path(),
        "marks.pcap",
        &pcap_bytes(PcapFormat::ethernet(), &records),
    );
    let (_, _, out) = stats_run(dir.path(), &input, &[]);
    let rows = tshark_fields(&out, None, &["frame.interface_name", "frame.comment"], &[]);
    assert_eq!(rows.len(), 3);
    assert!(rows[0][1].contains("truncated"), "{rows:?}");
    assert!(rows[1][1].contains("BSO 1"), "{rows:?}");
    assert_eq!(rows[2][0], "gre 192.0.2.1 key 99");
    assert_eq!(rows[2][1], "", "no comment on unmarked frames");
}

/// Real Open vSwitch output (`testdata/ovs-mirrors.pcap`, see the MANIFEST): three IPv4
/// ERSPAN sessions (II and III) numbered by one counter between them, one IPv6 session,
/// and GRE with `seq=true`.
#[test]
fn real_open_vswitch_sessions_on_one_counter() {
    let records = real_records("ovs-mirrors.pcap");
    let v = final_stats(&records, &[]);
    assert_eq!(seq_counts(&v), [0, 0, 0, 0], "{v}");
    assert_eq!(v["sessions"].as_array().unwrap().len(), 7);
    // Remove five IPv4 ERSPAN packets spread over the three sessions (not the last one:
    // a loss at the very end leaves no later number to reveal it).
    let erspan_v4: Vec<usize> = records
        .iter()
        .enumerate()
        .filter(|(_, (_, f))| {
            f[12..14] == [0x08, 0x00] && {
                let gre = gre_offset(f);
                matches!(f[gre + 2..gre + 4], [0x88, 0xBE] | [0x22, 0xEB])
            }
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(erspan_v4.len(), 151);
    let mut cut = records.clone();
    for &i in [10, 11, 60, 100, 149].iter().rev() {
        cut.remove(erspan_v4[i]);
    }
    let v = final_stats(&cut, &[]);
    assert_eq!(seq_counts(&v), [5, 0, 0, 0], "{v}");
}

/// A flood of spoofed senders cannot grow the session table past its bound: the
/// packets past it are written and counted, not tracked.
#[test]
fn the_session_table_is_bounded() {
    let inner = eth_udp_sized(64, 1);
    let senders = 5000u32;
    let records: Vec<(u64, Vec<u8>)> = (0..senders)
        .map(|i| {
            // 2001:db8::1 to 2001:db8::1388, documentation addresses.
            let gre = Gre::new(ethertype::ERSPAN_II).seq(i);
            let payload = ErspanII::new(7, 1).build(&inner);
            let ip = ipv6_gre(v6(i as u16 + 1), v6(0xffff), &gre, &payload);
            (u64::from(i) * 1000, outer_eth(&ip))
        })
        .collect();
    let v = final_stats(&records, &[]);
    assert_eq!(u(&v["frames_written"]), u64::from(senders));
    assert_eq!(v["sessions"].as_array().unwrap().len(), 4096);
    assert_eq!(u(&v["sessions_over_limit"]), u64::from(senders) - 4096);
    assert_eq!(seq_counts(&v), [0, 0, 0, 0]);
}
