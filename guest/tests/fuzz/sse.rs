//! The event-stream readers (`protocol::sse`): arbitrary bytes, split anywhere.
//!
//! Oracle: a straightforward whole-input reference of the documented algorithm (WHATWG
//! event-stream interpretation with gempool's documented deviations: an empty `event:` is no
//! name, and the pending event is dispatched at end of stream). Every chunking of the same bytes
//! (one piece, two random cuts, many random cuts, byte by byte) must give exactly its events.

use crate::harness;
use gempool_guest::protocol::sse::{data_frame, event_frame, JsonArrayReader, SseEvent, SseReader};
use proptest::prelude::*;

/// Pieces the generated streams are made of: field names, separators (CR, LF, CRLF), a BOM,
/// partial and complete UTF-8, arbitrary bytes, and now and then a huge line.
fn token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::sample::select(vec![
            &b"data:"[..], b"data: ", b"event:", b"event: ", b"id: 1", b"retry: 10", b":", b": ping",
            b"data", b"event", b" ", b"\xEF\xBB\xBF", b"DATA: x", b"data:: x", b"\0",
        ])
        .prop_map(<[u8]>::to_vec),
        8 => prop::sample::select(vec![&b"\n"[..], b"\r", b"\r\n", b"\n\n", b"\r\n\r\n", b"\r\r", b"\n\r"])
            .prop_map(<[u8]>::to_vec),
        4 => "[ -~]{0,12}".prop_map(String::into_bytes),
        // Multi-byte characters, whole or cut (2-, 3- and 4-byte sequences).
        3 => (prop::sample::select(vec!["é", "€", "😀", "\u{FEFF}", "\u{10FFFF}"]), 0usize..4).prop_map(|(c, cut)| {
            let b = c.as_bytes();
            b[..b.len().min(cut.max(1))].to_vec()
        }),
        2 => prop::collection::vec(any::<u8>(), 0..8),
        // A JSON payload as Gemini sends it.
        2 => "[a-z]{0,6}".prop_map(|s| format!("{{\"candidates\":[{{\"t\":\"{s}\"}}]}}").into_bytes()),
    ]
}

fn stream() -> impl Strategy<Value = Vec<u8>> {
    let bom = prop_oneof![6 => Just(&b""[..]), 1 => Just(&b"\xEF\xBB\xBF"[..]), 1 => Just(&b"\xEF\xBB"[..])];
    prop_oneof![
        30 => (bom, prop::collection::vec(token(), 0..60)).prop_map(|(bom, ts)| [bom.to_vec(), ts.concat()].concat()),
        1 => (prop::collection::vec(token(), 0..6), 1usize << 14..1usize << 18, prop::collection::vec(token(), 0..6))
            .prop_map(|(a, n, b)| {
                let mut s = a.concat();
                s.extend_from_slice(b"data: ");
                s.extend(std::iter::repeat_n(b'x', n));
                s.extend(b.concat());
                s
            }),
    ]
}

/// The input and random cut points (indices into it, possibly repeated or out of order).
fn stream_and_cuts() -> impl Strategy<Value = (Vec<u8>, Vec<usize>, Vec<usize>)> {
    stream().prop_flat_map(|s| {
        let n = s.len() + 1;
        (
            Just(s),
            prop::collection::vec(0..n, 0..4),
            prop::collection::vec(0..n, 0..40),
        )
    })
}

fn chunks<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut at = 0;
    for c in cuts {
        out.push(&input[at..c]); // empty chunks too: a push of nothing must be harmless
        at = c;
    }
    out.push(&input[at..]);
    out
}

fn read(chunks: &[&[u8]]) -> Vec<SseEvent> {
    let mut reader = SseReader::new();
    let mut events: Vec<SseEvent> = chunks.iter().flat_map(|c| reader.push(c)).collect();
    events.extend(reader.finish());
    events
}

/// The reference: the whole input at once, lines split by the spec's rules, fields applied.
fn reference(input: &[u8]) -> Vec<SseEvent> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'\r' => {
                lines.push(&input[start..i]);
                i += if input.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                start = i;
            }
            b'\n' => {
                lines.push(&input[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < input.len() {
        lines.push(&input[start..]); // the unterminated last line
    }
    let mut events = Vec::new();
    let (mut name, mut data): (Option<String>, Option<String>) = (None, None);
    let mut dispatch = |name: &mut Option<String>, data: &mut Option<String>| {
        let event = name.take();
        if let Some(data) = data.take() {
            events.push(SseEvent { event, data });
        }
    };
    for line in lines {
        let line = String::from_utf8_lossy(line);
        if line.is_empty() {
            dispatch(&mut name, &mut data);
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.find(':') {
            Some(k) => (&line[..k], line[k + 1..].strip_prefix(' ').unwrap_or(&line[k + 1..])),
            None => (&line[..], ""),
        };
        match field {
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_string()),
            },
            "event" => name = (!value.is_empty()).then(|| value.to_string()),
            _ => {}
        }
    }
    dispatch(&mut name, &mut data);
    events
}

#[test]
fn sse_reader_matches_reference_under_any_chunking() {
    harness::run("sse", 512, stream_and_cuts(), |(input, few, many)| {
        let expected = reference(&input);
        prop_assert_eq!(&read(&[&input]), &expected, "whole input");
        prop_assert_eq!(&read(&chunks(&input, &few)), &expected, "cut at {:?}", few);
        prop_assert_eq!(&read(&chunks(&input, &many)), &expected, "cut at {:?}", many);
        if input.len() <= 4096 {
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            prop_assert_eq!(&read(&bytes), &expected, "byte by byte");
        }
        Ok(())
    });
}

/// Frames gempool writes read back as the events they were written from, whatever the data
/// (CR, LF and CRLF inside the data all come back as LF, as the writer documents).
#[test]
fn written_frames_read_back_under_any_chunking() {
    let frame = (prop::option::of("[a-z_]{1,8}"), "(\\PC|[\r\n]){0,40}");
    let strategy = (
        prop::collection::vec(frame, 0..8),
        prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    );
    harness::run("sse_frames", 256, strategy, |(frames, cuts)| {
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        for (name, data) in &frames {
            bytes.extend(match name {
                Some(name) => event_frame(name, data),
                None => data_frame(data),
            });
            expected.push(SseEvent {
                event: name.clone(),
                data: data.replace("\r\n", "\n").replace('\r', "\n"),
            });
        }
        let cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        prop_assert_eq!(read(&chunks(&bytes, &cuts)), expected);
        Ok(())
    });
}

/// What a `JsonArrayReader` returns for a whole stream: elements, then `finish`, then whether
/// the array was closed.
fn read_array(chunks: &[&[u8]]) -> (Vec<String>, Option<String>, bool) {
    let mut reader = JsonArrayReader::new();
    let elements: Vec<String> = chunks.iter().flat_map(|c| reader.push(c)).collect();
    let closed = reader.is_closed();
    (elements, reader.finish(), closed)
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "(\\PC|[\"\\\\{}\\[\\]\r\n])*".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("(\\PC|[\"{}\\[\\]])*", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A streamed JSON array of objects (Gemini's non-SSE stream) with arbitrary whitespace:
/// every chunking yields exactly the elements, each parsing back to what was written; garbage
/// streams are split-invariant too.
#[test]
fn json_array_reader_is_split_invariant() {
    let element = prop::collection::btree_map("[a-z\"{}\\[\\]]{0,4}", json_value(), 0..4);
    let ws = prop::sample::select(vec!["", " ", "\n", "\r\n", "\t"]);
    let array = (prop::collection::vec((element, ws.clone()), 0..5), ws).prop_map(|(elements, tail)| {
        let objects: Vec<serde_json::Value> = elements
            .iter()
            .map(|(m, _)| serde_json::Value::Object(m.clone().into_iter().collect()))
            .collect();
        let mut text = String::from("[");
        for (k, ((_, ws), object)) in elements.iter().zip(&objects).enumerate() {
            if k > 0 {
                text.push_str(ws);
                text.push(',');
            }
            text.push_str(ws);
            text.push_str(&object.to_string());
        }
        text.push_str(tail);
        text.push(']');
        (text.into_bytes(), Some(objects))
    });
    let garbage = prop::collection::vec(
        prop_oneof![
            prop::sample::select(vec![&b"["[..], b"]", b"{", b"}", b",", b"\"", b"\\", b" ", b"\n"])
                .prop_map(<[u8]>::to_vec),
            prop::collection::vec(any::<u8>(), 0..6),
        ],
        0..40,
    )
    .prop_map(|ts| (ts.concat(), None));
    let input = prop_oneof![3 => array, 1 => garbage];
    let strategy = input.prop_flat_map(|(bytes, objects)| {
        let n = bytes.len() + 1;
        (Just(bytes), Just(objects), prop::collection::vec(0..n, 0..12))
    });
    harness::run("json_array", 256, strategy, |(bytes, objects, cuts)| {
        let whole = read_array(&[&bytes]);
        prop_assert_eq!(&read_array(&chunks(&bytes, &cuts)), &whole, "cut at {:?}", cuts);
        if let Some(objects) = objects {
            let (elements, rest, closed) = &whole;
            let parsed: Vec<serde_json::Value> = elements
                .iter()
                .map(|e| serde_json::from_str(e).expect("each element is the JSON text written"))
                .collect();
            prop_assert_eq!(&parsed, &objects);
            prop_assert_eq!(rest, &None);
            prop_assert!(closed);
        }
        Ok(())
    });
}
