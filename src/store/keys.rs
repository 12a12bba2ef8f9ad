use super::db::Param;
use super::dialect::Dialect;
use super::{Store, StoreError};

impl Store {
    /// The key named `name`, made once for the database by its migrations.
    pub async fn service_key(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let sql = Dialect(self.db.backend()).finish("SELECT key FROM service_keys WHERE name = $1");
        let rows: Vec<(String,)> = self.db.fetch_all(&sql, vec![Param::Text(name)]).await?;
        match rows.into_iter().next() {
            Some((key,)) if !key.is_empty() => Ok(key.into_bytes()),
            _ => Err(StoreError::Unexpected("no such service key")),
        }
    }
}
