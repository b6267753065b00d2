//! The INI dialect carbon reads its storage files with (Python 3 `configparser` with
//! defaults, plus carbon's `OrderedConfigParser` section order).
//!
//! Rules kept: `[name]` sections; `key = value` or `key: value` split at the first `=`
//! or `:`; keys lower-cased; values stripped; whole-line `#`/`;` comments (no inline
//! comments); lines indented deeper than their option continue its value (joined with
//! newlines, blank lines kept inside); `[DEFAULT]` values are inherited by every section;
//! `%%` and `%(key)s` interpolation. Errors (fatal in carbon): text before the first
//! section, a line that is neither section, option nor continuation, an empty key,
//! duplicate sections or keys, bad interpolation. The section order is carbon's: only
//! lines that *start* with `[` and *end* with `]` are listed, so `[x] # note` defines a
//! section that carbon never visits (we report it as ignored).

use std::collections::HashMap;

/// A syntax error with the line (1-based) and section it occurred in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IniError {
    /// 1-based line number.
    pub line: usize,
    /// Section being read, if any.
    pub section: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// One option: lower-cased key, raw value, line of the key.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// One section in file order.
#[derive(Debug, Clone)]
pub(crate) struct Section {
    pub name: String,
    pub line: usize,
    /// False for `[x] trailing` headers that carbon's ordering skips.
    pub listed: bool,
    pub entries: Vec<Entry>,
}

/// A parsed file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ini {
    pub sections: Vec<Section>,
    defaults: Vec<Entry>,
}

const DEFAULT: &str = "DEFAULT";

fn err(line: usize, section: Option<&str>, message: impl Into<String>) -> IniError {
    IniError {
        line,
        section: section.map(str::to_owned),
        message: message.into(),
    }
}

/// Where the current option's value lines go.
enum Target {
    None,
    Defaults(usize),
    Section(usize, usize),
}

pub(crate) fn parse(text: &str) -> Result<Ini, IniError> {
    let mut ini = Ini::default();
    // None = before any section; Some(None) = DEFAULT; Some(Some(i)) = sections[i]
    let mut current: Option<Option<usize>> = None;
    let mut target = Target::None;
    let mut option_indent = usize::MAX;
    let mut values: Vec<Vec<String>> = Vec::new(); // parallel storage of multi-line values
    let mut value_slot: HashMap<(Option<usize>, usize), usize> = HashMap::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let section_owned = match current {
            Some(Some(i)) => Some(ini.sections[i].name.clone()),
            Some(None) => Some(DEFAULT.to_owned()),
            None => None,
        };
        let section_name = section_owned.as_deref();
        let stripped = raw.trim();
        let is_comment = stripped.starts_with('#') || stripped.starts_with(';');
        if stripped.is_empty() || is_comment {
            if stripped.is_empty() && !matches!(target, Target::None) {
                let key = match target {
                    Target::Defaults(e) => (None, e),
                    Target::Section(s, e) => (Some(s), e),
                    Target::None => unreachable!("checked above"),
                };
                values[value_slot[&key]].push(String::new());
            }
            continue;
        }
        let indent = raw.len() - raw.trim_start().len();
        if !matches!(target, Target::None) && indent > option_indent {
            let key = match target {
                Target::Defaults(e) => (None, e),
                Target::Section(s, e) => (Some(s), e),
                Target::None => unreachable!("checked above"),
            };
            values[value_slot[&key]].push(stripped.to_owned());
            continue;
        }
        if stripped.starts_with('[') {
            let Some(close) = stripped.rfind(']').filter(|&c| c > 1) else {
                return Err(err(
                    line,
                    section_name,
                    format!("malformed section header: {stripped}"),
                ));
            };
            let name = &stripped[1..close];
            target = Target::None;
            option_indent = usize::MAX;
            if name == DEFAULT {
                // carbon lists it like any section; its items are the defaults
                ini.sections.push(Section {
                    name: DEFAULT.to_owned(),
                    line,
                    listed: stripped.ends_with(']'),
                    entries: Vec::new(),
                });
                current = Some(None);
                continue;
            }
            if ini.sections.iter().any(|s| s.name == name) {
                return Err(err(
                    line,
                    Some(name),
                    format!("section [{name}] already exists"),
                ));
            }
            ini.sections.push(Section {
                name: name.to_owned(),
                line,
                listed: stripped.ends_with(']'),
                entries: Vec::new(),
            });
            current = Some(Some(ini.sections.len() - 1));
            continue;
        }
        let Some(cur) = current else {
            return Err(err(
                line,
                None,
                "file contains no section headers before this line",
            ));
        };
        let Some(pos) = stripped.find(['=', ':']) else {
            return Err(err(
                line,
                section_name,
                format!("not a 'key = value' line: {stripped}"),
            ));
        };
        let key = stripped[..pos].trim_end().to_lowercase();
        if key.is_empty() {
            return Err(err(
                line,
                section_name,
                format!("empty option name: {stripped}"),
            ));
        }
        let value = stripped[pos + 1..].trim().to_owned();
        let entries = match cur {
            Some(i) => &mut ini.sections[i].entries,
            None => &mut ini.defaults,
        };
        if entries.iter().any(|e| e.key == key) {
            return Err(err(
                line,
                section_name,
                format!("option '{key}' already set in this section"),
            ));
        }
        entries.push(Entry {
            key,
            value: String::new(),
            line,
        });
        let e = entries.len() - 1;
        value_slot.insert((cur, e), values.len());
        values.push(vec![value]);
        target = match cur {
            Some(s) => Target::Section(s, e),
            None => Target::Defaults(e),
        };
        option_indent = indent;
    }
    for ((cur, e), slot) in value_slot {
        let joined = values[slot].join("\n").trim_end().to_owned();
        match cur {
            Some(s) => ini.sections[s].entries[e].value = joined,
            None => ini.defaults[e].value = joined,
        }
    }
    Ok(ini)
}

impl Ini {
    /// A section's options as carbon sees them: `[DEFAULT]` values overridden by the
    /// section's own, interpolated.
    pub(crate) fn items(&self, section: &Section) -> Result<Vec<Entry>, IniError> {
        let mut merged: Vec<Entry> = self.defaults.clone();
        for e in &section.entries {
            if let Some(d) = merged.iter_mut().find(|d| d.key == e.key) {
                *d = e.clone();
            } else {
                merged.push(e.clone());
            }
        }
        let lookup: HashMap<String, String> = merged
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
        merged
            .into_iter()
            .map(|mut e| {
                e.value = interpolate(&e.value, &lookup, 1)
                    .map_err(|m| err(e.line, Some(&section.name), m))?;
                Ok(e)
            })
            .collect()
    }
}

fn interpolate(
    value: &str,
    vars: &HashMap<String, String>,
    depth: usize,
) -> Result<String, String> {
    if depth > 10 {
        return Err(format!("interpolation too deeply recursive in '{value}'"));
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            out.push('%');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('(') {
            let Some(close) = tail.find(")s") else {
                return Err(format!("bad interpolation variable reference '{rest}'"));
            };
            let name = tail[..close].to_lowercase();
            let Some(v) = vars.get(&name) else {
                return Err(format!("bad interpolation: no option '{name}'"));
            };
            out.push_str(&interpolate(v, vars, depth + 1)?);
            rest = &tail[close + 2..];
        } else {
            return Err(format!(
                "'%' must be followed by '%' or '(', found: '%{after}'"
            ));
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keys_continuations_defaults() {
        let ini = parse(
            "# comment\n[DEFAULT]\nxFilesFactor = 0.3\n\n[a]\nPattern: ^x\\.\nretentions = 60s:1d,\n   5m:30d\n; note\n[b] # trailing\nk = 50%%\n",
        )
        .unwrap();
        assert_eq!(ini.sections.len(), 3);
        assert_eq!(ini.items(&ini.sections[0]).unwrap()[0].value, "0.3");
        let a = ini.items(&ini.sections[1]).unwrap();
        let get = |k: &str| a.iter().find(|e| e.key == k).map(|e| e.value.clone());
        assert_eq!(get("pattern").as_deref(), Some("^x\\."));
        assert_eq!(get("retentions").as_deref(), Some("60s:1d,\n5m:30d"));
        assert_eq!(get("xfilesfactor").as_deref(), Some("0.3"));
        assert!(!ini.sections[2].listed);
        assert_eq!(ini.items(&ini.sections[2]).unwrap()[1].value, "50%");
    }

    #[test]
    fn errors_name_line_and_section() {
        assert_eq!(parse("a = 1\n").unwrap_err().line, 1);
        let e = parse("[s]\nno delimiter\n").unwrap_err();
        assert_eq!((e.line, e.section.as_deref()), (2, Some("s")));
        assert_eq!(parse("[s]\na=1\n[s]\n").unwrap_err().line, 3);
        assert_eq!(parse("[s]\na=1\nA=2\n").unwrap_err().line, 3);
        let ini = parse("[s]\na = 5%\n").unwrap();
        assert_eq!(ini.items(&ini.sections[0]).unwrap_err().line, 2);
    }
}
