//! The markers a process sends itself on PostgreSQL's channel to learn that
//! every notification before them has arrived (see [`feed`](super::feed)).
//! Several may be on their way at once: under load, one may come back only
//! after the next is sent, and it still confirms what was committed before
//! it. Waiting for the newest alone would confirm nothing for as long as
//! the round trip stays longer than the interval between markers, and the
//! poll cache would serve nothing meanwhile.

use std::collections::VecDeque;
use std::time::Instant;

use uuid::Uuid;

/// The prefix of every process's markers.
const PREFIX: &str = "marker:";
/// Markers remembered at once; older ones are forgotten (they are only
/// ever late, never lost, while the connection lasts).
const MOST: usize = 64;

/// This process's markers on their way, oldest first.
pub struct Markers {
    /// `marker:{process}:`, this process's own prefix.
    own_prefix: String,
    last: u64,
    on_their_way: VecDeque<(u64, Instant)>,
}

/// What a payload that is not an operation's id is.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    /// One of this process's markers, sent at this moment.
    Own(Instant),
    /// Another process's marker, or one of this process's forgotten ones.
    Other,
    /// Not a marker at all.
    Unknown,
}

impl Markers {
    pub fn new(process: Uuid) -> Self {
        Markers {
            own_prefix: format!("{PREFIX}{process}:"),
            last: 0,
            on_their_way: VecDeque::new(),
        }
    }

    /// The payload of a marker sent at `at`. One whose sending fails is
    /// forgotten when a later one comes back.
    pub fn next(&mut self, at: Instant) -> String {
        self.last += 1;
        if self.on_their_way.len() == MOST {
            self.on_their_way.pop_front();
        }
        self.on_their_way.push_back((self.last, at));
        format!("{}{}", self.own_prefix, self.last)
    }

    /// What `payload` is; a marker of this process is forgotten, with every
    /// one sent before it.
    pub fn heard(&mut self, payload: &str) -> Heard {
        let Some(rest) = payload.strip_prefix(PREFIX) else {
            return Heard::Unknown;
        };
        let Some(number) = payload
            .strip_prefix(&self.own_prefix)
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return match rest.is_empty() {
                true => Heard::Unknown,
                false => Heard::Other,
            };
        };
        while let Some(&(sent, at)) = self.on_their_way.front() {
            if sent > number {
                break;
            }
            self.on_their_way.pop_front();
            if sent == number {
                return Heard::Own(at);
            }
        }
        Heard::Other
    }

    /// The connection was lost: what was on its way will not arrive.
    pub fn clear(&mut self) {
        self.on_their_way.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_marker_that_comes_back_after_the_next_was_sent_still_confirms() {
        let mut markers = Markers::new(Uuid::new_v4());
        let start = Instant::now();
        let times: Vec<Instant> = (0..3).map(|i| start + Duration::from_millis(50 * i)).collect();
        let payloads: Vec<String> = times.iter().map(|&at| markers.next(at)).collect();

        assert_eq!(markers.heard(&payloads[0]), Heard::Own(times[0]));
        assert_eq!(markers.heard(&payloads[2]), Heard::Own(times[2]));
        // Everything before the newest heard is forgotten.
        assert_eq!(markers.heard(&payloads[1]), Heard::Other);
    }

    #[test]
    fn other_processes_markers_and_other_payloads_are_told_apart() {
        let mut markers = Markers::new(Uuid::new_v4());
        let mut theirs = Markers::new(Uuid::new_v4());
        markers.next(Instant::now());

        assert_eq!(markers.heard(&theirs.next(Instant::now())), Heard::Other);
        assert_eq!(markers.heard("hello"), Heard::Unknown);
        assert_eq!(markers.heard("marker:"), Heard::Unknown);
    }

    #[test]
    fn after_a_lost_connection_nothing_sent_before_confirms() {
        let mut markers = Markers::new(Uuid::new_v4());
        let before = markers.next(Instant::now());
        markers.clear();
        assert_eq!(markers.heard(&before), Heard::Other);
    }

    #[test]
    fn only_the_newest_markers_are_remembered() {
        let mut markers = Markers::new(Uuid::new_v4());
        let start = Instant::now();
        let payloads: Vec<String> = (0..MOST + 1).map(|_| markers.next(start)).collect();
        assert_eq!(markers.heard(&payloads[0]), Heard::Other);
        assert_eq!(markers.heard(&payloads[1]), Heard::Own(start));
    }
}
