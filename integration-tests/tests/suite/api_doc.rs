//! docs/api.yaml as the rest suite's oracle: the document (read with `serde_norway`) and a
//! validator for the schema keywords it uses: `type`, `nullable`, `properties`, `required`,
//! `additionalProperties: false`, `items`, `enum`, `$ref` (and `description`). A schema with any
//! other keyword is an error, never skipped: a keyword this does not know cannot pass silently.
//! (A full JSON-schema crate costs a fresh CI machine a regex engine and more to compile, for
//! eight keywords.)

use serde_json::Value;

/// The keywords [`validate`] knows.
const KEYWORDS: &[&str] = &[
    "type",
    "nullable",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "$ref",
    "description",
];

/// The OpenAPI document.
pub struct ApiDoc(pub Value);

impl ApiDoc {
    /// Parses docs/api.yaml, built into the test binary: the emulated lanes run the suite where
    /// the source tree is not.
    pub fn load() -> Result<Self, String> {
        let text = include_str!("../../../docs/api.yaml");
        let doc: Value =
            serde_norway::from_str(text).map_err(|e| format!("parsing docs/api.yaml: {e}"))?;
        Ok(ApiDoc(doc))
    }

    /// Follows `value`'s `$ref` (within this document), if it has one.
    fn resolve<'a>(&'a self, value: &'a Value) -> Result<&'a Value, String> {
        match value.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let pointer = r.strip_prefix('#').ok_or(format!("external $ref {r}"))?;
                self.0.pointer(pointer).ok_or(format!("dangling $ref {r}"))
            }
            None => Ok(value),
        }
    }

    /// The operation `method path`.
    pub fn operation(&self, method: &str, path: &str) -> Result<&Value, String> {
        self.0
            .pointer(&format!(
                "/paths/{}/{}",
                path.replace('~', "~0").replace('/', "~1"),
                method.to_lowercase()
            ))
            .ok_or(format!("docs/api.yaml has no {method} {path}"))
    }

    /// Checks a response of `method path` against the document: the status is documented (or
    /// falls to `default`, which must be an error), and the body matches its schema.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), String> {
        let responses = &self.operation(method, path)?["responses"];
        let response = match responses.get(status.to_string()) {
            Some(r) => r,
            None if status >= 400 => responses
                .get("default")
                .ok_or(format!("{method} {path}: {status} not documented"))?,
            None => return Err(format!("{method} {path}: {status} not documented")),
        };
        let response = self.resolve(response)?;
        let schema = response
            .pointer("/content/application~1json/schema")
            .ok_or(format!("{method} {path} {status}: no JSON schema"))?;
        self.validate(schema, body, "body")
            .map_err(|e| format!("{method} {path} {status}: {e}; body {body}"))
    }

    /// Checks a request body against `method path`'s documented one.
    pub fn check_request(&self, method: &str, path: &str, body: &Value) -> Result<(), String> {
        let rb = self.resolve(&self.operation(method, path)?["requestBody"])?;
        let schema = rb
            .pointer("/content/application~1json/schema")
            .ok_or(format!("{method} {path}: no request body schema"))?;
        self.validate(schema, body, "request")
    }

    /// Checks `value` against `schema`; `at` names where, for the message.
    pub fn validate(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let obj = schema
            .as_object()
            .ok_or(format!("{at}: the schema is not an object"))?;
        if let Some(k) = obj.keys().find(|k| !KEYWORDS.contains(&k.as_str())) {
            return Err(format!("{at}: schema keyword {k:?} is not checked here"));
        }
        if obj.contains_key("$ref") {
            return self.validate(self.resolve(schema)?, value, at);
        }
        if value.is_null() && obj.get("nullable") == Some(&Value::Bool(true)) {
            return Ok(());
        }
        if let Some(t) = obj.get("type").and_then(Value::as_str) {
            let ok = match t {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "integer" => value.is_u64() || value.is_i64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                other => return Err(format!("{at}: unknown type {other}")),
            };
            if !ok {
                return Err(format!("{at}: {value} is not of type {t}"));
            }
        }
        if let Some(e) = obj.get("enum").and_then(Value::as_array) {
            if !e.contains(value) {
                return Err(format!("{at}: {value} is not one of {e:?}"));
            }
        }
        if let (Some(fields), Some(props)) = (value.as_object(), obj.get("properties")) {
            let props = props.as_object().ok_or(format!("{at}: bad properties"))?;
            for r in obj
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let r = r.as_str().unwrap_or("");
                if !fields.contains_key(r) {
                    return Err(format!("{at}: required field {r:?} missing"));
                }
            }
            for (k, v) in fields {
                match props.get(k) {
                    Some(s) => self.validate(s, v, &format!("{at}.{k}"))?,
                    None if obj.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        return Err(format!("{at}: field {k:?} is not in the schema"))
                    }
                    None => {}
                }
            }
        }
        if let (Some(items), Some(s)) = (value.as_array(), obj.get("items")) {
            for (i, v) in items.iter().enumerate() {
                self.validate(s, v, &format!("{at}[{i}]"))?;
            }
        }
        Ok(())
    }
}

/// Whether `schema` and the schemas inside it use only [`KEYWORDS`].
fn known_keywords(schema: &Value, at: &str) -> Result<(), String> {
    let obj = schema.as_object().ok_or(format!("{at}: not an object"))?;
    if let Some(k) = obj.keys().find(|k| !KEYWORDS.contains(&k.as_str())) {
        return Err(format!("{at}: schema keyword {k:?} is not checked here"));
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            known_keywords(v, &format!("{at}.{k}"))?;
        }
    }
    match obj.get("items") {
        Some(i) => known_keywords(i, &format!("{at}[]")),
        None => Ok(()),
    }
}

/// Host tests of the document and the validator.
pub fn register(s: &mut integration_tests::harness::Suite) {
    use integration_tests::harness::check;
    s.host(
        "rest::api_yaml_documents_every_route_and_the_validator_bites",
        || {
            let doc = ApiDoc::load()?;
            // Every route the server has is documented with its method, and nothing more.
            let documented: Vec<(String, String)> = doc.0["paths"]
                .as_object()
                .ok_or("no paths")?
                .iter()
                .flat_map(|(p, ops)| {
                    ops.as_object()
                        .into_iter()
                        .flatten()
                        .map(move |(m, _)| (p.clone(), m.to_uppercase()))
                })
                .collect();
            let routes: Vec<(String, String)> = vmm_core::control::http::ROUTES
                .iter()
                .map(|(p, m)| (p.to_string(), m.to_string()))
                .collect();
            check(documented == routes, || {
                format!("documented {documented:?}, served {routes:?}")
            })?;
            // Every schema in the document uses only what the validator checks.
            for (name, schema) in doc.0["components"]["schemas"]
                .as_object()
                .ok_or("no schemas")?
            {
                known_keywords(schema, name)?;
            }
            // The validator refuses what it should.
            let state = serde_json::json!({ "$ref": "#/components/schemas/State" });
            doc.validate(&state, &serde_json::json!({"state": "paused"}), "ok")?;
            for bad in [
                serde_json::json!({}),
                serde_json::json!({"state": "asleep"}),
                serde_json::json!({"state": 1}),
                serde_json::json!({"state": "paused", "extra": 1}),
            ] {
                check(doc.validate(&state, &bad, "bad").is_err(), || {
                    format!("{bad} passed as a State")
                })?;
            }
            check(
                doc.check_response("GET", "/vm", 200, &serde_json::json!({"error": "x"}))
                    .is_err(),
                || "an error body passed as GET /vm's 200".into(),
            )?;
            check(
                doc.check_response("GET", "/vm", 201, &serde_json::json!({}))
                    .is_err(),
                || "an undocumented 201 passed".into(),
            )
        },
    );
}
