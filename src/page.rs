//! The page and its files (`static/`): built into the binary, so that a
//! deployment is one file, or served from `static_dir` on disk when that
//! is set (for working on the page).

use std::path::{Path, PathBuf};

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::fs::FileServer;
use rocket::http::ContentType;
use rocket::{Build, Rocket};

/// The files of `static/`, as the binary holds them (a debug build reads
/// them from the source tree as it runs, so that an edit shows at once).
#[derive(rust_embed::RustEmbed)]
#[folder = "static/"]
struct Files;

/// Below the API routes, so that a file never shadows one (the rank of
/// [`built_in`] too).
const RANK: isize = 20;

/// A file of the page, found by its path.
#[rocket::get("/<path..>", rank = 20)]
fn built_in(path: PathBuf) -> Option<(ContentType, Vec<u8>)> {
    let path = match path.as_os_str().is_empty() {
        true => Path::new("index.html"),
        false => path.as_path(),
    };
    let file = Files::get(path.to_str()?)?;
    let content_type = path
        .extension()
        .and_then(|extension| extension.to_str())
        .and_then(ContentType::from_extension)
        .unwrap_or(ContentType::Binary);
    Some((content_type, file.data.into_owned()))
}

/// Mounts the page at `/`: the built-in copy, or `static_dir`'s. No tasks.
pub struct Page {
    static_dir: Option<PathBuf>,
}

impl Page {
    pub fn new(static_dir: Option<PathBuf>) -> Self {
        Page { static_dir }
    }
}

#[rocket::async_trait]
impl Fairing for Page {
    fn info(&self) -> Info {
        Info {
            name: "Page",
            kind: Kind::Ignite,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        Ok(match &self.static_dir {
            None => rocket.mount("/", rocket::routes![built_in]),
            Some(dir) => rocket.mount("/", FileServer::from(dir).rank(RANK)),
        })
    }
}
