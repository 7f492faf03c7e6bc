#[derive(serde::Serialize)]
pub struct Product {
    pub id: u64,
}
