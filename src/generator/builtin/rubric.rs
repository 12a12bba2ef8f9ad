//! Feedback from a fixed rubric. It measures what can be measured in text —
//! length, relevance to the question, concrete detail, structure, and
//! (for behavioral questions) reflection — and says so. It cannot tell
//! whether an answer is right.
//!
//! | criterion | points | full marks when |
//! |---|---|---|
//! | depth | 0–3 | 40+ words (1), 90+ (2), 150+ (3) |
//! | relevance | 0–2 | the answer uses a third (1) or half (2) of the question's key words |
//! | specifics | 0–2 | numbers, named tools or an example ("for example", "in my last project") |
//! | structure | 0–2 | technical: reasoning and trade-offs ("because", "trade-off", "instead"); behavioral: situation, action and result |
//! | reflection | 0–1 | what was learned or would be done differently |
//!
//! The score is 1 plus the points, capped by depth, since a short answer
//! cannot be complete however apt: at most 4 under 40 words, 6 under 90,
//! 8 under 150, 10 beyond.

use crate::domain::Progress;
use crate::generator::{Feedback, FeedbackRequest, QuestionType};

const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "did", "do", "does", "for", "from", "had", "has",
    "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "tell", "that",
    "the", "their", "them", "then", "there", "this", "to", "was", "were", "what", "when", "where", "which",
    "who", "why", "will", "with", "would", "you", "your", "about", "describe", "explain", "time", "between",
];
const EXAMPLE_MARKERS: &[&str] = &[
    "for example",
    "for instance",
    "e.g.",
    "such as",
    "in my last",
    "in my previous",
    "at my",
    "we had",
    "in one project",
];
const REASONING_MARKERS: &[&str] = &[
    "because",
    "trade-off",
    "tradeoff",
    "instead",
    "however",
    "depends",
    "downside",
    "advantage",
    "disadvantage",
    "therefore",
    "so that",
    "which means",
    "compared to",
    "whereas",
];
const SITUATION_MARKERS: &[&str] = &[
    "when",
    "situation",
    "project",
    "team",
    "we were",
    "there was",
    "at the time",
];
const ACTION_MARKERS: &[&str] = &[
    "i decided",
    "i built",
    "i wrote",
    "i led",
    "i proposed",
    "i talked",
    "i set up",
    "i did",
    "i took",
    "i asked",
    "i worked",
    "i created",
    "i changed",
    "i organised",
    "i organized",
];
const RESULT_MARKERS: &[&str] = &[
    "as a result",
    "result",
    "outcome",
    "in the end",
    "reduced",
    "increased",
    "improved",
    "shipped",
    "delivered",
    "saved",
];
const REFLECTION_MARKERS: &[&str] = &[
    "learned",
    "learnt",
    "next time",
    "differently",
    "in hindsight",
    "lesson",
    "would now",
    "realised",
    "realized",
];

pub fn assess(request: &FeedbackRequest, progress: &Progress) -> Feedback {
    progress.report(10, "Measuring depth");
    let answer = request.answer_text.to_lowercase();
    let words = answer.split_whitespace().count();
    let mut strengths = Vec::new();
    let mut improvements = Vec::new();

    let depth = match words {
        0..=39 => 0,
        40..=89 => 1,
        90..=149 => 2,
        _ => 3,
    };
    if depth >= 2 {
        strengths.push("The answer is developed in depth rather than in a line or two.".to_owned());
    }
    if depth < 3 {
        improvements.push(format!(
            "Develop the answer further: {words} words is short for a complete interview answer; aim for 150."
        ));
    }

    progress.report(30, "Checking relevance to the question");
    let keywords = key_words(&request.question_text);
    let used = keywords.iter().filter(|k| answer.contains(k.as_str())).count();
    let relevance = match (used * 6).checked_div(keywords.len()) {
        Some(sixths) if sixths >= 3 => 2,
        Some(sixths) if sixths >= 2 => 1,
        Some(_) => 0,
        None => 1,
    };
    if relevance == 2 {
        strengths.push("It stays on the question, addressing its key points.".to_owned());
    } else {
        improvements.push(format!(
            "Address the question more directly; it asks about: {}.",
            keywords.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        ));
    }

    progress.report(50, "Looking for concrete detail");
    let has_numbers = answer.chars().any(|c| c.is_ascii_digit());
    let has_example = contains_any(&answer, EXAMPLE_MARKERS);
    let specifics = u8::from(has_numbers) + u8::from(has_example);
    if specifics >= 1 {
        strengths
            .push("It gives concrete detail (an example or figures) rather than generalities.".to_owned());
    }
    if specifics < 2 {
        improvements.push(if has_example {
            "Quantify the example: numbers (latency, users, time saved) make it convincing.".to_owned()
        } else {
            "Add a concrete example from your own experience.".to_owned()
        });
    }

    progress.report(70, "Checking structure");
    let structure = match request.question_type {
        QuestionType::Technical => {
            let reasons = REASONING_MARKERS.iter().filter(|m| answer.contains(*m)).count();
            let points = reasons.min(2) as u8;
            if points == 2 {
                strengths.push("It explains its reasoning and weighs trade-offs.".to_owned());
            } else {
                improvements
                    .push("Explain why, and name the trade-offs against the alternatives.".to_owned());
            }
            points
        }
        QuestionType::Behavioral => {
            let parts = [SITUATION_MARKERS, ACTION_MARKERS, RESULT_MARKERS]
                .iter()
                .filter(|markers| contains_any(&answer, markers))
                .count();
            let points = parts.saturating_sub(1).min(2) as u8;
            if points == 2 {
                strengths.push("It follows a clear situation, action, result structure.".to_owned());
            } else {
                improvements.push(
                    "Structure it as situation, what you did yourself, and the result (STAR).".to_owned(),
                );
            }
            points
        }
    };

    progress.report(90, "Looking for reflection");
    let reflection = u8::from(contains_any(&answer, REFLECTION_MARKERS));
    if reflection == 1 {
        strengths.push("It reflects on what was learned.".to_owned());
    } else if request.question_type == QuestionType::Behavioral {
        improvements.push("Close with what you learned or would do differently.".to_owned());
    }

    let cap = 4 + 2 * depth;
    let score = (1 + depth + relevance + specifics + structure + reflection).min(cap);
    let feedback_text = format!(
        "Score {score}/10 from longrun's built-in rubric, which measures an answer's depth, relevance to the \
         question, concrete detail, structure and reflection. It does not judge whether the content is correct; \
         configure the OpenAI-compatible generator for feedback on substance."
    );
    Feedback {
        score,
        strengths,
        improvements,
        feedback_text,
    }
}

fn key_words(question: &str) -> Vec<String> {
    let mut words: Vec<String> = question
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| w.len() > 2 && !STOPWORDS.contains(w))
        .map(str::to_owned)
        .collect();
    words.dedup();
    words
}

fn contains_any(text: &str, markers: &[&str]) -> bool {
    markers.iter().any(|m| text.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feedback(question_type: QuestionType, answer: &str) -> Feedback {
        let request = FeedbackRequest {
            question_text: "How would you design a cache for database reads, and how do you invalidate it?"
                .to_owned(),
            answer_text: answer.to_owned(),
            question_type,
        };
        assess(&request, &Progress::channel().0)
    }

    #[test]
    fn a_one_line_answer_scores_low_and_is_told_to_develop() {
        let f = feedback(QuestionType::Technical, "Use Redis.");
        assert!(f.score <= 3, "{f:?}");
        assert!(f.improvements.iter().any(|i| i.contains("Develop")));
        assert!(f.feedback_text.contains("rubric"));
    }

    #[test]
    fn a_developed_relevant_reasoned_answer_scores_high() {
        let answer = "I would put a read-through cache in front of the database, because most reads hit a small \
            set of rows. For example, in my last project we cached product pages in Redis with a 60 second TTL \
            and invalidated the key on every write to the database row, which means readers never see data older \
            than the last committed write. The trade-off is extra write latency and the risk of a thundering herd \
            when a hot key expires; instead of letting every reader refill it, one request refreshes it while the \
            others serve the stale value. This reduced database load by 80 percent. Compared to write-through \
            caching, invalidation keeps the cache small, however it needs care with concurrent writers, so I \
            version each entry and design the invalidate path to be idempotent. I learned to measure the hit \
            ratio before tuning anything, because a cache that is rarely hit only adds another moving part to \
            operate, monitor and keep consistent with the database.";
        let f = feedback(QuestionType::Technical, answer);
        assert!(f.score >= 9, "{f:?}");
        assert!(f.strengths.len() >= 4, "{f:?}");
    }

    #[test]
    fn the_score_is_always_between_1_and_10() {
        for answer in [
            "",
            "x",
            &"because for example 42 learned cache invalidate ".repeat(100),
        ] {
            for question_type in [QuestionType::Technical, QuestionType::Behavioral] {
                let score = feedback(question_type, answer).score;
                assert!((1..=10).contains(&score), "{score}");
            }
        }
    }

    #[test]
    fn a_behavioral_answer_without_a_result_is_told_to_use_star() {
        let f = feedback(
            QuestionType::Behavioral,
            "When our team missed a deadline I talked to everyone.",
        );
        assert!(f.improvements.iter().any(|i| i.contains("STAR")), "{f:?}");
    }
}
