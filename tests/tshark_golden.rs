//! tshark as the independent oracle: for every capture whose GRE packets are all
//! decapsulated, tshark's decode of the frames spandump writes must equal tshark's
//! decode of the inner layers of the original capture, frame by frame, and the
//! timestamps must match.
//!
//! Outer side: `tshark -r IN -Y gre -E occurrence=a` lists every occurrence of each
//! field; the first `eth.*` entry and the first `ip.*` entry belong to the outer
//! headers (every file here has an IPv4 underlay), the rest is the inner frame.
//! Output side: `tshark -r OUT` with the same fields, all occurrences. For L3 GRE
//! (`gre.proto` 0x0800 / 0x86dd) the Ethernet header is synthesized, so only its
//! shape is checked (zero MACs, ethertype from the IP version) and the IP fields are
//! compared.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// Captures in which tshark sees GRE only in packets spandump decapsulates.
const GOLDEN: &[&str] = &[
    "suricata-verify-bug-2576-01-temp6.pcap",
    "suricata-verify-bug-5437-01-input.pcap",
    "suricata-verify-bug-5437-02-input.pcap",
    "suricata-verify-bug-5633-gre-01-gre-udp.pcap",
    "suricata-verify-bug-5633-gre-02-gre-sample.pcap",
    "suricata-verify-decode-erspan-typeI-02-input.pcap",
    "suricata-verify-decode-erspan-typeII-01-input.pcap",
    "suricata-verify-security-8550-input.pcap",
    "tcpdump-erspan-type-i-1.pcap",
    "tcpdump-erspan-type-i-2.pcap",
    "tcpdump-erspan-type-i-3.pcap",
    "tcpdump-erspan-type-i-4.pcap",
    "tcpdump-erspan-type-ii-1.pcap",
    "tcpdump-erspan-type-ii-2.pcap",
    "tcpdump-erspan-type-ii-3.pcap",
    "tcpdump-erspan-type-iii-ft-0.pcap",
    "zeek-erspan.pcap",
    "zeek-erspanI.pcap",
    "zeek-erspanII.pcap",
    "zeek-erspanIII.pcap",
    "zeek-gre-erspan3-dot1q.pcap",
    "zeek-gre-within-gre.pcap",
    "zeek-tunnel-direct-bypass.pcap",
];

const TIME: usize = 0;
const GRE_PROTO: usize = 1;
const ETH: [usize; 3] = [2, 3, 4];
const IP4: [usize; 2] = [5, 6];
const IP6: [usize; 2] = [7, 8];
const FIELDS: [&str; 9] = [
    "frame.time_epoch",
    "gre.proto",
    "eth.src",
    "eth.dst",
    "eth.type",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
];

/// One frame: for each field, all its occurrences.
type Decoded = Vec<Vec<String>>;

fn decode(file: &Path, filter: Option<&str>) -> Vec<Decoded> {
    tshark_fields(
        file,
        filter,
        &FIELDS,
        &["-E", "occurrence=a", "-E", "aggregator=|"],
    )
    .into_iter()
    .map(|row| {
        row.into_iter()
            .map(|col| {
                if col.is_empty() {
                    Vec::new()
                } else {
                    col.split('|').map(str::to_string).collect()
                }
            })
            .collect()
    })
    .collect()
}

fn tail(v: &[String]) -> Vec<String> {
    v.iter().skip(1).cloned().collect()
}

/// Compares one written frame with the inner part of its outer frame.
fn compare(outer: &Decoded, written: &Decoded) -> Result<(), String> {
    let mut diffs = Vec::new();
    if outer[TIME] != written[TIME] {
        diffs.push(format!("time {:?} vs {:?}", outer[TIME], written[TIME]));
    }
    if outer[IP4[0]].is_empty() {
        return Err("outer frame has no IPv4 underlay".into());
    }
    let l3 = matches!(
        outer[GRE_PROTO].first().map(String::as_str),
        Some("0x0800") | Some("0x86dd")
    );
    if l3 {
        let want_type = if outer[GRE_PROTO][0] == "0x86dd" {
            "0x86dd"
        } else {
            "0x0800"
        };
        let zero = "00:00:00:00:00:00";
        if written[ETH[0]].first().map(String::as_str) != Some(zero)
            || written[ETH[1]].first().map(String::as_str) != Some(zero)
            || written[ETH[2]].first().map(String::as_str) != Some(want_type)
        {
            diffs.push(format!(
                "synthesized Ethernet header: src {:?} dst {:?} type {:?}",
                written[ETH[0]], written[ETH[1]], written[ETH[2]]
            ));
        }
        for &c in &ETH {
            if tail(&outer[c]) != tail(&written[c]) {
                diffs.push(format!(
                    "{}: inner {:?} vs written {:?}",
                    FIELDS[c],
                    tail(&outer[c]),
                    tail(&written[c])
                ));
            }
        }
    } else {
        for &c in &ETH {
            if tail(&outer[c]) != written[c] {
                diffs.push(format!(
                    "{}: inner {:?} vs written {:?}",
                    FIELDS[c],
                    tail(&outer[c]),
                    written[c]
                ));
            }
        }
    }
    for &c in &IP4 {
        if tail(&outer[c]) != written[c] {
            diffs.push(format!(
                "{}: inner {:?} vs written {:?}",
                FIELDS[c],
                tail(&outer[c]),
                written[c]
            ));
        }
    }
    for &c in &IP6 {
        if outer[c] != written[c] {
            diffs.push(format!(
                "{}: inner {:?} vs written {:?}",
                FIELDS[c], outer[c], written[c]
            ));
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; "))
    }
}

#[test]
fn written_frames_match_tshark_inner_decode() {
    if !have_tool("tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut frames_checked = 0;
    for (i, file) in GOLDEN.iter().enumerate() {
        let input = testdata(file);
        let out = dir.path().join(format!("golden{i}.pcap"));
        let r = run(&[
            "-r",
            &input.display().to_string(),
            "-w",
            &out.display().to_string(),
        ]);
        if r.code() != Some(0) {
            failures.push(format!("{file}: exit {:?}: {}", r.status, r.stderr));
            continue;
        }
        let outer = decode(&input, Some("gre"));
        let written = decode(&out, None);
        if outer.is_empty() {
            failures.push(format!("{file}: tshark found no GRE frames in the input"));
            continue;
        }
        if outer.len() != written.len() {
            failures.push(format!(
                "{file}: tshark sees {} GRE frames in the input but {} frames in the output",
                outer.len(),
                written.len()
            ));
            continue;
        }
        for (n, (o, w)) in outer.iter().zip(&written).enumerate() {
            if let Err(e) = compare(o, w) {
                failures.push(format!("{file}: written frame {}: {e}", n + 1));
                break;
            }
            frames_checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "tshark disagrees:\n  {}",
        failures.join("\n  ")
    );
    // 15+2+60+3+40+42+6+1+2+2+1+96+1+16+108+9+248+10+4+2+2+628+10
    assert_eq!(frames_checked, 1308, "frames compared");
}

/// `spandump -r X -w - | tshark -r -` reads every written frame, for pcap and pcapng.
#[test]
fn output_pipe_is_readable_by_tshark() {
    if !have_tool("tshark") {
        return;
    }
    for (file, frames) in [
        ("zeek-erspan.pcap", 248),
        ("tcpdump-erspan-type-ii-3.pcap", 108),
    ] {
        for extra in [None, Some("--pcapng")] {
            let mut args = vec![
                "-r".to_string(),
                testdata(file).display().to_string(),
                "-w".to_string(),
                "-".to_string(),
            ];
            args.extend(extra.map(str::to_string));
            let mut producer = Command::new(spandump_bin())
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let consumer = Command::new("tshark")
                .args(["-n", "-r", "-", "-T", "fields", "-e", "frame.number"])
                .stdin(Stdio::from(producer.stdout.take().unwrap()))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .output()
                .unwrap();
            let produced = producer.wait_with_output().unwrap();
            let ctx = format!("spandump {} | tshark -r -", args.join(" "));
            assert_eq!(
                produced.status.code(),
                Some(0),
                "{ctx}: spandump: {}",
                String::from_utf8_lossy(&produced.stderr)
            );
            assert!(
                consumer.status.success(),
                "{ctx}: tshark: {}",
                String::from_utf8_lossy(&consumer.stderr)
            );
            let n = String::from_utf8_lossy(&consumer.stdout).lines().count();
            assert_eq!(n, frames, "{ctx}: frames read by tshark");
        }
    }
}
