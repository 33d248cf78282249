//! Docker's `--format` templates and tables, on top of `gotmpl` (a port of
//! Go's `text/template`).
//!
//! * [`render_list`]: `docker ps/images/history/volume ls/... --format`.
//!   A format starting with `table` prints a header row (the same template
//!   run against the header texts) and aligns columns like docker's
//!   `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`. Without `table`, each row
//!   is rendered and followed by `\n`; tabs stay tabs. The literal escapes
//!   `\t` and `\n` (backslash-t as typed on a shell) become a tab/newline,
//!   and the special format `json` means `{{json .}}` (docker >= 23).
//!   **`table` alone** means "the command's default table format": the
//!   caller must substitute its default (e.g. `table {{.ID}}\t{{.Image}}…`)
//!   before calling; see [`is_table_only`].
//! * [`render_one`]: `docker inspect -f` for one object: the rendered
//!   template plus `\n`. Like docker, no `\t`/`\n` unescaping here.
//! * [`inspect_json`]: `docker inspect` without `-f` (4-space indented JSON
//!   array, Go's HTML-safe string escaping).
//!
//! Data is a `serde_json::Value`, converted to `gotmpl::Value` (which stores
//! maps as sorted `BTreeMap`s: `{{.X}}` on a map prints `map[k:v ...]` with
//! sorted keys exactly like Go). `{{json ...}}` re-serializes in the key
//! order of the *original* `serde_json::Value` (that is insertion order when
//! serde_json's `preserve_order` feature is on, sorted otherwise).
//!
//! Functions: Go's builtins (`and or not eq ne lt le gt ge len index slice
//! print printf println html js urlquery call`) plus docker's
//! `json split join title lower upper pad truncate`.
#![allow(dead_code)] // the public surface is used incrementally by main.rs

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;

use gotmpl::parse::{Expr, ListNode, Node, Parser, PipeNode};
use gotmpl::{FuncMap, Template, TemplateError, Value};

/// A `--format` template that failed to parse or execute. The message reads
/// like docker's: `template parsing error: template: :1: function "foo" not
/// defined`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(String);

impl FormatError {
    /// The full message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

/// Docker's `TableFormatKey`.
pub const TABLE_KEY: &str = "table";
/// Docker's `JSONFormatKey`: `--format json` means `{{json .}}` per row.
pub const JSON_KEY: &str = "json";

/// Whether `format` asks for a table (docker: `strings.HasPrefix(f, "table")`).
pub fn is_table(format: &str) -> bool {
    format.starts_with(TABLE_KEY)
}

/// Whether `format` is just `table` (optionally with spaces): the caller
/// should use its default table format instead.
pub fn is_table_only(format: &str) -> bool {
    format.trim() == TABLE_KEY
}

/// Renders `rows` with a docker list format (`ps`, `images`, …).
///
/// `headers` maps field names to header texts, e.g. `("ID", "CONTAINER ID")`,
/// `("RunningFor", "CREATED")`. For a `table` format the header row is the
/// template executed against those texts (a field without an entry gets its
/// name upper-cased); like docker, errors while rendering the header are
/// ignored. The returned string ends with a newline per line (a `table`
/// with no rows still prints its header).
pub fn render_list(
    format: &str,
    headers: &[(&str, &str)],
    rows: &[serde_json::Value],
) -> Result<String, FormatError> {
    let table = is_table(format);
    let body = pre_format(format);

    let checked = check_template(&body)?;
    let mut order = KeyOrder::default();
    let values: Vec<Value> = rows.iter().map(|r| to_value(r, &mut order)).collect();
    let order = Arc::new(order);

    let tmpl = Template::new("")
        .funcs(docker_funcs(&order))
        .parse(&body)
        .map_err(parse_error)?;

    let mut out = String::new();
    for row in &values {
        tmpl.execute_fmt(&mut out, row).map_err(exec_error)?;
        out.push('\n');
    }
    if !table {
        return Ok(out);
    }

    // Header: same template, docker's HeaderFunctions, data = header texts.
    let mut header_data: BTreeMap<String, Value> = BTreeMap::new();
    for field in &checked.fields {
        header_data.insert(field.clone(), Value::from(field.to_uppercase()));
    }
    for (field, text) in headers {
        header_data.insert((*field).to_string(), Value::from(*text));
    }
    let header_data = Value::from(header_data);
    let mut header = String::new();
    if let Ok(h) = Template::new("").funcs(header_funcs(&order)).parse(&body) {
        // Docker ignores header execution errors (keeping partial output).
        let _ = h.execute_fmt(&mut header, &header_data);
    }

    Ok(tabulate(&header, &out))
}

/// Renders one object for `docker inspect -f`: the template output followed
/// by a newline.
pub fn render_one(format: &str, value: &serde_json::Value) -> Result<String, FormatError> {
    check_template(format)?;
    let mut order = KeyOrder::default();
    let data = to_value(value, &mut order);
    let order = Arc::new(order);
    let tmpl = Template::new("")
        .funcs(docker_funcs(&order))
        .parse(format)
        .map_err(parse_error)?;
    let mut out = String::new();
    tmpl.execute_fmt(&mut out, &data).map_err(exec_error)?;
    out.push('\n');
    Ok(out)
}

/// `docker inspect` without `--format`: a JSON array indented with four
/// spaces, with Go's `json.MarshalIndent` escaping (`<`, `>`, `&` as
/// `\u003c`, `\u003e`, `\u0026`), followed by a newline.
pub fn inspect_json(values: &[serde_json::Value]) -> String {
    use serde::Serialize as _;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if values.serialize(&mut ser).is_err() {
        return "[]\n".to_string();
    }
    let mut s = go_escape(&String::from_utf8_lossy(&buf), true);
    s.push('\n');
    s
}

/// Docker's `preFormat`: strip `table`, trim spaces, turn the two-character
/// escapes `\t` and `\n` into real tab/newline; `json` becomes `{{json .}}`.
fn pre_format(format: &str) -> String {
    if format == JSON_KEY {
        return "{{json .}}".to_string();
    }
    let f = format.strip_prefix(TABLE_KEY).unwrap_or(format);
    f.trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n")
}

/// Aligns `header` + `rows` like Go's `tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)`.
///
/// Go's cell width is `max(minwidth, text + padding)`; the Rust crate's is
/// `max(minwidth, text) + padding`, hence minwidth 7 here (7 + 3 = 10).
fn tabulate(header: &str, rows: &str) -> String {
    let mut tw = tabwriter::TabWriter::new(Vec::new()).minwidth(7).padding(3);
    // Writing to a Vec cannot fail.
    let _ = tw.write_all(header.as_bytes());
    let _ = tw.write_all(b"\n");
    let _ = tw.write_all(rows.as_bytes());
    let _ = tw.flush();
    match tw.into_inner() {
        Ok(buf) => String::from_utf8_lossy(&buf).into_owned(),
        Err(_) => format!("{header}\n{rows}"),
    }
}

// ---------------------------------------------------------------------------
// Errors

fn parse_error(e: TemplateError) -> FormatError {
    let msg = match &e {
        TemplateError::Parse { line, message, .. } | TemplateError::Lex { line, message, .. } => {
            format!("template: :{line}: {message}")
        }
        other => format!("template: {other}"),
    };
    FormatError(format!("template parsing error: {msg}"))
}

fn exec_error(e: TemplateError) -> FormatError {
    let msg = e.to_string();
    let msg = msg.strip_prefix("execution error: ").unwrap_or(&msg);
    FormatError(format!(
        "template parsing error: template: :1: executing \"\": {msg}"
    ))
}

// ---------------------------------------------------------------------------
// Static checks (Go does these at parse time, gotmpl only at execution)

/// Go's builtin template functions.
const GO_BUILTINS: [&str; 19] = [
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf",
    "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
];
/// Functions docker adds (`templates.basicFunctions`).
const DOCKER_FUNCS: [&str; 8] = [
    "json", "split", "join", "title", "lower", "upper", "pad", "truncate",
];

/// What the static pass learned about a template.
#[derive(Debug, Default)]
struct Checked {
    /// First identifiers of `.Field` chains (`.Config.Cmd` → `Config`).
    fields: BTreeSet<String>,
}

/// Parses `src` to reject unknown functions up front (Go's `function "foo"
/// not defined`, even when no row is rendered) and to collect field names.
fn check_template(src: &str) -> Result<Checked, FormatError> {
    let (tree, defines) = Parser::new(src, "{{", "}}")
        .and_then(Parser::parse)
        .map_err(parse_error)?;
    let mut checked = Checked::default();
    let mut undefined: Option<(usize, String)> = None;
    {
        let mut visit = |e: &Expr| match e {
            Expr::Field(_, idents) => {
                if let Some(first) = idents.first() {
                    checked.fields.insert(first.to_string());
                }
            }
            Expr::Identifier(pos, name) => {
                let known =
                    GO_BUILTINS.contains(&name.as_str()) || DOCKER_FUNCS.contains(&name.as_str());
                if !known && undefined.is_none() {
                    undefined = Some((pos.line, name.to_string()));
                }
            }
            _ => {}
        };
        walk_list(&tree, &mut visit);
        for d in &defines {
            walk_list(&d.body, &mut visit);
        }
    }
    if let Some((line, name)) = undefined {
        return Err(FormatError(format!(
            "template parsing error: template: :{line}: function \"{name}\" not defined"
        )));
    }
    Ok(checked)
}

fn walk_list(list: &ListNode, f: &mut impl FnMut(&Expr)) {
    for node in &list.nodes {
        walk_node(node, f);
    }
}

fn walk_node(node: &Node, f: &mut impl FnMut(&Expr)) {
    match node {
        Node::List(l) => walk_list(l, f),
        Node::Action(a) => walk_pipe(&a.pipe, f),
        Node::If(b) | Node::Range(b) | Node::With(b) => {
            walk_pipe(&b.pipe, f);
            walk_list(&b.body, f);
            if let Some(e) = &b.else_body {
                walk_list(e, f);
            }
        }
        Node::Template(t) => {
            if let Some(p) = &t.pipe {
                walk_pipe(p, f);
            }
        }
        Node::Define(d) => walk_list(&d.body, f),
        _ => {}
    }
}

fn walk_pipe(pipe: &PipeNode, f: &mut impl FnMut(&Expr)) {
    for cmd in &pipe.commands {
        for arg in &cmd.args {
            walk_expr(arg, f);
        }
    }
}

fn walk_expr(e: &Expr, f: &mut impl FnMut(&Expr)) {
    f(e);
    match e {
        Expr::Pipe(_, p) => walk_pipe(p, f),
        Expr::Chain(_, inner, _) => walk_expr(inner, f),
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// serde_json::Value -> gotmpl::Value, remembering object key order

/// Original key order of converted objects, keyed by the address of the
/// `Arc`'d map inside `Value::Map` (stable while the data is alive; gotmpl
/// clones values by bumping the `Arc`). Only objects whose order differs
/// from sorted order are recorded.
#[derive(Debug, Default)]
struct KeyOrder(HashMap<usize, Vec<Arc<str>>>);

type TmplMap = BTreeMap<Arc<str>, Value>;

fn map_addr(m: &Arc<TmplMap>) -> usize {
    Arc::as_ptr(m) as usize
}

fn to_value(v: &serde_json::Value, order: &mut KeyOrder) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::Uint(u)
            } else {
                Value::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::List(
            a.iter()
                .map(|x| to_value(x, order))
                .collect::<Vec<_>>()
                .into(),
        ),
        serde_json::Value::Object(o) => {
            let mut keys: Vec<Arc<str>> = Vec::with_capacity(o.len());
            let mut map = TmplMap::new();
            for (k, x) in o {
                let key: Arc<str> = Arc::from(k.as_str());
                keys.push(Arc::clone(&key));
                map.insert(key, to_value(x, order));
            }
            let sorted = keys.windows(2).all(|w| w[0] <= w[1]);
            let map = Arc::new(map);
            if !sorted {
                order.0.insert(map_addr(&map), keys);
            }
            Value::Map(map)
        }
    }
}

// ---------------------------------------------------------------------------
// Template functions

type FnResult = gotmpl::Result<Value>;

fn exec_err(msg: String) -> TemplateError {
    TemplateError::Exec(msg)
}

fn want_args(name: &str, args: &[Value], n: usize) -> Result<(), TemplateError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(exec_err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )))
    }
}

/// A value used where Go expects a `string`. Lenient: non-strings are
/// printed as Go would print them, nil becomes "".
fn string_arg(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Nil => String::new(),
        other => other.to_string(),
    }
}

fn int_arg(name: &str, v: &Value) -> Result<i64, TemplateError> {
    match v {
        Value::Int(n) => Ok(*n),
        Value::Uint(n) => {
            i64::try_from(*n).map_err(|_| exec_err(format!("{name}: integer out of range")))
        }
        other => Err(exec_err(format!(
            "{name}: wrong type for value; expected int; got {}",
            type_name(other)
        ))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Uint(_) => "uint",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::List(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
        _ => "func",
    }
}

fn str_fn(
    name: &'static str,
    f: fn(&str) -> String,
) -> impl Fn(&[Value]) -> FnResult + Send + Sync + 'static {
    move |args: &[Value]| {
        want_args(name, args, 1)?;
        Ok(Value::from(f(&string_arg(&args[0]))))
    }
}

/// Docker's `templates.basicFunctions`.
fn docker_funcs(order: &Arc<KeyOrder>) -> FuncMap {
    let mut m = FuncMap::new();
    let order = Arc::clone(order);
    m.insert(
        "json".into(),
        Arc::new(move |args: &[Value]| {
            want_args("json", args, 1)?;
            let mut out = String::new();
            write_json(&args[0], &order, &mut out);
            Ok(Value::from(out))
        }),
    );
    m.insert(
        "split".into(),
        Arc::new(|args: &[Value]| {
            want_args("split", args, 2)?;
            let s = string_arg(&args[0]);
            let sep = string_arg(&args[1]);
            let parts: Vec<Value> = if sep.is_empty() {
                s.chars().map(|c| Value::from(c.to_string())).collect()
            } else {
                s.split(sep.as_str()).map(Value::from).collect()
            };
            Ok(Value::from(parts))
        }),
    );
    m.insert(
        "join".into(),
        Arc::new(|args: &[Value]| {
            want_args("join", args, 2)?;
            let sep = string_arg(&args[1]);
            match &args[0] {
                Value::List(items) => Ok(Value::from(
                    items.iter().map(string_arg).collect::<Vec<_>>().join(&sep),
                )),
                Value::Nil => Ok(Value::from("")),
                other => Err(exec_err(format!(
                    "join: wrong type for value; expected []string; got {}",
                    type_name(other)
                ))),
            }
        }),
    );
    m.insert("title".into(), Arc::new(str_fn("title", go_title)));
    m.insert("lower".into(), Arc::new(str_fn("lower", str::to_lowercase)));
    m.insert("upper".into(), Arc::new(str_fn("upper", str::to_uppercase)));
    m.insert(
        "pad".into(),
        Arc::new(|args: &[Value]| {
            want_args("pad", args, 3)?;
            let s = string_arg(&args[0]);
            if s.is_empty() {
                return Ok(Value::from(s));
            }
            let pre = usize::try_from(int_arg("pad", &args[1])?).unwrap_or(0);
            let post = usize::try_from(int_arg("pad", &args[2])?).unwrap_or(0);
            Ok(Value::from(format!(
                "{}{s}{}",
                " ".repeat(pre),
                " ".repeat(post)
            )))
        }),
    );
    m.insert(
        "truncate".into(),
        Arc::new(|args: &[Value]| {
            want_args("truncate", args, 2)?;
            let s = string_arg(&args[0]);
            let n = usize::try_from(int_arg("truncate", &args[1])?)
                .map_err(|_| exec_err("truncate: negative length".into()))?;
            Ok(Value::from(s.chars().take(n).collect::<String>()))
        }),
    );
    m
}

/// Docker's `templates.HeaderFunctions`: when rendering the header row,
/// these return their first argument unchanged.
fn header_funcs(order: &Arc<KeyOrder>) -> FuncMap {
    let mut m = docker_funcs(order);
    for name in [
        "json", "split", "join", "title", "lower", "upper", "truncate",
    ] {
        m.insert(
            name.into(),
            Arc::new(|args: &[Value]| Ok(args.first().cloned().unwrap_or(Value::Nil))),
        );
    }
    m
}

/// Go's `strings.Title`: upper-case the first letter of each word.
fn go_title(s: &str) -> String {
    fn is_separator(c: char) -> bool {
        if c.is_ascii() {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        if c.is_alphanumeric() {
            return false;
        }
        c.is_whitespace()
    }
    let mut out = String::with_capacity(s.len());
    let mut prev = ' ';
    for c in s.chars() {
        if is_separator(prev) {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

// ---------------------------------------------------------------------------
// JSON like docker's `json` function (json.Encoder with SetEscapeHTML(false))

fn write_json(v: &Value, order: &KeyOrder, out: &mut String) {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Uint(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(f) => out.push_str(&go_json_float(*f)),
        Value::String(s) => write_json_str(s, out),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, order, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            let mut first = true;
            let mut entry = |k: &str, val: &Value, out: &mut String| {
                if !first {
                    out.push(',');
                }
                first = false;
                write_json_str(k, out);
                out.push(':');
                write_json(val, order, out);
            };
            match order.0.get(&map_addr(m)) {
                Some(keys) => {
                    for k in keys {
                        if let Some(val) = m.get(k) {
                            entry(k, val, out);
                        }
                    }
                }
                None => {
                    for (k, val) in m.iter() {
                        entry(k, val, out);
                    }
                }
            }
            out.push('}');
        }
        _ => out.push_str("null"),
    }
}

fn write_json_str(s: &str, out: &mut String) {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    out.push_str(&go_escape(&quoted, false));
}

/// Go's encoder always escapes U+2028/U+2029; `html` adds `<`, `>`, `&`.
/// Only valid on serialized JSON (those characters occur only in strings).
fn go_escape(json: &str, html: bool) -> String {
    let needs =
        |c: char| matches!(c, '\u{2028}' | '\u{2029}') || (html && matches!(c, '<' | '>' | '&'));
    if !json.contains(needs) {
        return json.to_string();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if needs(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Go's `encoding/json` float64 encoding: shortest representation, `1e-7`
/// / `1e+21` exponent form outside `[1e-6, 1e21)`.
fn go_json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_string();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PS_HEADERS: &[(&str, &str)] = &[
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("RunningFor", "CREATED"),
        ("Status", "STATUS"),
        ("Ports", "PORTS"),
        ("Names", "NAMES"),
    ];

    fn rows() -> Vec<serde_json::Value> {
        vec![
            json!({"ID": "4f2a1b3c9d8e", "Image": "alpine", "Names": "web", "Size": 1234,
                   "Command": "\"sh -c 'sleep 1'\"", "Status": "Up 3 seconds", "Ports": "",
                   "RunningFor": "3 seconds ago"}),
            json!({"ID": "a1", "Image": "docker.io/library/nginx:latest", "Names": "x", "Size": 0,
                   "Command": "\"nginx\"", "Status": "Exited (0) 1 hour ago", "Ports": "80/tcp",
                   "RunningFor": "About an hour ago"}),
        ]
    }

    fn inspect() -> serde_json::Value {
        json!({
            "Id": "abc123",
            "Size": 1234,
            "Ratio": 0.5,
            "State": {"Pid": 42, "Running": true, "Status": "running"},
            "Config": {
                "Cmd": ["sh", "-c", "echo hi"],
                "Labels": {"a": "1 & <x>", "b": "2"},
                "Env": null,
            },
            "Mounts": [{"Source": "/a", "Destination": "/x"}, {"Source": "/b", "Destination": "/y"}],
        })
    }

    fn one(f: &str) -> String {
        render_one(f, &inspect()).unwrap_or_else(|e| panic!("{f}: {e}"))
    }

    #[test]
    fn plain_list() {
        let out = render_list("{{.ID}}: {{.Names}}", PS_HEADERS, &rows()).unwrap();
        assert_eq!(out, "4f2a1b3c9d8e: web\na1: x\n");
        // escapes typed on a shell, no alignment without `table`
        let out = render_list(r"{{.ID}}\t{{.Names}}", PS_HEADERS, &rows()).unwrap();
        assert_eq!(out, "4f2a1b3c9d8e\tweb\na1\tx\n");
        let out = render_list("  {{.Size}}  ", PS_HEADERS, &rows()).unwrap();
        assert_eq!(out, "1234\n0\n");
        assert_eq!(render_list("{{.ID}}", PS_HEADERS, &[]).unwrap(), "");
    }

    #[test]
    fn table_alignment() {
        let out = render_list(r"table {{.ID}}\t{{.Image}}", PS_HEADERS, &rows()).unwrap();
        // Column 1: widest cell "CONTAINER ID" (12) + 3 = 15. Last column unpadded.
        let want = "CONTAINER ID   IMAGE\n\
                    4f2a1b3c9d8e   alpine\n\
                    a1             docker.io/library/nginx:latest\n";
        assert_eq!(out, want);

        let out = render_list(
            r"table {{.Names}}\t{{.Size}}\t{{.Ports}}",
            PS_HEADERS,
            &rows(),
        )
        .unwrap();
        // NAMES (5) -> min width 10; SIZE (unknown header -> "SIZE", 4) -> 10.
        let want = "NAMES     SIZE      PORTS\n\
                    web       1234      \n\
                    x         0         80/tcp\n";
        assert_eq!(out, want);

        // header still printed with no rows
        let out = render_list(r"table {{.ID}}\t{{.Names}}", PS_HEADERS, &[]).unwrap();
        assert_eq!(out, "CONTAINER ID   NAMES\n");
    }

    #[test]
    fn table_header_functions_are_identity() {
        let out = render_list(
            r"table {{truncate .ID 4}}\t{{lower .Names}}",
            PS_HEADERS,
            &rows(),
        )
        .unwrap();
        let want = "CONTAINER ID   NAMES\n\
                    4f2a           web\n\
                    a1             x\n";
        assert_eq!(out, want);
    }

    #[test]
    fn json_format_key_and_func() {
        let r = vec![json!({"ID": "a", "Names": "n", "Size": 3})];
        assert_eq!(
            render_list("json", &[], &r).unwrap(),
            "{\"ID\":\"a\",\"Names\":\"n\",\"Size\":3}\n"
        );
        assert_eq!(
            render_list("{{json .}}", &[], &r).unwrap(),
            "{\"ID\":\"a\",\"Names\":\"n\",\"Size\":3}\n"
        );
        assert_eq!(
            one("{{json .Config.Labels}}"),
            "{\"a\":\"1 & <x>\",\"b\":\"2\"}\n"
        );
        assert_eq!(one("{{json .Config.Cmd}}"), "[\"sh\",\"-c\",\"echo hi\"]\n");
        assert_eq!(one("{{json .Config.Env}}"), "null\n");
        assert_eq!(one("{{json .Ratio}}"), "0.5\n");
        assert_eq!(
            one("{{json .State}}"),
            "{\"Pid\":42,\"Running\":true,\"Status\":\"running\"}\n"
        );
    }

    #[test]
    fn json_keeps_source_key_order() {
        // Build an object whose key order differs from sorted order (only
        // possible with serde_json's preserve_order; otherwise it's sorted
        // and the expectation is the sorted one).
        let mut m = serde_json::Map::new();
        m.insert("Hostname".into(), json!("h"));
        m.insert("Domainname".into(), json!(""));
        let v = json!({"Config": serde_json::Value::Object(m.clone())});
        let expect: String = {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", json!(k), v))
                .collect();
            format!("{{{}}}\n", parts.join(","))
        };
        assert_eq!(render_one("{{json .Config}}", &v).unwrap(), expect);
        // `{{.Config}}` prints like Go: sorted map.
        assert_eq!(
            render_one("{{.Config}}", &v).unwrap(),
            "map[Domainname: Hostname:h]\n"
        );
    }

    #[test]
    fn inspect_fields() {
        assert_eq!(one("{{.State.Status}}"), "running\n");
        assert_eq!(one("{{.State.Running}} {{.State.Pid}}"), "true 42\n");
        assert_eq!(one(r#"{{index .Config.Labels "a"}}"#), "1 & <x>\n");
        assert_eq!(one("{{range .Mounts}}{{.Source}}{{end}}"), "/a/b\n");
        assert_eq!(one(r#"{{join .Config.Cmd " "}}"#), "sh -c echo hi\n");
        assert_eq!(one("{{.Config.Cmd}}"), "[sh -c echo hi]\n");
        assert_eq!(one("{{.Config.Labels}}"), "map[a:1 & <x> b:2]\n");
        assert_eq!(one("{{.Size}}"), "1234\n");
        assert_eq!(one("{{.Ratio}}"), "0.5\n");
        assert_eq!(one("{{.Missing}}"), "<no value>\n");
        assert_eq!(one("{{.Config.Env}}"), "<no value>\n");
        assert_eq!(one("{{len .Mounts}}"), "2\n");
        assert_eq!(
            one(r#"{{if eq .State.Status "running"}}up{{else}}down{{end}}"#),
            "up\n"
        );
        assert_eq!(one("{{with .State}}{{.Pid}}{{end}}"), "42\n");
        assert_eq!(one(r#"{{printf "%s-%d" .Id .Size}}"#), "abc123-1234\n");
        assert_eq!(one("{{println .Id}}"), "abc123\n\n");
        // no \t unescaping for inspect (docker doesn't either)
        assert_eq!(one(r"{{.Id}}\t"), "abc123\\t\n");
    }

    #[test]
    fn docker_functions() {
        assert_eq!(
            one("{{upper .Id}} {{lower \"AbC\"}} {{title \"hello wide-world\"}}"),
            "ABC123 abc Hello Wide-World\n"
        );
        assert_eq!(
            one("{{truncate .Id 3}}|{{truncate .Id 99}}"),
            "abc|abc123\n"
        );
        assert_eq!(
            one("[{{pad .Id 1 2}}][{{pad \"\" 1 2}}]"),
            "[ abc123  ][]\n"
        );
        assert_eq!(
            one(r#"{{split "a,b,c" ","}} {{len (split "a,b" ",")}}"#),
            "[a b c] 2\n"
        );
        assert_eq!(one(r#"{{join (split "a,b,c" ",") "-"}}"#), "a-b-c\n");
    }

    #[test]
    fn errors_like_docker() {
        let e = render_list("{{foo .ID}}", PS_HEADERS, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "template parsing error: template: :1: function \"foo\" not defined"
        );
        let e = render_one("{{.Id", &inspect()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("template parsing error: template: :1: "),
            "{e}"
        );
        let e = render_one("{{range .Id}}{{end}}", &inspect()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("template parsing error: template: "),
            "{e}"
        );
        let e = render_one("{{truncate .Id \"x\"}}", &inspect()).unwrap_err();
        assert!(e.to_string().contains("truncate"), "{e}");
    }

    #[test]
    fn helpers() {
        assert!(is_table("table {{.ID}}"));
        assert!(is_table_only(" table "));
        assert!(!is_table("{{.ID}}"));
        assert_eq!(go_json_float(1e21), "1e+21");
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(go_json_float(2.0), "2");
        assert_eq!(go_title("ab_c d.e"), "Ab_c D.E");
        let out = inspect_json(&[json!({"A": "<&>", "B": []})]);
        assert_eq!(
            out,
            "[\n    {\n        \"A\": \"\\u003c\\u0026\\u003e\",\n        \"B\": []\n    }\n]\n"
        );
        assert_eq!(inspect_json(&[]), "[]\n");
    }
}
