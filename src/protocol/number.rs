//! Numbers as etsy statsd (JavaScript) writes them. Implementation lands next.

/// Append `v` the way JavaScript's `Number.prototype.toString` writes it.
pub fn write_js_number(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(v.to_string().as_bytes());
}
