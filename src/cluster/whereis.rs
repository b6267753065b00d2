//! `lonsdaleite cluster whereis`: which member a relay sends a metric to.
//!
//! The command shell around [`super::ring`] (and, for `--ring statsd_proxy`, etsy's
//! `proxy.js` ring, [`super::hashring`]): it parses the members, builds the ring once,
//! and prints `NAME OWNER[ REPLICA…]` for each name, an owner written
//! `HOST:PORT[=INSTANCE]` with the instance as the ring keys it. Names come from the
//! arguments and, for a `-`, from stdin, one a line (the text before the first space or
//! tab, so carbon plaintext lines can be piped in; blank lines are skipped). Results go
//! to stdout in input order; warnings and per-name errors to stderr.
//!
//! Exit status: 0; 1 when a name had no placement or output failed; 2 for arguments
//! that build no ring (clap's usage errors are 2 as well).

use std::ffi::OsString;
use std::io::{self, BufRead, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use super::hashring::{line_key, ProxyRing};
use super::intake::relay_intake;
use super::node::Node;
use super::ring::{relay_instance_text, Hash, Implementation, Ring};

pub(crate) const WHEREIS_EXAMPLES: &str = "\
Members are given in the order of the relay's config, as it spells them:
  cluster graphite carbon_ch 10.0.0.1:2003=a 10.0.0.2:2003=b 10.0.0.3:2003=c ;
is
  --ring carbon_ch --node 10.0.0.1:2003=a --node 10.0.0.2:2003=b --node 10.0.0.3:2003=c
and carbon's DESTINATIONS = 10.0.0.1:2004:a, 10.0.0.2:2004:b is
  --impl carbon --node 10.0.0.1:2004=a --node 10.0.0.2:2004=b

etsy statsd's proxy.js ring takes its nodes' host and StatsD port, as in its config's
`nodes: [{host: '10.0.0.1', port: 8125}, ...]`, and hashes the text of a StatsD line
before its first `:`:
  --ring statsd_proxy --node 10.0.0.1:8125 --node 10.0.0.2:8125 'api.login:1|c'

Examples:
  lonsdaleite cluster whereis --ring carbon_ch --node 10.0.0.1=a --node 10.0.0.2=b foo.bar
  lonsdaleite cluster whereis --ring jump_fnv1a_ch --node 10.0.0.1 --node 10.0.0.2 - < names.txt
  lonsdaleite cluster whereis --ring statsd_proxy --node 10.0.0.1:8125 --node 10.0.0.2:8125 - < lines.txt

Check a placement against the relay itself (its test mode reads names on stdin):
  echo foo.bar | carbon-c-relay -t -f relay.conf";

/// `lonsdaleite cluster whereis`.
#[derive(Debug, clap::Args)]
pub struct WhereisArgs {
    /// Metric names; `-` reads names from stdin, one a line (the text before the first
    /// space or tab; with `statsd_proxy`, whole StatsD lines).
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<OsString>,
    /// The ring type, as the relay's `cluster` line names it; `statsd_proxy` is etsy
    /// statsd's `proxy.js` (npm `hashring` 3.2.0), where a name or StatsD line is the
    /// text before its first `:`.
    #[arg(long, value_enum, value_name = "RING")]
    pub ring: RingArg,
    /// A member, `HOST[:PORT][=INSTANCE]` (port 2003 when left out; an IPv6 address in
    /// brackets). Repeat for every member, in the config's order: carbon's rings depend
    /// on it, and carbon-c-relay's `jump_fnv1a_ch` for members without instance. With
    /// `statsd_proxy`: `HOST:PORT`, the node's host and StatsD port as in `proxy.js`'s
    /// `nodes` (the port is required; no instance; only healthy nodes are on its ring).
    #[arg(long = "node", value_name = "HOST[:PORT][=INSTANCE]", required = true, value_parser = parse_node_arg)]
    pub nodes: Vec<NodeArg>,
    /// Whose placement: carbon-c-relay 3.7 (Debian's, amd64), or carbon 1.1's own
    /// carbon-relay (`ROUTER_HASH_TYPE`, `DESTINATIONS`; `carbon_ch` or `fnv1a_ch`).
    #[arg(
        long = "impl",
        value_enum,
        value_name = "IMPL",
        default_value = "carbon-c-relay"
    )]
    pub implementation: Implementation,
    /// Members per metric: the relay's `replication N`, carbon's `REPLICATION_FACTOR`
    /// (with its default `DIVERSE_REPLICAS = True`: one member a host).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub replicas: usize,
    /// Hash each name exactly as given, as `carbon-c-relay -t` does, instead of as the
    /// relay daemon does (after its rewrite of the name: runs of dots made one, characters
    /// other than [A-Za-z0-9-_:#] made `_`, tags after `;` not hashed). carbon always
    /// hashes the name as given.
    #[arg(long)]
    pub as_is: bool,
}

pub(crate) fn parse_node(spec: &str) -> Result<Node, String> {
    Node::parse(spec).map_err(|e| e.to_string())
}

/// `--ring`: the relays' rings, and etsy statsd's `proxy.js`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RingArg {
    /// carbon's MD5 ring (carbon-c-relay `carbon_ch`, carbon `ROUTER_HASH_TYPE = carbon_ch`).
    #[value(name = "carbon_ch")]
    CarbonCh,
    /// An FNV-1a ring (carbon-c-relay `fnv1a_ch`, carbon `fnv1a_ch`: different keys).
    #[value(name = "fnv1a_ch")]
    Fnv1aCh,
    /// carbon-c-relay's jump consistent hash over FNV-1a (no carbon equivalent).
    #[value(name = "jump_fnv1a_ch")]
    JumpFnv1aCh,
    /// etsy statsd 0.9.0's `proxy.js` (npm `hashring` 3.2.0).
    #[value(name = "statsd_proxy")]
    StatsdProxy,
}

impl RingArg {
    /// The relay ring, or `None` for `proxy.js`'s.
    fn relay_hash(self) -> Option<Hash> {
        match self {
            Self::CarbonCh => Some(Hash::CarbonCh),
            Self::Fnv1aCh => Some(Hash::Fnv1aCh),
            Self::JumpFnv1aCh => Some(Hash::JumpFnv1aCh),
            Self::StatsdProxy => None,
        }
    }
}

/// A `--node` as parsed, with its spelling (`proxy.js`'s ring needs to know whether the
/// port was written).
#[derive(Clone, Debug)]
pub struct NodeArg {
    pub node: Node,
    pub spec: String,
}

fn parse_node_arg(spec: &str) -> Result<NodeArg, String> {
    Ok(NodeArg {
        node: parse_node(spec)?,
        spec: spec.to_owned(),
    })
}

/// `proxy.js`'s name of a node, `host:port` (an IPv6 host without brackets, as its config
/// joins `host` and `port`), or why the spec is not one.
fn proxy_node(arg: &NodeArg) -> Result<String, String> {
    if arg.node.instance.is_some() {
        return Err(format!(
            "node `{}`: proxy.js nodes have no instance: give HOST:PORT (the StatsD port)",
            arg.spec
        ));
    }
    let written = arg
        .spec
        .rsplit_once(':')
        .is_some_and(|(host, port)| !port.is_empty() && !host.ends_with('['));
    if !written || arg.spec.ends_with(']') {
        return Err(format!(
            "node `{}`: give the StatsD port too, HOST:PORT as in proxy.js's nodes (e.g. 10.0.0.1:8125)",
            arg.spec
        ));
    }
    Ok(format!("{}:{}", arg.node.host, arg.node.port))
}

/// Runs `lonsdaleite cluster whereis`.
pub fn run(args: &WhereisArgs) -> ExitCode {
    let Some(hash) = args.ring.relay_hash() else {
        return run_proxy(args);
    };
    let nodes = args.nodes.iter().map(|n| n.node.clone()).collect();
    let ring = match Ring::new(args.implementation, hash, nodes, args.replicas) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lonsdaleite cluster whereis: {e}");
            return ExitCode::from(2);
        }
    };
    let mut locator = Locator::new(ring, args.as_is);
    for w in locator.warnings() {
        eprintln!("lonsdaleite cluster whereis: warning: {w}");
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut failed = false;
    let mut result = Ok(());
    for name in &args.names {
        let name = name.as_bytes();
        result = if name == b"-" {
            locate_lines(&mut locator, io::stdin().lock(), &mut out, &mut failed)
        } else {
            locate_one(&mut locator, name, &mut out, &mut failed)
        };
        if result.is_err() {
            break;
        }
    }
    let result = result.and_then(|()| out.flush());
    match result {
        Ok(()) if !failed => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lonsdaleite cluster whereis: {e}");
            ExitCode::from(1)
        }
        Ok(()) => ExitCode::from(1),
    }
}

/// `--ring statsd_proxy`: every name or StatsD line, placed as `proxy.js` places it.
fn run_proxy(args: &WhereisArgs) -> ExitCode {
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("lonsdaleite cluster whereis: {e}");
        ExitCode::from(2)
    };
    if args.implementation != Implementation::CarbonCRelay || args.replicas != 1 || args.as_is {
        return fail(&"--impl, --replicas and --as-is are for the relays' rings, not statsd_proxy (proxy.js sends each line to one node)");
    }
    let mut nodes = Vec::with_capacity(args.nodes.len());
    for n in &args.nodes {
        match proxy_node(n) {
            Ok(name) => nodes.push(name),
            Err(e) => return fail(&e),
        }
    }
    let ring = match ProxyRing::new(&nodes) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let place = |line: &[u8], out: &mut dyn Write| -> io::Result<()> {
        let key = line_key(line);
        out.write_all(key)?;
        out.write_all(b" ")?;
        out.write_all(ring.nodes()[ring.owner(key)].as_bytes())?;
        out.write_all(b"\n")
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut result = Ok(());
    for name in &args.names {
        let name = name.as_bytes();
        result = if name == b"-" {
            let mut input = io::stdin().lock();
            let mut line = Vec::new();
            loop {
                line.clear();
                match input.read_until(b'\n', &mut line) {
                    Ok(0) => break Ok(()),
                    Ok(_) => {}
                    Err(e) => break Err(e),
                }
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                if text.is_empty() {
                    continue;
                }
                if let Err(e) = place(text, &mut out) {
                    break Err(e);
                }
            }
        } else {
            place(name, &mut out)
        };
        if result.is_err() {
            break;
        }
    }
    match result.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lonsdaleite cluster whereis: {e}");
            ExitCode::from(1)
        }
    }
}

fn locate_one(
    locator: &mut Locator,
    name: &[u8],
    out: &mut impl Write,
    failed: &mut bool,
) -> io::Result<()> {
    if let Err(e) = locator.write_line(name, out)? {
        eprintln!("lonsdaleite cluster whereis: {e}");
        *failed = true;
    }
    Ok(())
}

/// Every non-blank line of `input`, each cut at its first space or tab.
fn locate_lines(
    locator: &mut Locator,
    mut input: impl BufRead,
    out: &mut impl Write,
    failed: &mut bool,
) -> io::Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let name = text
            .split(|&b| b == b' ' || b == b'\t')
            .next()
            .unwrap_or_default();
        if name.is_empty() {
            continue;
        }
        locate_one(locator, name, out, failed)?;
    }
}

/// A name with no placement.
#[derive(Debug, thiserror::Error)]
#[error("`{}`: nothing is left of the name after carbon-c-relay's rewrite; the relay would drop the line (or hash with --as-is)", String::from_utf8_lossy(.0))]
pub struct NoPlacement(Vec<u8>);

/// A built ring with the members' labels: the pure part of the command.
pub struct Locator {
    ring: Ring,
    labels: Vec<String>,
    as_is: bool,
    owners: Vec<usize>,
}

impl Locator {
    /// `as_is`: hash names as given even for carbon-c-relay (its test mode's key).
    pub fn new(ring: Ring, as_is: bool) -> Self {
        let relay = ring.implementation() == Implementation::CarbonCRelay;
        let labels = ring
            .nodes()
            .iter()
            .map(|n| {
                let mut label = n.address();
                if let Some(i) = &n.instance {
                    label.push('=');
                    label.push_str(&if relay {
                        relay_instance_text(i)
                    } else {
                        i.clone()
                    });
                }
                label
            })
            .collect();
        Self {
            ring,
            labels,
            as_is,
            owners: Vec::new(),
        }
    }

    /// Things about the ring the user should know: members that can own nothing.
    pub fn warnings(&self) -> Vec<String> {
        self.ring
            .idle_nodes()
            .into_iter()
            .map(|n| {
                format!(
                    "{} gets no metric: each of its points ties with a point of a member \
                     sorted before it (same key text: give the members distinct instances)",
                    self.labels[n]
                )
            })
            .collect()
    }

    /// The owner of `name` as an index into the ring's members.
    pub fn owner(&mut self, name: &[u8]) -> Result<usize, NoPlacement> {
        if self.as_is || self.ring.implementation() == Implementation::Carbon {
            self.ring.owners(name, &mut self.owners);
        } else {
            let intake = relay_intake(name).ok_or_else(|| NoPlacement(name.to_vec()))?;
            self.ring.owners(intake.key(), &mut self.owners);
        }
        Ok(self.owners[0])
    }

    /// Member `i` as [`Locator::locate`] names it (`HOST:PORT[=INSTANCE]`, the instance as
    /// the ring keys it).
    pub fn label(&self, i: usize) -> &str {
        &self.labels[i]
    }

    /// The owners' labels for `name`, owner first.
    pub fn locate(&mut self, name: &[u8]) -> Result<Vec<&str>, NoPlacement> {
        if self.as_is || self.ring.implementation() == Implementation::Carbon {
            self.ring.owners(name, &mut self.owners);
        } else {
            let intake = relay_intake(name).ok_or_else(|| NoPlacement(name.to_vec()))?;
            self.ring.owners(intake.key(), &mut self.owners);
        }
        Ok(self
            .owners
            .iter()
            .map(|&n| self.labels[n].as_str())
            .collect())
    }

    /// Writes `NAME OWNER[ REPLICA…]\n`, or returns why there is no line.
    pub fn write_line(
        &mut self,
        name: &[u8],
        out: &mut impl Write,
    ) -> io::Result<Result<(), NoPlacement>> {
        let owners = match self.locate(name) {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        out.write_all(name)?;
        for o in owners {
            out.write_all(b" ")?;
            out.write_all(o.as_bytes())?;
        }
        out.write_all(b"\n")?;
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locator(imp: Implementation, hash: Hash, specs: &[&str], as_is: bool) -> Locator {
        let nodes = specs.iter().map(|s| Node::parse(s).unwrap()).collect();
        Locator::new(Ring::new(imp, hash, nodes, 1).unwrap(), as_is)
    }

    #[test]
    fn lines_from_input() {
        let mut l = locator(
            Implementation::CarbonCRelay,
            Hash::JumpFnv1aCh,
            &["10.0.0.1", "10.0.0.2:2103=007"],
            false,
        );
        let input: &[u8] = b"a.b 1 2\r\n\n   \nc.d\te\n";
        let mut out = Vec::new();
        let mut failed = false;
        locate_lines(&mut l, input, &mut out, &mut failed).unwrap();
        assert!(!failed);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("a.b "));
        assert!(lines[1].starts_with("c.d "));
        // The relay's instance text is printed: `007` is `7` to it.
        for line in lines {
            let owner = line.split(' ').nth(1).unwrap();
            assert!(
                ["10.0.0.1:2003", "10.0.0.2:2103=7"].contains(&owner),
                "{owner}"
            );
        }
    }

    #[test]
    fn relay_hashes_the_rewritten_name_and_not_tags() {
        let specs = ["10.0.0.1=a", "10.0.0.2=b", "10.0.0.3=c", "10.0.0.4=d"];
        let mut l = locator(Implementation::CarbonCRelay, Hash::CarbonCh, &specs, false);
        let mut raw = locator(Implementation::CarbonCRelay, Hash::CarbonCh, &specs, true);
        for i in 0..200 {
            let plain = format!("svc.{i}.latency");
            let owner = l.locate(plain.as_bytes()).unwrap()[0].to_owned();
            let messy = format!("..svc..{i}.latency;host=h{i}");
            assert_eq!(l.locate(messy.as_bytes()).unwrap()[0], owner, "{messy}");
            assert_eq!(raw.locate(plain.as_bytes()).unwrap()[0], owner);
        }
        assert!(l.locate(b"...").is_err());
        assert!(raw.locate(b"...").is_ok());
    }

    #[test]
    fn idle_members_are_warned_about() {
        let l = locator(
            Implementation::CarbonCRelay,
            Hash::CarbonCh,
            &["127.0.0.1:2003", "127.0.0.1:2103"],
            false,
        );
        let w = l.warnings();
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("127.0.0.1:2103 gets no metric"), "{w:?}");
    }
}
