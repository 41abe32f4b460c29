//! `cardnet serve --log-format json`: one JSON object per log line — `ts_ms` (Unix
//! milliseconds), `level`, `message` and each field of the event by its name — for a log
//! shipper. Written here over serde_json (already a dependency) rather than tracing-subscriber's
//! `json` feature, which would add tracing-serde for one small formatter. The fields are the
//! ones the text format prints (the transport's exchange line has the PAN masked already).

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        writeln!(writer, "{}", line(event.metadata().level().as_str(), now_ms(), |visit| event.record(visit)))
    }
}

fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The object of one event whose fields `record` visits.
fn line(level: &str, ts_ms: u64, record: impl FnOnce(&mut Fields)) -> Value {
    let mut fields = Fields(Map::new());
    fields.0.insert("ts_ms".into(), ts_ms.into());
    fields.0.insert("level".into(), level.into());
    record(&mut fields);
    Value::Object(fields.0)
}

struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_writer::tests::Captured;

    #[test]
    fn every_line_is_one_json_object_with_the_fields() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).event_format(JsonLines).finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(party = "issuer", mti = "0210", latency_us = 812u64, "exchange \"done\"");
            tracing::warn!(peer = %"127.0.0.1:4000", "connection refused: global limit reached");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["message"], "exchange \"done\"");
        assert_eq!(lines[0]["party"], "issuer");
        assert_eq!(lines[0]["latency_us"], 812);
        assert!(lines[0]["ts_ms"].as_u64().unwrap() > 0);
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["peer"], "127.0.0.1:4000");
    }
}
