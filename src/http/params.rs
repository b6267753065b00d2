//! Request parameters as Django's `QueryDict`: the query string, then (for a form body)
//! the form fields, merged in that order. `get` answers the last value of a key, `all`
//! every value in order.

/// Merged query-string and form parameters.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parameters from a query string (without `?`) and an optional form body.
    pub fn new(query: Option<&str>, form: Option<&[u8]>) -> Self {
        let mut p = Params::default();
        if let Some(q) = query {
            p.add_encoded(q.as_bytes());
        }
        if let Some(f) = form {
            p.add_encoded(f);
        }
        p
    }

    /// Adds `a=b&c=d` pairs (`+` is a space, `%XX` a byte; invalid UTF-8 is replaced; empty
    /// parts are skipped, a part without `=` has an empty value).
    pub fn add_encoded(&mut self, s: &[u8]) {
        self.pairs
            .extend(form_urlencoded::parse(s).map(|(k, v)| (k.into_owned(), v.into_owned())));
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` is present (with any value).
    pub fn has(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every value of `key` or `key[]`, in order of appearance.
    pub fn list(&self, key: &str) -> Vec<&str> {
        let bracket = format!("{key}[]");
        self.pairs
            .iter()
            .filter(|(k, _)| k == key || *k == bracket)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Python truthiness of the last value (`bool(request.GET.get(key))`).
    pub fn truthy(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| !v.is_empty())
    }

    /// graphite's `queryParamAsInt`: absent → `default`; not an integer → an error naming it.
    pub fn int(&self, key: &str, default: i64) -> Result<i64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| format!("Invalid int value {v:?} for param {key:?}")),
        }
    }

    /// All pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// `application/x-www-form-urlencoded` decoding of one key or value (Python's
/// `unquote_plus`): `+` is a space, `%XX` a byte, invalid UTF-8 replaced.
pub fn decode(s: &[u8]) -> String {
    let plus_as_space: Vec<u8> = s
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_encoding::percent_decode(&plus_as_space)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_and_decoded() {
        let p = Params::new(
            Some("target=a.b&target%5B%5D=sum(c.*)&from=-1h&x=%zz&y=1+2&t=a;b=c"),
            Some(b"target=d&from=-2h"),
        );
        assert_eq!(p.list("target"), ["a.b", "sum(c.*)", "d"]);
        assert_eq!(p.get("from"), Some("-2h"));
        assert_eq!(p.all("from"), ["-1h", "-2h"]);
        assert_eq!(p.get("x"), Some("%zz"));
        assert_eq!(p.get("y"), Some("1 2"));
        assert_eq!(p.get("t"), Some("a;b=c"));
        assert_eq!(decode(b"%41%"), "A%");
        assert_eq!(decode(b"%4"), "%4");
        assert!(p.int("from", 0).is_err());
        assert_eq!(p.int("absent", 3), Ok(3));
    }
}
