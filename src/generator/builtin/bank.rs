use rand::seq::SliceRandom;
use rocket::serde::json;
use rocket::serde::Deserialize;

use std::collections::HashSet;

use crate::generator::{normalized, Difficulty, Question, QuestionRequest, QuestionType};

const SHIPPED: &str = include_str!("../../../resources/question_bank.json");

/// The families the bank's questions are written for; `general` fits any
/// role.
const FAMILIES: [(&str, &[&str]); 7] = [
    (
        "backend",
        &[
            "backend",
            "back-end",
            "back end",
            "server",
            "api",
            "java",
            "golang",
            "go",
            "python",
            "rust",
            "node",
            "ruby",
            "php",
            ".net",
            "c#",
            "full stack",
            "fullstack",
            "full-stack",
        ],
    ),
    (
        "frontend",
        &[
            "frontend",
            "front-end",
            "front end",
            "web",
            "react",
            "vue",
            "angular",
            "javascript",
            "typescript",
            "ui",
            "css",
            "full stack",
            "fullstack",
            "full-stack",
        ],
    ),
    (
        "mobile",
        &[
            "mobile",
            "ios",
            "android",
            "swift",
            "kotlin",
            "flutter",
            "react native",
        ],
    ),
    (
        "data",
        &[
            "data",
            "analyst",
            "analytics",
            "scientist",
            "machine learning",
            "ml",
            "ai",
            "bi",
            "statistic",
        ],
    ),
    (
        "devops",
        &[
            "devops",
            "sre",
            "reliability",
            "infrastructure",
            "cloud",
            "platform",
            "ops",
            "kubernetes",
            "security",
        ],
    ),
    ("qa", &["qa", "quality", "test", "tester", "testing", "sdet"]),
    ("product", &["product", "pm", "owner"]),
];

#[derive(Debug, Deserialize)]
#[serde(crate = "rocket::serde", deny_unknown_fields)]
struct Entry {
    role: String,
    question_type: QuestionType,
    difficulty: Difficulty,
    topic: String,
    question_text: String,
}

/// The curated questions.
pub struct Bank {
    entries: Vec<Entry>,
    /// Each entry's question in the form [`normalized`] gives, by index.
    normalized: Vec<String>,
}

impl Bank {
    pub fn shipped() -> Result<Self, String> {
        let entries: Vec<Entry> =
            json::from_str(SHIPPED).map_err(|e| format!("the question bank does not parse: {e}"))?;
        let normalized = entries.iter().map(|e| normalized(&e.question_text)).collect();
        Ok(Self { entries, normalized })
    }

    /// A question for the request that is not among its previous ones:
    /// for the role's families at the asked difficulty, else any family at
    /// that difficulty, else any difficulty. A topic, when given, is
    /// preferred where the bank has it.
    pub fn pick(&self, request: &QuestionRequest) -> Option<Question> {
        let families = families_of(&request.role);
        let asked: HashSet<String> = request.previous_questions.iter().map(|q| normalized(q)).collect();
        let unasked: Vec<&Entry> = self
            .entries
            .iter()
            .zip(&self.normalized)
            .filter(|(entry, text)| entry.question_type == request.question_type && !asked.contains(*text))
            .map(|(entry, _)| entry)
            .collect();
        let for_role = |entry: &&&Entry| families.contains(&entry.role.as_str());
        let at_difficulty = |entry: &&&Entry| entry.difficulty == request.difficulty;
        let tiers: [Vec<&Entry>; 3] = [
            unasked
                .iter()
                .filter(for_role)
                .filter(at_difficulty)
                .copied()
                .collect(),
            unasked.iter().filter(at_difficulty).copied().collect(),
            unasked,
        ];
        let candidates = tiers.into_iter().find(|tier| !tier.is_empty())?;
        let on_topic: Vec<&Entry> = match &request.topic {
            Some(topic) => candidates
                .iter()
                .copied()
                .filter(|e| mentions(e, topic))
                .collect(),
            None => Vec::new(),
        };
        let pool = if on_topic.is_empty() { candidates } else { on_topic };
        let entry = pool.choose(&mut rand::thread_rng())?;
        Some(Question {
            question_text: entry.question_text.clone(),
            question_type: entry.question_type,
            difficulty: entry.difficulty,
            topic: Some(entry.topic.clone()),
        })
    }
}

/// The bank's families a free-text role belongs to; `general` always.
fn families_of(role: &str) -> Vec<&'static str> {
    let role = format!(" {} ", role.to_lowercase().replace(['/', ',', '(', ')'], " "));
    let mut families: Vec<&'static str> = FAMILIES
        .iter()
        .filter(|(_, keywords)| {
            keywords
                .iter()
                .any(|k| role.contains(&format!(" {k} ")) || contains_word_start(&role, k))
        })
        .map(|(family, _)| *family)
        .collect();
    families.push("general");
    families
}

/// Keywords of four letters or more also match as a word's start
/// ("developer" for "develop", "testing" for "test").
fn contains_word_start(role: &str, keyword: &str) -> bool {
    keyword.len() >= 4 && role.contains(&format!(" {keyword}"))
}

fn mentions(entry: &Entry, topic: &str) -> bool {
    let topic = topic.to_lowercase();
    entry.topic.to_lowercase().contains(&topic)
        || topic.contains(&entry.topic.to_lowercase())
        || entry.question_text.to_lowercase().contains(&topic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::same_question;

    fn bank() -> Bank {
        Bank::shipped().unwrap_or_else(|e| panic!("{e}"))
    }

    fn request(role: &str, question_type: QuestionType, difficulty: Difficulty) -> QuestionRequest {
        QuestionRequest {
            role: role.to_owned(),
            question_type,
            difficulty,
            topic: None,
            previous_questions: Vec::new(),
        }
    }

    #[test]
    fn the_bank_holds_at_least_150_distinct_questions_for_every_family_type_and_difficulty() {
        let bank = bank();
        assert!(bank.entries.len() >= 150, "{} questions", bank.entries.len());
        let distinct: HashSet<_> = bank
            .entries
            .iter()
            .map(|e| e.question_text.to_lowercase())
            .collect();
        assert_eq!(distinct.len(), bank.entries.len(), "no question appears twice");
        let families = FAMILIES.iter().map(|(f, _)| *f).chain(["general"]);
        for family in families {
            for question_type in [QuestionType::Technical, QuestionType::Behavioral] {
                for difficulty in [Difficulty::Junior, Difficulty::Middle, Difficulty::Senior] {
                    let count = bank
                        .entries
                        .iter()
                        .filter(|e| {
                            e.role == family && e.question_type == question_type && e.difficulty == difficulty
                        })
                        .count();
                    assert!(count >= 3, "{family} {question_type:?} {difficulty:?}: {count}");
                }
            }
        }
    }

    #[test]
    fn free_text_roles_map_to_their_families() {
        assert_eq!(families_of("Senior Backend Developer"), ["backend", "general"]);
        assert_eq!(
            families_of("Full-stack engineer"),
            ["backend", "frontend", "general"]
        );
        assert_eq!(families_of("iOS developer"), ["mobile", "general"]);
        assert_eq!(families_of("QA automation / testing"), ["qa", "general"]);
        assert_eq!(families_of("Chef"), ["general"]);
    }

    #[test]
    fn a_picked_question_fits_the_request() {
        let bank = bank();
        let question = bank
            .pick(&request(
                "data scientist",
                QuestionType::Behavioral,
                Difficulty::Senior,
            ))
            .unwrap_or_else(|| panic!("a question"));
        assert_eq!(question.question_type, QuestionType::Behavioral);
        assert_eq!(question.difficulty, Difficulty::Senior);
        let entry = bank
            .entries
            .iter()
            .find(|e| e.question_text == question.question_text);
        assert!(entry.is_some_and(|e| e.role == "data" || e.role == "general"));
    }

    #[test]
    fn previous_questions_are_never_asked_again_until_the_bank_runs_out() {
        let bank = bank();
        let mut asked = request("backend engineer", QuestionType::Technical, Difficulty::Middle);
        let available = bank
            .entries
            .iter()
            .filter(|e| e.question_type == QuestionType::Technical)
            .count();
        for _ in 0..available {
            let question = bank.pick(&asked).unwrap_or_else(|| panic!("a question"));
            assert!(!asked
                .previous_questions
                .iter()
                .any(|q| same_question(q, &question.question_text)));
            asked.previous_questions.push(question.question_text);
        }
        assert_eq!(bank.pick(&asked), None, "every technical question has been asked");
    }

    #[test]
    fn a_topic_the_bank_knows_is_preferred() {
        let bank = bank();
        let mut request = request("backend engineer", QuestionType::Technical, Difficulty::Junior);
        request.topic = Some("databases".to_owned());
        for _ in 0..20 {
            let question = bank.pick(&request).unwrap_or_else(|| panic!("a question"));
            assert_eq!(question.topic.as_deref(), Some("databases"));
        }
    }
}
