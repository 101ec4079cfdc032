//! The node's event stream as a client reads it: `GET /events` sends Server-Sent Events (an
//! `id`, an `event` name and `data` lines, then a blank line; comments keep a quiet stream
//! alive). [`SseParser`] is fed the body's bytes as they come and gives back each whole event.

/// One event's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// Its id (`Last-Event-ID` to resume after it), when it has one.
    pub id: Option<i64>,
    /// Its name (`message` when it has none).
    pub event: String,
    /// Its data lines, joined with `\n`.
    pub data: String,
}

/// Cuts a stream of bytes into events.
#[derive(Debug, Default)]
pub struct SseParser {
    buffer: String,
}

impl SseParser {
    /// Takes the next bytes of the body; returns the events they complete (comments and empty
    /// blocks give none).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buffer.push_str(&String::from_utf8_lossy(bytes));
        let mut events = Vec::new();
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, None, Vec::new());
            for line in block.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => id = value.parse().ok(),
                    "event" => event = Some(value.to_owned()),
                    "data" => data.push(value),
                    _ => {}
                }
            }
            if event.is_some() || !data.is_empty() {
                events.push(SseEvent {
                    id,
                    event: event.unwrap_or_else(|| "message".to_owned()),
                    data: data.join("\n"),
                });
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_cut_whole_across_chunks_and_comments_are_skipped() {
        let mut parser = SseParser::default();
        assert_eq!(parser.push(b":\n\nid: 7\nevent: quote_acc"), Vec::new());
        let events = parser.push(b"epted\ndata: {\"a\":1}\n\nevent: lagged\ndata: x\ndata: y\n\nid: 9\n");
        assert_eq!(
            events,
            vec![
                SseEvent { id: Some(7), event: "quote_accepted".into(), data: r#"{"a":1}"#.into() },
                SseEvent { id: None, event: "lagged".into(), data: "x\ny".into() },
            ]
        );
        assert_eq!(
            parser.push(b"data: z\n\n"),
            vec![SseEvent { id: Some(9), event: "message".into(), data: "z".into() }]
        );
    }
}
