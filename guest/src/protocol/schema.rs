//! JSON Schema (as sent by OpenAI and Anthropic clients) -> Gemini's OpenAPI-subset `Schema`.
//!
//! Gemini's `FunctionDeclaration.parameters` and `GenerationConfig.responseSchema` are protobuf
//! messages: any keyword outside their field list is a 400 ("Invalid JSON payload received.
//! Unknown name ..."), and the validator adds rules of its own. Reference:
//! `shared/reference/protocols.md` §1.5 (field list), §1.14 (support matrix), §5.4.4.
//!
//! The converter builds each output node from scratch, copying only the keywords that are
//! valid for the node's (single, uppercase) type, so nothing unknown can leak through:
//!
//! * every node has a `type`, or is an `anyOf` whose branches do ("schema didn't specify the
//!   schema type field"); a node with nothing to infer a type from becomes `STRING`;
//! * `properties`/`required` only on `OBJECT` ("only allowed for OBJECT type"), `required`
//!   filtered to declared properties, empty `properties` omitted ("should be non-empty for
//!   OBJECT type") so a free-form object is a bare `{"type": "OBJECT"}`;
//! * `ARRAY` always has `items` ("items: missing field"); `items: {}`/missing -> `STRING` items;
//! * `format` on `STRING` only `enum`/`date-time`, `NUMBER` `float`/`double`, `INTEGER`
//!   `int32`/`int64`;
//! * `enum` only strings, on `STRING`: other values are stringified and the type becomes
//!   `STRING`; empty strings are removed; `const: v` is `enum: [v]`; a `null` member -> nullable;
//! * `type: [X, "null"]` -> `X` + `nullable`; several non-null types -> `anyOf`;
//!   `{"type": "null"}` branches of `anyOf`/`oneOf` -> dropped + `nullable`; `oneOf` -> `anyOf`;
//!   `allOf` -> branches merged (properties and required unioned, first value of other keys wins);
//! * `$ref` to `#/$defs/..`, `#/definitions/..` (any local JSON pointer) is inlined, sibling
//!   keywords override the target; a ref that is already being expanded on the current path
//!   (recursion) becomes a free-form `{"type": "OBJECT"}`; unresolvable refs are dropped;
//! * `exclusiveMinimum`/`exclusiveMaximum` become `minimum`/`maximum` when those are absent
//!   (exact for integers, `+1`/`-1`; inclusive approximation for numbers);
//! * everything else (`additionalProperties`, `$schema`, `$id`, `$comment`, `strict`,
//!   `examples`, `deprecated`, `x-*`, `multipleOf`, `uniqueItems`, `contains`,
//!   `patternProperties`, `propertyNames`, `unevaluated*`, `if`/`then`/`else`, `not`,
//!   `readOnly`, `writeOnly`, ...) is dropped.
//!
//! Only keywords are ever removed: property *names* (`format`, `default`, `$ref`, ...) are
//! data and are kept verbatim.

use serde_json::{json, Map, Value};

/// Deeper schemas than this are cut off (as `STRING`) rather than expanded further.
const MAX_DEPTH: usize = 40;

/// At most this many schema nodes are converted for one schema. Inlining `$ref`s copies
/// shared definitions, so a small schema whose definitions each refer to the next twice would
/// otherwise grow exponentially (a 2 KB tool schema becoming tens of MB); past the budget,
/// what is left becomes a free-form `OBJECT`.
const MAX_NODES: usize = 20_000;

/// Converts a tool's JSON Schema into Gemini `parameters`.
///
/// Returns `None` when the function takes no parameters: the top level is not an object, or
/// has no (or empty) `properties`. Gemini rejects `{"type": "OBJECT", "properties": {}}` at the
/// top level, and a declaration without `parameters` means "no arguments". A top-level
/// `anyOf`/`oneOf` of objects (some MCP tools) is flattened into one object: properties are
/// merged and only properties required by every branch stay required.
pub fn tool_parameters(schema: &Value) -> Option<Value> {
    let root = Converter::new(schema).convert(schema, 0);
    let mut root = flatten_root_union(root)?;
    if root.get("type").and_then(Value::as_str) != Some("OBJECT") || !root.contains_key("properties") {
        return None;
    }
    root.remove("nullable");
    Some(Value::Object(root))
}

/// Converts a structured-output JSON Schema into Gemini `responseSchema`.
pub fn response_schema(schema: &Value) -> Value {
    Value::Object(Converter::new(schema).convert(schema, 0))
}

/// Keywords that give a schema its shape; a union branch with none of them only adds
/// constraints (`{"required": ["a"]}`) and is dropped when its parent has a shape of its own.
const SHAPE_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "items",
    "prefixItems",
    "enum",
    "const",
    "$ref",
    "anyOf",
    "oneOf",
    "allOf",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
];

struct Converter<'a> {
    root: &'a Value,
    /// `$ref`s being expanded on the current path (the cycle guard).
    expanding: Vec<String>,
    /// Nodes converted so far ([`MAX_NODES`]).
    nodes: usize,
}

impl<'a> Converter<'a> {
    fn new(root: &'a Value) -> Self {
        Converter {
            root,
            expanding: Vec::new(),
            nodes: 0,
        }
    }

    fn convert(&mut self, node: &Value, depth: usize) -> Map<String, Value> {
        let Some(obj) = node.as_object() else {
            // `true`, `{}` written as a boolean, or garbage: anything goes.
            return type_only("STRING");
        };
        if depth > MAX_DEPTH {
            return with_docs(type_only("STRING"), obj);
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return with_docs(type_only("OBJECT"), obj);
        }
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            return self.convert_ref(obj, reference, depth);
        }
        if let Some(branches) = obj.get("allOf").and_then(Value::as_array) {
            let mut refs = Vec::new();
            let merged = self.merge_all_of(obj, branches, depth, &mut refs);
            return self.convert_with(merged, refs, depth);
        }
        if let Some(branches) = obj.get("anyOf").or_else(|| obj.get("oneOf")).and_then(Value::as_array) {
            return self.convert_union(obj, branches, depth);
        }
        self.convert_plain(obj, depth)
    }

    fn convert_ref(&mut self, obj: &Map<String, Value>, reference: &str, depth: usize) -> Map<String, Value> {
        let mut siblings = obj.clone();
        siblings.remove("$ref");
        if self.expanding.iter().any(|r| r == reference) {
            // Recursive schema (a tree node containing nodes): stop here with a free-form object.
            return with_docs(type_only("OBJECT"), obj);
        }
        let Some(target) = self.resolve(reference) else {
            return self.convert(&Value::Object(siblings), depth + 1);
        };
        let mut merged = target.as_object().cloned().unwrap_or_default();
        merged.extend(siblings);
        self.expanding.push(reference.to_string());
        let out = self.convert(&Value::Object(merged), depth + 1);
        self.expanding.pop();
        out
    }

    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer).filter(|v| v.is_object())
    }

    /// Resolves a top-level `$ref`/`allOf` of a raw branch so it can be merged key by key.
    /// The refs it expands are appended to `refs`; the caller keeps them on the cycle guard
    /// while it converts the result (pydantic wraps refs in `allOf` to attach descriptions, so
    /// without this a binary tree would expand exponentially).
    fn raw_branch(&mut self, branch: &Value, depth: usize, refs: &mut Vec<String>) -> Map<String, Value> {
        let Some(obj) = branch.as_object() else {
            return Map::new();
        };
        if depth > MAX_DEPTH {
            return Map::new();
        }
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            let mut siblings = obj.clone();
            siblings.remove("$ref");
            if self.expanding.iter().chain(refs.iter()).any(|r| r == reference) {
                siblings.entry("type").or_insert(json!("object"));
                return siblings;
            }
            let Some(target) = self.resolve(reference) else {
                return siblings;
            };
            refs.push(reference.to_string());
            let mut merged = self.raw_branch(target, depth + 1, refs);
            merged.extend(siblings);
            return merged;
        }
        if let Some(branches) = obj.get("allOf").and_then(Value::as_array) {
            return self.merge_all_of(obj, branches, depth + 1, refs);
        }
        obj.clone()
    }

    /// `allOf` flattened into its parent: properties and `required` unioned (a property defined
    /// twice becomes the `allOf` of both definitions), the first value of any other key wins.
    fn merge_all_of(
        &mut self,
        obj: &Map<String, Value>,
        branches: &[Value],
        depth: usize,
        refs: &mut Vec<String>,
    ) -> Map<String, Value> {
        let mut acc = obj.clone();
        acc.remove("allOf");
        for branch in branches {
            let raw = self.raw_branch(branch, depth + 1, refs);
            merge_into(&mut acc, raw);
        }
        acc
    }

    /// Converts `raw` with `refs` marked as being expanded.
    fn convert_with(&mut self, raw: Map<String, Value>, refs: Vec<String>, depth: usize) -> Map<String, Value> {
        let mark = self.expanding.len();
        self.expanding.extend(refs);
        let out = self.convert(&Value::Object(raw), depth + 1);
        self.expanding.truncate(mark);
        out
    }

    fn convert_union(&mut self, obj: &Map<String, Value>, branches: &[Value], depth: usize) -> Map<String, Value> {
        let mut outer = obj.clone();
        outer.remove("anyOf");
        outer.remove("oneOf");
        let outer_has_shape = outer.keys().any(|k| SHAPE_KEYWORDS.contains(&k.as_str()));

        let mut nullable = obj.get("nullable") == Some(&Value::Bool(true));
        let mut raws = Vec::new();
        for branch in branches {
            let mut refs = Vec::new();
            let raw = self.raw_branch(branch, depth + 1, &mut refs);
            if is_null_schema(&raw) {
                nullable = true;
            } else {
                raws.push((raw, refs));
            }
        }
        let constraint_only = raws
            .iter()
            .all(|(r, _)| !r.keys().any(|k| SHAPE_KEYWORDS.contains(&k.as_str())));
        if outer_has_shape && constraint_only {
            // `{"type": "object", "properties": ..., "anyOf": [{"required": ["a"]}, ...]}`.
            if nullable {
                outer.insert("nullable".into(), Value::Bool(true));
            }
            return self.convert_plain(&outer, depth);
        }

        let mut converted: Vec<Map<String, Value>> = Vec::new();
        for (raw, refs) in raws {
            let branch = if outer_has_shape {
                // outer AND (a OR b) == (outer AND a) OR (outer AND b)
                let mut merged = outer.clone();
                merged.remove("description");
                merged.remove("title");
                merged.remove("nullable");
                merge_into(&mut merged, raw);
                merged
            } else {
                raw
            };
            let mut out = self.convert_with(branch, refs, depth);
            // A branch that is itself a union: splice its branches in.
            if out.contains_key("anyOf") && !out.contains_key("type") {
                if out.get("nullable") == Some(&Value::Bool(true)) {
                    nullable = true;
                }
                if let Some(Value::Array(inner)) = out.remove("anyOf") {
                    for b in inner {
                        if let Value::Object(b) = b {
                            push_unique(&mut converted, b);
                        }
                    }
                }
                continue;
            }
            if out.remove("nullable") == Some(Value::Bool(true)) {
                nullable = true;
            }
            push_unique(&mut converted, out);
        }
        build_union(converted, nullable, &outer)
    }

    fn convert_plain(&mut self, obj: &Map<String, Value>, depth: usize) -> Map<String, Value> {
        let mut nullable = obj.get("nullable") == Some(&Value::Bool(true));

        let mut types: Vec<&str> = match obj.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if types.iter().any(|t| t.eq_ignore_ascii_case("null")) {
            nullable = true;
            types.retain(|t| !t.eq_ignore_ascii_case("null"));
        }
        let mut types: Vec<&'static str> = types.into_iter().filter_map(gemini_type).collect();
        types.dedup();

        if types.len() > 1 {
            // `type: ["string", "number"]`: one branch per type, each keeping its own keywords.
            let mut branches = Vec::new();
            for t in types {
                let mut single = obj.clone();
                single.insert("type".into(), Value::String(t.to_ascii_lowercase()));
                single.remove("nullable");
                single.remove("description");
                single.remove("title");
                let out = self.convert_plain(&single, depth + 1);
                push_unique(&mut branches, out);
            }
            return build_union(branches, nullable, obj);
        }

        // `const` wins over `enum`; `null` members make the schema nullable.
        let mut enum_values: Option<Vec<Value>> = match (obj.get("const"), obj.get("enum")) {
            (Some(c), _) => Some(vec![c.clone()]),
            (None, Some(Value::Array(values))) => Some(values.clone()),
            _ => None,
        };
        if let Some(values) = &mut enum_values {
            if values.iter().any(Value::is_null) {
                nullable = true;
                values.retain(|v| !v.is_null());
            }
            if values.is_empty() {
                enum_values = None;
            }
        }

        let mut ty = types
            .first()
            .copied()
            .unwrap_or_else(|| infer_type(obj, enum_values.is_some()));
        let mut out = Map::new();
        let mut stringified = false;
        if let Some(values) = enum_values.filter(|_| ty != "ARRAY" && ty != "OBJECT") {
            let mut strings: Vec<Value> = Vec::new();
            for v in values {
                let s = match v {
                    Value::String(s) => s,
                    other => {
                        stringified = true;
                        other.to_string()
                    }
                };
                let s = Value::String(s);
                if s != json!("") && !strings.contains(&s) {
                    strings.push(s);
                }
            }
            if !strings.is_empty() {
                stringified |= ty != "STRING";
                ty = "STRING";
                out.insert("enum".into(), Value::Array(strings));
            }
        }
        out.insert("type".into(), Value::String(ty.into()));

        for key in ["title", "description"] {
            if let Some(Value::String(s)) = obj.get(key) {
                out.insert(key.into(), Value::String(s.clone()));
            }
        }
        if nullable {
            out.insert("nullable".into(), Value::Bool(true));
        }
        for key in ["default", "example"] {
            match obj.get(key) {
                None | Some(Value::Null) => {}
                Some(v) if stringified && !v.is_string() => {
                    out.insert(key.into(), Value::String(v.to_string()));
                }
                Some(v) => {
                    out.insert(key.into(), v.clone());
                }
            }
        }

        match ty {
            "STRING" => {
                if let Some(f) = obj
                    .get("format")
                    .and_then(Value::as_str)
                    .filter(|f| ["enum", "date-time"].contains(f))
                {
                    out.insert("format".into(), json!(f));
                }
                copy_count(obj, &mut out, "minLength");
                copy_count(obj, &mut out, "maxLength");
                if let Some(Value::String(p)) = obj.get("pattern") {
                    out.insert("pattern".into(), json!(p));
                }
            }
            "NUMBER" | "INTEGER" => {
                let formats: &[&str] = if ty == "NUMBER" {
                    &["float", "double"]
                } else {
                    &["int32", "int64"]
                };
                if let Some(f) = obj
                    .get("format")
                    .and_then(Value::as_str)
                    .filter(|f| formats.contains(f))
                {
                    out.insert("format".into(), json!(f));
                }
                copy_bound(obj, &mut out, ty == "INTEGER", "minimum", "exclusiveMinimum", 1.0);
                copy_bound(obj, &mut out, ty == "INTEGER", "maximum", "exclusiveMaximum", -1.0);
            }
            "ARRAY" => {
                let items = match (obj.get("items"), obj.get("prefixItems")) {
                    (Some(Value::Array(tuple)), _) | (None, Some(Value::Array(tuple))) => {
                        self.convert_tuple(tuple, depth)
                    }
                    (Some(items), _) => self.convert(items, depth + 1),
                    (None, _) => type_only("STRING"),
                };
                out.insert("items".into(), Value::Object(items));
                copy_count(obj, &mut out, "minItems");
                copy_count(obj, &mut out, "maxItems");
            }
            "OBJECT" => self.convert_object_keywords(obj, &mut out, depth),
            _ => {}
        }
        out
    }

    fn convert_tuple(&mut self, tuple: &[Value], depth: usize) -> Map<String, Value> {
        let mut branches = Vec::new();
        for item in tuple {
            let out = self.convert(item, depth + 1);
            push_unique(&mut branches, out);
        }
        build_union(branches, false, &Map::new())
    }

    fn convert_object_keywords(&mut self, obj: &Map<String, Value>, out: &mut Map<String, Value>, depth: usize) {
        let mut properties = Map::new();
        if let Some(Value::Object(props)) = obj.get("properties") {
            for (name, schema) in props {
                properties.insert(name.clone(), Value::Object(self.convert(schema, depth + 1)));
            }
        }
        if properties.is_empty() {
            return;
        }
        let mut required: Vec<Value> = Vec::new();
        if let Some(Value::Array(names)) = obj.get("required") {
            for name in names {
                if name.as_str().is_some_and(|n| properties.contains_key(n)) && !required.contains(name) {
                    required.push(name.clone());
                }
            }
        }
        if let Some(Value::Array(order)) = obj.get("propertyOrdering") {
            // Kept only when it is exactly a permutation of the properties.
            let names: Vec<&str> = order.iter().filter_map(Value::as_str).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() == names.len()
                && names.len() == properties.len()
                && sorted.iter().all(|n| properties.contains_key(*n))
            {
                out.insert("propertyOrdering".into(), json!(names));
            }
        }
        out.insert("properties".into(), Value::Object(properties));
        if !required.is_empty() {
            out.insert("required".into(), Value::Array(required));
        }
        copy_count(obj, out, "minProperties");
        copy_count(obj, out, "maxProperties");
    }
}

/// Maps a JSON Schema type name to Gemini's; unknown names yield `None` (type inferred instead).
fn gemini_type(name: &str) -> Option<&'static str> {
    match name.to_ascii_lowercase().as_str() {
        "string" => Some("STRING"),
        "number" => Some("NUMBER"),
        "integer" => Some("INTEGER"),
        "boolean" => Some("BOOLEAN"),
        "array" => Some("ARRAY"),
        "object" => Some("OBJECT"),
        _ => None,
    }
}

/// The type of a schema that does not declare one, from the keywords it uses.
fn infer_type(obj: &Map<String, Value>, has_enum: bool) -> &'static str {
    let has = |keys: &[&str]| keys.iter().any(|k| obj.contains_key(*k));
    if has(&[
        "properties",
        "required",
        "additionalProperties",
        "minProperties",
        "maxProperties",
        "patternProperties",
    ]) {
        "OBJECT"
    } else if has(&["items", "prefixItems", "minItems", "maxItems"]) {
        "ARRAY"
    } else if has_enum || has(&["minLength", "maxLength", "pattern"]) {
        "STRING"
    } else if has(&[
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
    ]) {
        "NUMBER"
    } else {
        // Unconstrained (`{}`, `z.any()`): a string is what every model can always produce.
        "STRING"
    }
}

fn is_null_schema(raw: &Map<String, Value>) -> bool {
    match raw.get("type") {
        Some(Value::String(t)) => t.eq_ignore_ascii_case("null"),
        Some(Value::Array(ts)) => {
            !ts.is_empty()
                && ts
                    .iter()
                    .all(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case("null")))
        }
        _ => raw.get("const") == Some(&Value::Null) && !raw.contains_key("type"),
    }
}

fn type_only(ty: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("type".into(), Value::String(ty.into()));
    m
}

/// Copies `title`/`description` of `from` onto `to` where `to` lacks them.
fn with_docs(mut to: Map<String, Value>, from: &Map<String, Value>) -> Map<String, Value> {
    for key in ["title", "description"] {
        if let (false, Some(Value::String(s))) = (to.contains_key(key), from.get(key)) {
            to.insert(key.into(), Value::String(s.clone()));
        }
    }
    to
}

fn push_unique(list: &mut Vec<Map<String, Value>>, item: Map<String, Value>) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// A union node from converted branches: none -> nullable `STRING` (a schema that only admits
/// `null`), one -> that branch, several -> `anyOf`. The outer docs and `nullable` go on top.
fn build_union(
    mut branches: Vec<Map<String, Value>>,
    nullable: bool,
    outer: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = match branches.len() {
        0 => type_only("STRING"),
        1 => branches.remove(0),
        _ => {
            let mut m = Map::new();
            m.insert(
                "anyOf".into(),
                Value::Array(branches.into_iter().map(Value::Object).collect()),
            );
            m
        }
    };
    if nullable {
        out.insert("nullable".into(), Value::Bool(true));
    }
    with_docs(out, outer)
}

/// Merges raw schema `src` into `acc` for `allOf`.
fn merge_into(acc: &mut Map<String, Value>, src: Map<String, Value>) {
    for (key, value) in src {
        match (key.as_str(), acc.get_mut(&key), value) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => {
                for (name, schema) in theirs {
                    match mine.get_mut(&name) {
                        Some(existing) => *existing = json!({"allOf": [existing.take(), schema]}),
                        None => {
                            mine.insert(name, schema);
                        }
                    }
                }
            }
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                for name in theirs {
                    if !mine.contains(&name) {
                        mine.push(name);
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, value) => {
                acc.insert(key, value);
            }
        }
    }
}

/// Copies a non-negative integer keyword (`minLength`, `maxItems`, ...); Gemini parses these as
/// int64, so fractional or negative values are dropped.
fn copy_count(obj: &Map<String, Value>, out: &mut Map<String, Value>, key: &str) {
    let n = match obj.get(key) {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64)),
        _ => None,
    };
    if let Some(n) = n {
        out.insert(key.into(), json!(n));
    }
}

/// Copies `minimum`/`maximum`, falling back to the exclusive bound (`step` is +1 for minimum,
/// -1 for maximum: exact for integers, the inclusive approximation for numbers). Draft-4's
/// boolean `exclusiveMinimum: true` tightens an integer bound the same way.
fn copy_bound(
    obj: &Map<String, Value>,
    out: &mut Map<String, Value>,
    integer: bool,
    key: &str,
    exclusive: &str,
    step: f64,
) {
    let bound = match (obj.get(key).and_then(Value::as_f64), obj.get(exclusive)) {
        (Some(b), Some(Value::Bool(true))) if integer => Some(b + step),
        (Some(_), _) => {
            out.insert(key.into(), obj[key].clone());
            return;
        }
        (None, Some(Value::Number(n))) => n.as_f64().map(|x| match (integer, step > 0.0) {
            (true, true) => x.floor() + 1.0,
            (true, false) => x.ceil() - 1.0,
            (false, _) => x,
        }),
        _ => None,
    };
    let Some(b) = bound.filter(|b| b.is_finite()) else {
        return;
    };
    let value = if b.fract() == 0.0 && b.abs() < 9.0e15 {
        json!(b as i64)
    } else {
        json!(b)
    };
    out.insert(key.into(), value);
}

/// A top-level union of objects becomes one object (tools need an object of named arguments).
fn flatten_root_union(mut root: Map<String, Value>) -> Option<Map<String, Value>> {
    let Some(Value::Array(branches)) = root.remove("anyOf") else {
        return Some(root);
    };
    let mut properties = Map::new();
    let mut required: Option<Vec<Value>> = None;
    for branch in branches {
        if branch.get("type").and_then(Value::as_str) != Some("OBJECT") {
            continue;
        }
        if let Some(Value::Object(props)) = branch.get("properties") {
            for (name, schema) in props {
                properties.entry(name.clone()).or_insert_with(|| schema.clone());
            }
        }
        let mine: Vec<Value> = branch
            .get("required")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        required = Some(match required {
            None => mine,
            Some(all) => all.into_iter().filter(|n| mine.contains(n)).collect(),
        });
    }
    if properties.is_empty() {
        return None;
    }
    let mut out = type_only("OBJECT");
    out.insert("properties".into(), Value::Object(properties));
    if let Some(required) = required.filter(|r| !r.is_empty()) {
        out.insert("required".into(), Value::Array(required));
    }
    Some(with_docs(out, &root))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(schema: Value) -> Value {
        tool_parameters(&schema).expect("parameters")
    }

    /// Every key of every node is one Gemini's `Schema` message knows, and the validator's own
    /// rules hold (typed nodes, OBJECT-only properties, non-empty properties, ARRAY has items).
    fn assert_gemini_valid(schema: &Value, path: &str) {
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
        let obj = schema.as_object().unwrap_or_else(|| panic!("{path}: not an object"));
        for key in obj.keys() {
            assert!(ALLOWED.contains(&key.as_str()), "{path}: unknown key {key}");
        }
        let ty = obj.get("type").and_then(Value::as_str);
        assert!(
            ty.is_some() || obj.contains_key("anyOf"),
            "{path}: untyped node {schema}"
        );
        if let Some(ty) = ty {
            assert!(
                ["STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"].contains(&ty),
                "{path}: {ty}"
            );
            if ty != "OBJECT" {
                assert!(
                    !obj.contains_key("properties") && !obj.contains_key("required"),
                    "{path}"
                );
            }
            if ty == "ARRAY" {
                assert!(obj.contains_key("items"), "{path}: array without items");
            } else {
                assert!(!obj.contains_key("items"), "{path}");
            }
            if ty != "STRING" {
                assert!(!obj.contains_key("enum"), "{path}: enum on {ty}");
            }
            if let Some(f) = obj.get("format").and_then(Value::as_str) {
                let ok = match ty {
                    "STRING" => ["enum", "date-time"].contains(&f),
                    "NUMBER" => ["float", "double"].contains(&f),
                    "INTEGER" => ["int32", "int64"].contains(&f),
                    _ => false,
                };
                assert!(ok, "{path}: format {f} on {ty}");
            }
        }
        if let Some(e) = obj.get("enum") {
            assert!(
                e.as_array()
                    .unwrap()
                    .iter()
                    .all(|v| v.as_str().is_some_and(|s| !s.is_empty())),
                "{path}"
            );
        }
        if let Some(props) = obj.get("properties") {
            let props = props.as_object().unwrap();
            assert!(!props.is_empty(), "{path}: empty properties");
            for (name, p) in props {
                assert_gemini_valid(p, &format!("{path}.properties[{name}]"));
            }
            for r in obj.get("required").and_then(Value::as_array).into_iter().flatten() {
                assert!(
                    props.contains_key(r.as_str().unwrap()),
                    "{path}: required {r} undeclared"
                );
            }
        }
        if let Some(items) = obj.get("items") {
            assert_gemini_valid(items, &format!("{path}.items"));
        }
        for (i, b) in obj
            .get("anyOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            assert_gemini_valid(b, &format!("{path}.anyOf[{i}]"));
        }
    }

    #[test]
    fn keyword_table() {
        // (case, JSON Schema property, expected Gemini property)
        let cases: Vec<(&str, Value, Value)> = vec![
            ("type uppercased", json!({"type": "string"}), json!({"type": "STRING"})),
            (
                "docs kept",
                json!({"type": "integer", "title": "T", "description": "d"}),
                json!({"type": "INTEGER", "title": "T", "description": "d"}),
            ),
            (
                "nullable type array",
                json!({"type": ["string", "null"]}),
                json!({"type": "STRING", "nullable": true}),
            ),
            (
                "several types -> anyOf",
                json!({"type": ["string", "integer"], "description": "d", "minLength": 1}),
                json!({"anyOf": [{"type": "STRING", "minLength": 1}, {"type": "INTEGER"}], "description": "d"}),
            ),
            (
                "const -> enum",
                json!({"const": "insert_text"}),
                json!({"type": "STRING", "enum": ["insert_text"]}),
            ),
            (
                "integer enum stringified",
                json!({"type": "integer", "enum": [1, 2], "default": 1}),
                json!({"type": "STRING", "enum": ["1", "2"], "default": "1"}),
            ),
            (
                "empty string removed from enum",
                json!({"type": "string", "enum": ["", "a"]}),
                json!({"type": "STRING", "enum": ["a"]}),
            ),
            (
                "null in enum -> nullable",
                json!({"enum": ["a", null]}),
                json!({"type": "STRING", "enum": ["a"], "nullable": true}),
            ),
            (
                "boolean enum",
                json!({"type": "boolean", "enum": [true]}),
                json!({"type": "STRING", "enum": ["true"]}),
            ),
            (
                "uri format dropped",
                json!({"type": "string", "format": "uri"}),
                json!({"type": "STRING"}),
            ),
            (
                "date-time kept",
                json!({"type": "string", "format": "date-time"}),
                json!({"type": "STRING", "format": "date-time"}),
            ),
            (
                "number format",
                json!({"type": "number", "format": "double"}),
                json!({"type": "NUMBER", "format": "double"}),
            ),
            (
                "integer format int64 kept, uint dropped",
                json!({"type": "integer", "format": "uint32"}),
                json!({"type": "INTEGER"}),
            ),
            (
                "exclusiveMinimum integer",
                json!({"type": "integer", "exclusiveMinimum": 0}),
                json!({"type": "INTEGER", "minimum": 1}),
            ),
            (
                "exclusiveMaximum number",
                json!({"type": "number", "exclusiveMaximum": 1.5}),
                json!({"type": "NUMBER", "maximum": 1.5}),
            ),
            (
                "draft4 exclusive bool",
                json!({"type": "integer", "minimum": 0, "exclusiveMinimum": true}),
                json!({"type": "INTEGER", "minimum": 1}),
            ),
            (
                "string constraints",
                json!({"type": "string", "minLength": 1, "maxLength": 5.0, "pattern": "^a", "multipleOf": 2}),
                json!({"type": "STRING", "minLength": 1, "maxLength": 5, "pattern": "^a"}),
            ),
            (
                "array without items",
                json!({"type": "array"}),
                json!({"type": "ARRAY", "items": {"type": "STRING"}}),
            ),
            (
                "array items {}",
                json!({"type": "array", "items": {}, "uniqueItems": true, "minItems": 1}),
                json!({"type": "ARRAY", "items": {"type": "STRING"}, "minItems": 1}),
            ),
            (
                "tuple items",
                json!({"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}]}),
                json!({"type": "ARRAY", "items": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]}}),
            ),
            (
                "free-form object",
                json!({"type": "object", "additionalProperties": true}),
                json!({"type": "OBJECT"}),
            ),
            (
                "empty properties dropped",
                json!({"type": "object", "properties": {}, "required": ["x"]}),
                json!({"type": "OBJECT"}),
            ),
            (
                "properties infer OBJECT",
                json!({"properties": {"a": {"type": "string"}}}),
                json!({"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}),
            ),
            (
                "untyped -> STRING",
                json!({"description": "anything"}),
                json!({"type": "STRING", "description": "anything"}),
            ),
            ("bool schema", json!(true), json!({"type": "STRING"})),
            (
                "items infer ARRAY",
                json!({"items": {"type": "integer"}}),
                json!({"type": "ARRAY", "items": {"type": "INTEGER"}}),
            ),
            (
                "minimum infer NUMBER",
                json!({"minimum": 0}),
                json!({"type": "NUMBER", "minimum": 0}),
            ),
            (
                "properties on string dropped",
                json!({"type": "string", "properties": {"a": {}}, "required": ["a"]}),
                json!({"type": "STRING"}),
            ),
            (
                "anyOf null branch",
                json!({"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "description": "d"}),
                json!({"type": "STRING", "nullable": true, "description": "d"}),
            ),
            (
                "oneOf -> anyOf",
                json!({"oneOf": [{"type": "string"}, {"type": "integer"}]}),
                json!({"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}),
            ),
            (
                "nested unions spliced",
                json!({"anyOf": [{"anyOf": [{"type": "string"}, {"type": "integer"}]}, {"type": "boolean"}, {"type": "null"}]}),
                json!({"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}, {"type": "BOOLEAN"}], "nullable": true}),
            ),
            (
                "constraint-only anyOf dropped",
                json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "anyOf": [{"required": ["a"]}, {"required": ["b"]}]}),
                json!({"type": "OBJECT", "properties": {"a": {"type": "STRING"}, "b": {"type": "STRING"}}}),
            ),
            (
                "allOf merged",
                json!({"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}, {"properties": {"b": {"type": "integer"}}, "required": ["b"]}]}),
                json!({"type": "OBJECT", "properties": {"a": {"type": "STRING"}, "b": {"type": "INTEGER"}}, "required": ["a", "b"]}),
            ),
            (
                "dropped keywords",
                json!({"type": "string", "$schema": "x", "$id": "y", "$comment": "c", "strict": true, "examples": ["a"], "deprecated": true,
                       "x-google": 1, "readOnly": true, "writeOnly": false, "not": {"const": "b"}, "if": {}, "then": {}, "else": {},
                       "contentEncoding": "base64", "example": "e"}),
                json!({"type": "STRING", "example": "e"}),
            ),
        ];
        for (case, input, expected) in cases {
            let wrapped = json!({"type": "object", "properties": {"p": input}});
            let got = params(wrapped);
            assert_eq!(got["properties"]["p"], expected, "{case}");
            assert_gemini_valid(&got, case);
        }
    }

    #[test]
    fn property_names_that_look_like_keywords_are_kept() {
        let schema = json!({
            "type": "object",
            "properties": {
                "format": {"type": "string"}, "default": {"type": "string"}, "pattern": {"type": "string"},
                "$ref": {"type": "string"}, "additionalProperties": {"type": "boolean"}, "x-id": {"type": "integer"},
                "properties": {"type": "object", "properties": {"type": {"type": "string"}}}
            },
            "required": ["format", "$ref", "properties", "missing"]
        });
        let got = params(schema);
        let names: Vec<&String> = got["properties"].as_object().unwrap().keys().collect();
        assert_eq!(names.len(), 7, "{got}");
        assert_eq!(
            got["properties"]["properties"]["properties"]["type"],
            json!({"type": "STRING"})
        );
        assert_eq!(got["required"], json!(["format", "$ref", "properties"]));
        assert_gemini_valid(&got, "root");
    }

    #[test]
    fn refs_are_inlined_and_cycles_cut() {
        let schema = json!({
            "type": "object",
            "$defs": {
                "Cfg": {"type": "object", "properties": {"depth": {"type": "integer"}}},
                "Node": {"type": "object", "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}
            },
            "definitions": {"Color": {"enum": ["red", "green"]}},
            "properties": {
                "cfg": {"$ref": "#/$defs/Cfg", "description": "override"},
                "tree": {"$ref": "#/$defs/Node"},
                "color": {"$ref": "#/definitions/Color"},
                "dangling": {"$ref": "https://example.com/schema.json", "description": "remote"}
            }
        });
        let got = params(schema);
        assert_eq!(
            got["properties"]["cfg"],
            json!({"type": "OBJECT", "description": "override", "properties": {"depth": {"type": "INTEGER"}}})
        );
        let children = &got["properties"]["tree"]["properties"]["children"];
        assert_eq!(children["items"], json!({"type": "OBJECT"}));
        assert_eq!(
            got["properties"]["color"],
            json!({"type": "STRING", "enum": ["red", "green"]})
        );
        assert_eq!(
            got["properties"]["dangling"],
            json!({"type": "STRING", "description": "remote"})
        );
        assert_gemini_valid(&got, "root");
    }

    #[test]
    fn refs_wrapped_in_all_of_or_unions_stay_guarded() {
        // pydantic v1 wraps refs in allOf to attach a description; a binary tree must not
        // expand exponentially.
        let node = json!({"type": "object", "properties": {
            "left": {"allOf": [{"$ref": "#/definitions/Node"}], "description": "l"},
            "right": {"allOf": [{"$ref": "#/definitions/Node"}], "description": "r"},
            "alt": {"anyOf": [{"$ref": "#/definitions/Node"}, {"type": "null"}]}
        }});
        let schema = json!({"type": "object", "definitions": {"Node": node}, "properties": {
            "root": {"$ref": "#/definitions/Node"},
            "wrapped": {"allOf": [{"$ref": "#/definitions/Node"}]}
        }});
        let got = params(schema);
        assert_gemini_valid(&got, "tree");
        for top in ["root", "wrapped"] {
            let n = &got["properties"][top]["properties"];
            assert_eq!(n["left"], json!({"type": "OBJECT", "description": "l"}), "{top}");
            assert_eq!(n["alt"], json!({"type": "OBJECT", "nullable": true}), "{top}");
        }
    }

    #[test]
    fn functions_without_parameters_have_none() {
        for schema in [
            json!({"type": "object", "properties": {}}),
            json!({"type": "object", "properties": {}, "additionalProperties": false, "$schema": "http://json-schema.org/draft-07/schema#"}),
            json!({"type": "object"}),
            json!({}),
            json!({"type": "string"}),
            Value::Null,
        ] {
            assert_eq!(tool_parameters(&schema), None, "{schema}");
        }
    }

    #[test]
    fn top_level_union_of_objects_is_flattened() {
        let schema = json!({
            "description": "either",
            "oneOf": [
                {"type": "object", "properties": {"id": {"type": "string"}, "a": {"type": "string"}}, "required": ["id", "a"]},
                {"type": "object", "properties": {"id": {"type": "string"}, "b": {"type": "integer"}}, "required": ["id"]}
            ]
        });
        let got = params(schema);
        assert_eq!(
            got,
            json!({"type": "OBJECT", "description": "either", "required": ["id"],
                   "properties": {"id": {"type": "STRING"}, "a": {"type": "STRING"}, "b": {"type": "INTEGER"}}})
        );
    }

    #[test]
    fn claude_code_tool_schemas_convert_cleanly() {
        // Shapes of Claude Code's built-in tools (zod-to-json-schema output).
        let todo_write = json!({
            "type": "object",
            "properties": {
                "todos": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "content": {"type": "string", "minLength": 1},
                            "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                            "activeForm": {"type": "string", "minLength": 1}
                        },
                        "required": ["content", "status", "activeForm"],
                        "additionalProperties": false
                    },
                    "description": "The updated todo list"
                }
            },
            "required": ["todos"],
            "additionalProperties": false,
            "$schema": "http://json-schema.org/draft-07/schema#"
        });
        let got = params(todo_write);
        assert_gemini_valid(&got, "TodoWrite");
        assert_eq!(
            got["properties"]["todos"]["items"]["required"],
            json!(["content", "status", "activeForm"])
        );

        let read = json!({
            "type": "object",
            "properties": {
                "file_path": {"type": "string", "description": "The absolute path"},
                "offset": {"type": "number", "exclusiveMinimum": 0},
                "limit": {"type": "integer", "exclusiveMinimum": 0, "maximum": 9007199254740991_i64}
            },
            "required": ["file_path"],
            "additionalProperties": false,
            "$schema": "http://json-schema.org/draft-07/schema#"
        });
        let got = params(read);
        assert_gemini_valid(&got, "Read");
        assert_eq!(got["properties"]["limit"]["minimum"], json!(1));

        let web_fetch = json!({
            "type": "object",
            "properties": {"url": {"type": "string", "format": "uri"}, "prompt": {"type": "string"}},
            "required": ["url", "prompt"], "additionalProperties": false,
            "$schema": "http://json-schema.org/draft-07/schema#"
        });
        assert_gemini_valid(&params(web_fetch), "WebFetch");
    }

    #[test]
    fn mcp_tool_schemas_convert_cleanly() {
        // Pydantic/FastMCP style: $defs, anyOf with null, const discriminators, titles.
        let schema = json!({
            "$defs": {
                "InsertText": {"type": "object", "title": "InsertText",
                    "properties": {"kind": {"const": "insert_text", "type": "string"}, "text": {"type": "string"}},
                    "required": ["kind", "text"]},
                "Delete": {"type": "object",
                    "properties": {"kind": {"const": "delete"}, "range": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}},
                    "required": ["kind", "range"]}
            },
            "type": "object",
            "properties": {
                "doc_id": {"type": "string", "title": "Doc Id"},
                "page_size": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": null, "title": "Page Size"},
                "tags": {"type": ["array", "null"], "items": {"type": "string"}},
                "ops": {"type": "array", "items": {"oneOf": [{"$ref": "#/$defs/InsertText"}, {"$ref": "#/$defs/Delete"}],
                    "discriminator": {"propertyName": "kind"}}},
                "meta": {"type": "object", "additionalProperties": {"type": "string"}, "propertyNames": {"pattern": "^[a-z]+$"}},
                "value": {}
            },
            "required": ["doc_id", "ops"],
            "title": "edit_docArguments"
        });
        let got = params(schema);
        assert_gemini_valid(&got, "mcp");
        assert_eq!(
            got["properties"]["page_size"],
            json!({"type": "INTEGER", "nullable": true, "title": "Page Size"})
        );
        assert_eq!(
            got["properties"]["tags"],
            json!({"type": "ARRAY", "nullable": true, "items": {"type": "STRING"}})
        );
        let ops = &got["properties"]["ops"]["items"]["anyOf"];
        assert_eq!(
            ops[0]["properties"]["kind"],
            json!({"type": "STRING", "enum": ["insert_text"]})
        );
        assert_eq!(ops[1]["properties"]["range"]["maxItems"], json!(2));
        assert_eq!(got["properties"]["meta"], json!({"type": "OBJECT"}));
        assert_eq!(got["properties"]["value"], json!({"type": "STRING"}));
    }

    #[test]
    fn union_with_shared_outer_shape_is_distributed() {
        let schema = json!({
            "type": "object",
            "properties": {"shape": {
                "type": "object",
                "properties": {"kind": {"type": "string"}},
                "required": ["kind"],
                "oneOf": [
                    {"properties": {"radius": {"type": "number"}}, "required": ["radius"]},
                    {"properties": {"side": {"type": "number"}}}
                ]
            }}
        });
        let got = params(schema);
        assert_gemini_valid(&got, "root");
        let branches = &got["properties"]["shape"]["anyOf"];
        assert_eq!(branches[0]["required"], json!(["kind", "radius"]));
        assert_eq!(
            branches[1]["properties"],
            json!({"kind": {"type": "STRING"}, "side": {"type": "NUMBER"}})
        );
    }

    #[test]
    fn response_schema_converts_any_root() {
        assert_eq!(
            response_schema(
                &json!({"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": false}})
            ),
            json!({"type": "ARRAY", "items": {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}}})
        );
        assert_eq!(
            response_schema(&json!({"enum": ["a", "b"]})),
            json!({"type": "STRING", "enum": ["a", "b"]})
        );
        let nested = response_schema(
            &json!({"type": "object", "properties": {"x": {"type": "object", "properties": {}}}, "required": ["x"]}),
        );
        assert_eq!(
            nested,
            json!({"type": "OBJECT", "properties": {"x": {"type": "OBJECT"}}, "required": ["x"]})
        );
    }

    #[test]
    fn property_ordering_kept_only_when_complete() {
        let base = json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}});
        let mut complete = base.clone();
        complete["propertyOrdering"] = json!(["b", "a"]);
        assert_eq!(response_schema(&complete)["propertyOrdering"], json!(["b", "a"]));
        let mut partial = base;
        partial["propertyOrdering"] = json!(["b", "zzz"]);
        assert!(response_schema(&partial).get("propertyOrdering").is_none());
    }

    #[test]
    fn deep_schemas_are_cut_off() {
        let mut schema = json!({"type": "string"});
        for _ in 0..100 {
            schema = json!({"type": "object", "properties": {"n": schema}});
        }
        let got = params(schema);
        assert_gemini_valid(&got, "deep");
    }
}
