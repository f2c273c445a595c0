//! Rendering the effective configuration as TOML (figment has no writer).

use figment::providers::Serialized;
use figment::Figment;

use super::Config;

pub(super) fn toml_string(config: &Config) -> String {
    match Figment::from(Serialized::defaults(config)).extract::<figment::value::Dict>() {
        Ok(dict) => render_toml(&dict),
        Err(e) => format!("# cannot render configuration: {e}\n"),
    }
}

/// Renders a figment dictionary as TOML sections (figment has no writer).
fn render_toml(dict: &figment::value::Dict) -> String {
    use figment::value::Value;
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(_, s) => Some(format!("{s:?}")),
            Value::Bool(_, b) => Some(b.to_string()),
            Value::Num(_, n) => n
                .to_f64()
                .filter(|_| matches!(n, figment::value::Num::F32(_) | figment::value::Num::F64(_)))
                .map(|f| format!("{f:?}"))
                .or_else(|| n.to_u128().map(|u| u.to_string()))
                .or_else(|| n.to_i128().map(|i| i.to_string())),
            Value::Array(_, items) => Some(format!(
                "[{}]",
                items
                    .iter()
                    .filter_map(scalar)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Value::Empty(_, _) => Some("\"\"".into()),
            Value::Char(_, c) => Some(format!("{:?}", c.to_string())),
            Value::Dict(_, _) => None,
        }
    }
    fn section(out: &mut String, path: &str, dict: &figment::value::Dict) {
        let mut nested = Vec::new();
        let mut lines = String::new();
        for (key, value) in dict {
            match value {
                Value::Dict(_, inner) => nested.push((key, inner)),
                other => {
                    if let Some(s) = scalar(other) {
                        lines.push_str(&format!("{key} = {s}\n"));
                    }
                }
            }
        }
        if !lines.is_empty() {
            if !path.is_empty() {
                out.push_str(&format!("[{path}]\n"));
            }
            out.push_str(&lines);
            out.push('\n');
        }
        for (key, inner) in nested {
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            section(out, &child, inner);
        }
    }
    let mut out = String::new();
    section(&mut out, "", dict);
    out
}
