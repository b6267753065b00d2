//! Edge cases of the rings; the placements themselves are checked against the real
//! tools' output in `tests/cluster_ring.rs`.

use super::*;

fn nodes(specs: &[&str]) -> Vec<Node> {
    specs.iter().map(|s| Node::parse(s).unwrap()).collect()
}

fn ring(imp: Implementation, hash: Hash, specs: &[&str], replicas: usize) -> Ring {
    Ring::new(imp, hash, nodes(specs), replicas).unwrap()
}

const RELAY: Implementation = Implementation::CarbonCRelay;
const CARBON: Implementation = Implementation::Carbon;
const ALL: [Hash; 3] = [Hash::CarbonCh, Hash::Fnv1aCh, Hash::JumpFnv1aCh];

#[test]
fn refused_rings() {
    assert_eq!(
        Ring::new(RELAY, Hash::CarbonCh, vec![], 1).unwrap_err(),
        RingError::NoNodes
    );
    let two = nodes(&["a", "b"]);
    assert_eq!(
        Ring::new(RELAY, Hash::CarbonCh, two.clone(), 0).unwrap_err(),
        RingError::NoReplicas
    );
    assert_eq!(
        Ring::new(RELAY, Hash::CarbonCh, two.clone(), 3).unwrap_err(),
        RingError::TooManyReplicas {
            replicas: 3,
            nodes: 2
        }
    );
    let many: Vec<Node> = (0..65)
        .map(|i| Node::parse(&format!("10.0.1.{i}")).unwrap())
        .collect();
    assert_eq!(
        Ring::new(RELAY, Hash::JumpFnv1aCh, many.clone(), 1).unwrap_err(),
        RingError::TooManyNodes { count: 65 }
    );
    // carbon has no such limit.
    assert!(Ring::new(CARBON, Hash::CarbonCh, many, 1).is_ok());
    assert_eq!(
        Ring::new(CARBON, Hash::JumpFnv1aCh, two, 1).unwrap_err(),
        RingError::NoCarbonJump
    );
    // The relay tells members apart by HOST:PORT, carbon by (host, instance).
    assert!(matches!(
        Ring::new(RELAY, Hash::CarbonCh, nodes(&["a:2003=x", "a=y"]), 1),
        Err(RingError::DuplicateNode(n)) if n == "a:2003"
    ));
    assert!(Ring::new(RELAY, Hash::CarbonCh, nodes(&["a:2003=x", "a:2004=x"]), 1).is_ok());
    assert!(matches!(
        Ring::new(CARBON, Hash::CarbonCh, nodes(&["a:2003=x", "a:2004=x"]), 1),
        Err(RingError::DuplicateCarbonKey { .. })
    ));
    // Two members with one key text: one owns nothing, so two replicas cannot be found.
    assert_eq!(
        Ring::new(RELAY, Hash::CarbonCh, nodes(&["h:2003", "h:2004"]), 2).unwrap_err(),
        RingError::TooFewOwners {
            replicas: 2,
            owning: 1
        }
    );
}

#[test]
fn one_member_owns_everything() {
    for hash in ALL {
        let r = ring(RELAY, hash, &["10.0.0.1"], 1);
        for key in [&b""[..], b"a", b"foo.bar", "ü".as_bytes()] {
            assert_eq!(r.owner(key), 0);
        }
    }
    for hash in [Hash::CarbonCh, Hash::Fnv1aCh] {
        let r = ring(CARBON, hash, &["10.0.0.1"], 2);
        let mut out = Vec::new();
        r.owners(b"foo", &mut out);
        assert_eq!(out, [0]);
    }
}

/// Every owner list has the asked number of distinct members (relay).
#[test]
fn replicas_are_distinct() {
    let specs = [
        "10.0.0.1=a",
        "10.0.0.2=b",
        "10.0.0.3=c",
        "10.0.0.4=d",
        "10.0.0.5",
    ];
    for hash in ALL {
        for replicas in 1..=5 {
            let r = ring(RELAY, hash, &specs, replicas);
            let mut out = Vec::new();
            for i in 0..300 {
                r.owners(format!("m.{i}").as_bytes(), &mut out);
                assert_eq!(out.len(), replicas);
                let mut sorted = out.clone();
                sorted.sort_unstable();
                sorted.dedup();
                assert_eq!(sorted.len(), replicas, "{hash} {out:?}");
                assert_eq!(out[0], r.owner(format!("m.{i}").as_bytes()));
            }
        }
    }
}

/// carbon's `DIVERSE_REPLICAS`: never two members of one host, and fewer owners than
/// asked when there are fewer hosts.
#[test]
fn carbon_replicas_are_one_per_host() {
    let specs = [
        "10.0.0.1:2004=a",
        "10.0.0.1:2104=b",
        "10.0.0.2:2004=a",
        "10.0.0.2:2104=b",
    ];
    let r = ring(CARBON, Hash::CarbonCh, &specs, 3);
    let mut out = Vec::new();
    for i in 0..300 {
        r.owners(format!("m.{i}").as_bytes(), &mut out);
        assert_eq!(out.len(), 2);
        assert_ne!(r.nodes()[out[0]].host, r.nodes()[out[1]].host);
    }
}

/// Both implementations agree wherever no two points tie. At a shared position the
/// keys up to it go to the member sorting first (relay) or listed first (carbon), and
/// carbon's moved point one or two above takes the keys at exactly its position.
#[test]
fn carbon_ch_implementations_differ_only_at_ties() {
    // Listed in reverse of the relay's sort order, so that ties decide differently.
    let specs: Vec<String> = (1..=10).rev().map(|i| format!("10.0.0.{i}=n{i}")).collect();
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let relay = ring(RELAY, Hash::CarbonCh, &specs, 1);
    let carbon = ring(CARBON, Hash::CarbonCh, &specs, 1);
    let (Layout::Points(rp), Layout::Points(cp)) = (&relay.layout, &carbon.layout) else {
        panic!("points expected");
    };
    let tied: Vec<u32> = rp
        .windows(2)
        .filter(|w| w[0].pos == w[1].pos)
        .map(|w| w[0].pos)
        .collect();
    assert!(!tied.is_empty(), "a member set with ties is needed");
    let mut differ = 0;
    for pos in 0..=u32::from(u16::MAX) {
        let i = first_at_or_after(rp, pos);
        if rp[i].node != cp[first_at_or_after(cp, pos)].node {
            differ += 1;
            let shifted = (1..=2).any(|k| pos >= k && tied.contains(&(pos - k)));
            assert!(tied.contains(&rp[i].pos) || shifted, "{pos}");
        }
    }
    assert!(differ > 0);
}

/// carbon's shift: a member with the same key text as an earlier one gets each point one
/// above the earlier member's, so it owns exactly those positions.
#[test]
fn carbon_shifts_a_tied_point_up() {
    let r = ring(CARBON, Hash::Fnv1aCh, &["10.0.0.1", "10.0.0.2"], 1);
    let Layout::Points(points) = &r.layout else {
        panic!("points expected")
    };
    let first: Vec<u32> = points
        .iter()
        .filter(|p| p.node == 0)
        .map(|p| p.pos)
        .collect();
    let second: Vec<u32> = points
        .iter()
        .filter(|p| p.node == 1)
        .map(|p| p.pos)
        .collect();
    assert_eq!(first.len(), 100);
    assert_eq!(second.len(), 100);
    for p in &second {
        assert!(first.contains(&(p - 1)) || second.contains(&(p - 1)), "{p}");
    }
    assert!(r.idle_nodes().is_empty());
    // The relay's fnv1a_ch keys the port in when there is no instance: no tie at all.
    let relay = ring(RELAY, Hash::Fnv1aCh, &["10.0.0.1", "10.0.0.2"], 1);
    assert!(relay.idle_nodes().is_empty());
    // The relay's fnv1a_ch with one instance on two hosts: the lower host takes all.
    let relay = ring(RELAY, Hash::Fnv1aCh, &["10.0.0.2=a", "10.0.0.1=a"], 1);
    assert_eq!(relay.idle_nodes(), [0]);
}

/// The relay rewrites an all-digit instance (`007` is `7`), carbon keeps it.
#[test]
fn instance_spelling() {
    let a = ring(RELAY, Hash::CarbonCh, &["10.0.0.1=007", "10.0.0.2=8"], 1);
    let b = ring(RELAY, Hash::CarbonCh, &["10.0.0.1=7", "10.0.0.2=8"], 1);
    let c = ring(CARBON, Hash::CarbonCh, &["10.0.0.1=007", "10.0.0.2=8"], 1);
    let d = ring(CARBON, Hash::CarbonCh, &["10.0.0.1=7", "10.0.0.2=8"], 1);
    let keys: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
    let owners = |r: &Ring| {
        keys.iter()
            .map(|k| r.owner(k.as_bytes()))
            .collect::<Vec<_>>()
    };
    assert_eq!(owners(&a), owners(&b));
    assert_ne!(owners(&c), owners(&d));
}

/// Jump: members with an instance first, by instance; the rest in config order. Adding
/// a member without instance at the end moves keys only onto it.
#[test]
fn jump_order() {
    let jump = ring(
        RELAY,
        Hash::JumpFnv1aCh,
        &["e", "b=10", "c", "a=9", "d=x"],
        1,
    );
    let Layout::Buckets(buckets) = &jump.layout else {
        panic!("buckets expected")
    };
    assert_eq!(buckets, &[3, 1, 4, 0, 2]);
    let small = ring(RELAY, Hash::JumpFnv1aCh, &["a", "b", "c"], 1);
    let grown = ring(RELAY, Hash::JumpFnv1aCh, &["a", "b", "c", "d"], 1);
    for i in 0..1000 {
        let k = format!("m.{i}");
        let (s, g) = (small.owner(k.as_bytes()), grown.owner(k.as_bytes()));
        assert!(s == g || g == 3);
    }
}

/// Keys on either side of the wrap: a key above the last point goes to the first.
#[test]
fn wrap_around() {
    let r = ring(RELAY, Hash::CarbonCh, &["10.0.0.1=a", "10.0.0.2=b"], 1);
    let Layout::Points(points) = &r.layout else {
        panic!("points expected")
    };
    let last = points.last().unwrap();
    assert_eq!(first_at_or_after(points, last.pos), points.len() - 1);
    assert_eq!(first_at_or_after(points, last.pos + 1), 0);
    assert_eq!(first_at_or_after(points, 0), 0);
}
