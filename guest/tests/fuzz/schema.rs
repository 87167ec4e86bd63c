//! The JSON Schema sanitizer (`protocol::schema`): arbitrary schemas, including `$ref` cycles,
//! deep nesting and keywords Gemini does not know.
//!
//! Properties: no panic; bounded time (the harness fails a slow case); every output node uses
//! only keywords of Gemini's `Schema` message and obeys the validator's rules (module doc,
//! protocols.md §1.14); `tool_parameters` returns an `OBJECT` with properties or nothing;
//! property names are data and survive.

use crate::harness;
use gempool_guest::protocol::schema::{response_schema, tool_parameters};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// The fields of Gemini's `Schema` message that the sanitizer may emit.
const ALLOWED: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "items",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
];

/// Checks one output node and everything under it; `Err` names the offending path.
pub fn check_gemini_schema(schema: &Value, path: &str) -> Result<(), String> {
    let obj = schema
        .as_object()
        .ok_or_else(|| format!("{path}: not an object: {schema}"))?;
    for key in obj.keys() {
        if !ALLOWED.contains(&key.as_str()) {
            return Err(format!("{path}: keyword {key:?} is not in Gemini's Schema"));
        }
    }
    let ty = match obj.get("type") {
        None if obj.contains_key("anyOf") => None,
        None => return Err(format!("{path}: node without type or anyOf: {schema}")),
        Some(Value::String(t)) => Some(t.as_str()),
        Some(other) => return Err(format!("{path}: type is not a string: {other}")),
    };
    if let Some(ty) = ty {
        if !["STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"].contains(&ty) {
            return Err(format!("{path}: type {ty:?}"));
        }
        let only = |key: &str, on: &str| {
            if obj.contains_key(key) && ty != on {
                Err(format!("{path}: {key} on {ty}"))
            } else {
                Ok(())
            }
        };
        for key in [
            "properties",
            "required",
            "propertyOrdering",
            "minProperties",
            "maxProperties",
        ] {
            only(key, "OBJECT")?;
        }
        for key in ["items", "minItems", "maxItems"] {
            only(key, "ARRAY")?;
        }
        for key in ["enum", "minLength", "maxLength", "pattern"] {
            only(key, "STRING")?;
        }
        if (obj.contains_key("minimum") || obj.contains_key("maximum")) && !["NUMBER", "INTEGER"].contains(&ty) {
            return Err(format!("{path}: minimum/maximum on {ty}"));
        }
        if ty == "ARRAY" && !obj.contains_key("items") {
            return Err(format!("{path}: ARRAY without items"));
        }
        if let Some(f) = obj.get("format") {
            let ok = match (ty, f.as_str()) {
                ("STRING", Some(f)) => ["enum", "date-time"].contains(&f),
                ("NUMBER", Some(f)) => ["float", "double"].contains(&f),
                ("INTEGER", Some(f)) => ["int32", "int64"].contains(&f),
                _ => false,
            };
            if !ok {
                return Err(format!("{path}: format {f} on {ty}"));
            }
        }
    } else if obj
        .keys()
        .any(|k| !["anyOf", "nullable", "title", "description"].contains(&k.as_str()))
    {
        return Err(format!("{path}: untyped anyOf node with other keywords: {schema}"));
    }
    for key in ["title", "description", "pattern"] {
        if obj.get(key).is_some_and(|v| !v.is_string()) {
            return Err(format!("{path}: {key} is not a string"));
        }
    }
    if obj.get("nullable").is_some_and(|v| !v.is_boolean()) {
        return Err(format!("{path}: nullable is not a boolean"));
    }
    for key in [
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minProperties",
        "maxProperties",
    ] {
        if obj.get(key).is_some_and(|v| !v.is_u64()) {
            return Err(format!("{path}: {key} is not a non-negative integer: {}", obj[key]));
        }
    }
    for key in ["minimum", "maximum"] {
        if obj.get(key).is_some_and(|v| !v.is_number()) {
            return Err(format!("{path}: {key} is not a number: {}", obj[key]));
        }
    }
    if let Some(e) = obj.get("enum") {
        let values = e.as_array().ok_or_else(|| format!("{path}: enum is not an array"))?;
        if values.is_empty() || !values.iter().all(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
            return Err(format!("{path}: enum must hold non-empty strings: {e}"));
        }
    }
    if let Some(props) = obj.get("properties") {
        let props = props
            .as_object()
            .ok_or_else(|| format!("{path}: properties is not an object"))?;
        if props.is_empty() {
            return Err(format!("{path}: empty properties"));
        }
        for (name, p) in props {
            check_gemini_schema(p, &format!("{path}.properties[{name:?}]"))?;
        }
        let declared = |v: &Value| v.as_str().is_some_and(|n| props.contains_key(n));
        if let Some(required) = obj.get("required") {
            let required = required
                .as_array()
                .ok_or_else(|| format!("{path}: required is not an array"))?;
            if !required.iter().all(declared) {
                return Err(format!(
                    "{path}: required names an undeclared property: {}",
                    obj["required"]
                ));
            }
        }
        if let Some(order) = obj.get("propertyOrdering") {
            let order = order
                .as_array()
                .ok_or_else(|| format!("{path}: propertyOrdering is not an array"))?;
            if order.len() != props.len() || !order.iter().all(declared) {
                return Err(format!(
                    "{path}: propertyOrdering is not a permutation of the properties"
                ));
            }
        }
    } else if obj.contains_key("required") || obj.contains_key("propertyOrdering") {
        return Err(format!("{path}: required/propertyOrdering without properties"));
    }
    if let Some(items) = obj.get("items") {
        check_gemini_schema(items, &format!("{path}.items"))?;
    }
    if let Some(any_of) = obj.get("anyOf") {
        let branches = any_of
            .as_array()
            .ok_or_else(|| format!("{path}: anyOf is not an array"))?;
        if branches.is_empty() {
            return Err(format!("{path}: empty anyOf"));
        }
        for (i, b) in branches.iter().enumerate() {
            check_gemini_schema(b, &format!("{path}.anyOf[{i}]"))?;
        }
    }
    Ok(())
}

/// Names that are keywords elsewhere, used as property names (data, never stripped).
const NAMES: &[&str] = &[
    "a",
    "b",
    "format",
    "default",
    "$ref",
    "type",
    "properties",
    "items",
    "enum",
    "x-y",
    "",
    "é",
    "additionalProperties",
];
const DEFS: &[&str] = &["A", "B", "C", "D", "E"];

fn refs() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => prop::sample::select(DEFS).prop_map(|d| json!(format!("#/$defs/{d}"))),
        2 => prop::sample::select(DEFS).prop_map(|d| json!(format!("#/definitions/{d}"))),
        1 => prop::sample::select(vec![
            "#", "#/", "#/properties/a", "#/properties/a/items", "#/$defs", "#/$defs/~1", "#/$defs/%41",
            "#/$defs/A/properties/a", "http://example.com/s.json", "A", "#/$defs/missing", "",
        ])
        .prop_map(|r| json!(r)),
        1 => any::<i32>().prop_map(|n| json!(n)),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop::num::f64::NORMAL.prop_map(|f| json!(f)),
        prop::sample::select(vec![0.5, -1.0, 1e300, -0.0, 9.1e15, 3.0]).prop_map(|f| json!(f)),
        "\\PC{0,6}".prop_map(Value::String),
        Just(json!("")),
    ]
}

fn type_value() -> impl Strategy<Value = Value> {
    let name = prop::sample::select(vec![
        "string", "number", "integer", "boolean", "array", "object", "null", "STRING", "Object", "any", "",
    ]);
    prop_oneof![
        6 => name.clone().prop_map(|t| json!(t)),
        2 => prop::collection::vec(name, 0..4).prop_map(|ts| json!(ts)),
        1 => scalar(),
    ]
}

/// One JSON Schema node: a random set of keywords, valid or not, around `inner` sub-schemas.
fn node(inner: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
    let props = prop::collection::vec((prop::sample::select(NAMES), inner.clone()), 0..4);
    let names = prop::collection::vec(
        prop_oneof![4 => prop::sample::select(NAMES).prop_map(|n| json!(n)), 1 => scalar()],
        0..4,
    );
    let branches = prop::collection::vec(inner.clone(), 0..4);
    let keyword = prop_oneof![
        6 => type_value().prop_map(|v| ("type", v)),
        4 => props.prop_map(|ps| ("properties", Value::Object(ps.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))),
        2 => names.clone().prop_map(|n| ("required", json!(n))),
        1 => names.prop_map(|n| ("propertyOrdering", json!(n))),
        3 => inner.clone().prop_map(|v| ("items", v)),
        1 => branches.clone().prop_map(|b| ("items", json!(b))),
        1 => branches.clone().prop_map(|b| ("prefixItems", json!(b))),
        3 => branches.clone().prop_map(|b| ("anyOf", json!(b))),
        2 => branches.clone().prop_map(|b| ("oneOf", json!(b))),
        3 => branches.prop_map(|b| ("allOf", json!(b))),
        4 => refs().prop_map(|r| ("$ref", r)),
        2 => prop::collection::vec(scalar(), 0..5).prop_map(|e| ("enum", json!(e))),
        1 => scalar().prop_map(|c| ("const", c)),
        1 => prop_oneof![
            prop::sample::select(vec!["enum", "date-time", "float", "double", "int32", "int64", "uri", "email"])
                .prop_map(|f| json!(f)),
            scalar()
        ]
        .prop_map(|f| ("format", f)),
        1 => scalar().prop_map(|v| ("nullable", v)),
        2 => prop::sample::select(vec![
            "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems",
            "maxItems", "minProperties", "maxProperties", "multipleOf",
        ])
        .prop_flat_map(|k| scalar().prop_map(move |v| (k, v))),
        1 => prop::sample::select(vec!["title", "description", "pattern", "default", "example", "examples"])
            .prop_flat_map(|k| scalar().prop_map(move |v| (k, v))),
        1 => prop::sample::select(vec![
            "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames", "x-google", "$schema",
            "$id", "$comment", "strict", "unevaluatedProperties", "patternProperties", "dependentSchemas",
        ])
        .prop_flat_map(move |k| inner.clone().prop_map(move |v| (k, v))),
    ];
    prop::collection::vec(keyword, 0..6).prop_map(|kws| {
        let mut m = Map::new();
        for (k, v) in kws {
            m.insert(k.to_string(), v);
        }
        Value::Object(m)
    })
}

/// Arbitrary schemas: nested nodes, often with `$defs`/`definitions` (A..E) that refer to each
/// other, so that `$ref` chains, cycles and diamonds all occur.
pub fn schema() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => type_value().prop_map(|t| json!({"type": t})),
        2 => refs().prop_map(|r| json!({"$ref": r})),
        1 => Just(json!({})),
        1 => scalar(),
    ];
    let tree = leaf.prop_recursive(6, 48, 5, |inner| node(inner.boxed()));
    let defs = prop::collection::vec((prop::sample::select(DEFS), tree.clone()), 0..5);
    (tree, defs, any::<bool>()).prop_map(|(mut root, defs, legacy)| {
        if let (Value::Object(m), false) = (&mut root, defs.is_empty()) {
            let defs: Map<String, Value> = defs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            m.insert(
                (if legacy { "definitions" } else { "$defs" }).into(),
                Value::Object(defs),
            );
        }
        root
    })
}

/// Deep nesting through every kind of edge (properties, items, anyOf, allOf, oneOf, `$ref`),
/// up to what a client's body can carry (serde_json refuses nesting over 128).
fn deep() -> impl Strategy<Value = Value> {
    prop::collection::vec(0u8..6, 10..60).prop_map(|edges| {
        let mut defs = Map::new();
        let mut schema = json!({"type": "string"});
        for (i, e) in edges.iter().enumerate() {
            schema = match e {
                0 => json!({"type": "object", "properties": {"n": schema}, "required": ["n"]}),
                1 => json!({"type": "array", "items": schema}),
                2 => json!({"anyOf": [schema, {"type": "null"}]}),
                3 => json!({"allOf": [schema]}),
                4 => json!({"oneOf": [schema, {"type": "integer"}]}),
                _ => {
                    defs.insert(format!("d{i}"), schema);
                    json!({"$ref": format!("#/$defs/d{i}")})
                }
            };
        }
        schema["$defs"] = Value::Object(defs);
        schema
    })
}

/// What a client could send: the schema survives a trip through JSON text (nesting limit).
fn parsable(schema: &Value) -> bool {
    serde_json::from_str::<Value>(&schema.to_string()).is_ok()
}

fn check(schema: Value) -> Result<(), TestCaseError> {
    if !parsable(&schema) {
        return Ok(());
    }
    let out = response_schema(&schema);
    check_gemini_schema(&out, "responseSchema").map_err(TestCaseError::fail)?;
    // Not asserted: idempotence. It is no documented contract and does not hold (a tuple
    // `items: [{"type": "string"}, {"type": "null"}]` becomes an `anyOf` of `STRING` and nullable
    // `STRING`, which a second pass collapses); both forms are valid Gemini schemas.

    if let Some(params) = tool_parameters(&schema) {
        check_gemini_schema(&params, "parameters").map_err(TestCaseError::fail)?;
        prop_assert_eq!(params.get("type"), Some(&json!("OBJECT")));
        prop_assert!(params
            .get("properties")
            .is_some_and(|p| p.as_object().is_some_and(|p| !p.is_empty())));
        prop_assert!(params.get("nullable").is_none(), "top-level nullable in parameters");
    }

    // Property names are data: a plain object schema keeps exactly its property names.
    let plain = schema.as_object().is_some_and(|o| {
        o.get("type") == Some(&json!("object"))
            && !["$ref", "allOf", "anyOf", "oneOf", "enum", "const"]
                .iter()
                .any(|k| o.contains_key(*k))
    });
    if let (true, Some(Value::Object(props))) = (plain, schema.get("properties")) {
        if !props.is_empty() {
            let names: Vec<&String> = props.keys().collect();
            let kept: Vec<&String> = out["properties"]
                .as_object()
                .map(|p| p.keys().collect())
                .unwrap_or_default();
            prop_assert_eq!(kept, names, "property names changed");
        }
    }
    Ok(())
}

#[test]
fn sanitizer_output_is_gemini_valid() {
    harness::run("schema", 1000, schema(), check);
}

#[test]
fn sanitizer_handles_deep_nesting() {
    harness::run("schema_deep", 96, deep(), check);
}

/// `$defs` chained so that each level refers to the next `fanout` times (a diamond per level):
/// no cycle, tiny input, and an inlined output of `fanout^levels` nodes.
fn diamond(levels: usize, fanout: usize, edge: u8) -> Value {
    let mut defs = Map::new();
    defs.insert(format!("L{levels}"), json!({"type": "string"}));
    for i in (0..levels).rev() {
        let r = json!({"$ref": format!("#/$defs/L{}", i + 1)});
        let names = ["a", "b", "c", "d"];
        defs.insert(
            format!("L{i}"),
            match edge {
                0 => json!({"type": "object", "properties": names[..fanout].iter().map(|n| (n.to_string(), r.clone())).collect::<Map<_, _>>()}),
                1 => json!({"anyOf": (0..fanout).map(|k| json!({"type": "array", "minItems": k, "items": r})).collect::<Vec<_>>()}),
                _ => json!({"allOf": (0..fanout).map(|k| json!({"type": "object", "properties": {names[k]: r}})).collect::<Vec<_>>()}),
            },
        );
    }
    json!({"$ref": "#/$defs/L0", "$defs": defs})
}

/// Shared sub-schemas must not be expanded exponentially: a few KB of `$defs` may not turn
/// into megabytes of `parameters` (or seconds of CPU in the guest). Before the sanitizer's
/// node budget, 20 levels of two references each (1.9 KB) gave a 62 MB schema after 4.7 s
/// natively, and three references each never finished.
#[test]
fn sanitizer_output_stays_bounded_for_shared_refs() {
    let strategy = (1usize..24, 2usize..4, 0u8..3).prop_map(|(levels, fanout, edge)| diamond(levels, fanout, edge));
    harness::run("schema_diamond", 64, strategy, |schema| {
        let input = schema.to_string().len();
        for out in [Some(response_schema(&schema)), tool_parameters(&schema)]
            .into_iter()
            .flatten()
        {
            let size = out.to_string().len();
            prop_assert!(size <= 1 << 20, "{input} B of schema became {size} B");
        }
        Ok(())
    });
}
