//! graphite-web's pie functions (`PieFunctions`: `average`, `maximum`, `minimum`, the
//! functions `pieAverage`, `pieMaximum`, `pieMinimum`): each turns one series into the
//! single value a pie graph's slice shows. They are not target functions: graphite-web
//! only calls them for `graphType=pie` (chosen by `pieMode`) and lists them under
//! `/functions?type=pie`; in a target, `pieAverage(x)` is an unknown function (400) there
//! and here.

use serde_json::{Map, Value as Json};

/// `pieMode`: how a series becomes one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieMode {
    /// `pieAverage`: the mean of the non-null values (graphite's default).
    Average,
    /// `pieMaximum`: the largest non-null value.
    Maximum,
    /// `pieMinimum`: the smallest non-null value.
    Minimum,
}

/// The modes with their catalogue names, descriptions and Python function names.
const MODES: [(&str, PieMode, &str, &str); 3] = [
    (
        "average",
        PieMode::Average,
        "Return the average",
        "pieAverage",
    ),
    (
        "maximum",
        PieMode::Maximum,
        "Return the maximum",
        "pieMaximum",
    ),
    (
        "minimum",
        PieMode::Minimum,
        "Return the minimum",
        "pieMinimum",
    ),
];

impl PieMode {
    /// The mode named `name` (`average`, `maximum`, `minimum`, as `pieMode` takes them).
    pub fn from_name(name: &str) -> Option<Self> {
        MODES.iter().find(|m| m.0 == name).map(|m| m.1)
    }

    /// The value of a series, `None` where graphite's function returns `None` (no
    /// non-null value). NaN is kept as Python keeps it: `max`/`min` compare with `>`/`<`
    /// from the first value, so a NaN first stays and a later NaN is skipped.
    pub fn apply(self, values: &[Option<f64>]) -> Option<f64> {
        let mut present = values.iter().filter_map(|v| *v);
        match self {
            PieMode::Average => {
                let first = present.next()?;
                let (sum, n) = present.fold((first, 1usize), |(s, n), v| (s + v, n + 1));
                Some(sum / n as f64)
            }
            PieMode::Maximum => {
                let first = present.next()?;
                Some(present.fold(first, |best, v| if v > best { v } else { best }))
            }
            PieMode::Minimum => {
                let first = present.next()?;
                Some(present.fold(first, |best, v| if v < best { v } else { best }))
            }
        }
    }
}

/// One pie function's `/functions/<name>?type=pie` body (graphite's `functionInfo`).
pub fn info(name: &str) -> Option<Json> {
    let (name, _, description, _) = MODES.iter().find(|m| m.0 == name)?;
    let mut param = Map::new();
    param.insert("name".into(), "series".into());
    param.insert("type".into(), "series".into());
    param.insert("required".into(), true.into());
    let mut m = Map::new();
    m.insert("name".into(), (*name).into());
    m.insert("function".into(), format!("{name}(series)").into());
    m.insert("description".into(), (*description).into());
    m.insert("module".into(), "graphite.render.functions".into());
    m.insert("group".into(), "Pie".into());
    m.insert("params".into(), Json::Array(vec![Json::Object(param)]));
    Some(Json::Object(m))
}

/// The `/functions?type=pie` body: the three modes keyed by name, or by group (`Pie`)
/// when `grouped`; none when `group` is another group.
pub fn catalogue(grouped: bool, group: Option<&str>) -> Json {
    let mut out = Map::new();
    if group.is_some_and(|g| g != "Pie") {
        return Json::Object(out);
    }
    let mut all = Map::new();
    for (name, ..) in MODES {
        if let Some(i) = info(name) {
            all.insert(name.to_string(), i);
        }
    }
    if grouped {
        out.insert("Pie".to_string(), Json::Object(all));
        Json::Object(out)
    } else {
        Json::Object(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_as_graphite_computes_them() {
        let v = [None, Some(2.0), Some(8.0), None, Some(5.0)];
        assert_eq!(PieMode::Average.apply(&v), Some(5.0));
        assert_eq!(PieMode::Maximum.apply(&v), Some(8.0));
        assert_eq!(PieMode::Minimum.apply(&v), Some(2.0));
        for m in [PieMode::Average, PieMode::Maximum, PieMode::Minimum] {
            assert_eq!(m.apply(&[None, None]), None);
            assert_eq!(m.apply(&[]), None);
        }
        // Python's max keeps a leading NaN and skips a later one.
        assert!(PieMode::Maximum
            .apply(&[Some(f64::NAN), Some(1.0)])
            .unwrap()
            .is_nan());
        assert_eq!(
            PieMode::Maximum.apply(&[Some(1.0), Some(f64::NAN), Some(3.0)]),
            Some(3.0)
        );
        assert!(PieMode::Average
            .apply(&[Some(1.0), Some(f64::NAN)])
            .unwrap()
            .is_nan());
        assert_eq!(PieMode::from_name("maximum"), Some(PieMode::Maximum));
        assert_eq!(PieMode::from_name("Maximum"), None);
    }

    #[test]
    fn catalogue_as_graphite_lists_it() {
        let c = catalogue(false, None);
        assert_eq!(
            c["average"].to_string(),
            "{\"description\":\"Return the average\",\"function\":\"average(series)\",\
             \"group\":\"Pie\",\"module\":\"graphite.render.functions\",\"name\":\"average\",\
             \"params\":[{\"name\":\"series\",\"required\":true,\"type\":\"series\"}]}"
        );
        assert_eq!(c.as_object().map(Map::len), Some(3));
        assert_eq!(catalogue(true, None)["Pie"], c);
        assert_eq!(catalogue(false, Some("Combine")), Json::Object(Map::new()));
        assert!(info("pieAverage").is_none());
    }
}
