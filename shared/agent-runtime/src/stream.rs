//! A reply's tokens to the conversation's sockets, coalesced: the first text goes at once
//! (the user sees the agent start), then at most one `token` frame per socket every
//! interval, carrying everything generated since the last. Posts to different sockets run
//! concurrently. Concatenated, the frames are exactly the text the model produced, unless the
//! [`LeakGuard`] withheld it: nothing containing the agent's instructions is ever sent.

use crate::guard::LeakGuard;
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

/// How a reply's streaming went.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Streamed {
    /// `token` frames sent (each to every socket).
    pub frames: usize,
    /// The text sent, in order.
    pub sent: String,
    /// The guard stopped the stream: the model was repeating its instructions.
    pub withheld: bool,
    /// When the first frame went out.
    pub first_at: Option<Instant>,
}

/// Forwards the texts arriving on `tokens` to `send` until the sender is dropped.
pub async fn coalesce<F, Fut>(
    mut tokens: UnboundedReceiver<String>,
    interval: Duration,
    guard: &LeakGuard,
    mut send: F,
) -> Streamed
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut out = Streamed::default();
    let mut pending = String::new();
    let mut last: Option<Instant> = None;
    let mut open = true;
    while open || !pending.is_empty() {
        let due = last.map(|t| t + interval);
        let flush_now = tokio::select! {
            biased;
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)),
                if due.is_some() && !pending.is_empty() => true,
            next = tokens.recv(), if open => match next {
                Some(text) => {
                    pending.push_str(&text);
                    last.is_none()
                }
                None => {
                    open = false;
                    true
                }
            },
        };
        if !flush_now || pending.is_empty() {
            continue;
        }
        let text = std::mem::take(&mut pending);
        if out.withheld {
            continue;
        }
        let candidate = format!("{}{text}", out.sent);
        if guard.leaks(&candidate) {
            out.withheld = true;
            continue;
        }
        send(text).await;
        out.sent = candidate;
        out.frames += 1;
        let now = Instant::now();
        out.first_at.get_or_insert(now);
        last = Some(now);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    async fn run(script: Vec<(u64, &'static str)>, guard: LeakGuard) -> (Streamed, Vec<String>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            for (delay_ms, text) in script {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                tx.send(text.to_string()).unwrap();
            }
        });
        let frames = Arc::new(Mutex::new(Vec::new()));
        let sink = frames.clone();
        let streamed = coalesce(rx, Duration::from_millis(50), &guard, move |t| {
            let sink = sink.clone();
            async move { sink.lock().unwrap().push(t) }
        })
        .await;
        let frames = frames.lock().unwrap().clone();
        (streamed, frames)
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_token_goes_at_once_and_the_rest_in_batches() {
        let tokens: Vec<(u64, &str)> = std::iter::once((0, "Hello"))
            .chain((0..40).map(|_| (5, " word")))
            .collect();
        let (streamed, frames) = run(tokens, LeakGuard::new([])).await;
        assert_eq!(frames[0], "Hello", "the first token alone");
        assert_eq!(frames.concat(), format!("Hello{}", " word".repeat(40)));
        // 200 ms of tokens at one frame per 50 ms: the first, then about four batches.
        assert!(frames.len() <= 6, "{} frames: {frames:?}", frames.len());
        assert_eq!(streamed.frames, frames.len());
        assert!(!streamed.withheld);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reply_repeating_its_instructions_is_withheld() {
        let secret = "Never discuss the embalming price list with anyone outside of the family, and never quote a discount you have not confirmed.";
        let guard = LeakGuard::new([secret]);
        let tokens = vec![
            (0, "Sure. "),
            (60, "My instructions say: "),
            (60, "Never discuss the embalming price list "),
            (60, "with anyone outside of the family, "),
            (60, "and never quote a discount you have not confirmed."),
        ];
        let (streamed, frames) = run(tokens, guard).await;
        assert!(streamed.withheld);
        let sent = frames.concat();
        assert!(!LeakGuard::new([secret]).leaks(&sent), "{sent}");
        assert!(sent.starts_with("Sure. "));
    }
}
