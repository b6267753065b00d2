//! Postfix mail log: Logster's `PostfixLogster`, with the receive and TLS counts
//! of its extended version.
//!
//! Lines counted (each line counts once, in this order of precedence):
//! - a delivery: `… delay=<seconds>, … status=sent|deferred|bounced` (the last
//!   `delay=` before a comma that is followed by a status); a sent line adds
//!   its delay to the sum behind `avgDelay`;
//! - a TLS connection: `… [Untrusted |Anonymous ]TLS connection established to|from …`;
//! - a received message: `… nrcpt=<n> … queue active`.
//!
//! Metrics, in this order (`txns` = sent + deferred + bounced):
//! `numSent`, `pctSent` = sent / txns × 100, `numDeferred`, `pctDeferred`,
//! `numBounced`, `pctBounced`, `mailTxnsSec` = txns / duration,
//! `mailSentSec` = sent / duration, `avgDelay` = delay sum / sent, `totalTxns`,
//! `totalRxns` = received, `pctOutTLS` = TLS to / txns × 100,
//! `pctOutUntrustedTLS` = untrusted TLS to / TLS to × 100, `totalOutTLS`,
//! `totalOutUntrustedTLS`, `pctInTLS` = TLS from / received × 100,
//! `pctInUntrustedTLS` = untrusted TLS from / TLS from × 100, `totalInTLS`,
//! `totalInUntrustedInTLS` (sic, Logster's name). Counts are integers,
//! percentages floats (0.0 when the divisor is 0); `avgDelay`, `mailTxnsSec`
//! and `mailSentSec` are the integer 0 when their divisor is 0, as in Logster.

use regex::Regex;

use super::super::metric::{Metric, Value};
use super::Parser;

/// The Postfix parser's counts for one interval.
#[derive(Debug)]
pub struct Postfix {
    delivery: Regex,
    tls: Regex,
    incoming: Regex,
    sent: i64,
    deferred: i64,
    bounced: i64,
    total_delay: f64,
    received: i64,
    tls_in: i64,
    tls_out: i64,
    untrusted_in: i64,
    untrusted_out: i64,
}

impl Default for Postfix {
    fn default() -> Self {
        Self::new()
    }
}

impl Postfix {
    pub fn new() -> Self {
        let re = |s: &str| Regex::new(s).expect("built-in postfix pattern is valid");
        Self {
            delivery: re(r"^.*delay=([^,]+),.*status=(sent|deferred|bounced)"),
            tls: re(r"^.*?(Untrusted|Anonymous)* TLS connection established (to|from)"),
            incoming: re(r"^.*nrcpt=[^ ]+.*queue active"),
            sent: 0,
            deferred: 0,
            bounced: 0,
            total_delay: 0.0,
            received: 0,
            tls_in: 0,
            tls_out: 0,
            untrusted_in: 0,
            untrusted_out: 0,
        }
    }
}

fn pct(n: i64, of: i64) -> Value {
    Value::Float(if of > 0 {
        n as f64 / of as f64 * 100.0
    } else {
        0.0
    })
}

fn ratio_or_int_zero(n: f64, of: f64) -> Value {
    if of > 0.0 {
        Value::Float(n / of)
    } else {
        Value::Int(0)
    }
}

impl Parser for Postfix {
    fn parse_line(&mut self, line: &str) -> bool {
        if let Some(c) = self.delivery.captures(line) {
            match &c[2] {
                "sent" => {
                    // Not a number (or not a finite one, which statsd could not take): not counted.
                    let Some(delay) = c[1].trim().parse::<f64>().ok().filter(|d| d.is_finite())
                    else {
                        return false;
                    };
                    self.total_delay += delay;
                    self.sent += 1;
                }
                "deferred" => self.deferred += 1,
                _ => self.bounced += 1,
            }
            return true;
        }
        if let Some(c) = self.tls.captures(line) {
            let untrusted = c.get(1).is_some();
            if &c[2] == "to" {
                self.tls_out += 1;
                self.untrusted_out += i64::from(untrusted);
            } else {
                self.tls_in += 1;
                self.untrusted_in += i64::from(untrusted);
            }
            return true;
        }
        if self.incoming.is_match(line) {
            self.received += 1;
            return true;
        }
        false
    }

    fn take_metrics(&mut self, duration: f64) -> Vec<Metric> {
        let txns = self.sent + self.deferred + self.bounced;
        let g = Metric::gauge;
        let out = vec![
            g("numSent", Value::Int(self.sent)),
            g("pctSent", pct(self.sent, txns)),
            g("numDeferred", Value::Int(self.deferred)),
            g("pctDeferred", pct(self.deferred, txns)),
            g("numBounced", Value::Int(self.bounced)),
            g("pctBounced", pct(self.bounced, txns)),
            g("mailTxnsSec", ratio_or_int_zero(txns as f64, duration)),
            g("mailSentSec", ratio_or_int_zero(self.sent as f64, duration)),
            g(
                "avgDelay",
                ratio_or_int_zero(self.total_delay, self.sent as f64),
            ),
            g("totalTxns", Value::Int(txns)),
            g("totalRxns", Value::Int(self.received)),
            g("pctOutTLS", pct(self.tls_out, txns)),
            g("pctOutUntrustedTLS", pct(self.untrusted_out, self.tls_out)),
            g("totalOutTLS", Value::Int(self.tls_out)),
            g("totalOutUntrustedTLS", Value::Int(self.untrusted_out)),
            g("pctInTLS", pct(self.tls_in, self.received)),
            g("pctInUntrustedTLS", pct(self.untrusted_in, self.tls_in)),
            g("totalInTLS", Value::Int(self.tls_in)),
            g("totalInUntrustedInTLS", Value::Int(self.untrusted_in)),
        ];
        *self = Self {
            delivery: self.delivery.clone(),
            tls: self.tls.clone(),
            incoming: self.incoming.clone(),
            ..Self::new()
        };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_formulas() {
        let mut p = Postfix::new();
        let lines = [
            "Nov 25 10:00:01 mx postfix/smtp[1]: 4A: to=<a@x.org>, relay=mx.x.org[1.2.3.4]:25, delay=1.5, delays=0.1/0/0.4/1, dsn=2.0.0, status=sent (250 ok)",
            "Nov 25 10:00:02 mx postfix/smtp[1]: 4B: to=<b@x.org>, relay=mx.x.org[1.2.3.4]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 ok)",
            "Nov 25 10:00:03 mx postfix/smtp[1]: 4C: to=<c@y.org>, relay=none, delay=30, delays=30/0/0/0, dsn=4.4.1, status=deferred (timeout)",
            "Nov 25 10:00:04 mx postfix/qmgr[2]: 4D: from=<d@z.org>, size=100, nrcpt=1 (queue active)",
            "Nov 25 10:00:05 mx postfix/smtp[1]: Untrusted TLS connection established to mx.x.org[1.2.3.4]:25: TLSv1.2",
            "Nov 25 10:00:06 mx postfix/smtpd[3]: Trusted TLS connection established from a.b[5.6.7.8]: TLSv1.3",
            "Nov 25 10:00:07 mx postfix/smtpd[3]: connect from a.b[5.6.7.8]",
        ];
        let matched: Vec<bool> = lines.iter().map(|l| p.parse_line(l)).collect();
        assert_eq!(matched, [true, true, true, true, true, true, false]);
        let m = p.take_metrics(10.0);
        let got: Vec<String> = m
            .iter()
            .map(|m| format!("{} {}", m.name, m.value))
            .collect();
        assert_eq!(
            got,
            [
                "numSent 2",
                "pctSent 66.66666666666666",
                "numDeferred 1",
                "pctDeferred 33.33333333333333",
                "numBounced 0",
                "pctBounced 0.0",
                "mailTxnsSec 0.3",
                "mailSentSec 0.2",
                "avgDelay 1.0",
                "totalTxns 3",
                "totalRxns 1",
                "pctOutTLS 33.33333333333333",
                "pctOutUntrustedTLS 100.0",
                "totalOutTLS 1",
                "totalOutUntrustedTLS 1",
                "pctInTLS 100.0",
                "pctInUntrustedTLS 0.0",
                "totalInTLS 1",
                "totalInUntrustedInTLS 0",
            ]
        );
        // The next interval starts from zero; Logster's int zeros.
        let m = p.take_metrics(0.0);
        assert_eq!(m[0].value, Value::Int(0));
        assert_eq!(m[6].value, Value::Int(0));
        assert_eq!(m[8].value, Value::Int(0));
    }
}
