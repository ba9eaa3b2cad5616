//! Template loading: reads a SAM/CloudFormation YAML template and turns it into plain JSON in
//! which every short-form intrinsic tag (`!Ref`, `!GetAtt`, `!Sub`, ...) is rewritten to its long
//! form (`{"Ref": ..}`, `{"Fn::GetAtt": [..]}`, ...). Nothing here resolves values; see
//! [`crate::resolve`].

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use serde_yaml_ng::Value as Yaml;

use crate::plan::PlanError;

/// A parsed template: the whole document as long-form JSON plus where it was read from.
#[derive(Debug, Clone)]
pub struct Template {
    /// The file the template was read from.
    pub path: PathBuf,
    /// The whole document, intrinsics in long form.
    pub document: Value,
}

impl Template {
    /// Reads and parses the template at `path`.
    pub fn load(path: &Path) -> Result<Template, PlanError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| PlanError::Read { path: path.to_path_buf(), source })?;
        Self::parse(path, &text)
    }

    /// Parses template text; `path` is only used for messages and relative `CodeUri`s.
    pub fn parse(path: &Path, text: &str) -> Result<Template, PlanError> {
        let yaml: Yaml =
            serde_yaml_ng::from_str(text).map_err(|source| PlanError::Yaml { path: path.to_path_buf(), source })?;
        let document = yaml_to_json(&yaml)?;
        if !document.is_object() {
            return Err(PlanError::Invalid {
                location: path.display().to_string(),
                reason: "the template is not a mapping".to_owned(),
            });
        }
        Ok(Template { path: path.to_path_buf(), document })
    }

    /// The directory the template lives in (relative `CodeUri`s are resolved against it).
    pub fn base_dir(&self) -> PathBuf {
        self.path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
    }

    /// A top-level section (`Parameters`, `Conditions`, `Globals`, `Resources`, ...).
    pub fn section(&self, name: &str) -> Option<&Map<String, Value>> {
        self.document.get(name).and_then(Value::as_object)
    }

    /// The `Resources` section (empty when absent).
    pub fn resources(&self) -> Map<String, Value> {
        self.section("Resources").cloned().unwrap_or_default()
    }
}

/// Converts one YAML value to JSON, rewriting CloudFormation short-form tags to long form.
pub fn yaml_to_json(yaml: &Yaml) -> Result<Value, PlanError> {
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => number_to_json(n),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(yaml_to_json).collect::<Result<Vec<_>, _>>()?),
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(key_to_string(k)?, yaml_to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let inner = yaml_to_json(&tagged.value)?;
            long_form(tag, inner)?
        }
    })
}

/// Maps a short-form tag name (without `!`) and its converted argument to the long form.
fn long_form(tag: &str, inner: Value) -> Result<Value, PlanError> {
    let (key, value) = match tag {
        "Ref" => ("Ref".to_owned(), inner),
        "Condition" => ("Condition".to_owned(), inner),
        "GetAtt" => {
            let value = match inner {
                Value::String(s) => match s.split_once('.') {
                    Some((resource, attribute)) => {
                        Value::Array(vec![Value::String(resource.to_owned()), Value::String(attribute.to_owned())])
                    }
                    None => {
                        return Err(PlanError::Invalid {
                            location: format!("!GetAtt {s}"),
                            reason: "expected Resource.Attribute".to_owned(),
                        });
                    }
                },
                other => other,
            };
            ("Fn::GetAtt".to_owned(), value)
        }
        "Sub" | "Join" | "If" | "Equals" | "Not" | "And" | "Or" | "Select" | "FindInMap" | "Base64" | "GetAZs"
        | "ImportValue" | "Split" | "Cidr" | "Length" | "ToJsonString" | "Transform" => (format!("Fn::{tag}"), inner),
        other => {
            return Err(PlanError::UnsupportedIntrinsic { name: format!("!{other}") });
        }
    };
    let mut map = Map::new();
    map.insert(key, value);
    Ok(Value::Object(map))
}

fn number_to_json(n: &serde_yaml_ng::Number) -> Value {
    if let Some(i) = n.as_i64() {
        Value::from(i)
    } else if let Some(u) = n.as_u64() {
        Value::from(u)
    } else {
        n.as_f64().and_then(serde_json::Number::from_f64).map(Value::Number).unwrap_or(Value::Null)
    }
}

fn key_to_string(key: &Yaml) -> Result<String, PlanError> {
    match key {
        Yaml::String(s) => Ok(s.clone()),
        Yaml::Bool(b) => Ok(b.to_string()),
        Yaml::Number(n) => Ok(n.to_string()),
        Yaml::Null => Ok("null".to_owned()),
        other => Err(PlanError::Invalid {
            location: format!("{other:?}"),
            reason: "mapping keys must be scalars".to_owned(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Value {
        Template::parse(Path::new("t.yaml"), text).unwrap().document
    }

    #[test]
    fn when_short_form_tags_are_used_should_produce_the_long_form() {
        let doc = parse(
            r#"
A: !Ref Env
B: !GetAtt Queue.Arn
C: !Sub "x-${Env}"
D: !Sub ["${A}-b", {A: !Ref Env}]
E: !Join [",", [a, !Ref Env]]
F: !If [IsProd, 1, !Ref "AWS::NoValue"]
G: !Equals [!Ref Env, prod]
H: !Not [!Condition IsProd]
I: !Select [0, [a, b]]
"#,
        );
        assert_eq!(doc["A"], json!({"Ref": "Env"}));
        assert_eq!(doc["B"], json!({"Fn::GetAtt": ["Queue", "Arn"]}));
        assert_eq!(doc["C"], json!({"Fn::Sub": "x-${Env}"}));
        assert_eq!(doc["D"], json!({"Fn::Sub": ["${A}-b", {"A": {"Ref": "Env"}}]}));
        assert_eq!(doc["E"], json!({"Fn::Join": [",", ["a", {"Ref": "Env"}]]}));
        assert_eq!(doc["F"], json!({"Fn::If": ["IsProd", 1, {"Ref": "AWS::NoValue"}]}));
        assert_eq!(doc["G"], json!({"Fn::Equals": [{"Ref": "Env"}, "prod"]}));
        assert_eq!(doc["H"], json!({"Fn::Not": [{"Condition": "IsProd"}]}));
        assert_eq!(doc["I"], json!({"Fn::Select": [0, ["a", "b"]]}));
    }

    #[test]
    fn when_an_unknown_tag_is_used_should_fail_naming_it() {
        let err = Template::parse(Path::new("t.yaml"), "A: !Bogus x\n").unwrap_err();
        assert!(err.to_string().contains("!Bogus"), "{err}");
    }

    #[test]
    fn when_numbers_and_booleans_are_values_should_keep_their_types() {
        let doc = parse("A: 10\nB: true\nC: \"10\"\n");
        assert_eq!(doc["A"], json!(10));
        assert_eq!(doc["B"], json!(true));
        assert_eq!(doc["C"], json!("10"));
    }
}
