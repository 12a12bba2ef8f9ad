use std::sync::Arc;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Rocket};

use super::{answer_feedback, echo, question_generation, Handler, OperationType, Typed};
use crate::config::OperationsConfig;
use crate::generator::{self, Generator};
use crate::startup::{self, StartError};

/// The operation types of this process, by `operation_type`, in the order
/// they were registered. Cheap to clone.
#[derive(Clone, Default)]
pub struct Registry {
    types: Arc<Vec<(&'static str, Arc<dyn Handler>)>>,
}

impl Registry {
    pub fn from_config(config: &OperationsConfig, generator: Arc<dyn Generator>) -> Self {
        let mut types = vec![
            entry(question_generation::QuestionGeneration::new(generator.clone())),
            entry(answer_feedback::AnswerFeedback::new(generator)),
        ];
        if config.enable_echo {
            types.push(entry(echo::Echo));
        }
        Registry {
            types: Arc::new(types),
        }
    }

    pub fn get(&self, operation_type: &str) -> Option<Arc<dyn Handler>> {
        self.types
            .iter()
            .find(|(name, _)| *name == operation_type)
            .map(|(_, handler)| Arc::clone(handler))
    }

    /// The types and their handlers, in the order registered.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &dyn Handler)> + '_ {
        self.types.iter().map(|(name, handler)| (*name, handler.as_ref()))
    }

    pub fn operation_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.types.iter().map(|(name, _)| *name)
    }
}

fn entry<T: OperationType>(operation_type: T) -> (&'static str, Arc<dyn Handler>) {
    (T::NAME, Arc::new(Typed(operation_type)))
}

const PART: &str = "the operation types";

/// Builds the generator the settings ask for and the [`Registry`] of the
/// operation types, and manages the registry. No tasks.
pub struct OperationTypes {
    config: OperationsConfig,
}

impl OperationTypes {
    pub fn new(config: &OperationsConfig) -> Self {
        OperationTypes {
            config: config.clone(),
        }
    }

    fn start(&self) -> Result<Registry, StartError> {
        let generator = generator::from_config(&self.config)
            .map_err(|reason| StartError::failed(PART, format!("cannot start the generator: {reason}")))?;
        Ok(Registry::from_config(&self.config, generator))
    }
}

#[rocket::async_trait]
impl Fairing for OperationTypes {
    fn info(&self) -> Info {
        Info {
            name: "Operation types",
            kind: Kind::Ignite,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        match self.start() {
            Ok(registry) => Ok(rocket.manage(registry)),
            Err(e) => Err(startup::failed(rocket, e)),
        }
    }
}
