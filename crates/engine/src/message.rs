//! Segment-spec messages (spec section 1), parsed once at the edge.
//!
//! A line of an NDJSON file is either one message or a batch envelope
//! `{"batch": [...]}`. Parsing borrows from the input text: strings without
//! escapes and the raw text of `properties`, `traits` and `context` are not
//! copied, and those objects are only parsed further when a rule needs them.
//! A message that is not valid becomes a [`Rejection`] naming the line, the
//! batch index and the field; the valid messages around it are unaffected.

use crate::time::EventTime;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::cell::{Cell, OnceCell};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    Identify,
    Track,
    Page,
    Screen,
    Group,
    Alias,
}

impl MessageKind {
    pub fn parse(text: &str) -> Option<MessageKind> {
        match text {
            "identify" => Some(MessageKind::Identify),
            "track" => Some(MessageKind::Track),
            "page" => Some(MessageKind::Page),
            "screen" => Some(MessageKind::Screen),
            "group" => Some(MessageKind::Group),
            "alias" => Some(MessageKind::Alias),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Identify => "identify",
            MessageKind::Track => "track",
            MessageKind::Page => "page",
            MessageKind::Screen => "screen",
            MessageKind::Group => "group",
            MessageKind::Alias => "alias",
        }
    }

    /// Page, screen and track events make up visits (spec section 3).
    pub fn is_activity(self) -> bool {
        matches!(self, MessageKind::Track | MessageKind::Page | MessageKind::Screen)
    }
}

/// The fields of a JSON object, in order, each still as raw JSON text.
/// The object is split into fields on first use only, and lookups parse
/// only the value asked for: most messages never need their `context`.
#[derive(Clone, Debug, Default)]
pub struct Fields<'a> {
    raw: Option<&'a RawValue>,
    fields: OnceCell<Vec<(Cow<'a, str>, &'a RawValue)>>,
}

impl<'a> Fields<'a> {
    /// Wraps a raw JSON object; `None` when it is not an object.
    fn parse(raw: &'a RawValue) -> Option<Fields<'a>> {
        raw.get().starts_with('{').then(|| Fields { raw: Some(raw), fields: OnceCell::new() })
    }

    fn fields(&self) -> &[(Cow<'a, str>, &'a RawValue)] {
        self.fields.get_or_init(|| match self.raw {
            // The text is valid JSON and starts with `{`, so this succeeds.
            Some(raw) => {
                serde_json::from_str::<FieldsVisitorOutput<'a>>(raw.get()).map(|output| output.0).unwrap_or_default()
            }
            None => Vec::new(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }

    /// The raw value of a key (the last one when a key repeats, as JSON parsers do).
    pub fn raw(&self, key: &str) -> Option<&'a RawValue> {
        self.fields().iter().rev().find(|(name, _)| name == key).map(|(_, raw)| *raw)
    }

    /// The value of a key, parsed; `None` when absent or `null`. A dotted key
    /// (`address.city`) that is not a key of its own reaches into nested objects.
    pub fn get(&self, key: &str) -> Option<Value> {
        if let Some(raw) = self.raw(key) {
            let value: Value = serde_json::from_str(raw.get()).ok()?;
            return (!value.is_null()).then_some(value);
        }
        let (head, rest) = key.split_once('.')?;
        let nested = Fields::parse(self.raw(head)?)?;
        nested.get(rest)
    }

    /// A string value of a key, borrowed when it has no escapes.
    pub fn get_str(&self, key: &str) -> Option<Cow<'a, str>> {
        let raw = self.raw(key)?;
        if !raw.get().starts_with('"') {
            return None;
        }
        serde_json::from_str::<Cow<'a, str>>(raw.get()).ok()
    }

    /// A nested object.
    pub fn object(&self, key: &str) -> Option<Fields<'a>> {
        Fields::parse(self.raw(key)?)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &'a RawValue)> {
        self.fields().iter().map(|(name, raw)| (name.as_ref(), *raw))
    }
}

struct FieldsVisitorOutput<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for FieldsVisitorOutput<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = FieldsVisitorOutput<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    fields.push((key, value));
                }
                Ok(FieldsVisitorOutput(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// One valid message, borrowing from its line.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    pub kind: MessageKind,
    pub message_id: Option<Cow<'a, str>>,
    pub user_id: Option<Cow<'a, str>>,
    pub anonymous_id: Option<Cow<'a, str>>,
    /// `previousId` of an alias.
    pub previous_id: Option<Cow<'a, str>>,
    /// `timestamp`, else `originalTimestamp`, else `receivedAt`; `None` when
    /// the message carries none of them (the caller then uses the time it
    /// received the message).
    pub time: Option<EventTime>,
    /// Track: the event name.
    pub event: Option<Cow<'a, str>>,
    /// Page and screen: the page name.
    pub name: Option<Cow<'a, str>>,
    pub properties: Fields<'a>,
    pub traits: Fields<'a>,
    pub context: Fields<'a>,
    /// The batch envelope's `context`, merged under the message's own.
    pub envelope_context: Fields<'a>,
    /// The message's own JSON text.
    pub raw: &'a str,
}

impl<'a> Message<'a> {
    /// A field of the merged context: the message's own, else the envelope's.
    pub fn context_object(&self, key: &str) -> Option<Fields<'a>> {
        self.context.object(key).or_else(|| self.envelope_context.object(key))
    }

    /// The page path: `properties.path`, else `context.page.path`, else the
    /// path part of `properties.url`.
    pub fn path(&self) -> Option<Cow<'a, str>> {
        if let Some(path) = self.properties.get_str("path") {
            return Some(path);
        }
        if let Some(path) = self.context_object("page").and_then(|page| page.get_str("path")) {
            return Some(path);
        }
        let url = self.properties.get_str("url")?;
        Some(Cow::Owned(url_path(&url).to_owned()))
    }

    /// The merged identify traits: `context.traits` overlaid by `traits`,
    /// key by key; `null` values are left out (null is the same as missing).
    pub fn merged_traits(&self) -> Vec<(Cow<'a, str>, Value)> {
        let mut merged: Vec<(Cow<'a, str>, Value)> = Vec::new();
        let context_traits = self.context_object("traits").unwrap_or_default();
        for fields in [&context_traits, &self.traits] {
            for (key, raw) in fields.iter() {
                let Ok(value) = serde_json::from_str::<Value>(raw.get()) else {
                    continue;
                };
                if value.is_null() {
                    continue;
                }
                match merged.iter_mut().find(|(name, _)| name == key) {
                    Some(slot) => slot.1 = value,
                    None => merged.push((Cow::Owned(key.to_owned()), value)),
                }
            }
        }
        merged
    }

    /// The message as JSON text that stands on its own: the batch envelope's
    /// context merged under the message's own, and `receivedAt` added when
    /// the message carries no time, so that parsing it again gives the same
    /// message. Borrowed when nothing needs adding.
    pub fn standalone_json(&self, received: EventTime) -> Cow<'a, str> {
        let needs_context = !self.envelope_context.is_empty();
        let needs_time = self.time.is_none();
        if !needs_context && !needs_time {
            return Cow::Borrowed(self.raw);
        }
        let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(self.raw) else {
            return Cow::Borrowed(self.raw);
        };
        if needs_context {
            let mut context: serde_json::Map<String, Value> = self
                .envelope_context
                .iter()
                .filter_map(|(key, raw)| Some((key.to_owned(), serde_json::from_str(raw.get()).ok()?)))
                .collect();
            if let Some(Value::Object(own)) = object.remove("context") {
                context.extend(own);
            }
            object.insert("context".into(), Value::Object(context));
        }
        if needs_time {
            object.insert("receivedAt".into(), Value::String(received.to_rfc3339()));
        }
        Cow::Owned(Value::Object(object).to_string())
    }

    /// Whether the message has any identify traits at all.
    pub fn has_traits(&self) -> bool {
        !self.traits.is_empty() || self.context_object("traits").is_some_and(|t| !t.is_empty())
    }

    /// The channel of a first touch: `context.campaign.source`, else the
    /// `utm_source` query parameter of the page URL.
    pub fn campaign_source(&self) -> Option<Cow<'a, str>> {
        if let Some(source) = self.context_object("campaign").and_then(|c| c.get_str("source")) {
            return Some(source);
        }
        let url = self
            .properties
            .get_str("url")
            .or_else(|| self.context_object("page").and_then(|page| page.get_str("url")))?;
        let query = url.split_once('?')?.1.split('#').next()?;
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("utm_source="))
            .filter(|source| !source.is_empty())
            .map(|source| Cow::Owned(source.to_owned()))
    }
}

/// The path part of a URL (`https://shop.example/products/ring?x=1` → `/products/ring`).
fn url_path(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_and_query = match after_scheme.find('/') {
        Some(start) if url.contains("://") => &after_scheme[start..],
        Some(_) => after_scheme,
        None => return "/",
    };
    let end = path_and_query.find(['?', '#']).unwrap_or(path_and_query.len());
    &path_and_query[..end]
}

/// Why a message was not accepted, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// 1-based line number in the file (or position of the request).
    pub line: u64,
    /// Index of the message inside a batch envelope.
    pub batch_index: Option<usize>,
    /// The field at fault, when one is.
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(index) = self.batch_index {
            write!(f, ", batch item {index}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// A problem with one message, before the caller says where it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageError {
    pub field: Option<&'static str>,
    pub reason: String,
}

impl MessageError {
    fn field(field: &'static str, reason: impl Into<String>) -> Self {
        MessageError { field: Some(field), reason: reason.into() }
    }

    fn message(reason: impl Into<String>) -> Self {
        MessageError { field: None, reason: reason.into() }
    }

    pub fn at(self, line: u64, batch_index: Option<usize>) -> Rejection {
        Rejection { line, batch_index, field: self.field.map(str::to_owned), reason: self.reason }
    }
}

/// What one line of NDJSON holds.
pub enum Line<'a> {
    Message(Result<Message<'a>, MessageError>),
    Batch(Vec<Result<Message<'a>, MessageError>>),
    Blank,
}

/// Parses one line of an NDJSON file: a message, a batch envelope or a blank line.
pub fn parse_line(line: &str) -> Line<'_> {
    // A byte-order mark (some Windows tools write one) is not content.
    let trimmed = line.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Line::Blank;
    }
    match parse_wire(trimmed) {
        Err(error) => Line::Message(Err(error)),
        Ok(wire) => match wire.batch {
            Some(items) => {
                let envelope_context = match wire.context.map(Fields::parse) {
                    Some(Some(fields)) => fields,
                    Some(None) => {
                        return Line::Message(Err(MessageError::field("context", "must be an object")));
                    }
                    None => Fields::default(),
                };
                Line::Batch(
                    items
                        .into_iter()
                        .map(|item| {
                            let mut message = parse_message(item.get())?;
                            message.envelope_context = envelope_context.clone();
                            Ok(message)
                        })
                        .collect(),
                )
            }
            None => Line::Message(wire.into_message(trimmed)),
        },
    }
}

/// Parses one NDJSON line given as bytes (numbered `line_number`, 1-based):
/// its messages, or why each is rejected. Bytes that are not UTF-8 reject
/// the line; a blank line holds nothing. Each valid message goes through
/// `then` (preparing it, making a row of it) as it is parsed.
pub fn parse_line_bytes<'a, T>(
    bytes: &'a [u8],
    line_number: u64,
    mut then: impl FnMut(Message<'a>) -> T,
) -> Vec<Result<T, Rejection>> {
    let line = match std::str::from_utf8(bytes) {
        Ok(line) => line,
        Err(error) => {
            return vec![Err(Rejection {
                line: line_number,
                batch_index: None,
                field: None,
                reason: format!("not valid UTF-8 (at byte {})", error.valid_up_to()),
            })];
        }
    };
    match parse_line(line) {
        Line::Blank => Vec::new(),
        Line::Message(result) => vec![result.map(then).map_err(|error| error.at(line_number, None))],
        Line::Batch(items) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| item.map(&mut then).map_err(|error| error.at(line_number, Some(index))))
            .collect(),
    }
}

/// Parses one message (not an envelope) from its JSON text.
pub fn parse_message(text: &str) -> Result<Message<'_>, MessageError> {
    let wire = parse_wire(text)?;
    if wire.batch.is_some() {
        return Err(MessageError::field("batch", "a batch envelope cannot be nested in a batch"));
    }
    wire.into_message(text)
}

fn parse_wire(text: &str) -> Result<Wire<'_>, MessageError> {
    if !text.starts_with('{') {
        return Err(MessageError::message(if serde_json::from_str::<IgnoredAny>(text).is_ok() {
            "not a JSON object".to_owned()
        } else {
            format!("not valid JSON: {}", json_error(text))
        }));
    }
    let current_field = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let result = deserializer
        .deserialize_map(WireVisitor { current_field: &current_field })
        .and_then(|wire| deserializer.end().map(|()| wire));
    result.map_err(|error| match current_field.get() {
        Some(field) if !error.is_syntax() && !error.is_eof() => MessageError::field(field, describe_type_error(&error)),
        _ => MessageError::message(format!("not valid JSON: {}", error)),
    })
}

fn json_error(text: &str) -> String {
    match serde_json::from_str::<IgnoredAny>(text) {
        Err(error) => error.to_string(),
        Ok(_) => "unexpected content".into(),
    }
}

/// serde_json's "invalid type: map, expected a string at line 1 column 40",
/// without the position (the line is already named).
fn describe_type_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

/// The top-level fields of a message or envelope, as they came.
#[derive(Default)]
struct Wire<'a> {
    kind: Option<Cow<'a, str>>,
    message_id: Option<Cow<'a, str>>,
    user_id: Option<Cow<'a, str>>,
    anonymous_id: Option<Cow<'a, str>>,
    previous_id: Option<Cow<'a, str>>,
    timestamp: Option<Cow<'a, str>>,
    original_timestamp: Option<Cow<'a, str>>,
    received_at: Option<Cow<'a, str>>,
    event: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
    properties: Option<&'a RawValue>,
    traits: Option<&'a RawValue>,
    context: Option<&'a RawValue>,
    batch: Option<Vec<&'a RawValue>>,
}

struct WireVisitor<'f> {
    current_field: &'f Cell<Option<&'static str>>,
}

/// An identifier: a string, or an integer taken as its decimal text. Empty
/// strings and `null` count as missing.
struct Identifier<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Identifier<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdentifierVisitor;
        impl<'de> Visitor<'de> for IdentifierVisitor {
            type Value = Identifier<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Identifier((!v.is_empty()).then_some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Identifier((!v.is_empty()).then(|| Cow::Owned(v.to_owned()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Identifier(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Identifier(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Identifier(None))
            }
        }
        deserializer.deserialize_any(IdentifierVisitor)
    }
}

impl<'de> Visitor<'de> for WireVisitor<'_> {
    type Value = Wire<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Wire<'de>, A::Error> {
        let mut wire = Wire::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let field: &'static str = match key.as_ref() {
                "type" => "type",
                "messageId" => "messageId",
                "userId" => "userId",
                "anonymousId" => "anonymousId",
                "previousId" => "previousId",
                "timestamp" => "timestamp",
                "originalTimestamp" => "originalTimestamp",
                "receivedAt" => "receivedAt",
                "event" => "event",
                "name" => "name",
                "properties" => "properties",
                "traits" => "traits",
                "context" => "context",
                "batch" => "batch",
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            self.current_field.set(Some(field));
            match field {
                "type" => wire.kind = map.next_value::<Option<Cow<'de, str>>>()?,
                "messageId" => wire.message_id = map.next_value::<Identifier<'de>>()?.0,
                "userId" => wire.user_id = map.next_value::<Identifier<'de>>()?.0,
                "anonymousId" => wire.anonymous_id = map.next_value::<Identifier<'de>>()?.0,
                "previousId" => wire.previous_id = map.next_value::<Identifier<'de>>()?.0,
                "timestamp" => wire.timestamp = map.next_value()?,
                "originalTimestamp" => wire.original_timestamp = map.next_value()?,
                "receivedAt" => wire.received_at = map.next_value()?,
                "event" => wire.event = map.next_value()?,
                "name" => wire.name = map.next_value()?,
                "properties" => wire.properties = map.next_value()?,
                "traits" => wire.traits = map.next_value()?,
                "context" => wire.context = map.next_value()?,
                _ => wire.batch = map.next_value()?,
            }
            self.current_field.set(None);
        }
        Ok(wire)
    }
}

fn object_field<'a>(raw: Option<&'a RawValue>, field: &'static str) -> Result<Fields<'a>, MessageError> {
    match raw {
        None => Ok(Fields::default()),
        Some(raw) => Fields::parse(raw).ok_or_else(|| MessageError::field(field, "must be an object")),
    }
}

fn time_field(text: Option<&Cow<'_, str>>, field: &'static str) -> Result<Option<EventTime>, MessageError> {
    match text {
        None => Ok(None),
        Some(text) => EventTime::parse(text)
            .map(Some)
            .ok_or_else(|| MessageError::field(field, format!("not an RFC 3339 time: {text:?}"))),
    }
}

impl<'a> Wire<'a> {
    fn into_message(self, raw: &'a str) -> Result<Message<'a>, MessageError> {
        let kind_text = self.kind.ok_or_else(|| MessageError::field("type", "missing"))?;
        let kind = MessageKind::parse(&kind_text).ok_or_else(|| {
            MessageError::field(
                "type",
                format!("unknown type {kind_text:?} (expected identify, track, page, screen, group or alias)"),
            )
        })?;
        if self.user_id.is_none() && self.anonymous_id.is_none() {
            return Err(MessageError::field("userId", "the message has neither a userId nor an anonymousId"));
        }
        let time = match time_field(self.timestamp.as_ref(), "timestamp")? {
            Some(time) => Some(time),
            None => match time_field(self.original_timestamp.as_ref(), "originalTimestamp")? {
                Some(time) => Some(time),
                None => time_field(self.received_at.as_ref(), "receivedAt")?,
            },
        };
        if kind == MessageKind::Track && self.event.as_deref().is_none_or(str::is_empty) {
            return Err(MessageError::field("event", "a track message needs an event name"));
        }
        if kind == MessageKind::Alias && self.previous_id.is_none() {
            return Err(MessageError::field("previousId", "an alias message needs a previousId"));
        }
        if kind == MessageKind::Alias && self.user_id.is_none() {
            return Err(MessageError::field("userId", "an alias message needs a userId"));
        }
        Ok(Message {
            kind,
            message_id: self.message_id,
            user_id: self.user_id,
            anonymous_id: self.anonymous_id,
            previous_id: self.previous_id,
            time,
            event: self.event,
            name: self.name,
            properties: object_field(self.properties, "properties")?,
            traits: object_field(self.traits, "traits")?,
            context: object_field(self.context, "context")?,
            envelope_context: Fields::default(),
            raw,
        })
    }
}
